"""Influence functions on a validation loss (Koh & Liang 2017) and IV of Chhabra et al. (2024).

Both score training point i by ``g_V^T H^{-1} g_i``: ``g_i`` is the gradient of its loss, ``H`` the
Hessian of the sum-form training objective (the learner's L2 term included) and ``g_V`` the
gradient of the validation loss. Removing point i moves the parameters by about ``H^{-1} g_i`` and
the validation loss by about ``g_V^T H^{-1} g_i``: **positive = removing it hurts = valuable**, so
the score is the value as it stands (higher = more valuable) and negative scores mark harmful
points (Chhabra et al.'s convention, whose trimming deletes the most negative first).

- :class:`InfluenceFunction` (``"influence"``): any differentiable learner; ``g_V`` the mean
  validation gradient; ``H^{-1}`` dense, CG, LiSSA or K-FAC.
- :class:`InfluenceValue` (``"iv"``): exactly as ``anshuman23/InfDataSel`` computes it. For a
  logistic regression: ``H = sum_i s_i (1 - s_i) x_i x_i^T + lambda I`` (the L2 strength is the
  only damping), ``g_val`` the *summed* validation gradient, an exact solve (their Cholesky; here
  an eigendecomposition, or the Woodbury identity when there are more parameters than
  (sample, class) pairs). For a network:
  their ``NNLastLayerIF`` route, an L2 logistic regression (``C = 1 / 1e-4``, no intercept) refitted
  on the frozen penultimate embeddings and scored with the same formulas; ``network="as-trained"``
  instead scores the network's own parameters as trained (all of them; for a linear network
  trained by SGD, the logistic-regression formulas at the under-fitted SGD solution). Their code is
  binary only; the multinomial Hessian is used for more classes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError
from assay.learners.base import BatchLearner
from assay.learners.logistic import LogisticRegression
from assay.learners.networks import NetworkClassifier
from assay.result import ValuationResult
from assay.second_order.derivatives import chunks, loss_gradients
from assay.second_order.differentiable import TwiceDifferentiable, check_scope, differentiable
from assay.second_order.inverse import SOLVERS, make_solver
from assay.second_order.solvers import InverseHessian
from assay.valuation.base import Game, ValuationMethod, player_ids
from assay.valuation.local_influence import utility_parts, validation_gradient
from assay.valuation.ridge_influence import ridge_influence

Tensor = torch.Tensor


def influence_scores(
    model: TwiceDifferentiable,
    solver: InverseHessian,
    Xv: Tensor,
    Yv: Tensor,
    *,
    reduction: str = "mean",
    chunk: int = 1024,
) -> Tensor:
    """``g_V^T H^{-1} g_i`` for every training point of ``model``: (n,).

    ``reduction`` is ``"mean"`` (Koh & Liang, the validation loss averaged) or ``"sum"`` (IV).
    """
    if reduction not in ("mean", "sum"):
        raise InvalidParameterError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    g = validation_gradient(model, Xv, Yv) * (len(Xv) if reduction == "sum" else 1)
    h = solver.solve(g)
    out = torch.empty(model.n, dtype=h.dtype, device=h.device)
    size = max(1, min(chunk, 2**24 // max(model.p, 1)))
    for sl in chunks(model.n, size):
        out[sl] = loss_gradients(model.fn, model.theta, model.X[sl], model.Y[sl]) @ h
    return out


class InfluenceFunction(ValuationMethod):
    """Classical influence of each training point on the mean validation loss.

    Parameters
    ----------
    solver : {"auto", "dense", "cg", "lissa", "kfac"}
    damping : float
        Added to the mean Hessian's diagonal.
    scope : {"all", "last"}
    cg_tol : float
    lissa_depth : int
    lissa_scale : float, optional
        Defaults to 1.5 times the largest eigenvalue (by power iteration).
    seed : int
        LiSSA's mini-batch draws.

    Examples
    --------
    >>> from assay.data import load_dataset
    >>> from assay.utility import Utility
    >>> train, valid, _ = load_dataset("breast_cancer")
    >>> values = InfluenceFunction().fit(Utility("logistic", train, valid))
    >>> len(values) == train.n
    True
    """

    name = "influence"
    reduction = "mean"

    def __init__(
        self,
        *,
        solver: str = "auto",
        damping: float = 0.0,
        scope: str = "all",
        cg_tol: float = 1e-10,
        lissa_depth: int = 1000,
        lissa_scale: float | None = None,
        seed: int = 0,
    ) -> None:
        if solver not in SOLVERS:
            raise InvalidParameterError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.solver, self.damping, self.scope = solver, damping, check_scope(scope)
        self.cg_tol, self.lissa_depth, self.lissa_scale, self.seed = (
            cg_tol,
            lissa_depth,
            lissa_scale,
            seed,
        )

    def _model(self, learner: BatchLearner, train: Dataset) -> TwiceDifferentiable:
        return differentiable(learner, train, scope=self.scope)

    def fit(self, game: Game) -> ValuationResult:
        learner, train, valid = utility_parts(game, self.name)
        start = time.perf_counter()
        values, facts = self.scores(learner, train, valid)
        return ValuationResult.exact(
            player_ids(game),
            values,
            self.name,
            **facts,
            seconds=round(time.perf_counter() - start, 4),
            sign="value = g_V^T H^{-1} g_i, the first-order increase of the validation loss "
            "when point i is removed: higher = more valuable, negative = harmful",
        )

    def scores(
        self, learner: BatchLearner, train: Dataset, valid: Dataset
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The scores of every point of ``train`` and the facts to record.

        A regression target (ridge learner) takes the closed form of
        :func:`~assay.valuation.ridge_influence.ridge_influence` (squared-error loss, exact
        Hessian).
        """
        if train.is_regression:
            values = ridge_influence(
                learner, train, valid, reduction=self.reduction, damping=self.damping
            )
            return values, {"solver": "exact", "damping": self.damping, "loss": "squared error"}
        model = self._model(learner, train)
        solver = make_solver(
            model,
            self.solver,
            damping=self.damping,
            cg_tol=self.cg_tol,
            lissa_depth=self.lissa_depth,
            lissa_scale=self.lissa_scale,
            seed=self.seed,
        )
        Xv, Yv = model.inputs(valid), model.onehot(np.asarray(valid.y), "validation data")
        s = influence_scores(model, solver, Xv, Yv, reduction=self.reduction)
        facts = {"solver": solver.name, "damping": self.damping, "scope": model.scope}
        return s.cpu().numpy(), facts


