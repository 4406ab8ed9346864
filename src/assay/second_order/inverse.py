"""``H^{-1}`` for a :class:`~assay.second_order.differentiable.TwiceDifferentiable`, by name.

``make_solver(model, "auto" | "dense" | "cg" | "lissa" | "kfac" | "woodbury", damping=...)``
builds the :mod:`assay.second_order.solvers` object for the model's training objective; every
influence method asks for its solver here.
"""

from __future__ import annotations

import torch

from assay.errors import InvalidParameterError
from assay.second_order.differentiable import TwiceDifferentiable
from assay.second_order.solvers import (
    CGInverse,
    DenseInverse,
    InverseHessian,
    LiSSAInverse,
    WoodburyInverse,
    largest_eigenvalue,
)

Tensor = torch.Tensor
SOLVERS = ("auto", "dense", "cg", "lissa", "kfac", "woodbury")


def make_solver(
    model: TwiceDifferentiable,
    solver: str = "auto",
    *,
    damping: float = 0.0,
    cg_tol: float = 1e-10,
    cg_max_iter: int | None = None,
    lissa_depth: int = 1000,
    lissa_scale: float | None = None,
    lissa_batch: int = 64,
    seed: int = 0,
) -> InverseHessian:
    """The ``H^{-1}`` of ``model``'s training objective, with ``damping`` in mean units.

    ``damping`` is added to the diagonal of the *mean* Hessian ``H / n`` (the seed's
    ``H_theta = n^-1 sum_i d^2 L``), i.e. ``n * damping`` to the sum-form H. ``auto`` is Woodbury
    for linear-in-theta models with an isotropic L2 term and fewer (sample, class) pairs than
    half the parameters, dense for ``p <= 3000``, and CG otherwise.
    """
    if solver not in SOLVERS:
        raise InvalidParameterError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if damping < 0:
        raise InvalidParameterError(f"damping must be >= 0, got {damping}")
    lam = model.n * damping
    if solver in ("auto", "woodbury"):
        small = model.n * model.n_classes + (0 if model.gauge is None else len(model.gauge))
        A = model.square_root_factor() if solver == "woodbury" or 2 * small < model.p else None
        if A is not None:
            return WoodburyInverse(A, float(model.reg[0]) + lam, n=model.n)
        if solver == "woodbury":
            raise InvalidParameterError(
                "solver='woodbury' needs logits linear in the parameters and an isotropic L2 "
                "term (a network's last layer, or a logistic regression without intercept)"
            )
    if solver == "auto":
        solver = "dense" if model.p <= 3000 else "cg"
    if solver == "dense":
        return DenseInverse(model.hessian(lam), n=model.n)
    if solver == "cg":
        return CGInverse(
            lambda V: model.hvp(V, lam), model.p, tol=cg_tol, max_iter=cg_max_iter, n=model.n
        )
    if solver == "kfac":
        from assay.second_order.kfac import KFACInverse

        return KFACInverse(model, lam)
    scale = lissa_scale
    if scale is None:
        scale = 1.5 * largest_eigenvalue(lambda v: model.hvp(v[None], lam)[0], model.p, model.theta)
    return LiSSAInverse(
        lambda V, rows: model.hvp(V, lam, rows),
        model.p,
        model.n,
        scale=scale,
        depth=lissa_depth,
        batch_size=lissa_batch,
        seed=seed,
    )
