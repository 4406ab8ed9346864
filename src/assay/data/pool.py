"""The data of pool-based active learning: a labelled pool, a test set and a validation set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assay.data.bundled import dataset_names, load_dataset
from assay.data.dataset import Dataset
from assay.data.encode import split_labels
from assay.data.files_loaders import stratified_subsample
from assay.data.io import encode_frame, read_frame
from assay.data.splits import Standardizer
from assay.errors import InvalidDataError, InvalidParameterError


def load_pool(
    source: str,
    target: str | None,
    test: str | None,
    test_fraction: float,
    valid: str | None,
    seed: int,
    *,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
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
    id_column, drop, categorical
        See :class:`~assay.data.encode.TableEncoder`; the encoder is fitted on the pool's rows
        only and applied to the test and validation rows.

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
    if test is None and not 0 < test_fraction < 1:
        raise InvalidParameterError(f"--test-fraction must lie in (0, 1), got {test_fraction}")
    frame = read_frame(source)
    # the held-out rows are chosen first (on the labels), so the encoder sees pool rows only
    labelled, values, _ = split_labels(frame, target)
    labelled = labelled.reset_index(drop=True)
    classes, codes = np.unique(values, return_inverse=True)
    if test is None:
        held = stratified_subsample(codes, max(1, round(test_fraction * len(codes))), seed)
        mask = np.zeros(len(codes), dtype=bool)
        mask[held] = True
        pool_rows, test_frame = labelled[~mask], labelled[mask]
    else:
        pool_rows, test_frame = labelled, read_frame(test)
    name = Path(source).stem
    pool, enc, _ = encode_frame(
        pool_rows,
        target,
        name=name,
        classes=classes,
        id_column=id_column,
        drop=drop,
        categorical=categorical,
    )

    def encoded(part: object, what: str) -> Dataset:
        return encode_frame(part, target, classes=pool.classes, encoder=enc, what=what)[0]

    test_ds = encoded(test_frame, "test table")
    valid_ds = None if valid is None else encoded(read_frame(valid), "validation table")
    scaler = Standardizer.fit(pool)
    return (
        scaler.transform(pool),
        scaler.transform(test_ds),
        None if valid_ds is None else scaler.transform(valid_ds),
    )
