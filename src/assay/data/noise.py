"""Noise injection: exact-count label flips and Gaussian feature noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError


def flip_labels(data: Dataset, rate: float, *, seed: int = 0) -> tuple[Dataset, NDArray[np.int64]]:
    """Flip exactly ``round(rate * n)`` labels; return the noisy dataset and the flipped positions.

    Binary labels are swapped; a multiclass label moves to a uniformly drawn *other* class.
    """
    if not 0.0 <= rate <= 1.0:
        raise InvalidParameterError(f"flip rate must lie in [0, 1], got {rate}")
    if data.n_classes < 2:
        raise InvalidParameterError("cannot flip labels of a dataset with a single class")
    rng = np.random.default_rng(seed)
    n_flip = round(rate * data.n)
    flipped = np.sort(rng.choice(data.n, size=n_flip, replace=False)).astype(np.int64)
    y = data.y.copy()
    k = data.n_classes
    # an offset in 1..K-1 (mod K) always lands on another class; for K = 2 it is the swap
    y[flipped] = (y[flipped] + rng.integers(1, k, size=n_flip)) % k
    return data.with_labels(y), flipped


def add_feature_noise(
    data: Dataset, scale: float, *, fraction: float = 1.0, seed: int = 0
) -> tuple[Dataset, NDArray[np.int64]]:
    """Add N(0, scale^2) noise to the features of ``round(fraction * n)`` rows; return them too."""
    if scale < 0:
        raise InvalidParameterError(f"noise scale must be >= 0, got {scale}")
    if not 0.0 <= fraction <= 1.0:
        raise InvalidParameterError(f"noise fraction must lie in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(data.n, size=round(fraction * data.n), replace=False))
    X = data.X.copy()
    X[rows] += rng.normal(0.0, scale, size=(len(rows), data.n_features))
    return data.with_features(X), rows.astype(np.int64)
