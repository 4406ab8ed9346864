"""The immutable :class:`Dataset`: features, integer-coded labels, ids, optional groups.

Labels are stored as integer codes ``0..K-1`` into ``classes`` so that every learner, scorer and
valuation method can index with them; ``labels`` gives back the original values. A *regression*
dataset has no classes (``classes`` is empty) and ``y`` holds the float targets themselves
(:attr:`Dataset.is_regression`). Arrays are made read-only on construction, so a ``Dataset`` can
be shared between threads and cached by hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError
from assay.runs import new_hash


def _readonly(a: NDArray[Any]) -> NDArray[Any]:
    """A read-only view (constructors copy their inputs first, so nobody else holds the buffer)."""
    view = np.ascontiguousarray(a).view()
    view.flags.writeable = False
    return view


#: largest magnitude accepted in a feature: beyond it, squaring in float32 (standardising,
#: distances, Gram matrices) overflows to inf
MAX_FEATURE_MAGNITUDE = float(np.sqrt(np.finfo(np.float32).max))


def check_features(
    X: ArrayLike,
    what: str = "X",
    names: list[str] | tuple[str, ...] | None = None,
    *,
    dtype: Any = np.float64,
) -> NDArray[Any]:
    """Return ``X`` as a 2-D finite float64 array or raise :class:`InvalidDataError` saying why.

    Values beyond :data:`MAX_FEATURE_MAGNITUDE` (about 1.8e19) are refused too, naming the
    column (``names`` when given): they are finite but overflow when squared or cast to float32.
    ``dtype=np.float32`` returns float32 instead (a very large table, half the memory).
    """
    arr = np.asarray(X)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise InvalidDataError(
            f"{what} must be numeric, got dtype {arr.dtype}; "
            "encode text or categorical columns first"
        )
    if arr.ndim != 2:
        raise InvalidDataError(
            f"{what} must be a 2-D array (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InvalidDataError(f"{what} is empty: shape {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if max(-lo, hi) <= MAX_FEATURE_MAGNITUDE:  # min / max propagate NaN: finite and in range
        return arr  # without the full-size temporaries of the checks below
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(arr[row, col]) else "inf"
        raise InvalidDataError(
            f"{what} has {int(bad.sum())} non-finite values "
            f"({kind} first at row {row}, column {col}); "
            "impute or drop them before valuation"
        )
    big = np.abs(arr) > MAX_FEATURE_MAGNITUDE
    if big.any():
        row, col = np.argwhere(big)[0]
        name = names[col] if names is not None and col < len(names) else f"column {col}"
        raise InvalidDataError(
            f"{what} feature {name!r} has value {arr[row, col]:.3g} at row {row}, beyond "
            f"±{MAX_FEATURE_MAGNITUDE:.2g}: it overflows float32 when squared or standardised; "
            "rescale the column (e.g. log or divide by a unit)"
        )
    return arr


TASKS = ("classification", "regression", "auto")


def no_classes() -> NDArray[np.float64]:
    """The ``classes`` of a regression dataset: empty (``y`` holds the targets themselves)."""
    return np.empty(0, dtype=np.float64)


def looks_continuous(y: ArrayLike) -> bool:
    """Whether ``y`` is a float target with more than 10 distinct values, not all whole numbers.

    The rule that separates a regression target from class labels stored as floats.
    """
    arr = np.asarray(y)
    if arr.dtype.kind != "f":
        return False
    distinct = np.unique(arr[~np.isnan(arr)])
    return len(distinct) > 10 and not np.all(distinct == np.round(distinct))


def check_task(task: str) -> str:
    """``task`` if it is one of :data:`TASKS`, else :class:`InvalidParameterError`."""
    if task not in TASKS:
        from assay.errors import InvalidParameterError

        raise InvalidParameterError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def encode_targets(y: ArrayLike, what: str = "y") -> NDArray[np.float64]:
    """A regression target as a finite float64 vector, or :class:`InvalidDataError` saying why."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidDataError(f"{what} must be 1-D (n_samples,), got shape {arr.shape}")
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(
                f"{what}: a regression target must be numeric, got values like "
                f"{arr[:3].tolist()} ({exc})"
            ) from exc
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidDataError(
            f"{what} has {int(bad.sum())} missing or infinite targets "
            f"(first at row {int(np.flatnonzero(bad)[0])})"
        )
    if np.abs(arr).max(initial=0.0) > MAX_FEATURE_MAGNITUDE:
        raise InvalidDataError(
            f"{what} has targets beyond ±{MAX_FEATURE_MAGNITUDE:.2g}: rescale the target"
        )
    return arr


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def regression_hint(classes: ArrayLike) -> str:
    """A hint to add to a label error when ``classes`` look like a numeric target's values."""
    cls = np.asarray(classes)
    numbers = cls.dtype.kind in "iuf" or (
        len(cls) > 0 and np.mean([_is_number(v) for v in cls.tolist()]) > 0.9
    )  # labels read as text, e.g. numbers with '?' for the missing ones
    if numbers and len(cls) > 20:
        return (
            "; a numeric target with many values is a regression target: use a regressor "
            "(--learner ridge)"
        )
    return ""


