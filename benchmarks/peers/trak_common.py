"""What the TRAK runners share: the task and checkpoint files, the MLP, the timing record.

Imports only numpy and torch, so that it loads in assay's venv and in ``.venv-attr`` alike. The
parent (``benchmarks/trak_lds.py``) writes ``task.npz`` (float32 ``X_train``, ``X_test``, int64
``y_train``, ``y_test``, the MLP's ``hidden`` widths and ``n_classes``) and one ``ckpt_<c>.npz``
per checkpoint (the ``nn.Sequential`` state_dict as plain arrays, no pickle). Each runner writes
``scores`` (m_test, n_train) and a JSON record: attribution seconds in-process, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn


def parse_args(
    description: str, extra: Callable[[argparse.ArgumentParser], object] | None = None
) -> argparse.Namespace:
    """The runners' shared arguments; ``extra(parser)`` adds a runner's own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("folder", type=Path, help="holds task.npz and ckpt_<c>.npz")
    ap.add_argument("out", type=Path, help="scores .npz; the record goes to <out>.json")
    ap.add_argument("--proj-dim", type=int, required=True)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0, help="projection seed")
    ap.add_argument(
        "--lambda-abs",
        type=float,
        default=0.0,
        help="a peer's absolute ridge on its kernel (traker lambda_reg, dattri regularization); "
        "0 is both peers' default",
    )
    if extra is not None:
        extra(ap)
    return ap.parse_args()


def prepare_process() -> None:
    """1 thread for everyone; pay torch.func's one-time start-up before any timer starts.

    The environment sets ``OMP_NUM_THREADS=1`` too; torch is told in case it ignores it. The
    first ``torch.func.grad`` call imports ``torch._dynamo`` (about 3.5 s here, torch 2.13): all
    three methods use ``torch.func``, and whichever imports it first inside its timer would pay
    it alone, so the in-process times leave it out (the whole-process times include it).
    """
    torch.set_num_threads(1)
    torch.func.vmap(torch.func.grad(lambda x: (x * x).sum()))(torch.ones(2, 2))


def load_task(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "task.npz") as f:
        return {k: f[k] for k in f.files}


def make_mlp(n_features: int, hidden: list[int], n_classes: int) -> nn.Sequential:
    """The same ``Linear/ReLU`` stack as ``assay.learners.networks.make_mlp`` (same keys)."""
    layers: list[nn.Module] = []
    width = n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def load_checkpoints(folder: Path) -> list[dict[str, torch.Tensor]]:
    paths = sorted(folder.glob("ckpt_*.npz"), key=lambda p: int(p.stem.split("_")[1]))
    out = []
    for p in paths:
        with np.load(p) as f:
            out.append({k: torch.from_numpy(f[k].copy()) for k in f.files})
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``).

    Not ``getrusage``: Linux carries ``ru_maxrss`` across ``execve``, so a child started by a
    large parent reports the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0  # kB
    return float("nan")


def write(out: Path, scores: np.ndarray, seconds: float, **extra: object) -> None:
    """Scores (m_test, n_train) to ``out``; the record (seconds, peak RSS, extras) beside it."""
    np.savez(out, scores=np.asarray(scores, np.float64))
    record = {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "pid": os.getpid(), **extra}
    out.with_suffix(".json").write_text(json.dumps(record))


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
