"""Applying ``H^{-1}`` to many vectors: dense eigendecomposition, conjugate gradients, LiSSA.

``H`` is the Hessian of a sum-form training objective
(see :func:`assay.second_order.derivatives.total_loss`):
``H = sum_i d^2_theta L_i + diag(reg) + damping_sum * I``. Every solver applies ``H^{-1}`` to the
rows of a matrix, ``solve(V (r, p)) -> (r, p)``, so one factorisation (or one batch of CG runs) is
shared by all the vectors a method needs. Singular or indefinite Hessians raise
:class:`~assay.errors.InvalidDataError` naming the damping that would fix them; a CG that does not
reach its tolerance raises :class:`~assay.errors.ConvergenceError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from assay.errors import ConvergenceError, InvalidDataError, InvalidParameterError

Tensor = torch.Tensor
MatVec = Callable[[Tensor], Tensor]
"""``V (r, p) -> H V (r, p)``."""


class InverseHessian(ABC):
    """Applies the inverse of a symmetric positive-definite (p x p) matrix to vectors."""

    p: int
    name: str = "inverse"

    @abstractmethod
    def solve(self, V: Tensor) -> Tensor:
        """``H^{-1} v`` for each row ``v`` of ``V`` (r, p) (a single (p,) vector also works)."""


def _singular(lmin: float, lmax: float, n: int) -> InvalidDataError:
    need = max(abs(lmin), 1e-12 * max(abs(lmax), 1.0)) / max(n, 1)
    kind = "singular" if lmin >= 0 else "not positive definite"
    return InvalidDataError(
        f"the Hessian of the training loss is {kind} (eigenvalues in [{lmin:.3g}, {lmax:.3g}]); "
        f"influence needs an invertible H: raise damping (added to the mean Hessian's "
        f"diagonal) by at least {need:.2g}, or use a regularised learner"
    )


class DenseInverse(InverseHessian):
    """``H^{-1}`` of an explicit (small) Hessian, by Cholesky.

    The factorisation is a Cholesky decomposition (about 1/20 of an eigendecomposition's cost);
    the extreme eigenvalues are estimated by power iteration on ``H`` and on ``H^{-1}``, and only
    a matrix that fails the factorisation or looks near-singular gets the full eigendecomposition
    that decides (and names the damping that would fix it).

    Parameters
    ----------
    H : (p, p) tensor
        Symmetric.
    n : int
        Number of training points (only to express the suggested damping in mean units).
    rtol : float
        ``H`` counts as singular when its smallest eigenvalue is below ``rtol`` times its largest
        (default ``10 p eps``).

    Raises
    ------
    InvalidDataError
        If ``H`` is singular or indefinite.
    """

    name = "dense"

    def __init__(self, H: Tensor, *, n: int = 1, rtol: float | None = None) -> None:
        self.H = 0.5 * (H + H.T)
        self.p, self.n = int(H.shape[0]), n
        eps = torch.finfo(H.dtype).eps
        self.rtol = rtol if rtol is not None else 10 * self.p * eps
        L, info = torch.linalg.cholesky_ex(self.H)
        if int(info) == 0:
            self.inverse = torch.cholesky_inverse(L)
            lmax = largest_eigenvalue(lambda v: self.H @ v, self.p, self.H)
            lmin = 1.0 / largest_eigenvalue(lambda v: self.inverse @ v, self.p, self.H)
            if lmin > 100 * self.rtol * lmax and torch.isfinite(self.inverse).all():
                return
        lam = torch.linalg.eigvalsh(self.H)  # decide exactly
        if float(lam[0]) <= self.rtol * float(lam.abs().max()):
            raise _singular(float(lam[0]), float(lam[-1]), n)
        self.inverse = torch.linalg.inv(self.H)

    def solve(self, V: Tensor) -> Tensor:
        return V @ self.inverse

    def sqrt_inverse(self) -> Tensor:
        """``H^{-1/2}`` (symmetric), for sampling from the Laplace posterior N(theta, H^{-1})."""
        lam, Q = torch.linalg.eigh(self.H)
        return (Q / lam.sqrt()) @ Q.T


def largest_eigenvalue(
    matvec: Callable[[Tensor], Tensor], p: int, like: Tensor, iters: int = 30
) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite operator, by power iteration."""
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(p, generator=gen, dtype=like.dtype).to(like.device)
    lam = 0.0
    for _ in range(iters):
        w = matvec(v / v.norm())
        lam = float(w.norm())
        if lam == 0 or not torch.isfinite(w).all():
            return lam
        v = w
    return lam


class CGInverse(InverseHessian):
    """Batched conjugate gradients on Hessian-vector products (matrix-free).

    All right-hand sides iterate together; each stops when its residual norm is below
    ``tol * ||v||``.

    Parameters
    ----------
    matvec : callable ``(r, p) -> (r, p)``
    p : int
    tol : float
        Relative residual tolerance.
    max_iter : int, optional
        Defaults to ``min(p, 1000)``.
    n : int
        Training-set size, for the damping suggestion in error messages.

    Raises (from :meth:`solve`)
    ---------------------------
    InvalidDataError
        If a CG direction has non-positive curvature (H not positive definite).
    ConvergenceError
        If some right-hand side is not solved to ``tol`` in ``max_iter`` iterations.
    """

    name = "cg"

    def __init__(
        self, matvec: MatVec, p: int, *, tol: float = 1e-10, max_iter: int | None = None, n: int = 1
    ) -> None:
        if tol <= 0:
            raise InvalidParameterError(f"tol must be > 0, got {tol}")
        self.matvec, self.p, self.tol, self.n = matvec, int(p), tol, n
        self.max_iter = max_iter if max_iter is not None else min(self.p, 1000)
        self.iterations = 0

    def solve(self, V: Tensor) -> Tensor:
        single = V.dim() == 1
        B = V[None] if single else V
        X = torch.zeros_like(B)
        R = B.clone()
        P = R.clone()
        rr = (R * R).sum(1)
        target = (self.tol * B.norm(dim=1)) ** 2
        active = rr > target
        it = 0
        while bool(active.any()) and it < self.max_iter:
            idx = torch.nonzero(active).flatten()
            HP = self.matvec(P[idx])
            curv = (P[idx] * HP).sum(1)
            if bool((curv <= 0).any()):
                raise InvalidDataError(
                    "the Hessian of the training loss is not positive definite (a CG direction "
                    f"has curvature {float(curv.min()):.3g}); pass damping > 0 (added to the mean "
                    "Hessian's diagonal)"
                )
            alpha = rr[idx] / curv
            X[idx] += alpha[:, None] * P[idx]
            R[idx] -= alpha[:, None] * HP
            rr_new = (R[idx] * R[idx]).sum(1)
            beta = rr_new / rr[idx]
            P[idx] = R[idx] + beta[:, None] * P[idx]
            rr[idx] = rr_new
            active = rr > target
            it += 1
        self.iterations = max(self.iterations, it)
        if bool(active.any()):
            worst = float((rr / target.clamp_min(1e-300)).max().sqrt()) * self.tol
            raise ConvergenceError(
                f"conjugate gradients left {int(active.sum())} of {len(B)} systems unsolved after "
                f"{self.max_iter} iterations (relative residual {worst:.2g} > tol {self.tol:g}); "
                "raise max_iter, raise damping (ill-conditioned Hessian) or use solver='dense'"
            )
        return X[0] if single else X


class LiSSAInverse(InverseHessian):
    """LiSSA (Agarwal et al. 2017, as used by Koh & Liang 2017): a stochastic Neumann series.

    ``h_t = v + (I - H_batch / scale) h_{t-1}``, ``H^{-1} v ~ h_depth / scale``, averaged over
    ``repeats`` independent runs; ``H_batch`` is the Hessian of a seeded random mini-batch
    rescaled to the whole set. Converges when ``scale`` exceeds the largest eigenvalue of H.

    Parameters
    ----------
    batch_matvec : callable ``(V (r, p), rows (b,) long) -> (r, p)``
        Hessian-vector products of the rows ``rows`` of the training set, *already rescaled* to
        the full objective (times n / b, plus regulariser and damping).
    n : int
        Training-set size.
    scale : float
        Larger than the largest eigenvalue of H.
    depth, repeats, batch_size : int
    seed : int
    """

    name = "lissa"

    def __init__(
        self,
        batch_matvec: Callable[[Tensor, Tensor], Tensor],
        p: int,
        n: int,
        *,
        scale: float,
        depth: int = 1000,
        repeats: int = 1,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        if scale <= 0 or depth < 1 or repeats < 1 or batch_size < 1:
            raise InvalidParameterError(
                "LiSSA needs scale > 0 and depth, repeats, batch_size >= 1, got "
                f"{scale}, {depth}, {repeats}, {batch_size}"
            )
        self.batch_matvec, self.p, self.n = batch_matvec, int(p), int(n)
        self.scale, self.depth, self.repeats = float(scale), depth, repeats
        self.batch_size, self.seed = min(batch_size, n), seed

    def solve(self, V: Tensor) -> Tensor:
        single = V.dim() == 1
        B = V[None] if single else V
        gen = torch.Generator().manual_seed(self.seed)
        total = torch.zeros_like(B)
        for _ in range(self.repeats):
            h = B.clone()
            for _ in range(self.depth):
                rows = torch.randperm(self.n, generator=gen)[: self.batch_size].to(B.device)
                h = B + h - self.batch_matvec(h, rows) / self.scale
                if not bool(torch.isfinite(h).all()):
                    raise ConvergenceError(
                        f"LiSSA diverged: scale {self.scale:g} is below the largest eigenvalue "
                        "of the Hessian; raise scale"
                    )
            total += h / self.scale
        out = total / self.repeats
        return out[0] if single else out


class WoodburyInverse(InverseHessian):
    """``H^{-1}`` for ``H = lam * I + A^T A`` with A of shape (r, p), r < p (Woodbury identity).

    ``H^{-1} V = (V - (V A^T) (lam I + A A^T)^{-1} A) / lam``: one r x r Cholesky instead of a
    p x p eigendecomposition, exact. This is the Hessian of a linear-in-parameters model (logistic
    regression, a network's last layer) under an isotropic L2 term when there are fewer
    (sample, class) pairs than parameters.

    Raises
    ------
    InvalidDataError
        If ``lam <= 0`` (then H is singular whenever r < p).
    """

    name = "woodbury"

    def __init__(self, A: Tensor, lam: float, *, n: int = 1) -> None:
        if lam <= 0:
            raise _singular(0.0, float((A * A).sum()), n)
        self.p, self.lam, self.A = int(A.shape[1]), float(lam), A
        M = A @ A.T + lam * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
        self.chol = torch.linalg.cholesky(0.5 * (M + M.T))

    def solve(self, V: Tensor) -> Tensor:
        single = V.dim() == 1
        B = V[None] if single else V
        Z = torch.cholesky_solve((B @ self.A.T).T, self.chol).T  # (r_rhs, r)
        out = (B - Z @ self.A) / self.lam
        return out[0] if single else out
