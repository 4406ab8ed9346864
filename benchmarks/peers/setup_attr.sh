#!/usr/bin/env bash
# Create the attribution peers' virtual environment (.venv-attr in the repo root) with traker 0.3.2
# (MadryLab's TRAK) and dattri 0.3.0, for benchmarks/trak_lds.py.
#
# Usage:  bash benchmarks/peers/setup_attr.sh          (idempotent; FORCE=1 rebuilds)
#
# Traps hit while building it (kept here so nobody hits them twice):
# - torch first, pinned: `torch==2.13.0` is the CPU wheel on this machine's local wheel store; any
#   other torch spec (an unpinned `torch` via traker's `torch>=2.0.0`) may resolve to a multi-GB
#   CUDA build from the registry. Installed first, the later installs see it as satisfied.
# - traker's optional `fast_jl` (the `[fast]` extra) is a CUDA extension: it does not build or load
#   without CUDA, so it is NOT installed. On CPU traker's `CudaProjector` cannot be used; the
#   runner (trak_traker.py) uses `BasicProjector` (a dense Rademacher/normal matrix, generated in
#   blocks) on the CPU device, and builds `TRAKer(..., projector=BasicProjector(...))` itself,
#   since TRAKer's default picks CudaProjector whenever fast_jl is importable and fails otherwise.
# - traker 0.3.2 ships an sdist only (no wheel): pip builds it locally (pure Python, quick).
# - dattri 0.3.0's wheel declares no torch dependency at all (torch only under its [test] extra)
#   but needs it at import time; it does require `pretty_midi` (for its MAESTRO benchmark loader),
#   which pulls mido. Its wheel also installs top-level `test/`, `examples/` and `experiments/`
#   folders into site-packages: harmless, but do not run code from the repo root's `test` name.
# - dattri's TRAK projects with its own `random_project` (dattri.func.projection); without CUDA it
#   takes the `BasicProjector` path too (its "sjlt"/fast_jl paths are GPU only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${ATTR_VENV:-$ROOT/.venv-attr}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.attr-installed-v1"

if [[ "${FORCE:-0}" != "1" && -f "$STAMP" ]]; then
    echo "attribution peers venv ready: $VENV (delete it or set FORCE=1 to rebuild)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)

"${PIP[@]}" --upgrade pip wheel setuptools
"${PIP[@]}" "torch==2.13.0"
# Both peers next to the pinned torch: repeating torch==2.13.0 keeps the resolver from moving it.
"${PIP[@]}" "torch==2.13.0" "traker==0.3.2" "dattri==0.3.0" "numpy" "scipy" "tqdm"

# Smoke test: both import, and the CPU projector the runners use works.
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" - <<'PY'
import importlib.metadata as md

import torch
from dattri.algorithm.trak import TRAKAttributor  # noqa: F401
from trak import TRAKer  # noqa: F401
from trak.projectors import BasicProjector, ProjectionType

proj = BasicProjector(grad_dim=10, proj_dim=4, seed=0, proj_type=ProjectionType.rademacher,
                      device="cpu", dtype=torch.float32)
assert proj.project(torch.ones(3, 10), model_id=0).shape == (3, 4)
print(", ".join(f"{p} {md.version(p)}" for p in ("numpy", "torch", "traker", "dattri")))
PY

touch "$STAMP"
echo "attribution peers venv ready: $VENV"
