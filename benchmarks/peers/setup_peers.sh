#!/usr/bin/env bash
# Create the peers' virtual environment (.venv-peers in the repo root) with pyDVL 0.10.0 and
# OpenDataVal 1.3.0, for the speed benchmarks in benchmarks/peers/.
#
# Usage:  bash benchmarks/peers/setup_peers.sh          (idempotent; FORCE=1 rebuilds)
#
# Why a separate venv: pyDVL 0.10 pins numpy<2, assay does not. Order matters: the CPU torch wheel
# (torch==2.13.0) goes in first so that nothing pulls a CUDA build. OpenDataVal is installed with
# --no-deps (it pins old torch/numpy) plus only what its tabular code needs. torchvision and
# transformers are deliberately NOT installed (the registry's torchvision is CUDA-linked and fails to
# load next to the CPU torch); run_opendataval.py puts placeholder modules in sys.modules instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/.venv-peers}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.peers-installed-v1"

if [[ "${FORCE:-0}" != "1" && -f "$STAMP" ]]; then
    echo "peers venv ready: $VENV (delete it or set FORCE=1 to rebuild)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)

"${PIP[@]}" --upgrade pip wheel setuptools
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "pydvl[influence]==0.10.0"
"${PIP[@]}" --no-deps "opendataval==1.3.0"
# pip then prints "ERROR: ... dependency conflicts" for opendataval: expected (it pins old
# torch / numpy / pandas and wants torchvision / transformers); its tabular code works here.
# OpenDataVal's runtime imports (tabular path), without torchvision / transformers. The bounds keep
# pydvl's numpy<2 and the torch already installed untouched.
# (pykeops, pandera, typer, torcheval are only used by its CLI / GPU paths: not installed.)
"${PIP[@]}" "requests" "geomloss~=0.2.6" "tqdm" "pandas" "scipy" "scikit-learn" "matplotlib" \
    "numpy<2" "torch==2.13.0" "pydvl[influence]==0.10.0"

# Smoke test: both libraries import (OpenDataVal with placeholder torchvision / transformers).
(cd "$ROOT" && PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import sys

sys.argv = ["smoke"]
sys.path.insert(0, "benchmarks/peers")
import run_opendataval  # noqa: F401  (installs the torchvision / transformers placeholders)
import run_pydvl  # noqa: F401

print(", ".join(f"{p} {md.version(p)}" for p in
                ("numpy", "torch", "scikit-learn", "pydvl", "opendataval")))
PY
)

touch "$STAMP"
echo "peers venv ready: $VENV"
