"""Exact KNN-Shapley (Jia et al., 2019) in O(m n log n), and the KNN game it solves.

The utility of a subset S for a test point (x, y) is the (unweighted) K-nearest-neighbour
likelihood of the right label, ``(1/K) sum_{l <= min(K, |S|)} 1[y_{alpha_l(S)} = y]``, averaged over
the test points. Its Shapley values follow from one sort per test point and the recursion

    s_N = 1[y_N = y] / N,   s_i = s_{i+1} + (1[y_i = y] - 1[y_{i+1} = y]) / K * min(K, i) / i,

over training points sorted by distance. Test points are processed in chunks (bounded memory).

**Regression** (a dataset with float targets, Jia et al.'s KNN-regression utility): the utility
is the negative squared error of the unweighted K-NN prediction,
``U(S) = -((1/K) sum_{l <= min(K, |S|)} y_{alpha_l(S)} - y)^2`` (so ``U(empty) = -y^2``).
Adjacent points ``i`` and ``i + 1`` in distance order differ only in subsets where ``i`` is among
the K nearest, and there the difference is linear in the mean target of the other K - 1 nearest
points. Averaging over the Shapley distribution of subsets (a random inclusion rate p, uniform on
[0, 1]) gives, with ``q(r) = 1/2`` for ``r < K`` and ``K (K - 1) / (2 r (r + 1))`` otherwise,

    s_i - s_{i+1} = (y_{i+1} - y_i) / K * ( ((y_i + y_{i+1}) / K - 2 y) min(K, i) / i
                     + 2 / K * ( q(i - 1) sum_{j < i} y_j + sum_{j > i + 1} q(j - 2) y_j ) ),

and efficiency (the values sum to ``U(N) - U(empty)``) fixes ``s_N``: O(n) per test point after
its sort. The tests check it against enumeration of the same utility.
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
from assay.valuation.knn_truncated import (
    EXACT_ROWS,
    NEIGHBOURS,
    knn_shapley_loo_truncated,
    knn_shapley_truncated,
    truncation_bound,
)


def _sorted_matches(
    train: Dataset, valid: Dataset, rows: slice
) -> tuple[torch.Tensor, torch.Tensor]:
    Xt = torch.tensor(np.asarray(train.X))
    Xv = torch.tensor(np.asarray(valid.X[rows]))
    order = torch.argsort(torch.cdist(Xv, Xt), dim=1, stable=True)  # (m, n) nearest first
    yt = torch.tensor(np.asarray(train.y))
    yv = torch.tensor(np.asarray(valid.y[rows]))
    return order, (yt[order] == yv[:, None]).to(torch.float64)


def _sorted_targets(
    train: Dataset, valid: Dataset, rows: slice
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training order by distance (m, n), training targets in that order (m, n), test targets."""
    Xt = torch.tensor(np.asarray(train.X))
    Xv = torch.tensor(np.asarray(valid.X[rows]))
    order = torch.argsort(torch.cdist(Xv, Xt), dim=1, stable=True)
    yt = torch.tensor(np.array(train.y, dtype=np.float64))
    return order, yt[order], torch.tensor(np.array(valid.y[rows], dtype=np.float64))


