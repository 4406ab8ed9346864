"""The seed's two approximations of FI (Sec. 5; Algorithms 5-8): KFSVD, and subsampling + forest.

*KFSVD* (Algorithms 5, 7): ``H^{-1}`` under K-FAC (:mod:`assay.second_order.kfac`, per layer, no
p x p matrix)
and each sample's mixed partials ``d_x d_theta L`` (p x d) replaced by a rank-k truncated SVD
``U_k diag(S_k) V_k^T`` computed by power iteration from products with the matrix only
(:func:`assay.second_order.derivatives.batched_truncated_svd`; each iteration is two double-backward
products per sample). Everything else is the exact FI pipeline of
:mod:`assay.valuation.local_influence`. With ``k >= min(p, d)`` and an exact solver it *is* the
exact FI.

*Subsampling + random forest* (Algorithms 6, 8): score a Bernoulli(alpha) subsample exactly (or by
KFSVD), rank the scores ascending, fit scikit-learn's ``RandomForestRegressor`` from features to
rank, and use the predicted rank of every point. The model, its Hessian and the validation gradient
are those of the whole training (labelled) set; the subsample only limits which points are scored.
Features are ``x`` as in the seed; ``with_label=True`` appends the one-hot label (trimming only).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.result import HIGHER_IS_SUSPECT, ValuationResult
from assay.second_order.derivatives import (
    batched_truncated_svd,
    chunks,
    input_log_prob_jacobians,
    log_prob_jacobians,
    metric_pinv_factor,
    mixed_jvp,
    mixed_vjp,
)
from assay.second_order.differentiable import TwiceDifferentiable, differentiable
from assay.second_order.inverse import make_solver
from assay.second_order.solvers import InverseHessian
from assay.valuation.base import Game, ValuationMethod, player_ids
from assay.valuation.local_influence import (
    aggregate_pool,
    default_rtol,
    fi_util,
    utility_parts,
    validation_gradient,
)

Tensor = torch.Tensor
LowRank = tuple[Tensor, Tensor, Tensor]  # U (c, p, k), S (c, k), V (c, d, k)


def _low_rank_partials(
    model: TwiceDifferentiable, X: Tensor, Y: Tensor, k: int, iters: int, gen: torch.Generator
) -> LowRank:
    fn, theta = model.fn, model.theta
    return batched_truncated_svd(
        lambda W: mixed_jvp(fn, theta, X, Y, W),
        lambda U: mixed_vjp(fn, theta, X, Y, U),
        len(X),
        model.d,
        k,
        iters=iters,
        generator=gen,
        dtype=theta.dtype,
        device=theta.device,
    )


def kfsvd_factors(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    X: Tensor,
    Y: Tensor,
    *,
    k: int,
    iters: int = 4,
    rtol: float | None = None,
    chunk: int = 128,
    seed: int = 0,
) -> Iterator[tuple[slice, Tensor, LowRank]]:
    """Per chunk: the metric factor ``W`` (c, K', d) and the rank-k mixed partials of each point."""
    gen = torch.Generator().manual_seed(seed)
    tol = default_rtol(model.theta.dtype) if rtol is None else rtol
    for sl in chunks(len(X), chunk):
        U, S, V = _low_rank_partials(model, X[sl], Y[sl], k, iters, gen)
        Z = solver.solve(log_prob_jacobians(model.fn, model.theta, X[sl]).reshape(-1, model.p))
        Z = Z.view(len(U), -1, model.p)  # (c, K, p) = H^{-1} d_theta log P_c
        T = torch.einsum("cpk,cKp->cKk", U, Z) * S[:, None, :] @ V.transpose(1, 2)  # M~^T Z
        J = input_log_prob_jacobians(model.fn, model.theta, X[sl]) - T
        P = model.probabilities(X[sl])
        yield sl, metric_pinv_factor(P.sqrt()[..., None] * J, tol), (U, S, V)


def kfsvd_fi_util(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xv: Tensor,
    Yv: Tensor,
    *,
    k: int = 8,
    iters: int = 4,
    rows: Tensor | None = None,
    rtol: float | None = None,
    chunk: int = 128,
    seed: int = 0,
) -> Tensor:
    """FI^util with rank-k mixed partials and ``solver`` (K-FAC for Algorithm 5): (n,)."""
    h = solver.solve(validation_gradient(model, Xv, Yv))
    X, Y = (model.X, model.Y) if rows is None else (model.X[rows], model.Y[rows])
    out = torch.empty(len(X), dtype=h.dtype, device=h.device)
    parts = kfsvd_factors(model, solver, X, Y, k=k, iters=iters, rtol=rtol, chunk=chunk, seed=seed)
    for sl, W, (U, S, V) in parts:
        v = ((U.transpose(1, 2) @ h) * S)[:, None, :] @ V.transpose(1, 2)  # (c, 1, d)
        out[sl] = (W @ v.transpose(1, 2)).squeeze(-1).pow(2).sum(-1)
    return out


def kfsvd_fi_active(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xq: Tensor,
    *,
    k: int = 8,
    iters: int = 4,
    how: str = "trimmed_mean",
    quantiles: tuple[float, float] = (0.1, 0.9),
    rtol: float | None = None,
    chunk: int = 128,
    block: int | None = None,
    cache_numbers: int = 2**25,
    seed: int = 0,
) -> Tensor:
    """FI^active with rank-k mixed partials and ``solver`` (K-FAC for Algorithm 7): (m,)."""

    def labelled() -> Iterator[tuple[slice, Tensor]]:
        parts = kfsvd_factors(
            model, solver, model.X, model.Y, k=k, iters=iters, rtol=rtol, chunk=chunk, seed=seed
        )
        for sl, W, (U, S, V) in parts:  # R = M~ W^T = U diag(S) V^T W^T, as (c, K', p)
            yield sl, ((W @ V) * S[:, None, :]) @ U.transpose(1, 2)

    return aggregate_pool(model, solver, Xq, labelled, how, quantiles, block, cache_numbers)


# --------------------------------------------------------------------------- subsample + forest
def bernoulli_subsample(n: int, alpha: float, rng: np.random.Generator) -> NDArray[np.int64]:
    """Positions kept with probability ``alpha`` each (Algorithm 6 line 2); at least two."""
    if not 0 < alpha <= 1:
        raise InvalidParameterError(f"alpha must lie in (0, 1], got {alpha}")
    keep = np.flatnonzero(rng.random(n) < alpha)
    if len(keep) < 2:
        keep = np.sort(rng.choice(n, size=min(2, n), replace=False))
    return keep.astype(np.int64)


def forest_ranks(
    features: NDArray[np.float64],
    scored: NDArray[np.int64],
    scores: NDArray[np.float64],
    *,
    n_estimators: int = 100,
    seed: int = 0,
    n_jobs: int | None = None,
) -> NDArray[np.float64]:
    """Predicted ascending rank of every row of ``features`` (Algorithm 6 lines 4-10).

    The rows ``scored`` have ``scores``; their ascending ranks (0 = lowest, ties averaged) are
    the regression target of a seeded random forest on their features.
    """
    from scipy.stats import rankdata
    from sklearn.ensemble import RandomForestRegressor

    ranks = rankdata(scores) - 1
    forest = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
    forest.fit(features[scored], ranks)
    return np.asarray(forest.predict(features), dtype=np.float64)


def _features(train: Any, with_label: bool) -> NDArray[np.float64]:
    X = np.asarray(train.X, dtype=np.float64)
    if not with_label:
        return X
    return np.hstack([X, np.eye(train.n_classes)[np.asarray(train.y)]])


class KFSVDInfluence(ValuationMethod):
    """FI^util by KFSVD (Algorithm 5): K-FAC Hessian, rank-k mixed partials; ``value = FI``.

    Parameters
    ----------
    k : int
        Rank of the truncated SVD of each sample's mixed partials.
    iters : int
        Power iterations.
    damping : float
        Added to the mean Hessian's diagonal.
    solver : str
        ``"kfac"`` (the seed's) or any exact solver, to isolate the SVD's effect.
    scope : {"all", "last"}
    seed : int
    """

    name = "fi-kfsvd"
    direction = HIGHER_IS_SUSPECT

    def __init__(
        self,
        *,
        k: int = 8,
        iters: int = 4,
        damping: float = 0.0,
        solver: str = "kfac",
        scope: str = "all",
        seed: int = 0,
    ) -> None:
        if k < 1 or iters < 1:
            raise InvalidParameterError(f"k and iters must be >= 1, got {k}, {iters}")
        self.k, self.iters, self.damping, self.solver, self.scope, self.seed = (
            k,
            iters,
            damping,
            solver,
            scope,
            seed,
        )

    def fit(self, game: Game) -> ValuationResult:
        learner, train, valid = utility_parts(game, self.name)
        start = time.perf_counter()
        model = differentiable(learner, train, scope=self.scope)
        solver = make_solver(model, self.solver, damping=self.damping)
        Xv, Yv = model.inputs(valid), model.onehot(np.asarray(valid.y), "validation data")
        fi = kfsvd_fi_util(model, solver, Xv, Yv, k=self.k, iters=self.iters, seed=self.seed)
        return ValuationResult.exact(
            player_ids(game),
            fi.cpu().numpy(),
            self.name,
            direction=self.direction,
            **self.get_params(),
            seconds=round(time.perf_counter() - start, 4),
            sign="value = FI^util (KFSVD approximation), higher-is-suspect",
        )


class SubsampledLocalInfluence(ValuationMethod):
    """FI^util on a Bernoulli(alpha) subsample, extrapolated by a random forest (Algorithm 6).

    ``value = predicted ascending rank of FI`` (``higher-is-suspect``): the points predicted most
    influential are the suspects, trimmed first as in Algorithm 6 line 11.

    Parameters
    ----------
    alpha : float
        Fraction of points scored exactly.
    base : {"exact", "kfsvd"}
        How the subsample is scored (Algorithm 6 uses KFSVD; ``exact`` isolates the forest).
    k, iters : int
        KFSVD parameters (``base="kfsvd"``).
    n_estimators : int
    with_label : bool
        Append the one-hot label to the forest's features.
    damping : float
    scope : {"all", "last"}
    seed : int
    """

    name = "fi-subsample"
    direction = HIGHER_IS_SUSPECT

    def __init__(
        self,
        *,
        alpha: float = 0.2,
        base: str = "exact",
        k: int = 8,
        iters: int = 4,
        n_estimators: int = 100,
        with_label: bool = False,
        damping: float = 0.0,
        scope: str = "all",
        seed: int = 0,
    ) -> None:
        if base not in ("exact", "kfsvd"):
            raise InvalidParameterError(f"base must be 'exact' or 'kfsvd', got {base!r}")
        if not 0 < alpha <= 1:
            raise InvalidParameterError(f"alpha must lie in (0, 1], got {alpha}")
        self.alpha, self.base, self.k, self.iters = alpha, base, k, iters
        self.n_estimators, self.with_label, self.damping = n_estimators, with_label, damping
        self.scope, self.seed = scope, seed

    def fit(self, game: Game) -> ValuationResult:
        learner, train, valid = utility_parts(game, self.name)
        start = time.perf_counter()
        model = differentiable(learner, train, scope=self.scope)
        solver = make_solver(
            model, "kfac" if self.base == "kfsvd" else "auto", damping=self.damping
        )
        Xv, Yv = model.inputs(valid), model.onehot(np.asarray(valid.y), "validation data")
        rows = bernoulli_subsample(train.n, self.alpha, np.random.default_rng(self.seed))
        idx = torch.as_tensor(rows, device=model.theta.device)
        if self.base == "kfsvd":
            fi = kfsvd_fi_util(
                model, solver, Xv, Yv, k=self.k, iters=self.iters, rows=idx, seed=self.seed
            )
        else:
            fi = fi_util(model, solver, Xv, Yv, rows=idx)
        ranks = forest_ranks(
            _features(train, self.with_label),
            rows,
            fi.cpu().numpy(),
            n_estimators=self.n_estimators,
            seed=self.seed,
        )
        return ValuationResult.exact(
            player_ids(game),
            ranks,
            self.name,
            direction=self.direction,
            **self.get_params(),
            scored=len(rows),
            seconds=round(time.perf_counter() - start, 4),
            sign="value = forest-predicted ascending rank of FI^util, higher-is-suspect",
        )
