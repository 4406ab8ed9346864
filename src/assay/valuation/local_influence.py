r"""The local influence measure FI of the seed (Eqs. 2.1-2.3, 3.1, 4.1; Algorithms 1 and 2).

What is implemented, exactly
----------------------------
*Perturbation manifold.* Training sample ``z_i = (x_i, y_i)`` is perturbed additively in its
features, ``x_i -> x_i + omega`` with ``omega in R^d`` and ``omega_0 = 0`` (the seed's "linear
perturbation", Sec. 2). The model responds through the influence approximation of Eq. A.7,
``d_omega theta(x_i + omega) = -H^{-1} M_i`` with ``M_i = d_x d_theta L(y_i, x_i; theta)`` (p x d)
and ``H`` the Hessian of the *sum-form* training objective (the seed's ``n^{-1} H_theta^{-1}`` with
``H_theta`` the mean Hessian; the learner's L2 term is included, so H is the Hessian of what was
minimised). We use A.7's minus sign; the main text's Eq. 2.2 drops it. The sign cancels in the
objective's quadratic form but not inside the metric (Eq. 2.3), where it sets the relative sign of
the direct and the parameter-mediated terms.

*Metric.* ``G_i = sum_c P_c(x_i) d_omega l_c d_omega l_c^T`` with ``l_c = log P(c | x_i + omega,
theta(x_i + omega))``, so by Eq. 2.3 the rows of ``J_i`` (K x d) are
``d_omega l_c = d_x log P_c(x_i) - M_i^T H^{-1} d_theta log P_c(x_i)``: the Fisher metric of the
predictive distribution at the training point, pulled back through both the input and the
parameter response. ``G_i`` has rank at most K - 1 (``sum_c P_c d_omega l_c = 0``), so it is never
positive definite when d >= K; ``G_i^+`` (Eq. 2.1) is its Moore-Penrose pseudo-inverse, which is
the inverse on the reduced perturbation space ``range(G_i)`` (the "reduce the dimensionality of the
perturbations" remedy of Shu & Zhu the seed cites in Sec. 2). Eigenvalues below
``rtol * max`` are dropped, as ``pinv(G, rtol=rtol)`` does.

*Objective.* FI^util (Eq. 3.1): the mean validation loss, ``v_i = d_omega L(V) =
-M_i^T H^{-1} g_V`` with ``g_V`` the mean validation gradient. FI(z', z_j) (Eq. 2.1, used by
FI^active, Eq. 4.1): the loss of the pool point ``z' = (x', y_pred)``,
``v = -M_j^T H^{-1} g_{z'}``. Neither objective lies in ``span(J_i)``, so FI does not collapse to
Shu & Zhu's ``(1 - p_y) / p_y`` (which is what ``f = log P_y`` at the perturbed point itself gives).

*Invariance (Theorem 1).* ``v^T G^+ v`` is invariant under every reparametrisation of omega when
G is nonsingular (d <= K - 1, e.g. two features and three classes) and under orthogonal ones
(rotations of the feature space) always; with a singular G and a non-orthogonal rescaling it changes
with the Euclidean choice of ``range(G)``, a property of the pseudo-inverse in Eq. 2.1 itself.

Fast computation (what ships)
-----------------------------
``G_i = A_i^T A_i`` with ``A_i = diag(sqrt(P)) J_i`` (K x d), so with the thin SVD
``A_i = U S V^T``, ``FI = ||S^{-1} V^T v||^2``: no d x d matrix, no pseudo-inverse of one.
``H^{-1}`` is one factorisation (or one batched CG) shared by all samples; ``M_i^T u`` and
``M_j w`` are double-backward products, all samples at once with ``vmap``.
FI^active needs only
``R_j = M_j W_j^T`` (p x K per labelled point) and ``h_u = H^{-1} g_u`` per pool point:
``FI(u, j) = ||R_j^T h_u||^2``, computed blockwise and aggregated on the fly.
:mod:`assay.valuation.local_influence_literal` follows Algorithms 1 and 2 line by line instead, and
the tests check that both agree.

Sign convention of the valuation result: ``value = FI^util``, declared ``higher-is-suspect`` (a
high FI is an influential point, the most suspect, trimmed first).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError
from assay.result import HIGHER_IS_SUSPECT, ValuationResult
from assay.second_order.derivatives import (
    chunks,
    input_log_prob_jacobians,
    log_prob_jacobians,
    loss_gradients,
    metric_pinv_factor,
    mixed_jvp,
    mixed_vjp,
    total_loss,
)
from assay.second_order.differentiable import TwiceDifferentiable, check_scope, differentiable
from assay.second_order.inverse import SOLVERS, make_solver
from assay.second_order.solvers import InverseHessian
from assay.valuation.base import Game, ValuationMethod, player_ids

Tensor = torch.Tensor
AGGREGATES = ("trimmed_mean", "mean", "median")


def default_rtol(dtype: torch.dtype) -> float:
    """Relative eigenvalue cut-off of G's pseudo-inverse: 1e-10 in float64, 1e-5 in float32."""
    return 1e-10 if dtype == torch.float64 else 1e-5


