"""Exact KNN-Shapley (Jia et al., 2019) in O(m n log n), and the KNN game it solves.

The utility of a subset S for a test point (x, y) is the (unweighted) K-nearest-neighbour
likelihood of the right label, ``(1/K) sum_{l <= min(K, |S|)} 1[y_{alpha_l(S)} = y]``, averaged over
the test points. Its Shapley values follow from one sort per test point and the recursion

    s_N = 1[y_N = y] / N,   s_i = s_{i+1} + (1[y_i = y] - 1[y_{i+1} = y]) / K * min(K, i) / i,

over training points sorted by distance. Test points are processed in chunks (bounded memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError
from assay.result import ValuationResult
from assay.valuation.base import ValuationMethod


def _sorted_matches(
    train: Dataset, valid: Dataset, rows: slice
) -> tuple[torch.Tensor, torch.Tensor]:
    Xt = torch.tensor(np.asarray(train.X))
    Xv = torch.tensor(np.asarray(valid.X[rows]))
    order = torch.argsort(torch.cdist(Xv, Xt), dim=1, stable=True)  # (m, n) nearest first
    yt = torch.tensor(np.asarray(train.y))
    yv = torch.tensor(np.asarray(valid.y[rows]))
    return order, (yt[order] == yv[:, None]).to(torch.float64)


def knn_shapley_values(
    train: Dataset, valid: Dataset, k: int, chunk: int = 256
) -> NDArray[np.float64]:
    """Exact KNN-Shapley value of every training point, averaged over ``valid``."""
    n = train.n
    pos = torch.arange(1, n + 1, dtype=torch.float64)
    coef = torch.minimum(pos, torch.tensor(float(k))) / (k * pos)  # min(K, i) / (K i), i = 1..n
    total = torch.zeros(n, dtype=torch.float64)
    for lo in range(0, valid.n, chunk):
        order, match = _sorted_matches(train, valid, slice(lo, lo + chunk))
        steps = (match[:, :-1] - match[:, 1:]) * coef[None, :-1]  # s_i - s_{i+1}, i = 1..n-1
        tail = match[:, -1:] / n
        rev = torch.flip(torch.cumsum(torch.flip(steps, [1]), 1), [1])
        s = torch.cat([rev + tail, tail], dim=1)
        total.scatter_add_(0, order.flatten(), s.flatten())
    return (total / valid.n).numpy()


def knn_shapley_loo_values(data: Dataset, k: int, chunk: int = 256) -> NDArray[np.float64]:
    """KNN-Shapley with every row as a validation point for the others (leave-one-out).

    For each row j, the exact KNN-Shapley values of the n - 1 other rows for validation point j
    (training set: every row but j); a row's value is the mean over the n - 1 validation points
    it was valued for. The same as :func:`knn_shapley_values` with ``train = data minus j`` and
    ``valid = [j]``, averaged over j, in one pass: row j is moved to the end of its own distance
    order (ties keep index order, as in the plain method) and dropped.

    Raises
    ------
    InvalidParameterError
        With fewer than two rows.
    """
    n = data.n
    if n < 2:
        raise InvalidParameterError(f"leave-one-out KNN-Shapley needs at least 2 rows, got {n}")
    X = torch.tensor(np.asarray(data.X))
    y = torch.tensor(np.asarray(data.y))
    pos = torch.arange(1, n, dtype=torch.float64)
    coef = torch.minimum(pos, torch.tensor(float(k))) / (k * pos)  # i = 1..n-1
    total = torch.zeros(n, dtype=torch.float64)
    for lo in range(0, n, chunk):
        rows = torch.arange(lo, min(lo + chunk, n))
        dist = torch.cdist(X[rows], X)
        dist[torch.arange(len(rows)), rows] = float("inf")  # j itself sorts last
        order = torch.argsort(dist, dim=1, stable=True)[:, :-1]  # (m, n - 1) without j
        match = (y[order] == y[rows][:, None]).to(torch.float64)
        steps = (match[:, :-1] - match[:, 1:]) * coef[None, :-1]
        tail = match[:, -1:] / (n - 1)
        rev = torch.flip(torch.cumsum(torch.flip(steps, [1]), 1), [1])
        s = torch.cat([rev + tail, tail], dim=1)
        total.scatter_add_(0, order.flatten(), s.flatten())
    return (total / (n - 1)).numpy()


class KNNGame:
    """The KNN utility as a game (for exact references and tests): U(S) averaged over ``valid``."""

    def __init__(self, train: Dataset, valid: Dataset, k: int = 5) -> None:
        self.train, self.valid, self.k = train, valid, k
        self._order, self._match = _sorted_matches(train, valid, slice(None))

    @property
    def n_players(self) -> int:
        return self.train.n

    def __call__(self, subsets: ArrayLike) -> NDArray[np.float64]:
        S = torch.as_tensor(np.atleast_2d(np.asarray(subsets, bool)))
        out = np.empty(len(S))
        for b, mask in enumerate(S):
            inside = mask[self._order]  # (m, n) in distance order
            rank = torch.cumsum(inside.to(torch.int64), 1)
            use = inside & (rank <= self.k)
            out[b] = float(((self._match * use).sum(1) / self.k).mean())
        return out


class KNNShapley(ValuationMethod):
    """Exact Shapley values of the K-nearest-neighbour utility (no retraining).

    Parameters
    ----------
    k : int
        Number of neighbours.

    ``fit`` takes a :class:`~assay.utility.Utility` (only its train and validation data are used)
    or any object with ``train`` and ``valid`` datasets.
    """

    name = "knn-shapley"

    def __init__(self, k: int = 5) -> None:
        if k < 1:
            raise InvalidParameterError(f"k must be >= 1, got {k}")
        self.k = k

    def fit(self, game: Any) -> ValuationResult:
        train, valid = getattr(game, "train", None), getattr(game, "valid", None)
        if train is None or valid is None:
            raise InvalidParameterError(
                "knn-shapley needs a Utility (or an object with train and valid datasets), "
                f"got {type(game).__name__}"
            )
        values = knn_shapley_values(train, valid, self.k)
        return ValuationResult.exact(train.ids, values, self.name, k=self.k)
