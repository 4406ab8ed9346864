"""Leave-one-out KNN-Shapley from neighbour lists: every row valued in O(n M), not O(n^2 log n).

:func:`~assay.valuation.knn_shapley.knn_shapley_loo_values` sorts all n - 1 other rows for each
validation row. Far rows matter little: for positions ``i >= K`` in a validation point's distance
order, summing the recursion by parts gives ``|s_i| <= 1 / i`` (Jia et al., 2019, "Efficient
task-specific data valuation for nearest neighbor algorithms", Theorem 2 uses the same bound). So
each validation row's recursion runs over its ``M`` nearest rows only (from a k-NN graph, e.g.
:func:`assay.audit.core.knn_graph`, FAISS on large tables), started at ``s_M = 1[y_M = y] / M``
as if those ``M`` rows were the whole training set, and rows beyond ``M`` get 0.

Error bound (tested against the exact method): the true ``s_M`` differs from the start by at most
``1 / M + 1 / (M + 1)``, and the recursion only adds terms, so every value within the ``M``
nearest is off by at most that; a row beyond them is off by at most ``1 / (M + 1)``. Each row's
value is a mean of these per-validation-row values, so ``|error| <= 2 / M`` for every row. With
``M = n - 1`` it is the exact leave-one-out method.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidDataError, InvalidParameterError


def truncation_bound(m: int) -> float:
    """The bound ``2 / M`` on every row's error of :func:`knn_shapley_from_graph`."""
    return 2.0 / m


def knn_shapley_from_graph(
    neighbours: NDArray[np.int64], y: NDArray[np.int64], k: int
) -> NDArray[np.float64]:
    """Leave-one-out KNN-Shapley values of all rows from their ``M`` nearest other rows.

    Parameters
    ----------
    neighbours : (n, M) int array
        Row j's ``M`` nearest other rows, nearest first (row j itself excluded).
    y : (n,) int array
        Labels.
    k : int
        The K of the K-NN utility (``M`` should be much larger: see :func:`truncation_bound`).

    Returns
    -------
    (n,) float array
        Row i's mean KNN-Shapley value over the validation rows j != i (the n - 1 others).

    Raises
    ------
    InvalidParameterError
        If ``k < 1``, or ``M < k`` while ``M < n - 1`` (the bound needs ``M >= k``).
    InvalidDataError
        If the shapes disagree, a neighbour index is out of range, or a row lists itself.
    """
    nbr = np.asarray(neighbours)
    y = np.asarray(y)
    if k < 1:
        raise InvalidParameterError(f"k must be >= 1, got {k}")
    if nbr.ndim != 2 or len(nbr) != len(y) or nbr.shape[1] < 1:
        raise InvalidDataError(
            f"neighbours must be (n, M >= 1) for {len(y)} labels, got shape {nbr.shape}"
        )
    n, m = nbr.shape
    if nbr.min() < 0 or nbr.max() >= n:
        raise InvalidDataError(
            f"neighbour indices must lie in [0, {n}), got {nbr.min()}..{nbr.max()}"
        )
    if m < k and m < n - 1:
        raise InvalidParameterError(
            f"need at least k = {k} neighbours a row (or all n - 1 others), got M = {m}"
        )
    if (nbr == np.arange(n)[:, None]).any():
        raise InvalidDataError("a row lists itself among its neighbours")
    pos = np.arange(1, m + 1, dtype=np.float64)
    coef = np.minimum(pos, k) / (k * pos)  # min(K, i) / (K i)
    match = (y[nbr] == y[:, None]).astype(np.float64)  # (n, M)
    steps = (match[:, :-1] - match[:, 1:]) * coef[None, :-1]  # s_i - s_{i+1}
    tail = match[:, -1:] / m
    s = np.concatenate([np.cumsum(steps[:, ::-1], 1)[:, ::-1] + tail, tail], 1)
    total = np.bincount(nbr.ravel(), weights=s.ravel(), minlength=n)
    return np.asarray(total / max(n - 1, 1))
