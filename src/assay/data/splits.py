"""Seeded stratified train / validation / test splits with standardisation fitted on train."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from assay.data.dataset import Dataset, regression_hint
from assay.errors import InvalidParameterError


@dataclass(frozen=True)
class Split:
    """Train, validation and test sets sharing one label coding."""

    train: Dataset
    valid: Dataset
    test: Dataset

    def __iter__(self) -> Iterator[Dataset]:
        return iter((self.train, self.valid, self.test))


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and scale learned from a training set (constant features keep scale 1)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, train: Dataset) -> Standardizer:
        std = train.X.std(axis=0)
        return cls(train.X.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, data: Dataset) -> Dataset:
        if data.n == 0:
            return data
        return data.with_features((data.X - self.mean) / self.scale)


def standardize(split: Split) -> Split:
    """Centre and scale every feature by the training set's mean and standard deviation."""
    scaler = Standardizer.fit(split.train)
    return Split(*(scaler.transform(d) for d in split))


def split_dataset(
    data: Dataset,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    *,
    seed: int = 0,
    stratify: bool = True,
    scale: bool = True,
) -> Split:
    """Split ``data`` into train / validation / test.

    Parameters
    ----------
    fractions : (train, valid, test)
        Must be non-negative and sum to 1.
    seed : int
        The split is a deterministic function of the seed.
    stratify : bool
        Keep the class proportions in every part (falls back to a plain shuffle if a class
        has fewer rows than parts, and for a regression target).
    scale : bool
        Standardise features with train statistics only.
    """
    from sklearn.model_selection import train_test_split

    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise InvalidParameterError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    idx = np.arange(data.n)
    present = data.class_counts()
    strat = (
        data.y if stratify and not data.is_regression and present[present > 0].min() >= 3 else None
    )
    # whole row counts (float fractions would let scikit-learn round 700.0000001 up to 701)
    n_valid, n_test = round(fr[1] * data.n), round(fr[2] * data.n)
    if data.n - n_valid - n_test < 1 or n_valid < 1 or (n_test < 1 and fr[2] > 0):
        raise InvalidParameterError(
            f"cannot split {data.n} rows into {fractions}: every part needs at least one row"
        )
    train_idx, rest = train_test_split(
        idx, test_size=n_valid + n_test, random_state=seed, stratify=strat
    )
    if n_test == 0:  # no test part asked for: the test set is empty
        valid_idx, test_idx = rest, rest[:0]
    else:
        strat_rest = data.y[rest] if strat is not None else None
        valid_idx, test_idx = train_test_split(
            rest, test_size=n_test, random_state=seed + 1, stratify=strat_rest
        )
    split = Split(
        data.subset(np.sort(train_idx)),
        data.subset(np.sort(valid_idx)),
        data.subset(np.sort(test_idx)),
    )
    return standardize(split) if scale else split


def fold_assignment(data: Dataset, k: int, *, seed: int = 0) -> NDArray[np.int64]:
    """Seeded stratified K-fold assignment of every row: ``fold[i]`` in ``[0, k)``.

    scikit-learn's ``StratifiedKFold(k, shuffle=True, random_state=seed)``: every fold holds
    every class in its proportion, so each fold's rows, and the other folds' rows, are valid
    training and validation sets for one another.

    Parameters
    ----------
    data : Dataset
        The rows to assign (its labels stratify the folds).
    k : int
        Number of folds, at least 2, at most the number of rows of the smallest class.
    seed : int
        The assignment is a deterministic function of the labels, ``k`` and the seed.

    Returns
    -------
    ndarray of shape (n,)
        The fold of each row, in input order.

    Raises
    ------
    InvalidParameterError
        If ``k`` is not a whole number in ``[2, n]`` or exceeds the smallest class count.
    """
    from sklearn.model_selection import StratifiedKFold

    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InvalidParameterError(f"folds must be a whole number >= 2, got {k!r}")
    k = int(k)
    if k < 2:
        raise InvalidParameterError(
            f"folds must be >= 2 (each fold is valued on the others), got {k}; "
            "give a validation file instead to value every row against it"
        )
    if k > data.n:
        raise InvalidParameterError(f"folds ({k}) exceeds the number of rows ({data.n})")
    if data.is_regression:  # no classes to stratify: shuffled K folds
        from sklearn.model_selection import KFold

        fold = np.empty(data.n, np.int64)
        for f, (_, rows) in enumerate(KFold(k, shuffle=True, random_state=seed).split(data.X)):
            fold[rows] = f
        return fold
    counts = data.class_counts()
    present = np.flatnonzero(counts > 0)
    smallest = present[np.argmin(counts[present])]
    if counts[smallest] < k:
        label = data.classes[smallest : smallest + 1].tolist()[0]  # a plain Python value
        raise InvalidParameterError(
            f"folds ({k}) exceeds the {counts[smallest]} rows of the smallest class "
            f"({label!r}); stratified folds need every class in every fold: "
            f"use at most {counts[smallest]} folds{regression_hint(data.classes)}"
        )
    fold = np.empty(data.n, np.int64)
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    for f, (_, rows) in enumerate(splitter.split(np.zeros((data.n, 1)), data.y)):
        fold[rows] = f
    return fold
