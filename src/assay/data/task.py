"""A valuation *task*: train / validation / optional test data built from one JSON-able spec.

The command line writes the spec next to every result, so ``assay evaluate`` can rebuild exactly
the same split (and the same flipped labels) from the values file alone.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.data.bundled import REGISTRY, dataset_names, load_dataset
from assay.data.dataset import Dataset, check_task, looks_continuous, no_classes
from assay.data.encode import TableEncoder, numeric_target, split_labels
from assay.data.io import encode_frame, read_frame
from assay.data.noise import flip_labels
from assay.data.splits import Split, Standardizer, fold_assignment, split_dataset
from assay.errors import InvalidDataError, InvalidParameterError, check_seed

log = logging.getLogger(__name__)


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
    folds : int, optional
        Cross-fitting (:func:`assay.valuation.crossfit.cross_fit`): no validation rows are
        carved out; every row but the test rows is a training row (valued in one of ``folds``
        stratified folds, validated on the others) and the validation set is empty. Excludes
        a ``valid`` file.
    task : {"classification", "regression", "auto"}
        What the target of a file is; ``auto`` makes a continuous float target a regression
        target (:func:`assay.data.dataset.looks_continuous`). Bundled sets have their own.
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
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    folds: int | None = None
    task: str = "classification"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        known = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("drop", "categorical"):
            kw[k] = tuple(kw.get(k) or ())
        return cls(**kw)

    @property
    def bundled(self) -> bool:
        return not Path(self.source).exists() and self.source in dataset_names()


#: folds of a cross-fitted task when neither a validation file nor a fraction is given
DEFAULT_FOLDS = 5


def resolve_folds(
    folds: int | None, *, valid: str | None = None, valid_fraction: float | None = None
) -> int | None:
    """The ``folds`` of a task: cross-fitted by default, a held-out validation set on request.

    ``None`` (no cross-fitting) when a validation file or fraction is given; else ``folds``, or
    :data:`DEFAULT_FOLDS` when that is ``None`` too.

    Raises
    ------
    InvalidParameterError
        When ``folds`` is given together with a validation file or fraction.
    """
    held_out = "a validation file" if valid is not None else "a validation fraction"
    if valid is not None or valid_fraction is not None:
        if folds is not None:
            raise InvalidParameterError(
                f"--folds {folds} and {held_out} exclude each other: cross-fitting validates "
                "every fold on the others; give one of them"
            )
        return None
    return DEFAULT_FOLDS if folds is None else folds


@dataclass(frozen=True)
class Task:
    """The built task: datasets, flipped training positions (if any), and its spec.

    With ``spec.folds``, ``valid`` is empty and ``folds`` is the fold of every training row
    (:func:`~assay.data.splits.fold_assignment` of the final, flipped, training labels).
    """

    train: Dataset
    valid: Dataset
    test: Dataset | None
    spec: TaskSpec
    flipped: NDArray[np.int64] | None = field(default=None)
    encoder: TableEncoder | None = field(default=None)
    folds: NDArray[np.int64] | None = field(default=None)

    @property
    def flipped_ids(self) -> NDArray[Any] | None:
        return None if self.flipped is None else self.train.ids[self.flipped]


def _encode(
    frame: Any, spec: TaskSpec, what: str, encoder: TableEncoder | None, classes: Any
) -> tuple[Dataset, TableEncoder]:
    if spec.target is None:
        raise InvalidParameterError("--target is required for a data file")
    data, enc, dropped = encode_frame(
        frame,
        spec.target,
        id_column=spec.id_column,
        group_column=spec.group_column,
        classes=classes,
        name=Path(spec.source).stem,
        drop=spec.drop,
        categorical=spec.categorical,
        encoder=encoder,
        what=what,
    )
    if dropped:
        log.warning("%s: excluded %d rows with a missing label in %r", what, dropped, spec.target)
    return data, enc


def _file_task(spec: TaskSpec) -> tuple[Dataset, Dataset, Dataset | None, TableEncoder]:
    """Split the source's rows first, then fit the encoder on the training rows only."""
    if spec.target is None:
        raise InvalidParameterError("--target is required for a data file")
    frame = read_frame(spec.source)
    others = {k: read_frame(v) for k, v in (("valid", spec.valid), ("test", spec.test)) if v}
    if spec.task != "classification":
        frame = numeric_target(frame, spec.target)
    labelled, labels, _ = split_labels(frame, spec.target)
    if len(labelled) == 0:
        raise InvalidDataError(f"every row has a missing label in {spec.target!r}")
    raw = labelled[spec.target].to_numpy()
    regression = spec.task == "regression" or (spec.task == "auto" and looks_continuous(raw))
    classes = no_classes() if regression else np.unique(labels)
    parts: dict[str, Any] = {}
    if spec.valid is not None:
        parts["train"] = frame
    elif spec.folds is not None:  # cross-fitted: no validation rows, perhaps test rows
        tf = 0.0 if spec.test else spec.test_fraction
        parts["train"] = labelled
        if tf > 0:
            dummy = Dataset.from_arrays(np.zeros((len(labels), 1)), labels, classes=classes)
            pos = split_dataset(dummy, (1 - tf, tf, 0.0), seed=spec.seed, scale=False)
            parts["train"] = labelled.iloc[np.asarray(pos.train.ids)]
            parts["test"] = labelled.iloc[np.asarray(pos.valid.ids)]
    else:
        vf, tf = spec.valid_fraction, (0.0 if spec.test else spec.test_fraction)
        dummy = Dataset.from_arrays(np.zeros((len(labels), 1)), labels, classes=classes)
        pos = split_dataset(dummy, (1 - vf - tf, vf, tf), seed=spec.seed, scale=False)
        parts["train"] = labelled.iloc[np.asarray(pos.train.ids)]
        parts["valid"] = labelled.iloc[np.asarray(pos.valid.ids)]
        if pos.test.n:
            parts["test"] = labelled.iloc[np.asarray(pos.test.ids)]
    parts.update(others)
    train, enc = _encode(parts["train"], spec, "training table", None, classes)
    if "valid" in parts:
        valid, _ = _encode(parts["valid"], spec, "validation table", enc, classes)
    else:
        valid = train.subset(np.arange(0))
    test = _encode(parts["test"], spec, "test table", enc, classes)[0] if "test" in parts else None
    return train, valid, test, enc