def knn_regression_shapley(ys: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Exact Shapley values (m, n) of the K-NN regression utility, targets sorted by distance.

    ``ys`` (m, n) holds each test point's training targets nearest first, ``y`` (m,) the test
    targets (see the module docstring for the recursion).
    """
    m, n = ys.shape
    pos = torch.arange(1, n + 1, dtype=torch.float64)  # i = 1..n
    kk = float(k)

    def q(r: torch.Tensor) -> torch.Tensor:
        return torch.where(r < kk, 0.5, kk * (kk - 1) / (2 * r * (r + 1)).clamp_min(1.0))

    zero = torch.zeros(m, 1, dtype=torch.float64)
    before = torch.cat([zero, torch.cumsum(ys, 1)[:, :-1]], 1)  # sum_{j < i} y_j, i = 1..n
    weighted = ys * q(pos - 2)[None]  # y_j q(j - 2)
    after = torch.flip(torch.cumsum(torch.flip(weighted, [1]), 1), [1])  # sum_{j >= i}
    after = torch.cat([after, zero, zero], 1)  # so that after[:, i + 1] (0-based) exists
    i = pos[:-1]  # differences d_i for i = 1..n-1
    yi, yn = ys[:, :-1], ys[:, 1:]
    near = torch.minimum(i, torch.tensor(kk)) / i
    rest = q(i - 1)[None] * before[:, :-1] + after[:, 2 : n + 1]
    d = (yn - yi) / kk * (((yi + yn) / kk - 2 * y[:, None]) * near[None] + 2 / kk * rest)
    top = ys[:, : min(k, n)].sum(1) / kk
    gain = -((top - y) ** 2) + y**2  # U(N) - U(empty)
    s_n = (gain - (d * i[None]).sum(1)) / n
    tail = torch.flip(torch.cumsum(torch.flip(d, [1]), 1), [1])  # sum_{l >= i} d_l
    return torch.cat([tail + s_n[:, None], s_n[:, None]], 1)


def knn_shapley_values(
    train: Dataset, valid: Dataset, k: int, chunk: int = 256
) -> NDArray[np.float64]:
    """Exact KNN-Shapley value of every training point, averaged over ``valid``.

    Classification uses the label-likelihood utility, a regression dataset the negative
    squared error of the K-NN regressor (module docstring).
    """
    n = train.n
    if train.is_regression:
        acc = torch.zeros(n, dtype=torch.float64)
        for lo in range(0, valid.n, chunk):
            order, ys, y = _sorted_targets(train, valid, slice(lo, lo + chunk))
            acc.scatter_add_(0, order.flatten(), knn_regression_shapley(ys, y, k).flatten())
        return (acc / valid.n).numpy()
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


def knn_shapley_auto(
    train: Dataset,
    valid: Dataset | None,
    k: int,
    *,
    exact_rows: int = EXACT_ROWS,
    neighbours: int = NEIGHBOURS,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """KNN-Shapley values, exact up to ``exact_rows`` training rows and truncated above.

    ``valid=None`` is the leave-one-out form (every row of ``train`` a validation row for the
    others, :func:`knn_shapley_loo_values`). Above ``exact_rows`` rows a classification task
    takes the recursion over each validation row's ``neighbours`` nearest training rows
    (:mod:`assay.valuation.knn_truncated`), every value within ``1 / neighbours`` of the exact
    one; a regression target always takes the exact method (its recursion needs every
    training row's target in distance order).

    Returns
    -------
    (values, facts)
        The values and what was computed: ``algorithm`` (``"exact"`` or ``"truncated"``),
        ``neighbours`` (M, the training rows each validation row's recursion covered) and
        ``error_bound`` (the bound on every value's absolute error: 0 when exact).
    """
    n = train.n
    loo = valid is None
    if n <= exact_rows or train.is_regression:
        if valid is None:
            values = knn_shapley_loo_values(train, k)
        else:
            values = knn_shapley_values(train, valid, k)
        return values, {"algorithm": "exact", "neighbours": n - int(loo), "error_bound": 0.0}
    X, y = np.asarray(train.X), np.asarray(train.y)
    if loo:
        m = min(neighbours, n - 1)
        values = knn_shapley_loo_truncated(X, y, k, m)
    else:
        assert valid is not None
        m = min(neighbours, n)
        values = knn_shapley_truncated(X, y, np.asarray(valid.X), np.asarray(valid.y), k, m)
    return values, {"algorithm": "truncated", "neighbours": m, "error_bound": truncation_bound(m)}


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
    """The KNN utility as a game (for exact references and tests): U(S) averaged over ``valid``.

    Classification: the label likelihood; regression: the negative squared error of the
    unweighted K-NN prediction (the sum over the nearest ``min(K, |S|)`` divided by K).
    """

    def __init__(self, train: Dataset, valid: Dataset, k: int = 5) -> None:
        self.train, self.valid, self.k = train, valid, k
        if train.is_regression:
            self._order, self._ys, self._y = _sorted_targets(train, valid, slice(None))
        else:
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
            if self.train.is_regression:
                pred = (self._ys * use).sum(1) / self.k
                out[b] = float((-((pred - self._y) ** 2)).mean())
            else:
                out[b] = float(((self._match * use).sum(1) / self.k).mean())
        return out


class KNNShapley(ValuationMethod):
    """Shapley values of the K-nearest-neighbour utility (no retraining): exact up to
    ``exact_rows`` training rows, within ``1 / neighbours`` of exact above.

    Parameters
    ----------
    k : int
        Number of neighbours.
    exact_rows : int
        Training rows up to which the exact O(m n log n) method runs
        (:data:`~assay.valuation.knn_truncated.EXACT_ROWS`); above it (classification) each
        validation row's recursion covers its ``neighbours`` nearest training rows, found by
        FAISS (:func:`~assay.valuation.knn_shapley.knn_shapley_auto`).
    neighbours : int
        M of the truncated path; every value's error is below ``1 / M``.

    ``fit`` takes a :class:`~assay.utility.Utility` (only its train and validation data are used)
    or any object with ``train`` and ``valid`` datasets. The result's ``params`` say which path
    ran: ``algorithm`` (``"exact"`` / ``"truncated"``), ``neighbours`` and ``error_bound``.
    """

    name = "knn-shapley"

    def __init__(
        self, k: int = 5, *, exact_rows: int = EXACT_ROWS, neighbours: int = NEIGHBOURS
    ) -> None:
        if k < 1:
            raise InvalidParameterError(f"k must be >= 1, got {k}")
        if exact_rows < 0:
            raise InvalidParameterError(f"exact_rows must be >= 0, got {exact_rows}")
        if neighbours < k:
            raise InvalidParameterError(f"neighbours must be >= k = {k}, got {neighbours}")
        self.k = k
        self.exact_rows = exact_rows
        self.neighbours = neighbours

    def fit(self, game: Any) -> ValuationResult:
        train, valid = getattr(game, "train", None), getattr(game, "valid", None)
        if train is None or valid is None:
            raise InvalidParameterError(
                "knn-shapley needs a Utility (or an object with train and valid datasets), "
                f"got {type(game).__name__}"
            )
        values, facts = knn_shapley_auto(
            train, valid, self.k, exact_rows=self.exact_rows, neighbours=self.neighbours
        )
        return ValuationResult.exact(train.ids, values, self.name, k=self.k, **facts)
