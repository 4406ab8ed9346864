"""Batched L2-regularised logistic regression, equivalent to scikit-learn's ``LogisticRegression``.

Objective of model b (the same as scikit-learn's, with ``sample_weight = weights[b]``):

    f_b(W) = sum_i w_bi * loss(W x_i, y_i) + 1 / (2 C) * ||W without intercept||^2

Binary problems use one weight vector and the sigmoid; multiclass ones the full K-row softmax
parameterisation scikit-learn uses. Classes absent from a model's subset are masked out of its
softmax
(scikit-learn never sees them); a multiclass model left with exactly two classes gets a doubled
penalty, which makes the symmetric softmax solution equal to scikit-learn's binary one.
Models whose subset holds fewer than two classes are not trained (``FittedLogistic.trained``).

All B models take Newton steps together: the dense Hessian of every model comes from one matrix
product with the precomputed row outer products when the parameter count is small, and from
conjugate gradients on Hessian-vector products otherwise; a batched Armijo line search guards
every step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from assay.errors import InvalidParameterError
from assay.learners.base import (
    FittedModels,
    State,
    TorchLearner,
    TrainingData,
    classes_present,
    models_per_chunk,
)
from assay.learners.newton import NewtonReport, backtrack, batched_cg, bdot

log = logging.getLogger(__name__)
#: precision of the Hessian-vector products in CG (directions only; see :class:`_Curvature`)
CG_DTYPE = torch.float32
#: CG is preconditioned by the inverse of the models' mean Hessian up to this many parameters
#: (R*q) a model, when the models' total weights are within PRECONDITION_SPREAD of each other
PRECONDITION_MAX = 2048
PRECONDITION_SPREAD = 2.0
Tensor = torch.Tensor


class _Problem:
    """The B objectives of one fit, on rows ``rows`` of the weight matrix."""

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

    def hvp(self, P: Tensor, V: Tensor) -> Tensor:
        """Hessian-vector products for all models, without forming any Hessian."""
        zv = V @ self.Xa.T  # (B, R, n)
        if self.binary:
            t = self.weights * P[:, 0] * (1 - P[:, 0]) * zv[:, 0]
            out = t[:, None, :] @ self.Xa
        else:
            t = P * (zv - (P * zv).sum(1, keepdim=True))
            out = (t * self.weights[:, None, :]) @ self.Xa
            assert self.absent is not None
            out = out + self.absent * V  # identity on classes the model never sees
        return out + self.reg * V

    def curvature_operator(self, P: Tensor, dtype: torch.dtype) -> _Curvature:
        """The Hessians at probabilities ``P`` as an operator in ``dtype`` (for CG directions)."""
        return _Curvature(self, P, dtype)

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


class _Curvature:
    """Hessian-vector products of all models at fixed probabilities, in a chosen precision.

    The per-row factors that do not change during a conjugate-gradient solve (the weighted
    probabilities, or the binary curvature) are formed once, so each product is two matrix
    products and two elementwise passes over the (B, R, n) logits. CG directions only need the
    accuracy of the inexact-Newton forcing term, so float32 products (twice the float64 speed)
    serve a float64 fit: gradients and objectives stay in the fit's precision.
    """

    def __init__(self, pb: _Problem, P: Tensor, dtype: torch.dtype) -> None:
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


class FittedLogistic(FittedModels):
    """B fitted logistic regressions; ``coef`` has shape (B, R, q) with the intercept last."""

    def __init__(
        self,
        coef: Tensor,
        present: Tensor,
        trained: Tensor,
        report: NewtonReport,
        binary: bool,
        fit_intercept: bool,
    ) -> None:
        self.coef, self.present, self.trained = coef, present, trained
        self.report, self.binary, self.fit_intercept = report, binary, fit_intercept

    @property
    def n_models(self) -> int:
        return int(self.coef.shape[0])

    def decision(self, X: Tensor) -> Tensor:
        Xa = _augment(X.to(self.coef.dtype), self.fit_intercept)
        return self.coef @ Xa.T  # (B, R, m)

    def predict_proba(self, X: Tensor) -> Tensor:
        z = self.decision(X)
        if self.binary:
            p1 = torch.sigmoid(z[:, 0])
            return torch.stack([1 - p1, p1], dim=-1)
        z = z.masked_fill(~self.present[:, :, None], float("-inf"))
        return torch.softmax(z, dim=1).transpose(1, 2)

    def state(self) -> State:
        return {"coef": self.coef}

    def functional(self, b: int = 0) -> tuple[Callable[[State, Tensor], Tensor], State]:
        """Logits over all K classes (binary: ``[0, w.x + c]``, the same softmax as sigmoid)."""
        absent = ~self.present[b]

        def logits(params: State, X: Tensor) -> Tensor:
            z = _augment(X.to(params["coef"].dtype), self.fit_intercept) @ params["coef"].T
            if self.binary:
                return torch.cat([torch.zeros_like(z), z], dim=-1)
            return z.masked_fill(absent, float("-inf")) if bool(absent.any()) else z

        return logits, {"coef": self.coef[b].detach()}


def _augment(X: Tensor, fit_intercept: bool) -> Tensor:
    if not fit_intercept:
        return X
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], dim=1)


class LogisticRegression(TorchLearner):
    """L2-regularised logistic regression that fits many subset models at once.

    Parameters
    ----------
    C : float
        Inverse regularisation strength, as in scikit-learn (penalty ``||w||^2 / (2C)``).
    fit_intercept : bool
        Add an unpenalised intercept.
    max_iter : int
        Newton iterations at most; models still short of the tolerance are logged.
    tol : float, optional
        Convergence when the largest gradient entry is below ``tol * (1 + sum of weights)``.
        Defaults to 1e-10 in float64 and 1e-5 in float32.
    solver : {"auto", "newton", "newton-cg"}
        Dense per-model Hessians or Hessian-free conjugate gradients; ``auto`` picks dense while
        the parameter count is small.
    dtype : {"float64", "float32"}
    device : str
        ``"cpu"`` or a CUDA device such as ``"cuda"``.

    Examples
    --------
    >>> import torch
    >>> from assay.data import load_dataset
    >>> train, valid, test = load_dataset("breast_cancer")
    >>> lr = LogisticRegression(C=1.0)
    >>> data = lr.prepare(train)
    >>> masks = torch.ones(3, train.n, dtype=torch.float64)
    >>> lr.fit(data, masks).predict_proba(lr.prepare(valid).X).shape
    torch.Size([3, 114, 2])
    """

    name = "logistic"
    supports_warm_start = True

    def __init__(
        self,
        C: float = 1.0,
        *,
        fit_intercept: bool = True,
        max_iter: int = 100,
        tol: float | None = None,
        solver: str = "auto",
        dtype: str = "float64",
        device: str = "cpu",
    ) -> None:
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self._place(dtype, device)
        if C <= 0:
            raise InvalidParameterError(f"C must be > 0, got {C}")
        if solver not in ("auto", "newton", "newton-cg"):
            raise InvalidParameterError(f"solver must be auto, newton or newton-cg, got {solver!r}")
        self._outer: tuple[Tensor, RowOuter] | None = None
        self._design: tuple[Tensor, Tensor] | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "fit_intercept": self.fit_intercept,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "solver": self.solver,
            "dtype": self.dtype_name,
            "device": self.device_name,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_outer"] = state["_design"] = None  # caches, rebuilt on demand
        return state

    # ---------------------------------------------------------------- sizing
    def _n_outputs(self, data: TrainingData) -> int:
        return 1 if data.n_classes == 2 else data.n_classes

    def _dense(self, data: TrainingData) -> bool:
        q = data.X.shape[1] + int(self.fit_intercept)
        if self.solver != "auto":
            return self.solver == "newton"
        return self._n_outputs(data) * q <= 96 and data.n * q * q <= 2**25

    def batch_size_hint(self, data: TrainingData) -> int:
        """Models per fit: what :data:`~assay.learners.base.MEMORY_FRACTION` of free memory holds.

        Per model a fit keeps about ten (R, n) tensors (logits, probabilities, curvature, line
        search trials), the (R, R, n) softmax curvature for multiclass, and either its dense
        (Rq)^2 Hessian with its factorisation or a few (R, q) CG vectors. At most 512 models,
        beyond which chunks stopped getting faster, and fewer for CG on a CPU (see below).
        """
        q = data.X.shape[1] + int(self.fit_intercept)
        R = self._n_outputs(data)
        elements = data.n * (10 * R + (R * R if R > 1 else 0)) + (
            3 * (R * q) ** 2 if self._dense(data) else 12 * R * q
        )
        itemsize = torch.finfo(self.dtype).bits // 8
        hi = 512
        if not self._dense(data) and self.device.type == "cpu":
            # CG sweeps its (B, R, n) products hundreds of times: on a CPU, chunks whose products
            # stay in cache ran faster (digits, 10 classes: 30 ms a model at 25-100 models,
            # 36 ms at 200)
            hi = max(8, min(hi, 2**20 // (R * data.n)))
        return models_per_chunk(elements * itemsize, device=self.device, lo=1, hi=hi)

    def initial_state(self, data: TrainingData, n_models: int) -> State:
        q = data.X.shape[1] + int(self.fit_intercept)
        shape = (n_models, self._n_outputs(data), q)
        return {"coef": torch.zeros(shape, dtype=self.dtype, device=self.device)}

    def _augmented(self, data: TrainingData) -> Tensor:
        """The design matrix with its intercept column, built once per training set.

        Prefix training calls ``fit`` once per prefix on the same rows: copying (n, q) each
        time cost more than the small problems' Newton steps.
        """
        if self._design is None or self._design[0] is not data.X:
            self._design = (data.X, _augment(data.X.to(self.dtype), self.fit_intercept))
        return self._design[1]

    def _row_outer(self, Xa: Tensor, data: TrainingData) -> RowOuter:
        if self._outer is None or self._outer[0] is not data.X:
            self._outer = (data.X, RowOuter(Xa))
        return self._outer[1]

    # ---------------------------------------------------------------- fitting
    def fit(self, data: TrainingData, weights: Tensor, init: State | None = None) -> FittedLogistic:
        """Fit one model per row of ``weights`` (B, n); rows with < 2 classes stay untrained."""
        weights = weights.to(dtype=self.dtype, device=self.device)
        binary = data.n_classes == 2
        present = classes_present(weights, data.onehot)
        trained = present.sum(1) >= 2
        Xa = self._augmented(data)
        q = Xa.shape[1]
        reg = torch.full((q,), 1.0 / self.C, dtype=self.dtype, device=self.device)
        if self.fit_intercept:
            reg[-1] = 0.0
        W = (init or self.initial_state(data, weights.shape[0]))["coef"].to(self.dtype).clone()
        W[~trained] = 0.0
        iters = torch.zeros(weights.shape[0], dtype=torch.long, device=self.device)
        done = ~trained
        rows = torch.nonzero(trained).flatten()
        if rows.numel():
            problem = _Problem(
                Xa, data, weights[rows], present[rows], reg, binary, self.fit_intercept
            )
            W_rows, it, conv = self._newton(problem, W[rows], data)
            W[rows], iters[rows], done[rows] = W_rows, it, conv
        if not bool(done.all()):
            log.warning(
                "logistic regression: %d of %d models did not reach tol in %d iterations",
                int((~done).sum()),
                weights.shape[0],
                self.max_iter,
            )
        return FittedLogistic(
            W, present, trained, NewtonReport(iters, done), binary, self.fit_intercept
        )

    def _newton(self, pb: _Problem, W: Tensor, data: TrainingData) -> tuple[Tensor, Tensor, Tensor]:
        B = W.shape[0]
        tol = self.tol if self.tol is not None else (1e-10 if self.dtype == torch.float64 else 1e-5)
        scale = 1.0 + pb.weights.sum(1)
        dense = self._dense(data)
        outer = self._row_outer(pb.Xa, data) if dense else None
        iters = torch.zeros(B, dtype=torch.long, device=W.device)
        converged = torch.zeros(B, dtype=torch.bool, device=W.device)
        active = torch.arange(B, device=W.device)
        # the active models' logits, carried along the line search's accepted steps: each
        # iteration then needs one product with the design matrix (for the direction), not three
        z = pb.logits(W)
        f = pb.objective_at(z, W)  # the objective too: the line search returns it at each step
        inverse = None if dense else shared_preconditioner(pb, W, CG_DTYPE)
        precondition = None
        if inverse is not None:
            Minv = inverse

            def precondition(r: Tensor) -> Tensor:
                return (r.flatten(1) @ Minv).view_as(r)

        for _ in range(self.max_iter):
            sub = _subproblem(pb, active)
            Wa = W[active]
            P = sub.probabilities(z)
            g = sub.gradient(Wa, P)
            gmax = g.abs().flatten(1).amax(1)
            ok = gmax <= tol * scale[active]
            converged[active[ok]] = True
            keep = ~ok
            if not bool(keep.any()):
                break
            active, sub, Wa, P, g, z, f = (
                active[keep],
                _subproblem(sub, keep),
                Wa[keep],
                P[keep],
                g[keep],
                z[keep],
                f[keep],
            )
            if dense:
                assert outer is not None
                d = -_newton_direction(sub.hessian(P, outer), g.flatten(1)).view_as(g)
            else:
                gnorm = g.flatten(1).norm(dim=1)
                low = CG_DTYPE
                cg_floor = 1e-4 if low == torch.float32 else 1e-12  # what float32 CG can reach
                forcing = torch.clamp(gnorm / scale[active], max=0.5).sqrt().clamp(min=cg_floor)
                op = sub.curvature_operator(P, low)
                d = -batched_cg(
                    op.hvp,
                    g.to(low),
                    forcing.to(low),
                    max_iter=max(10, min(250, g[0].numel())),
                    precondition=precondition,
                    hvp_rows=op.hvp,
                ).to(W.dtype)
            zd = d @ sub.Xa.T  # the logits' change along d (absent classes stay at -inf)
            slope = bdot(g, d)
            f0 = f
            step, moved, f = backtrack(sub.objective_along(z, zd, Wa, d), f0, slope)
            W[active] = Wa + step.view(-1, 1, 1) * d
            z = z + step.view(-1, 1, 1) * zd
            iters[active] += 1
            # done when the predicted decrease (Newton decrement) is below f's rounding, or when
            # the line search cannot decrease f at all: either way f cannot get measurably lower
            floor = -slope <= 16 * torch.finfo(W.dtype).eps * (1 + f0.abs())
            stop = floor | ~moved
            converged[active[stop]] = True
            active, z, f = active[~stop], z[~stop], f[~stop]
            if active.numel() == 0:
                break
        return W, iters, converged


def shared_preconditioner(pb: _Problem, W: Tensor, dtype: torch.dtype) -> Tensor | None:
    """The inverse of one Hessian that approximates every model's: the mean model's.

    Bootstrap, leave-one-out and random-subset models weigh the rows alike on average, so the
    Hessian of the mean weights at the mean parameters is close to each of theirs (digits,
    10 classes: condition number 830 before, 19 after), and CG needs 3-4x fewer products. Returns
    None where that does not hold (prefixes of very different sizes) or the dense (Rq)^2 inverse
    would be large.
    """
    B, R, q = W.shape
    totals = pb.weights.sum(1)
    if (
        R * q > PRECONDITION_MAX
        or B < 2
        or float(totals.max()) > PRECONDITION_SPREAD * float(totals.min())
    ):
        return None
    w = pb.weights.mean(0)  # (n,)
    z = W.mean(0) @ pb.Xa.T  # (R, n), every class present
    Xa = pb.Xa
    if pb.binary:
        p = torch.sigmoid(z[0])
        H = Xa.T @ ((w * p * (1 - p))[:, None] * Xa)
    else:
        P = torch.softmax(z, dim=0)
        H = torch.empty(R, q, R, q, dtype=W.dtype, device=W.device)
        for k in range(R):  # row k of the (R, R) blocks: sum_i w_i (d_kl p_k - p_k p_l) x_i x_i^T
            c = w * P[k] * ((torch.arange(R, device=W.device) == k)[:, None].to(P.dtype) - P)
            H[k] = torch.einsum("ln,na,nb->alb", c, Xa, Xa)
        H = H.reshape(R * q, R * q)
    H = H + torch.diag(pb.reg.mean(0).expand(R, q).reshape(-1))
    if not pb.binary and pb.fit_intercept:
        # the softmax intercepts' shared shift is free (a zero eigenvalue): give it a typical
        # curvature, so the inverse does not blow up rounding noise along it
        u = torch.zeros(R, q, dtype=W.dtype, device=W.device)
        u[:, -1] = R**-0.5
        u = u.reshape(-1)
        H = H + H.diagonal().mean() * torch.outer(u, u)
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) != 0:
        return None
    return torch.cholesky_inverse(L).to(dtype)


def _newton_direction(H: Tensor, g: Tensor) -> Tensor:
    """H^-1 g for every model: Cholesky (1.6x faster than LU at these sizes), least squares for a
    model whose Hessian is numerically singular (a separable subset at a huge weight scale)."""
    L, info = torch.linalg.cholesky_ex(H)
    d = torch.cholesky_solve(g[..., None], L)[..., 0]
    bad = info != 0
    if bool(bad.any()):
        d[bad] = torch.linalg.lstsq(H[bad], g[bad][..., None]).solution[..., 0]
    return d


def _subproblem(pb: _Problem, rows: Tensor) -> _Problem:
    """The same problem restricted to some models (rows index or boolean mask)."""
    sub = object.__new__(_Problem)
    sub.__dict__.update(pb.__dict__)
    sub.weights = pb.weights[rows]
    sub.present = pb.present[rows]
    sub.reg = pb.reg[rows]
    sub.log_mask = pb.log_mask[rows]
    sub.absent = None if pb.absent is None else pb.absent[rows]
    return sub
