"""Noise injection: exact-count label flips and Gaussian feature noise."""

from __future__ import annotations

from pathlib import Path

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
    if data.is_regression:
        raise InvalidParameterError(
            "label flips need class labels; this dataset has a regression target"
        )
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


def flip_file(
    data: str,
    target: str,
    rate: float,
    out: str | Path,
    *,
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Path, Path, int, int]:
    """Flip labels of a table and write the noisy table and the flipped ids (``assay flip``).

    Parameters
    ----------
    data : str
        A table file or bundled dataset name (:func:`assay.data.read_table`).
    target : str
        Its label column.
    rate : float
        Fraction of labels to flip (exactly ``round(rate * n)``, see :func:`flip_labels`).
    out : path
        The noisy table: Parquet when it ends in ``.parquet``, CSV otherwise. The flipped ids go
        to its sibling ``*.flipped.csv`` (``noisy.csv`` -> ``noisy.flipped.csv``).
    seed : int
        Seed of the flips.
    overwrite : bool
        Replace outputs that exist (refused otherwise, before any work).

    Returns
    -------
    tuple
        ``(table path, ids path, flipped count, rows)``.
    """
    import pandas as pd

    from assay.data.io import read_table
    from assay.runs import atomic_write_table, check_new, sibling

    p = Path(out)
    ids_path = sibling(p, ".flipped.csv", base_ext=p.suffix or ".csv")
    check_new(p, ids_path, overwrite=overwrite)
    ds = read_table(data, target)
    noisy, flipped = flip_labels(ds, rate, seed=seed)
    df = noisy.to_pandas(target).drop(columns="id")  # row order keeps the ids (positions)
    if p.suffix.lower() == ".parquet":
        atomic_write_table(p, df, overwrite=overwrite)
    else:
        from assay.runs import atomic_write_text

        atomic_write_text(p, df.to_csv(index=False), overwrite=overwrite)
    atomic_write_table(ids_path, pd.DataFrame({"id": noisy.ids[flipped]}), overwrite=overwrite)
    return p, ids_path, len(flipped), noisy.n
