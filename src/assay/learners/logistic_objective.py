"""The objectives of B batched logistic regressions and the linear algebra of their Newton steps.

:class:`LogisticObjectives` holds the B weighted objectives of one fit (loss, gradient,
curvature and dense Hessians); :class:`Curvature` is their Hessian
operator in a chosen precision for conjugate gradients; :func:`shared_preconditioner` the
inverse Hessian of the mean model that preconditions them; :func:`newton_direction` the dense
solve. :class:`~assay.learners.logistic.LogisticRegression` drives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from assay.learners.base import TrainingData

Tensor = torch.Tensor
#: CG is preconditioned by the mean model's Hessian when the models' total weights are within
#: PRECONDITION_SPREAD of each other: its dense inverse up to PRECONDITION_MAX parameters (R*q)
#: a model, a randomized Nystrom approximation of rank NYSTROM_RANK beyond (0: none)
PRECONDITION_MAX = 2048
PRECONDITION_SPREAD = 2.0
NYSTROM_RANK = 100


class LogisticObjectives:
    """The B weighted objectives of one fit (one model per row of ``weights``)."""

    def __init__(
        self,
        Xa: Tensor,
        data: TrainingData,
        weights: Tensor,
        present: Tensor,
        reg: Tensor,
        binary: bool,
        fit_intercept: bool,
    ) -> None:
        self.Xa, self.weights, self.present, self.binary = Xa, weights, present, binary
        self.y = data.y.to(Xa.dtype)
        self.onehot = data.onehot
        n_present = present.sum(1)
        # penalty per coordinate (q,) times a per-model multiplier: 2 for "binary inside multiclass"
        mult = torch.ones(len(n_present), dtype=Xa.dtype, device=Xa.device)
        if not binary:
            mult = torch.where(n_present == 2, 2.0, 1.0).to(Xa.dtype)
        self.reg = mult[:, None, None] * reg[None, None, :]  # (B, 1, q)
        self.absent = (~present)[:, :, None].to(Xa.dtype) if not binary else None  # (B, K, 1)
        self.fit_intercept = fit_intercept
        self.log_mask = torch.where(present, 0.0, float("-inf")).to(Xa.dtype)[:, :, None]

    def logits(self, W: Tensor) -> Tensor:
        z = W @ self.Xa.T  # (B, R, n)
        return z if self.binary else z + self.log_mask

    def objective_at(self, z: Tensor, W: Tensor, rows: Tensor | None = None) -> Tensor:
        """The objective of models ``rows`` at ``W`` whose logits ``z`` are already known."""
        w = self.weights if rows is None else self.weights[rows]
        reg = self.reg if rows is None else self.reg[rows]
        if self.binary:
            loss = torch.nn.functional.softplus(z[:, 0]) - self.y * z[:, 0]
        else:
            zy = torch.where(self.onehot.T.bool()[None], z, 0.0).sum(1)
            # rows of a class the model never sees have zero weight and infinite loss: drop them
            loss = torch.where(w > 0, torch.logsumexp(z, dim=1) - zy, 0.0)
        return (w * loss).sum(1) + 0.5 * (reg * W * W).flatten(1).sum(1)

    def objective_along(
        self, z: Tensor, zd: Tensor, W: Tensor, d: Tensor
    ) -> Callable[[Tensor, Tensor], Tensor]:
        """``f(step, rows)``: the objective of models ``rows`` at ``W + step * d``, from the
        logits ``z + step * zd`` (no product with the design matrix per trial step)."""

        def at(step: Tensor, rows: Tensor) -> Tensor:
            s = step.view(-1, 1, 1)
            return self.objective_at(z[rows] + s * zd[rows], W[rows] + s * d[rows], rows)

        return at

    def probabilities(self, z: Tensor) -> Tensor:
        """Probabilities from logits ``z`` (B, R, n)."""
        return torch.sigmoid(z) if self.binary else torch.softmax(z, dim=1)

    def gradient(self, W: Tensor, P: Tensor) -> Tensor:
        resid = (P[:, 0] - self.y)[:, None] if self.binary else P - self.onehot.T[None]
        return (resid * self.weights[:, None, :]) @ self.Xa + self.reg * W

    def curvature(self, P: Tensor) -> Tensor:
        """Per-sample weights of the Hessian: (B, n) for binary, (B, K, K, n) for multiclass."""
        if self.binary:
            return self.weights * P[:, 0] * (1 - P[:, 0])
        eye = torch.eye(P.shape[1], dtype=P.dtype, device=P.device)
        C = eye[None, :, :, None] * P[:, :, None, :] - P[:, :, None, :] * P[:, None, :, :]
        return C * self.weights[:, None, None, :]

    def curvature_operator(self, P: Tensor, dtype: torch.dtype) -> Curvature:
        """The Hessians at probabilities ``P`` as an operator in ``dtype`` (for CG directions)."""
        return Curvature(self, P, dtype)

    def hessian(self, P: Tensor, outer: RowOuter) -> Tensor:
        """Dense Hessians (B, Rq, Rq) from one product with the rows' outer products."""
        B, R, q = P.shape[0], (1 if self.binary else P.shape[1]), self.Xa.shape[1]
        if self.binary:
            H = outer.weighted_sum(self.curvature(P)).view(B, q, q)
        else:
            H = outer.weighted_sum(self.curvature(P)).view(B, R, R, q, q).permute(0, 1, 3, 2, 4)
            H = H.reshape(B, R * q, R * q)
        diag = (self.reg.expand(B, R, q)).reshape(B, R * q)
        if not self.binary:
            assert self.absent is not None
            diag = diag + self.absent.expand(B, R, q).reshape(B, R * q)
            if self.fit_intercept:  # the softmax intercepts are defined up to a shared constant
                damp = torch.zeros(R, q, dtype=P.dtype, device=P.device)
                damp[:, -1] = 1e-10 * (1.0 + self.weights.sum(1).max())
                diag = diag + damp.reshape(1, R * q)
        return H + torch.diag_embed(diag)

    def mean_model(self, W: Tensor) -> MeanModel:
        """One model standing for all: every row weighted by the mean total weight / n, every
        class present, at the mean of the parameters ``W`` (B, R, q)."""
        n = self.weights.shape[1]
        mean = self._with(
            weights=torch.full_like(self.weights[:1], float(self.weights.sum(1).mean()) / n),
            present=torch.ones_like(self.present[:1]),
            reg=self.reg.amin(0, keepdim=True),  # the plain penalty (not "binary in multiclass")
            log_mask=torch.zeros_like(self.log_mask[:1]),
            absent=None if self.absent is None else torch.zeros_like(self.absent[:1]),
        )
        P = mean.probabilities(mean.logits(W.mean(0, keepdim=True)))
        return MeanModel(mean, P)

    def restrict(self, rows: Tensor) -> LogisticObjectives:
        """The same objectives for some models only (``rows``: an index or a boolean mask)."""
        return self._with(
            weights=self.weights[rows],
            present=self.present[rows],
            reg=self.reg[rows],
            log_mask=self.log_mask[rows],
            absent=None if self.absent is None else self.absent[rows],
        )

    def _with(self, **per_model: Tensor | None) -> LogisticObjectives:
        """A copy sharing the design matrix and labels, with other per-model tensors."""
        other = object.__new__(LogisticObjectives)
        other.__dict__.update(self.__dict__)
        other.__dict__.update(per_model)
        return other


