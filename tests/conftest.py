"""Shared fixtures: small real tasks that train in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest

from assay.data import Dataset, flip_labels, load_dataset
from assay.data.splits import Split


@pytest.fixture(scope="session")
def breast_cancer() -> Split:
    return load_dataset("breast_cancer", seed=0)


@pytest.fixture(scope="session")
def noisy_breast_cancer(breast_cancer: Split) -> tuple[Split, np.ndarray]:
    train, flipped = flip_labels(breast_cancer.train, 0.1, seed=0)
    return Split(train, breast_cancer.valid, breast_cancer.test), flipped


def tiny_task(
    n_train: int = 8, n_valid: int = 40, seed: int = 0, d: int = 2
) -> tuple[Dataset, Dataset]:
    """A small two-blob problem: n_train players, enough validation points for a smooth score."""
    rng = np.random.default_rng(seed)

    def blob(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 2
        X = rng.normal(size=(n, d)) + np.where(y[:, None] == 1, 1.0, -1.0)
        return X, y

    Xt, yt = blob(n_train)
    Xv, yv = blob(n_valid)
    train = Dataset.from_arrays(Xt, yt)
    return train, Dataset.from_arrays(Xv, yv, classes=train.classes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests on machines without CUDA (CI has none; the device machine has one)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    """Run under the process state the command line sets (fits never set it themselves)."""
    from assay import configure_process

    configure_process()
