"""Start-up: ``assay --help`` loads none of torch, pandas, matplotlib or scikit-learn."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "pandas", "matplotlib", "sklearn")

PROBE = """
import json, sys
from assay.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)), file=sys.stderr)
"""


def _heavy_modules(args: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return list(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["value", "--help"], ["select", "--help"]])
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    assert _heavy_modules(args) == []


def test_every_command_help_imports_no_heavy_library() -> None:
    from assay.cli import app

    names = [c.name for c in app.registered_commands if c.name]
    probe = (
        "import sys\nfrom assay.cli import main\n"
        f"for name in {names!r}:\n"
        "    try:\n        main([name, '--help'])\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_lazy_package_names_still_import() -> None:
    import assay
    from assay import TMCShapley, set_threads
    from assay.valuation import TMCShapley as Direct

    assert TMCShapley is Direct and callable(set_threads)
    assert set(assay.__all__) <= set(dir(assay))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = assay.nope  # type: ignore[attr-defined]


def test_method_catalog_equals_the_registry() -> None:
    from assay.valuation.catalog import METHOD_NAMES
    from assay.valuation.registry import METHODS

    assert tuple(METHODS) == METHOD_NAMES


def test_method_help_lists_every_registered_method(capsys) -> None:  # type: ignore[no-untyped-def]
    from assay.valuation.catalog import METHOD_NAMES
    from tests.cli_support import run

    for command in ("value", "select", "trim"):  # every command with --method
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0
        flat = re.sub(r"-\s+", "-", " ".join(out.replace("│", " ").split()))  # joins wraps
        missing = [m for m in METHOD_NAMES if m not in flat]
        assert not missing, (command, missing)
