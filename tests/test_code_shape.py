"""Shape of the app code: no function longer than 80 lines (complexity is ruff's C901, see pyproject.toml), few
positional arguments, no private names imported across modules."""

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


MAX_POSITIONAL = (
    6  # issue 13 item 8: no nine-positional-argument functions; a typed context or keywords instead
)


def _app_nodes():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                yield path.relative_to(ROOT), node


def test_app_code_when_calling_or_defining_functions_passes_at_most_six_positional_arguments():
    """Our own functions and classes (a library's variadic join is not counted)."""
    nodes = list(_app_nodes())
    ours = {n.name for _, n in nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    found = []
    for path, node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            positional = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
            if len(positional) > MAX_POSITIONAL:
                found.append(f"{path}::{node.name} takes {len(positional)}")
        elif isinstance(node, ast.Call) and len(node.args) > MAX_POSITIONAL:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ours:
                found.append(f"{path}:{node.lineno} {name}() gets {len(node.args)}")
    assert found == [], f"more than {MAX_POSITIONAL} positional arguments (use keywords): {found}"


def test_app_code_when_importing_from_another_module_takes_no_private_name():
    """A module's `_name` is its own: another module that needs it gets a public name (issue 13 item 8)."""
    found = [
        f"{path}:{node.lineno} {node.module}.{alias.name}"
        for path, node in _app_nodes()
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert found == [], f"private names imported across modules: {found}"