def build_task(spec: TaskSpec) -> Task:
    """Load, split, scale and (optionally) corrupt the data the spec describes."""
    check_seed(spec.seed, "--seed")
    check_task(spec.task)
    for what, frac in (
        ("valid fraction", spec.valid_fraction),
        ("test fraction", spec.test_fraction),
    ):
        if not 0 <= frac < 1:  # also refuses NaN
            raise InvalidParameterError(f"{what} must lie in [0, 1), got {frac}")
    if not 0 <= spec.flip_rate < 1:
        raise InvalidParameterError(f"flip rate must lie in [0, 1), got {spec.flip_rate}")
    if spec.folds is not None and spec.valid is not None:
        raise InvalidParameterError(
            "folds and a validation file exclude each other: cross-fitting validates every fold "
            "on the others (drop --valid, or --folds)"
        )
    test: Dataset | None
    encoder: TableEncoder | None = None
    if spec.bundled and spec.folds is not None:
        # the bundled split's training and validation parts together are the training rows
        fr = REGISTRY[spec.source].fractions
        split = load_dataset(
            spec.source,
            seed=spec.seed,
            scale=spec.scale,
            max_rows=spec.max_rows,
            fractions=(fr[0] + fr[1], fr[2], 0.0),
        )
        train, valid, test = split.train, split.train.subset(np.arange(0)), split.valid
    elif spec.bundled:
        split = load_dataset(spec.source, seed=spec.seed, scale=spec.scale, max_rows=spec.max_rows)
        train, valid, test = split.train, split.valid, split.test
    elif not Path(spec.source).exists():
        names = ", ".join(dataset_names())
        raise InvalidDataError(f"file not found: {spec.source!r} (bundled datasets: {names})")
    else:
        train, valid, test, encoder = _file_task(spec)
        if spec.scale:
            scaler = Standardizer.fit(train)
            train, valid = scaler.transform(train), scaler.transform(valid)
            test = None if test is None else scaler.transform(test)
    flipped = None
    if spec.flip_rate > 0:
        train, flipped = flip_labels(train, spec.flip_rate, seed=spec.seed)
    if test is not None and test.n == 0:
        test = None
    folds = None if spec.folds is None else fold_assignment(train, spec.folds, seed=spec.seed)
    return Task(train, valid, test, spec, flipped, encoder, folds)


def as_split(task: Task) -> Split:
    """The task as a :class:`Split` (raises if it has no test set)."""
    if task.test is None:
        raise InvalidDataError("this task has no test set; pass --test FILE or --test-fraction")
    return Split(task.train, task.valid, task.test)