@dataclass(frozen=True)
class MeanModel:
    """The mean model's objective (one model) and its probabilities (1, R, n)."""

    problem: LogisticObjectives
    P: Tensor


class RowOuter:
    """The rows' outer products x_i x_i^T, kept as their upper triangles (n, q(q+1)/2).

    A Hessian sum_i c_i x_i x_i^T is then one matrix product over half the entries and a gather
    that mirrors them: 1.5-2x faster than the product over all q*q (the prefix fits' main cost).
    """

    def __init__(self, Xa: Tensor) -> None:
        q = Xa.shape[1]
        upper = torch.triu_indices(q, q, device=Xa.device)
        self.upper = (Xa[:, upper[0]] * Xa[:, upper[1]]).contiguous()
        position = torch.empty(q, q, dtype=torch.long, device=Xa.device)
        slots = torch.arange(upper.shape[1], device=Xa.device)
        position[upper[0], upper[1]] = slots
        position[upper[1], upper[0]] = slots
        self.position = position.flatten()

    def weighted_sum(self, weights: Tensor) -> Tensor:
        """sum_i weights[..., i] x_i x_i^T, flattened to (..., q*q)."""
        return torch.index_select(weights @ self.upper, -1, self.position)


class Curvature:
    """Hessian-vector products of all models at fixed probabilities, in a chosen precision.

    The per-row factors that do not change during a conjugate-gradient solve (the weighted
    probabilities, or the binary curvature) are formed once, so each product is two matrix
    products and two elementwise passes over the (B, R, n) logits. CG directions only need the
    accuracy of the inexact-Newton forcing term, so float32 products (twice the float64 speed)
    serve a float64 fit: gradients and objectives stay in the fit's precision.
    """

    def __init__(self, pb: LogisticObjectives, P: Tensor, dtype: torch.dtype) -> None:
        self.binary = pb.binary
        self.Xa = pb.Xa.to(dtype)
        self.reg = pb.reg.to(dtype)
        if pb.binary:
            self.factor = (pb.weights * P[:, 0] * (1 - P[:, 0]))[:, None, :].to(dtype)
            self.P = self.factor
            self.absent: Tensor | None = None
        else:
            self.P = P.to(dtype)
            self.factor = (P * pb.weights[:, None, :]).to(dtype)
            self.absent = None if pb.absent is None else pb.absent.to(dtype)

        self._rows: Tensor | None = None
        self._gathered: tuple[Tensor | None, ...] = ()

    def _parts(self, rows: Tensor | None) -> tuple[Tensor | None, ...]:
        parts = (self.factor, self.P, self.reg, self.absent)
        if rows is None or rows.numel() == self.factor.shape[0]:
            return parts
        # CG asks for the same shrinking set of models many times: gather each set once
        if self._rows is None or not torch.equal(self._rows, rows):
            self._rows = rows
            self._gathered = tuple(None if t is None else t[rows] for t in parts)
        return self._gathered

    def hvp(self, V: Tensor, rows: Tensor | None = None) -> Tensor:
        """Products with models ``rows`` (all when None) for directions ``V`` (b, R, q)."""
        factor, P, reg, absent = self._parts(rows)
        assert factor is not None and P is not None and reg is not None
        zv = V @ self.Xa.T  # (b, R, n)
        if not self.binary:
            zv = zv - (P * zv).sum(1, keepdim=True)
        out = (factor * zv) @ self.Xa + reg * V
        if absent is not None:  # identity on classes the model never sees
            out = out + absent * V
        return out


