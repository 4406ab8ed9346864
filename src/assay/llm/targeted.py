"""Selection scores on projected gradient features: LESS (cosine to a target set) and GraNd."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import HIGHER_IS_BETTER, HIGHER_IS_SUSPECT, ValuationResult

REDUCE = ("max", "mean", "mean-gradient")


def less_scores(
    train: ArrayLike, target: ArrayLike, *, reduce: str = "max", center: bool = False
) -> NDArray[np.float64]:
    """LESS influence of every training example on a target set (Xia et al. 2024).

    ``reduce="max"``: the largest cosine between the example's (Adam-preconditioned) gradient
    feature and any target example's gradient feature (the paper's choice over validation
    subtasks); ``"mean"``: the mean cosine; ``"mean-gradient"``: cosine to the normalised mean of
    the target gradients. Higher = more useful for the target.

    ``center=True`` (not in the paper) first subtracts the mean training feature from both sets:
    the direction every example shares (plain next-token statistics) then no longer dominates
    the cosines, and what is left is what sets an example apart from the corpus. On the offline
    benchmark's pools it doubles the share of target-domain examples LESS picks.
    """
    if reduce not in REDUCE:
        raise InvalidParameterError(f"reduce must be one of {REDUCE}, got {reduce!r}")
    train_raw = _matrix(np.asarray(train, np.float64), "train")
    raw = _matrix(np.asarray(target, np.float64), "target")
    if train_raw.shape[1] != raw.shape[1]:
        raise InvalidDataError(
            f"train features have {train_raw.shape[1]} dims, target {raw.shape[1]}"
        )
    if center:
        mean = train_raw.mean(0, keepdims=True)
        train_raw, raw = train_raw - mean, raw - mean
    A = _unit(train_raw, "train")
    B = _unit(raw, "target")
    if reduce == "mean-gradient":
        return A @ _unit(raw.mean(0, keepdims=True), "target mean")[0]
    cos = A @ B.T
    return cos.max(1) if reduce == "max" else cos.mean(1)


def _matrix(X: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    if X.ndim != 2 or len(X) == 0:
        raise InvalidDataError(f"{what} features must be a non-empty (n, d) array, got {X.shape}")
    return X


def _unit(X: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    _matrix(X, what)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def less_result(
    train: ArrayLike, target: ArrayLike, *, reduce: str = "max", ids: ArrayLike | None = None
) -> ValuationResult:
    """:func:`less_scores` as a result (higher-is-better)."""
    v = less_scores(train, target, reduce=reduce)
    return ValuationResult.exact(
        np.arange(len(v)) if ids is None else ids,
        v,
        "less",
        direction=HIGHER_IS_BETTER,
        reduce=reduce,
    )


def grand_result(norms: ArrayLike, *, ids: ArrayLike | None = None) -> ValuationResult:
    """GraNd (Paul et al. 2021): the per-example gradient norm, higher-is-suspect (harder)."""
    v = np.asarray(norms, np.float64)
    return ValuationResult.exact(
        np.arange(len(v)) if ids is None else ids, v, "grand", direction=HIGHER_IS_SUSPECT
    )
