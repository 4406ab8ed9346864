"""The data of pool-based active learning: a labelled pool, a test set and a validation set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assay.data.bundled import dataset_names, load_dataset
from assay.data.dataset import Dataset
from assay.data.files_loaders import stratified_subsample
from assay.data.io import read_table
from assay.data.splits import Standardizer
from assay.errors import InvalidDataError, InvalidParameterError


def load_pool(
    source: str,
    target: str | None,
    test: str | None,
    test_fraction: float,
    valid: str | None,
    seed: int,
) -> tuple[Dataset, Dataset, Dataset | None]:
    """The pool, test and validation sets of active learning, standardised by the pool.

    Parameters
    ----------
    source : str
        A CSV / Parquet file or a bundled dataset name (whose own split is used).
    target : str, optional
        Label column (required for a file).
    test : str, optional
        Test file; default: a seeded class-stratified ``test_fraction`` of ``source``.
    test_fraction : float
        Held-out share in (0, 1) when ``test`` is not given.
    valid : str, optional
        Validation file (for valuation-based acquisitions).
    seed : int
        Seed of the held-out sample (and of a bundled dataset's split).

    Returns
    -------
    tuple
        ``(pool, test, valid or None)`` :class:`~assay.data.Dataset` objects, all standardised
        with the pool's mean and scale.

    Raises
    ------
    InvalidDataError
        If ``source`` is neither a file nor a bundled dataset.
    InvalidParameterError
        If ``target`` is missing for a file or ``test_fraction`` is outside (0, 1).
    """
    if not Path(source).exists() and source in dataset_names():
        split = load_dataset(source, seed=seed)
        return split.train, split.test, split.valid
    if not Path(source).exists():
        raise InvalidDataError(
            f"file not found: {source!r} (bundled: {', '.join(dataset_names())})"
        )
    if target is None:
        raise InvalidParameterError("--target is required for a data file")
    full = read_table(source, target)
    if test is not None:
        pool, test_ds = full, read_table(test, target, classes=full.classes)
    else:
        if not 0 < test_fraction < 1:
            raise InvalidParameterError(f"--test-fraction must lie in (0, 1), got {test_fraction}")
        held = stratified_subsample(full.y, max(1, round(test_fraction * full.n)), seed)
        mask = np.zeros(full.n, dtype=bool)
        mask[held] = True
        pool, test_ds = full.subset(~mask), full.subset(mask)
    valid_ds = None if valid is None else read_table(valid, target, classes=full.classes)
    scaler = Standardizer.fit(pool)
    return (
        scaler.transform(pool),
        scaler.transform(test_ds),
        None if valid_ds is None else scaler.transform(valid_ds),
    )