def aggregate(
    values: Tensor, how: str = "trimmed_mean", quantiles: tuple[float, float] = (0.1, 0.9)
) -> Tensor:
    """The aggregation g of Eq. 4.1 over the last axis of ``values`` (b, n) -> (b,).

    ``trimmed_mean`` (the seed's choice, Sec. 6.2): the mean of the sorted values at positions
    ``floor(q_lo * n) .. ceil(q_hi * n) - 1``, i.e. the middle 80% for (0.1, 0.9).
    """
    n = values.shape[-1]
    if how == "mean":
        return values.mean(-1)
    if how == "median":
        return values.median(-1).values
    if how != "trimmed_mean":
        raise InvalidParameterError(f"aggregate must be one of {AGGREGATES}, got {how!r}")
    lo_q, hi_q = quantiles
    if not 0 <= lo_q < hi_q <= 1:
        raise InvalidParameterError(f"quantiles must satisfy 0 <= lo < hi <= 1, got {quantiles}")
    lo, hi = math.floor(lo_q * n), max(math.ceil(hi_q * n), math.floor(lo_q * n) + 1)
    return values.sort(-1).values[..., lo : min(hi, n)].mean(-1)


def _chunk(model: TwiceDifferentiable, chunk: int | None) -> int:
    if chunk:
        return chunk
    per = model.n_classes * (model.p + model.d) + model.p
    return int(max(1, min(1024, 2**23 // max(per, 1))))


def metric_factors(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    X: Tensor,
    Y: Tensor,
    *,
    rtol: float | None = None,
    chunk: int | None = None,
) -> Iterator[tuple[slice, Tensor]]:
    """Per chunk of the points (X, Y): ``W_i`` (c, K', d) with ``v^T G_i^+ v = ||W_i v||^2``."""
    fn, theta, p = model.fn, model.theta, model.p
    tol = default_rtol(theta.dtype) if rtol is None else rtol
    for sl in chunks(len(X), _chunk(model, chunk)):
        S = log_prob_jacobians(fn, theta, X[sl])  # (c, K, p): d_theta log P_c
        Z = solver.solve(S.reshape(-1, p)).view(S.shape)
        J = input_log_prob_jacobians(fn, theta, X[sl]) - mixed_vjp(fn, theta, X[sl], Y[sl], Z)
        P = model.probabilities(X[sl])
        yield sl, metric_pinv_factor(P.sqrt()[..., None] * J, tol)


def validation_gradient(model: TwiceDifferentiable, Xv: Tensor, Yv: Tensor) -> Tensor:
    """Mean validation-loss gradient ``g_V`` (p,)."""
    g = torch.func.grad(lambda t: total_loss(model.fn, t, Xv, Yv))(model.theta)
    return g / len(Xv)


def fi_util(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xv: Tensor,
    Yv: Tensor,
    *,
    rows: Tensor | None = None,
    rtol: float | None = None,
    chunk: int | None = None,
) -> Tensor:
    """FI^util of the training points of ``model`` (Eq. 3.1, Algorithm 1): (n,) >= 0.

    ``rows`` restricts the computation to some training points (the model, its Hessian and the
    validation gradient stay those of the whole training set).
    """
    h = solver.solve(validation_gradient(model, Xv, Yv))
    X, Y = (model.X, model.Y) if rows is None else (model.X[rows], model.Y[rows])
    out = torch.empty(len(X), dtype=model.theta.dtype, device=model.theta.device)
    for sl, W in metric_factors(model, solver, X, Y, rtol=rtol, chunk=chunk):
        v = mixed_vjp(model.fn, model.theta, X[sl], Y[sl], h)  # = -d_omega L(V)
        out[sl] = (W @ v[..., None]).squeeze(-1).pow(2).sum(-1)
    return out


def _pool_labels(model: TwiceDifferentiable, Xq: Tensor) -> Tensor:
    yhat = model.probabilities(Xq).argmax(-1)
    return torch.nn.functional.one_hot(yhat, model.n_classes).to(model.theta.dtype)


def fi_pairs(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xq: Tensor,
    Yq: Tensor | None = None,
    *,
    rtol: float | None = None,
    chunk: int | None = None,
) -> Tensor:
    """FI(z'_u, z_j) of Eq. 2.1 for every query u and training point j: (m, n).

    ``Yq`` defaults to the model's predicted labels (as FI^active uses them).
    """
    Yq = _pool_labels(model, Xq) if Yq is None else Yq
    Hq = solver.solve(loss_gradients(model.fn, model.theta, Xq, Yq))
    out = torch.empty(len(Xq), model.n, dtype=Hq.dtype, device=Hq.device)
    for sl, W in metric_factors(model, solver, model.X, model.Y, rtol=rtol, chunk=chunk):
        R = mixed_jvp(model.fn, model.theta, model.X[sl], model.Y[sl], W)  # (c, K', p)
        c, k, p = R.shape
        out[:, sl] = (Hq @ R.reshape(c * k, p).T).view(len(Xq), c, k).pow(2).sum(-1)
    return out


def fi_active(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xq: Tensor,
    *,
    how: str = "trimmed_mean",
    quantiles: tuple[float, float] = (0.1, 0.9),
    rtol: float | None = None,
    chunk: int | None = None,
    block: int | None = None,
    cache_numbers: int = 2**25,
) -> Tensor:
    """FI^active of every pool point (Eq. 4.1, Algorithm 2): g over the labelled set: (m,).

    Pool points are processed in blocks of ``block`` rows (at most ``block x n`` FI values are
    held at once); the labelled side's ``R_j`` are kept when they fit in ``cache_numbers``
    numbers and recomputed per block otherwise.
    """

    def labelled() -> Iterator[tuple[slice, Tensor]]:
        for sl, W in metric_factors(model, solver, model.X, model.Y, rtol=rtol, chunk=chunk):
            yield sl, mixed_jvp(model.fn, model.theta, model.X[sl], model.Y[sl], W)

    return aggregate_pool(model, solver, Xq, labelled, how, quantiles, block, cache_numbers)


def aggregate_pool(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xq: Tensor,
    labelled: Callable[[], Iterator[tuple[slice, Tensor]]],
    how: str,
    quantiles: tuple[float, float],
    block: int | None,
    cache_numbers: int,
) -> Tensor:
    """``g_j ||R_j^T H^{-1} g_u||^2`` for every pool point u, given the labelled ``R_j`` chunks."""
    aggregate(torch.zeros(1, 1), how, quantiles)  # validate early
    m, n, p = len(Xq), model.n, model.p
    size = block or int(max(1, min(m, 2**24 // max(n, p, 1))))
    cached = list(labelled()) if n * model.n_classes * p <= cache_numbers else None
    out = torch.empty(m, dtype=model.theta.dtype, device=model.theta.device)
    for blk in chunks(m, size):
        Xb = Xq[blk]
        Hb = solver.solve(loss_gradients(model.fn, model.theta, Xb, _pool_labels(model, Xb)))
        F = torch.empty(len(Xb), n, dtype=Hb.dtype, device=Hb.device)
        for sl, R in cached if cached is not None else labelled():
            c, k, _ = R.shape
            F[:, sl] = (Hb @ R.reshape(c * k, p).T).view(len(Xb), c, k).pow(2).sum(-1)
        out[blk] = aggregate(F, how, quantiles)
    return out


# --------------------------------------------------------------------------- valuation method
def utility_parts(game: Game, method: str) -> tuple[Any, Dataset, Dataset]:
    """The learner, training and validation sets of a utility (clear error for other games)."""
    learner, train, valid = (getattr(game, a, None) for a in ("learner", "train", "valid"))
    if learner is None or train is None or valid is None:
        raise InvalidParameterError(
            f"{method} needs a Utility (a learner with training and validation data), got "
            f"{type(game).__name__}"
        )
    return learner, train, valid


class LocalInfluence(ValuationMethod):
    """FI^util data valuation (Eq. 3.1): the value is FI^util itself, ``higher-is-suspect``.

    The most influential points are the suspects, so trimming removes the highest FI first (the
    seed's Algorithm 3).

    Parameters
    ----------
    damping : float
        Added to the mean Hessian's diagonal (on top of the learner's own L2 term).
    solver : {"auto", "dense", "cg", "lissa", "kfac"}
        How ``H^{-1}`` is applied (see :func:`assay.second_order.differentiable.make_solver`).
    scope : {"all", "last"}
        Differentiate every parameter, or the last linear layer on the embedding (networks).
    rtol : float, optional
        Eigenvalue cut-off of G's pseudo-inverse (default 1e-10 in float64).
    chunk : int, optional
        Training points per vectorised pass.
    """

    name = "fi-util"
    direction = HIGHER_IS_SUSPECT

    def __init__(
        self,
        *,
        damping: float = 0.0,
        solver: str = "auto",
        scope: str = "all",
        rtol: float | None = None,
        chunk: int | None = None,
    ) -> None:
        if solver not in SOLVERS:
            raise InvalidParameterError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.damping, self.solver, self.scope = damping, solver, check_scope(scope)
        self.rtol, self.chunk = rtol, chunk

    def fit(self, game: Game) -> ValuationResult:
        learner, train, valid = utility_parts(game, self.name)
        start = time.perf_counter()
        model = differentiable(learner, train, scope=self.scope)
        solver = make_solver(model, self.solver, damping=self.damping)
        Xv, Yv = model.inputs(valid), model.onehot(np.asarray(valid.y), "validation data")
        fi = fi_util(model, solver, Xv, Yv, rtol=self.rtol, chunk=self.chunk).cpu().numpy()
        return ValuationResult.exact(
            player_ids(game),
            fi,
            self.name,
            direction=self.direction,
            damping=self.damping,
            solver=solver.name,
            scope=self.scope,
            seconds=round(time.perf_counter() - start, 4),
            sign="value = FI^util (Eq. 3.1): the highest FI is the most influential point, "
            "the most suspect, trimmed first",
        )
