"""Shared pieces of the FI benchmarks (seed 003): threads, JSON output, tables, trimming."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assay.data import Dataset
from assay.learners.base import BatchLearner
from assay.result import HIGHER_IS_BETTER, HIGHER_IS_SUSPECT, ValuationResult
from assay.runs import atomic_write_bytes
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
    atomic_write_bytes(path, blob.encode(), overwrite=True)
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


def flipped(values: ValuationResult) -> ValuationResult:
    """The same values read from the other end: trimming then removes the opposite tail."""
    other = HIGHER_IS_SUSPECT if values.direction == HIGHER_IS_BETTER else HIGHER_IS_BETTER
    return replace(values, direction=other)


def trimmed_accuracies(
    learner: BatchLearner,
    train: Dataset,
    test: Dataset,
    orders: dict[str, ValuationResult],
    budgets: Sequence[int],
) -> dict[str, list[float]]:
    """Test accuracy after removing each method's ``b`` most suspect points (one batched fit)."""
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


def fi_vs_iv(
    runs: list[dict[str, Any]],
    paper: dict[int, tuple[float, ...]],
    paper_seeds: int,
    fi_key: str = "fi",
    iv_key: str = "iv",
) -> tuple[dict[int, dict[str, Any]], np.ndarray]:
    """Tables 1-2 of the seed: per budget b, how often trimming by FI beats trimming by IV.

    ``runs[s][fi_key]`` / ``[iv_key]``: test accuracies (0-1) untrimmed, then after removing b
    points for each budget of ``paper`` (b -> (FI better, Acc_FI, sd, Acc_IV, sd) of the paper).
    Prints the table next to the paper's; returns the JSON summary and the FI accuracies in %
    (seeds, 1 + budgets).
    """
    fi = np.array([r[fi_key] for r in runs]) * 100
    iv = np.array([r[iv_key] for r in runs]) * 100
    seeds = len(runs)
    rows, summary = [], {}
    for j, b in enumerate(paper, start=1):
        better, ties = int((fi[:, j] > iv[:, j]).sum()), int((fi[:, j] == iv[:, j]).sum())
        p = paper[b]
        summary[b] = {
            "fi_better": better,
            "ties": ties,
            "iv_better": seeds - better - ties,
            "acc_fi": [fi[:, j].mean(), fi[:, j].std()],
            "acc_iv": [iv[:, j].mean(), iv[:, j].std()],
            "paper": {"fi_better": p[0], "acc_fi": p[1:3], "acc_iv": p[3:5]},
        }
        rows.append(
            [
                b,
                f"{better} (+{ties} ties) / {seeds}",
                f"{p[0]} / {paper_seeds}",
                f"{fi[:, j].mean():.2f}+-{fi[:, j].std():.2f}",
                f"{p[1]:.2f}+-{p[2]:.2f}",
                f"{iv[:, j].mean():.2f}+-{iv[:, j].std():.2f}",
                f"{p[3]:.2f}+-{p[4]:.2f}",
            ]
        )
    print(table(rows, ["b", "FI better", "paper", "Acc_FI %", "paper", "Acc_IV %", "paper"]))
    return summary, fi
