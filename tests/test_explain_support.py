"""Shared pieces of the explainer tests: a tiny game and one explainer trained per session."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.explain import DataExplainer, FastDataShapley


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensor programs run far faster on one thread, above all on a busy shared machine
    (two threads spin-waiting measured 30 times slower here); restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass(frozen=True)
class TinyTask:
    train: Dataset  # 8 players, 4 per class, providers p0..p3 (two points each)
    inputs: np.ndarray  # explainer training inputs
    valid: np.ndarray  # explainer validation inputs
    test: Dataset  # held-out predictions


def tiny_task(seed: int = 0, n: int = 8) -> TinyTask:
    rng = np.random.default_rng(seed)

    def blob(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(m) % 2
        return rng.normal(size=(m, 2)) + np.where(y[:, None] == 1, 1.0, -1.0), y

    X, y = blob(n)
    providers = np.array([f"p{i // 2}" for i in range(n)])
    train = Dataset.from_arrays(X, y, groups=providers)
    Xt, yt = blob(30)
    return TinyTask(
        train,
        blob(400)[0],
        blob(80)[0],
        Dataset.from_arrays(Xt, yt, classes=train.classes),
    )


@functools.lru_cache(maxsize=1)
def trained_explainer() -> tuple[DataExplainer, TinyTask]:
    """FDS on the tiny logistic game: exhaustive pool (254 subsets), MLP explainer."""
    task = tiny_task()
    fds = FastDataShapley(
        "logistic",
        hidden=(64, 64),
        lr=3e-3,
        epochs=80,
        patience=20,
        batch_size=64,
        seed=0,
    )
    return fds.fit(task.train, task.inputs, task.valid), task
