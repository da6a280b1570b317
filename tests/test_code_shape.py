"""Shape of the app code: no function longer than 80 lines (complexity is ruff's C901, see pyproject.toml)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "audiences", "campaigns", "delivr_admin", "exports", "pixels", "privacy")
MAX_LINES = 80
# A function that must stay long says why here ("path::name": "reason"); none does today.
EXEMPT: dict[str, str] = {}


def _functions():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{path.relative_to(ROOT)}::{node.name}", node.end_lineno - node.lineno + 1


def test_functions_in_app_code_when_measured_are_at_most_80_lines():
    long = {name: lines for name, lines in _functions() if lines > MAX_LINES and name not in EXEMPT}
    assert long == {}, f"functions over {MAX_LINES} lines (split them): {long}"


def test_exemptions_when_listed_are_still_needed():
    long = {name for name, lines in _functions() if lines > MAX_LINES}
    assert set(EXEMPT) <= long, f"stale exemptions (remove them): {set(EXEMPT) - long}"


def test_app_code_when_reading_settings_uses_no_getattr_default():
    """Every setting is defined once, with its default, in delivr_admin/settings.py."""
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "getattr"
                    and node.args
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id.endswith("settings")
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], f"getattr(settings, ...) in app code; define the setting in settings.py: {found}"