def shared_preconditioner(
    pb: LogisticObjectives, W: Tensor, dtype: torch.dtype
) -> Callable[[Tensor], Tensor] | None:
    """An approximate inverse Hessian that serves every model: the mean model's.

    Bootstrap, leave-one-out and random-subset models weigh the rows alike on average, so the
    Hessian of the mean model (every row weighted by the models' mean total / n, at the mean
    parameters) is close to each of theirs. On digits (10 classes, 650 parameters) its dense
    inverse takes the bootstrap Hessians' condition number from ~830 to ~19 and the CG products
    a model from 292 to 156. Wider problems get :func:`nystrom_preconditioner` instead (mnist5k,
    7,850 parameters: 1,270 products a model to 860). The mean model depends only on the totals
    and the warm start, not on which models share a chunk. Returns ``r -> M^-1 r`` for
    residuals (b, R, q) in ``dtype``, or None where the models differ too much (prefixes of very
    different sizes) and for float32 fits.
    """
    B, R, q = W.shape
    totals = pb.weights.sum(1)
    if B < 2 or float(totals.max()) > PRECONDITION_SPREAD * float(totals.min()):
        return None
    if W.dtype != torch.float64:
        # a float32 fit stops at its objective's rounding; preconditioned, that point was 3x
        # farther from the optimum (digits: 5e-3 in a probability against 1.5e-3 unpreconditioned)
        return None
    mean = pb.mean_model(W)
    if R * q > PRECONDITION_MAX:
        return None if NYSTROM_RANK <= 0 else nystrom_preconditioner(mean, dtype, NYSTROM_RANK)
    inverse = _dense_inverse(mean)
    if inverse is None:
        return None
    M = inverse.to(dtype)

    def apply(r: Tensor) -> Tensor:
        return (r.flatten(1) @ M).view_as(r)

    return apply