def encode_labels(
    y: ArrayLike, classes: ArrayLike | None = None, what: str = "y"
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Encode labels as integer codes into ``classes`` (sorted unique labels when not given).

    ``classes`` of size 0 (:func:`no_classes`) means a regression target: the float targets are
    returned as they are (see :func:`encode_targets`).

    Raises
    ------
    InvalidDataError
        If ``y`` is not 1-D, has missing values, or holds a label that ``classes`` lacks.
    """
    if classes is not None and np.asarray(classes).size == 0:
        return encode_targets(y, what), no_classes()
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidDataError(f"{what} must be 1-D (n_samples,), got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InvalidDataError(f"{what} has {int(np.isnan(arr).sum())} missing (NaN) labels")
    if arr.dtype == object and any(v is None for v in arr):
        raise InvalidDataError(f"{what} has missing (None) labels")
    if classes is None:
        if looks_continuous(arr):
            raise InvalidDataError(
                f"{what}: target looks continuous ({len(np.unique(arr))} distinct float "
                "values); a classifier needs class labels: use a regression learner "
                "(--learner ridge, task='regression') or bin the target into classes"
            )
        cls, codes = np.unique(arr, return_inverse=True)
        return codes.astype(np.int64), cls
    cls = np.asarray(classes)
    lookup = {v: i for i, v in enumerate(cls.tolist())}
    unknown = sorted({v for v in arr.tolist() if v not in lookup}, key=str)
    if unknown:
        hint = regression_hint(cls)
        raise InvalidDataError(
            f"{what} has labels that the training data never has: {unknown[:10]} "
            f"(training classes: {cls.tolist()[:20]}){hint}"
        )
    return np.fromiter((lookup[v] for v in arr.tolist()), np.int64, len(arr)), cls


def _missing(a: NDArray[Any]) -> NDArray[np.bool_]:
    """Where ``a`` holds NaN or None."""
    if a.dtype.kind == "f":
        return np.asarray(np.isnan(a))
    if a.dtype == object:
        return np.array([v is None or (isinstance(v, float) and v != v) for v in a.tolist()])
    return np.zeros(len(a), dtype=bool)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset (classification, or regression when ``classes`` is empty), immutable.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite float features.
    y : ndarray of shape (n,)
        Integer label codes into ``classes``; for regression the float targets.
    classes : ndarray of shape (K,)
        The original label values, in code order; empty for regression.
    ids : ndarray of shape (n,)
        One identifier per row (defaults to ``0..n-1``); carried into every result.
    feature_names : tuple of str, optional
    groups : ndarray of shape (n,), optional
        Group or data-provider id of each row.
    name : str
        A label used in reports.

    Use :meth:`from_arrays`, :func:`assay.data.read_table` or :func:`assay.data.load_dataset`
    rather than the constructor: they validate and encode.
    """

    X: NDArray[np.float64]
    y: NDArray[Any]
    classes: NDArray[Any]
    ids: NDArray[Any]
    feature_names: tuple[str, ...] | None = None
    groups: NDArray[Any] | None = None
    name: str = ""
    _hash: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        for what, arr in (("y", self.y), ("ids", self.ids), ("groups", self.groups)):
            if arr is not None and len(arr) != n:
                raise InvalidDataError(
                    f"shape mismatch: X has {n} rows but {what} has {len(arr)} entries"
                )
        if self.feature_names is not None and len(self.feature_names) != self.X.shape[1]:
            raise InvalidDataError(
                f"shape mismatch: X has {self.X.shape[1]} columns but "
                f"{len(self.feature_names)} feature names were given"
            )
        if (
            len(self.y)
            and len(self.classes)
            and (self.y.min() < 0 or self.y.max() >= len(self.classes))
        ):
            raise InvalidDataError(
                f"label codes must lie in [0, {len(self.classes)}), got range "
                f"[{self.y.min()}, {self.y.max()}]"
            )
        for name in ("X", "y", "classes", "ids", "groups"):
            arr = getattr(self, name)
            if arr is not None:
                object.__setattr__(self, name, _readonly(arr))

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        X: ArrayLike,
        y: ArrayLike,
        *,
        ids: ArrayLike | None = None,
        feature_names: list[str] | tuple[str, ...] | None = None,
        groups: ArrayLike | None = None,
        classes: ArrayLike | None = None,
        name: str = "",
        task: str = "classification",
        dtype: Any = np.float64,
        copy: bool = True,
    ) -> Dataset:
        """Validate and encode NumPy-like arrays into a :class:`Dataset`.

        ``dtype`` is the features' (float32 halves a very large table); ``copy=False`` keeps
        ``X`` itself when it already has that dtype (an array the caller hands over, such as a
        fresh :meth:`~assay.data.encode.TableEncoder.transform`).

        ``classes`` fixes the label coding (pass the training set's ``classes`` when building a
        validation or test set, so that codes agree and unknown labels are caught). ``task``
        is ``"classification"`` (a continuous float target is refused), ``"regression"`` (``y``
        is kept as float targets and ``classes`` is empty) or ``"auto"`` (regression exactly
        when :func:`looks_continuous`); a given ``classes`` decides on its own.
        """
        check_task(task)
        if classes is None and (task == "regression" or (task == "auto" and looks_continuous(y))):
            classes = no_classes()
        Xa = check_features(
            X, names=None if feature_names is None else list(feature_names), dtype=dtype
        )
        if copy:
            Xa = Xa.copy()
        ya = np.asarray(y)
        if len(ya) != Xa.shape[0]:
            raise InvalidDataError(
                f"shape mismatch: X has {Xa.shape[0]} rows but y has {len(ya)} labels"
            )
        codes, cls_values = encode_labels(ya, classes)
        id_arr = np.arange(Xa.shape[0]) if ids is None else np.asarray(ids)
        if len(id_arr) != Xa.shape[0]:
            raise InvalidDataError(
                f"shape mismatch: X has {Xa.shape[0]} rows but ids has {len(id_arr)} entries"
            )
        missing_ids = _missing(id_arr)
        if missing_ids.any():
            raise InvalidDataError(
                f"ids have {int(missing_ids.sum())} missing (NaN / None) values, first at row "
                f"{int(np.flatnonzero(missing_ids)[0])}; every row needs an id"
            )
        uniq, counts = np.unique(
            id_arr.astype(str) if id_arr.dtype == object else id_arr, return_counts=True
        )
        if (counts > 1).any():
            raise InvalidDataError(
                f"ids must be unique; duplicated: {uniq[counts > 1].tolist()[:10]}"
            )
        return cls(
            X=Xa,
            y=codes,
            classes=cls_values,
            ids=id_arr,
            feature_names=tuple(str(f) for f in feature_names)
            if feature_names is not None
            else None,
            groups=None if groups is None else np.asarray(groups),
            name=name,
        )

    @classmethod
    def from_frame(cls, frame: Any, target: str, **kwargs: Any) -> Dataset:
        """Encode a DataFrame of any column types (see :func:`assay.data.io.from_pandas`)."""
        from assay.data.io import from_pandas

        return from_pandas(frame, target, **kwargs)

    # ----------------------------------------------------------------- views
    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes in the coding (may exceed the classes present in this subset)."""
        return len(self.classes)

    @property
    def is_regression(self) -> bool:
        """Whether ``y`` holds float regression targets (no classes)."""
        return len(self.classes) == 0

    @property
    def task(self) -> str:
        """``"regression"`` or ``"classification"``."""
        return "regression" if self.is_regression else "classification"

    @property
    def labels(self) -> NDArray[Any]:
        """The original label values of every row (the targets for regression)."""
        return self.y if self.is_regression else self.classes[self.y]

    def class_counts(self) -> NDArray[np.int64]:
        """Rows per class code, shape (K,) (shape (0,) for regression)."""
        if self.is_regression:
            return np.zeros(0, dtype=np.int64)
        return np.bincount(self.y, minlength=self.n_classes)

    def subset(self, indices: ArrayLike) -> Dataset:
        """Rows ``indices`` (positions, or a boolean mask) as a new dataset with the same coding."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (self.n,):
                raise InvalidDataError(f"boolean mask must have shape ({self.n},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        if idx.size and (idx.min() < -self.n or idx.max() >= self.n):
            raise InvalidDataError(f"subset indices out of range for {self.n} rows")
        return Dataset(
            X=self.X[idx],
            y=self.y[idx],
            classes=self.classes,
            ids=self.ids[idx],
            feature_names=self.feature_names,
            groups=None if self.groups is None else self.groups[idx],
            name=self.name,
        )

    def with_labels(self, y: NDArray[Any]) -> Dataset:
        """The same rows with other label codes, or targets for regression (noise injection)."""
        return Dataset(
            self.X,
            np.asarray(y, dtype=np.float64 if self.is_regression else np.int64),
            self.classes,
            self.ids,
            self.feature_names,
            self.groups,
            self.name,
        )

    def with_features(self, X: NDArray[np.float64]) -> Dataset:
        """The same rows with other features of the same number of rows."""
        return Dataset(
            check_features(X),
            self.y,
            self.classes,
            self.ids,
            None if X.shape[1] != self.n_features else self.feature_names,
            self.groups,
            self.name,
        )

    def fingerprint(self) -> str:
        """A content hash of features, labels, coding and ids (for cache keys)."""
        if not self._hash:
            h = new_hash()
            for arr in (
                self.X,
                self.y,
                np.asarray(self.classes, dtype=str),
                np.asarray(self.ids, dtype=str),
            ):
                h.update(str(arr.shape).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
            self._hash.append(h.hexdigest())
        return self._hash[0]

    def to_pandas(self, target: str = "target") -> Any:
        """A DataFrame of the features, the original labels in ``target`` and an ``id`` column."""
        import pandas as pd

        cols = (
            list(self.feature_names)
            if self.feature_names
            else [f"x{j}" for j in range(self.n_features)]
        )
        df = pd.DataFrame(self.X, columns=cols)
        df.insert(0, "id", self.ids)
        df[target] = self.labels
        if self.groups is not None:
            df["group"] = self.groups
        return df

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, n={self.n}, n_features={self.n_features}, " + (
            "task='regression')" if self.is_regression else f"classes={self.classes.tolist()[:10]})"
        )
