"""The engine package and the app code use each other's public names only: no ``from x import _y`` and no
``module._y`` across modules (a private name is free to change with its own module)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {"tests", "bench", "var", "node_modules", "docs"}


def _packages() -> list[Path]:
    return sorted(
        p for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name not in SKIP
    )


def _modules() -> list[Path]:
    return [f for pkg in _packages() for f in pkg.rglob("*.py") if "migrations" not in f.parts]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    """True for a module or package of this project (third-party privates are not this test's business)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    modules: set[str] = set()  # local names bound to imported modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {base}.{alias.name}")
                elif _is_module(f"{base}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_app_code_when_parsed_then_no_private_name_crosses_a_module():
    modules = _modules()
    assert any(m.match("audiences/engine/reads.py") for m in modules)
    problems = [v for m in modules for v in _violations(m)]
    assert problems == []


def test_private_name_check_when_fed_a_crossing_then_reports_it(tmp_path, monkeypatch):
    bad = ROOT / "audiences" / "engine" / "reads.py"
    source = "from audiences.engine.plan import _arrow_columns\nfrom audiences.engine import sql\nsql._HIVE_TYPES\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    found = _violations(bad)
    assert len(found) == 2 and "imports audiences.engine.plan._arrow_columns" in found[0]
    assert "uses sql._HIVE_TYPES" in found[1]
