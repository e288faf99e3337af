"""The package tree's import direction runs one way: each layer imports only layers below it.

The UI boundary is also a lint rule (ruff TID251); this test covers every layer, and imports
made inside functions too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import explorer

ROOT = Path(explorer.__file__).resolve().parent
LAYERS = (  # bottom to top; a package may import its own modules and any earlier layer
    ("errors", "cancel", "device", "streams", "untrusted"),
    ("kernels",),
    ("attention",),
    ("reference",),
    ("inputs",),
    ("theory",),
    ("experiments",),
    ("charts",),
    ("bench",),
    ("figures",),
    ("cli",),
    ("ui",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _package(module: str) -> str | None:
    """'explorer.kernels.projections' → 'kernels'; the package root itself → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "explorer" else None


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "explorer":  # from explorer import ui
                yield from (f"explorer.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_every_top_level_name_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    names = {n for n in names if not n.startswith("__") and not n.startswith(".")}
    names.discard("data")
    assert names <= set(RANK), names - set(RANK)


def test_imports_run_downwards_only():
    wrong = []
    for path in ROOT.rglob("*.py"):
        if path.parent == ROOT and path.stem in ("__init__", "__main__"):
            continue  # the public API and the entry point sit above everything
        own = path.relative_to(ROOT).parts[0].removesuffix(".py")
        for module in _imports(path):
            target = _package(module)
            if target is None or target == own:
                continue
            if RANK[target] > RANK[own]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module} ({own} < {target})")
    assert wrong == []


def test_every_package_says_what_it_may_import():
    for package in {p.parent for p in ROOT.rglob("__init__.py")} - {ROOT}:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert "Entry point" in doc or "entry point" in doc, package
        if package.parent == ROOT:
            assert "May import" in doc or "may import" in doc, package


def test_core_never_imports_streamlit():
    code = (
        "import sys, explorer, explorer.cli.main, explorer.experiments.sweep; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
