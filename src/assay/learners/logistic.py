"""Batched L2-regularised logistic regression, equivalent to scikit-learn's ``LogisticRegression``.

Objective of model b (the same as scikit-learn's, with ``sample_weight = weights[b]``):

    f_b(W) = sum_i w_bi * loss(W x_i, y_i) + 1 / (2 C) * ||W without intercept||^2

Binary problems use one weight vector and the sigmoid; multiclass ones the full K-row softmax
parameterisation scikit-learn uses. Classes absent from a model's subset are masked out of its
softmax (scikit-learn never sees them); a multiclass model left with exactly two classes gets a
doubled penalty, which makes the symmetric softmax solution equal to scikit-learn's binary one.
Models whose subset holds fewer than two classes are not trained (``FittedLogistic.trained``).

All B models take Newton steps together (the objectives and their algebra are in
:mod:`assay.learners.logistic_objective`): the dense Hessian of every model comes from one matrix
product with the precomputed row outer products when the parameter count is small, and from
conjugate gradients on Hessian-vector products otherwise, preconditioned by the mean model's
inverse Hessian (dense, or a randomized Nystrom approximation for wide problems) when the models
weigh the rows alike; a batched Armijo line search guards every step.
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
from assay.learners.logistic_objective import (
    LogisticObjectives,
    RowOuter,
    newton_direction,
    shared_preconditioner,
)
from assay.learners.newton import NewtonReport, backtrack, batched_cg, bdot

log = logging.getLogger(__name__)
#: precision of the Hessian-vector products in CG (directions only; see ``Curvature``)
CG_DTYPE = torch.float32
Tensor = torch.Tensor


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
            problem = LogisticObjectives(
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

    def _newton(
        self, pb: LogisticObjectives, W: Tensor, data: TrainingData
    ) -> tuple[Tensor, Tensor, Tensor]:
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
        precondition = None if dense else shared_preconditioner(pb, W, CG_DTYPE)

        for _ in range(self.max_iter):
            sub = pb.restrict(active)
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
                sub.restrict(keep),
                Wa[keep],
                P[keep],
                g[keep],
                z[keep],
                f[keep],
            )
            if dense:
                assert outer is not None
                d = -newton_direction(sub.hessian(P, outer), g.flatten(1)).view_as(g)
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
