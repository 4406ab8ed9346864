"""A valuation *task*: train / validation / optional test data built from one JSON-able spec.

The command line writes the spec next to every result, so ``assay evaluate`` can rebuild exactly
the same split (and the same flipped labels) from the values file alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.data.bundled import dataset_names, load_dataset
from assay.data.dataset import Dataset
from assay.data.io import from_pandas, read_frame
from assay.data.noise import flip_labels
from assay.data.splits import Split, Standardizer, split_dataset
from assay.errors import InvalidDataError, InvalidParameterError, check_seed


@dataclass(frozen=True)
class TaskSpec:
    """How to build a task.

    Parameters
    ----------
    source : str
        A CSV / Parquet path, or the name of a bundled dataset.
    target : str, optional
        Label column (files only).
    valid, test : str, optional
        Separate validation / test files; otherwise carved out of ``source``.
    valid_fraction, test_fraction : float
        Fractions of ``source`` held out when no file is given (bundled sets use their own split).
    seed : int
        Seeds the split and the label flips.
    flip_rate : float
        Flip this fraction of training labels (for noisy-label experiments).
    scale : bool
        Standardise features with training statistics.
    id_column, group_column : str, optional
    max_rows : int, optional
        Subsample a bundled dataset.
    """

    source: str
    target: str | None = None
    valid: str | None = None
    test: str | None = None
    valid_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    flip_rate: float = 0.0
    scale: bool = True
    id_column: str | None = None
    group_column: str | None = None
    max_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def bundled(self) -> bool:
        return not Path(self.source).exists() and self.source in dataset_names()


@dataclass(frozen=True)
class Task:
    """The built task: datasets, flipped training positions (if any), and its spec."""

    train: Dataset
    valid: Dataset
    test: Dataset | None
    spec: TaskSpec
    flipped: NDArray[np.int64] | None = field(default=None)

    @property
    def flipped_ids(self) -> NDArray[Any] | None:
        return None if self.flipped is None else self.train.ids[self.flipped]


def _read(path: str, spec: TaskSpec, classes: Any = None) -> Dataset:
    if spec.target is None:
        raise InvalidParameterError("--target is required for a data file")
    return from_pandas(
        read_frame(path),
        spec.target,
        id_column=spec.id_column,
        group_column=spec.group_column,
        classes=classes,
        name=Path(path).stem,
    )


def build_task(spec: TaskSpec) -> Task:
    """Load, split, scale and (optionally) corrupt the data the spec describes."""
    check_seed(spec.seed, "--seed")
    for what, frac in (
        ("valid fraction", spec.valid_fraction),
        ("test fraction", spec.test_fraction),
    ):
        if not 0 <= frac < 1:  # also refuses NaN
            raise InvalidParameterError(f"{what} must lie in [0, 1), got {frac}")
    if not 0 <= spec.flip_rate < 1:
        raise InvalidParameterError(f"flip rate must lie in [0, 1), got {spec.flip_rate}")
    test: Dataset | None
    if spec.bundled:
        split = load_dataset(spec.source, seed=spec.seed, scale=spec.scale, max_rows=spec.max_rows)
        train, valid, test = split.train, split.valid, split.test
    elif not Path(spec.source).exists():
        names = ", ".join(dataset_names())
        raise InvalidDataError(f"file not found: {spec.source!r} (bundled datasets: {names})")
    else:
        full = _read(spec.source, spec)
        test = None if spec.test is None else _read(spec.test, spec, full.classes)
        if spec.valid is not None:
            train, valid = full, _read(spec.valid, spec, full.classes)
        else:
            vf, tf = spec.valid_fraction, (0.0 if spec.test else spec.test_fraction)
            parts = split_dataset(full, (1 - vf - tf, vf, tf), seed=spec.seed, scale=False)
            train, valid = parts.train, parts.valid
            test = test if test is not None else (parts.test if parts.test.n else None)
        if spec.scale:
            scaler = Standardizer.fit(train)
            train, valid = scaler.transform(train), scaler.transform(valid)
            test = None if test is None else scaler.transform(test)
    flipped = None
    if spec.flip_rate > 0:
        train, flipped = flip_labels(train, spec.flip_rate, seed=spec.seed)
    if test is not None and test.n == 0:
        test = None
    return Task(train, valid, test, spec, flipped)


def as_split(task: Task) -> Split:
    """The task as a :class:`Split` (raises if it has no test set)."""
    if task.test is None:
        raise InvalidDataError("this task has no test set; pass --test FILE or --test-fraction")
    return Split(task.train, task.valid, task.test)