class InfluenceValue(InfluenceFunction):
    """IV of Chhabra et al. (ICLR 2024), as their code computes it (see the module docstring).

    Parameters
    ----------
    last_layer_l2 : float
        L2 strength of the logistic regression refitted on network embeddings (their 1e-4).
    network : {"last-layer", "as-trained"}
        For a network learner: refit its last layer as their code does, or score the trained
        network's own parameters (its weight decay as the L2 term).
    """

    name = "iv"
    reduction = "sum"

    def __init__(self, *, last_layer_l2: float = 1e-4, network: str = "last-layer") -> None:
        super().__init__(solver="auto", damping=0.0, scope="all")  # exact solves only
        if last_layer_l2 <= 0:
            raise InvalidParameterError(f"last_layer_l2 must be > 0, got {last_layer_l2}")
        if network not in ("last-layer", "as-trained"):
            raise InvalidParameterError(
                f"network must be 'last-layer' or 'as-trained', got {network!r}"
            )
        self.last_layer_l2 = last_layer_l2
        self.network = network

    def scores(
        self, learner: BatchLearner, train: Dataset, valid: Dataset
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if (
            isinstance(learner, LogisticRegression)
            or train.is_regression
            or (self.network == "as-trained" and isinstance(learner, NetworkClassifier))
        ):
            return super().scores(learner, train, valid)
        if not isinstance(learner, NetworkClassifier):
            raise InvalidParameterError(
                f"iv needs a logistic regression or a torch network learner, got "
                f"{type(learner).__name__}"
            )
        body = differentiable(learner, train, scope="last", dtype=torch.float64)
        emb_train = train.with_features(body.X.cpu().numpy())
        emb_valid = valid.with_features(body.inputs(valid).cpu().numpy())
        head = LogisticRegression(C=1.0 / self.last_layer_l2, fit_intercept=False)
        values, facts = super().scores(head, emb_train, emb_valid)
        return values, {**facts, "last_layer_l2": self.last_layer_l2, "embedding": body.d}