def _dense_inverse(mean: MeanModel) -> Tensor | None:
    """The inverse of the mean model's dense Hessian (None if Cholesky fails)."""
    pb, P = mean.problem, mean.P
    R, q = P.shape[1], pb.Xa.shape[1]
    w, Xa = pb.weights[0], pb.Xa
    if pb.binary:
        H = Xa.T @ ((w * P[0, 0] * (1 - P[0, 0]))[:, None] * Xa)
    else:
        H = torch.empty(R, q, R, q, dtype=Xa.dtype, device=Xa.device)
        eye = torch.eye(R, dtype=Xa.dtype, device=Xa.device)
        for k in range(R):  # row k of the (R, R) blocks: sum_i w_i (d_kl p_k - p_k p_l) x_i x_i^T
            c = w * P[0, k] * (eye[k][:, None] - P[0])
            H[k] = torch.einsum("ln,na,nb->alb", c, Xa, Xa)
        H = H.reshape(R * q, R * q)
    H = H + torch.diag(pb.reg[0].expand(R, q).reshape(-1))
    if not pb.binary and pb.fit_intercept:
        # the softmax intercepts' shared shift is free (a zero eigenvalue): give it a typical
        # curvature, so the inverse does not blow up rounding noise along it
        u = torch.zeros(R, q, dtype=Xa.dtype, device=Xa.device)
        u[:, -1] = R**-0.5
        u = u.reshape(-1)
        H = H + H.diagonal().mean() * torch.outer(u, u)
    L, info = torch.linalg.cholesky_ex(H)
    return None if int(info) != 0 else torch.cholesky_inverse(L)


def nystrom_preconditioner(
    mean: MeanModel, dtype: torch.dtype, rank: int, seed: int = 0
) -> Callable[[Tensor], Tensor] | None:
    """Randomized Nystrom preconditioner of the mean model's Hessian H (Frangella, Tropp and
    Udell 2023, "Randomized Nystrom preconditioning", Algorithm 2.1 and eq. 5.3).

    ``rank`` Hessian-vector products of the mean model against an orthonormal Gaussian sketch
    give H ~ U diag(lam) U^T; the preconditioner maps the top ``rank`` directions to the
    ``rank``-th eigenvalue and leaves the rest alone: ``M^-1 = lam_r U diag(1/lam) U^T + (I - U
    U^T)``. Cost: a (b, Rq) x (Rq, rank) product each CG step, ~1/30 of a Hessian-vector product
    on mnist5k. The sketch is seeded, so a fit gives the same answer every time. None when the
    sketch's Cholesky fails in ``dtype``.
    """
    pb = mean.problem
    R, q = mean.P.shape[1], pb.Xa.shape[1]
    dim = R * q
    rank = min(rank, dim)
    op = pb.curvature_operator(mean.P, dtype)
    gen = torch.Generator(device=pb.Xa.device).manual_seed(seed)
    omega = torch.randn(dim, rank, generator=gen, dtype=dtype, device=pb.Xa.device)
    omega = torch.linalg.qr(omega).Q
    Y = op.hvp(omega.T.reshape(rank, R, q)).reshape(rank, dim).T  # H omega, (dim, rank)
    shift = dim**0.5 * torch.finfo(dtype).eps * torch.linalg.norm(Y)  # for a stable Cholesky
    Y = Y + shift * omega
    C, info = torch.linalg.cholesky_ex(omega.T @ Y)
    if int(info) != 0:  # a sketch too ill-conditioned for this precision: plain CG
        return None
    factor = torch.linalg.solve_triangular(C, Y.T, upper=False).T  # Y C^-T
    U, S, _ = torch.linalg.svd(factor, full_matrices=False)
    lam = torch.clamp(S**2 - shift, min=torch.finfo(dtype).tiny)
    shrink = lam[-1] / lam - 1.0  # (rank,)

    def apply(r: Tensor) -> Tensor:
        flat = r.flatten(1)
        return (flat + ((flat @ U) * shrink) @ U.T).view_as(r)

    return apply


def newton_direction(H: Tensor, g: Tensor) -> Tensor:
    """H^-1 g for every model: Cholesky (1.6x faster than LU at these sizes), least squares for a
    model whose Hessian is numerically singular (a separable subset at a huge weight scale)."""
    L, info = torch.linalg.cholesky_ex(H)
    d = torch.cholesky_solve(g[..., None], L)[..., 0]
    bad = info != 0
    if bool(bad.any()):
        d[bad] = torch.linalg.lstsq(H[bad], g[bad][..., None]).solution[..., 0]
    return d
