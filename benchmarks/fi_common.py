"""Shared pieces of the FI benchmarks (seed 003): threads, JSON output, tables, trimming."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assay.data import Dataset
from assay.learners.base import BatchLearner
from assay.result import ValuationResult, atomic_write_bytes
from assay.select.trim import removal_order, trimming_masks
from assay.utility import Utility

RESULTS = Path(__file__).parent / "results"


def set_threads(n: int | None = None) -> int:
    """Torch threads (``ASSAY_THREADS`` or the argument; 1 is much faster for tiny models when
    other processes share the two cores, because OpenMP's spinning threads then fight)."""
    n = n or int(os.environ.get("ASSAY_THREADS", "1"))
    torch.set_num_threads(n)
    return n


def write_json(name: str, payload: dict[str, Any]) -> Path:
    path = RESULTS / name
    blob = json.dumps(
        payload, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)
    )
    atomic_write_bytes(path, blob.encode())
    return path


def machine() -> dict[str, Any]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": load,
        "torch": torch.__version__,
        "note": "2 cores shared with other jobs: timings are noisy",
    }


def trimmed_accuracies(
    learner: BatchLearner,
    train: Dataset,
    test: Dataset,
    orders: dict[str, ValuationResult],
    budgets: Sequence[int],
) -> dict[str, list[float]]:
    """Test accuracy after removing each method's ``b`` lowest-valued points (one batched fit)."""
    u = Utility(learner, train, test)
    masks = [trimming_masks(removal_order(v, train), budgets) for v in orders.values()]
    scores = u(np.vstack(masks)).reshape(len(orders), len(budgets))
    return {name: scores[i].tolist() for i, name in enumerate(orders)}


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._t


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
