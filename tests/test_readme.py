"""The README runs as written: every ``python`` block and every ``bash`` line in it is executed.

The blocks run in a scratch folder (with ``examples/`` linked in), Python blocks in order in one
interpreter (a later block may use what an earlier one defined, as a reader would), shell blocks in
order in one ``bash -euo pipefail``. Nothing is filled in by hand: the README defines what it uses,
on bundled data and ``examples/``. Two blocks are not run, each for a reason named in
:data:`NOT_RUN`; the fast test checks that the list names exactly those blocks, so a new block can
never be skipped silently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)

#: a phrase of each block that is not run here, and why
NOT_RUN = {
    "make test": "the set-up commands: CI runs `make test` itself (this test is inside it)",
    "ray start --head": "starts Ray nodes on several machines; tests/test_ray_cluster.py runs it",
}


def _blocks() -> list[tuple[str, int, str]]:
    text = README.read_text()
    return [
        (m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text)
    ]


def _runnable(lang: str) -> list[tuple[int, str]]:
    return [
        (line, code)
        for kind, line, code in _blocks()
        if kind == lang and not any(phrase in code for phrase in NOT_RUN)
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    (work / "examples").symlink_to(ROOT / "examples")
    return work


def _run(cmd: list[str], work: Path) -> None:
    done = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")


def test_every_block_is_run_or_excused() -> None:
    blocks = _blocks()
    assert {kind for kind, _, _ in blocks} <= {
        "python",
        "bash",
    }, "unknown fence"
    for phrase in NOT_RUN:
        assert sum(phrase in code for _, _, code in blocks) == 1, phrase
    assert len(_runnable("python")) >= 5 and len(_runnable("bash")) >= 5


@pytest.mark.slow
def test_python_blocks_run(workdir: Path) -> None:
    script = "\n".join(f"# README.md line {line}\n{code}" for line, code in _runnable("python"))
    (workdir / "readme_blocks.py").write_text(script)
    _run([sys.executable, "readme_blocks.py"], workdir)


@pytest.mark.slow
def test_cli_lines_run(workdir: Path) -> None:
    script = "\n".join(f"# README.md line {line}\n{code}" for line, code in _runnable("bash"))
    (workdir / "readme_blocks.sh").write_text("set -euo pipefail\nset -x\n" + script)
    _run(["bash", "readme_blocks.sh"], workdir)
