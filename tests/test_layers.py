"""Imports point one way: down DESIGN.md's flow, never back up a layer.

Every ``import`` / ``from ... import`` in ``src/assay`` (at module level or inside a function) is
parsed; each top-level module or package of ``assay`` has a rank, and a module may import only from
its own package or from packages of a lower rank. A new package must be given a rank here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "assay"

# lowest first; packages on one line share a rank and may not import each other
LAYERS: list[set[str]] = [
    {"errors", "version", "lazy", "progress"},
    {"runs"},
    {"result", "parallel", "plotting", "payouts"},
    {"data"},
    {"embed"},
    {"learners"},
    {"second_order"},
    {"utility"},
    {"clustering"},
    {"valuation"},
    {"select"},
    {"evaluate"},
    {"audit"},
    {"explain"},
    {"serve", "demo", "llm"},
    {"cli"},
    {"__init__", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "assay":  # from assay import X: X is a package or the root
                names = [f"assay.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "assay":
                out.add(parts[1] if len(parts) > 1 else "__init__")
    return out


def _edges() -> list[tuple[str, str, Path]]:
    edges = []
    for path in sorted(SRC.rglob("*.py")):
        src = _package_of(path)
        for dst in _imported_packages(path):
            if dst != src:
                edges.append((src, dst, path))
    return edges


def test_every_package_has_a_rank() -> None:
    packages = {_package_of(p) for p in SRC.rglob("*.py")}
    missing = sorted(p for p in packages if p not in RANK)
    assert not missing, f"give these packages a layer in tests/test_layers.py: {missing}"


def test_no_import_runs_up_a_layer() -> None:
    upward = [
        f"{path.relative_to(SRC)}: {src} (layer {RANK[src]}) imports {dst} (layer {RANK[dst]})"
        for src, dst, path in _edges()
        if src in RANK and dst in RANK and RANK[dst] >= RANK[src]
    ]
    assert not upward, "upward or same-layer imports:\n" + "\n".join(upward)


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from assay.select.trim import trim\n")
    assert _imported_packages(bad) == {"select"}
    with pytest.raises(KeyError):
        _ = RANK["not-a-package"]
