"""FI^util and FI^active exactly as Algorithms 1 and 2 of the seed are written: the test reference.

One sample at a time, with every object the algorithms name formed explicitly: the p x p Hessian
and its inverse, the p x d mixed partials ``d_x d_theta L``, the d x d metric tensor ``G_z``
(Eq. 2.3 term by term) and its pseudo-inverse. Slow by design (``O(n (p d^2 + d^3))`` plus a
Python loop); :mod:`assay.valuation.local_influence` is the implementation to use. The only
liberty taken: FI^active computes ``G_{z_j}`` and ``d_x d_theta L(z_j)`` once per labelled point
instead of once per (pool point, labelled point) pair, which changes no number.
"""

from __future__ import annotations

import torch
from torch.func import grad

from assay.second_order.derivatives import mixed_partials, sample_log_probs, sample_loss
from assay.second_order.differentiable import TwiceDifferentiable
from assay.valuation.local_influence import aggregate, default_rtol

Tensor = torch.Tensor


def _inverse_hessian(
    model: TwiceDifferentiable, damping_sum: float, hessian: Tensor | None = None
) -> Tensor:
    return torch.linalg.inv(model.hessian(damping_sum) if hessian is None else hessian)


def _metric_and_response(
    model: TwiceDifferentiable, Hinv: Tensor, x: Tensor, y: Tensor
) -> tuple[Tensor, Tensor]:
    """``G_z(omega_0)`` (d, d) and ``d_omega theta`` (p, d) of one training sample."""
    fn, theta = model.fn, model.theta
    M = mixed_partials(fn, theta, x, y)  # d_x d_theta L(y, x; theta): (p, d)
    dtheta = -Hinv @ M  # Eq. A.7: d_omega theta(x + omega) at omega_0 (sum-form H)
    P = torch.softmax(fn(theta, x[None])[0], dim=-1)
    G = torch.zeros(len(x), len(x), dtype=theta.dtype, device=theta.device)
    for c in range(len(P)):
        s_c = grad(lambda t, c=c: sample_log_probs(fn, t, x)[c])(theta)  # d_theta log P_c
        e_c = grad(lambda xx, c=c: sample_log_probs(fn, theta, xx)[c])(x)  # d_x log P_c
        dl = s_c @ dtheta + e_c  # Eq. 2.3
        G += P[c] * torch.outer(dl, dl)
    return G, dtheta


def literal_fi_util(
    model: TwiceDifferentiable,
    Xv: Tensor,
    Yv: Tensor,
    *,
    damping_sum: float = 0.0,
    rtol: float | None = None,
    hessian: Tensor | None = None,
) -> Tensor:
    """Algorithm 1, line by line: FI^util of every training point (n,).

    ``hessian`` replaces ``model.hessian(damping_sum)`` (to score a few points of a larger set).
    """
    fn, theta = model.fn, model.theta
    tol = default_rtol(theta.dtype) if rtol is None else rtol
    Hinv = _inverse_hessian(model, damping_sum, hessian)  # line 4
    g_val = sum(grad(sample_loss, 1)(fn, theta, Xv[k], Yv[k]) for k in range(len(Xv))) / len(Xv)
    out = torch.empty(model.n, dtype=theta.dtype)
    for i in range(model.n):  # line 5
        G, dtheta = _metric_and_response(model, Hinv, model.X[i], model.Y[i])  # line 6
        dL = g_val @ dtheta  # line 7: d_omega L(V; theta)
        out[i] = dL @ torch.linalg.pinv(G, rtol=tol, hermitian=True) @ dL  # line 8
    return out


def literal_fi_pairs(
    model: TwiceDifferentiable,
    Xq: Tensor,
    Yq: Tensor | None = None,
    *,
    damping_sum: float = 0.0,
    rtol: float | None = None,
) -> Tensor:
    """Algorithm 2 lines 5-13: FI(z'_u, z_j) for all pool points u and labelled j: (m, n).

    ``Yq`` defaults to the model's predicted labels (line 6).
    """
    fn, theta = model.fn, model.theta
    tol = default_rtol(theta.dtype) if rtol is None else rtol
    Hinv = _inverse_hessian(model, damping_sum)  # line 4
    per_j = [_metric_and_response(model, Hinv, model.X[j], model.Y[j]) for j in range(model.n)]
    pinvs = [torch.linalg.pinv(G, rtol=tol, hermitian=True) for G, _ in per_j]
    out = torch.empty(len(Xq), model.n, dtype=theta.dtype)
    for i in range(len(Xq)):  # line 5
        P = torch.softmax(fn(theta, Xq[i][None])[0], dim=-1)
        yhat = Yq[i] if Yq is not None else torch.nn.functional.one_hot(P.argmax(), len(P))  # 6
        g = grad(sample_loss, 1)(fn, theta, Xq[i], yhat.to(theta.dtype))  # line 7
        for j, (_, dtheta) in enumerate(per_j):  # line 9
            dL = g @ dtheta  # line 11
            out[i, j] = dL @ pinvs[j] @ dL  # line 12
    return out


def literal_fi_active(
    model: TwiceDifferentiable,
    Xq: Tensor,
    *,
    how: str = "trimmed_mean",
    quantiles: tuple[float, float] = (0.1, 0.9),
    damping_sum: float = 0.0,
    rtol: float | None = None,
) -> Tensor:
    """Algorithm 2: FI^active of every pool point, ``g`` over the labelled set (line 14)."""
    F = literal_fi_pairs(model, Xq, damping_sum=damping_sum, rtol=rtol)
    return aggregate(F, how, quantiles)
