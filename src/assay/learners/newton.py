"""Batched second-order solvers: B independent problems advanced in lock-step.

Each problem is a smooth strictly convex objective over a parameter tensor with a leading batch
dimension. Newton directions come from a per-model dense solve (small parameter counts) or from
conjugate gradients on Hessian-vector products (never forming the Hessian); a batched Armijo
backtracking line search keeps every model's objective decreasing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


def bdot(a: Tensor, b: Tensor) -> Tensor:
    """Per-model inner product of two (B, ...) tensors -> (B,)."""
    return (a * b).flatten(1).sum(1)


def batched_cg(
    hvp: Callable[[Tensor], Tensor],
    b: Tensor,
    rtol: Tensor,
    max_iter: int,
    precondition: Callable[[Tensor], Tensor] | None = None,
    hvp_rows: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> Tensor:
    """Solve H_i x_i = b_i for every model i by (preconditioned) conjugate gradients.

    Stops a model once its residual norm is below ``rtol_i * ||b_i||``; the loop ends when all have.
    ``precondition(r)`` applies an approximation of H_i^-1 (symmetric positive definite) to every
    model's residual; without it this is plain CG. ``hvp_rows(p, rows)``, when given, computes the
    products of the models ``rows`` only: models that have converged then cost nothing while the
    slowest ones finish (with one ``hvp`` over all models, every iteration pays for all of them).
    """
    x = torch.zeros_like(b)
    r = b.clone()
    z = r if precondition is None else precondition(r)
    p = z.clone()
    rs = bdot(r, r)
    rz = bdot(r, z)
    target = (rtol * rs.sqrt()) ** 2
    tiny = torch.finfo(b.dtype).tiny
    shape = (-1,) + (1,) * (b.dim() - 1)
    for _ in range(max_iter):
        active = rs > target
        if not bool(active.any()):
            break
        if hvp_rows is None:
            hp = hvp(p)
        else:
            rows = torch.nonzero(active).flatten()
            hp = torch.zeros_like(p)
            hp[rows] = hvp_rows(p[rows], rows)
        curv = bdot(p, hp)
        alpha = torch.where(active & (curv > tiny), rz / curv.clamp_min(tiny), torch.zeros_like(rs))
        x = x + alpha.view(shape) * p
        r = r - alpha.view(shape) * hp
        if precondition is None:
            z = r
        elif hvp_rows is None:
            z = precondition(r)
        else:  # the finished models' z is never used again
            z = torch.zeros_like(r)
            z[rows] = precondition(r[rows])
        rz_new = bdot(r, z)
        beta = torch.where(active, rz_new / rz.clamp_min(tiny), torch.zeros_like(rs))
        p = z + beta.view(shape) * p
        rs = torch.where(active, bdot(r, r), rs)
        rz = torch.where(active, rz_new, rz)
    return x


@dataclass
class NewtonReport:
    """What happened to each model: iterations used and whether it met the tolerance."""

    iterations: Tensor  # (B,) int
    converged: Tensor  # (B,) bool


def backtrack(
    objective_at: Callable[[Tensor, Tensor], Tensor],
    f0: Tensor,
    slope: Tensor,
    max_halvings: int = 30,
) -> tuple[Tensor, Tensor, Tensor]:
    """Armijo backtracking for every model at once.

    ``objective_at(step, rows)`` evaluates the objective of the models ``rows`` at step sizes
    ``step`` (one per row) along their directions. ``slope`` is the directional derivative
    g . d (negative for a descent direction). Returns the step sizes, whether each model found
    a decrease, and the objective at the step taken (``f0`` where none was).
    """
    B = f0.shape[0]
    # rounding slack: near the optimum f(W + d) and f(W) agree to the last bits
    slack = 8 * torch.finfo(f0.dtype).eps * f0.abs()
    step = torch.ones(B, dtype=f0.dtype, device=f0.device)
    ok = torch.zeros(B, dtype=torch.bool, device=f0.device)
    f = f0.clone()
    pending = torch.arange(B, device=f0.device)
    for _ in range(max_halvings):
        f_new = objective_at(step[pending], pending)
        accept = f_new <= f0[pending] + 1e-4 * step[pending] * slope[pending] + slack[pending]
        ok[pending[accept]] = True
        f[pending[accept]] = f_new[accept]
        pending = pending[~accept]
        if pending.numel() == 0:
            break
        step[pending] = step[pending] * 0.5
    step[~ok] = 0.0
    return step, ok, f
