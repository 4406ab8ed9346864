"""Inference-based values (seed 000): loss, margin, entropy, confidence, EL2N over an ensemble.

B models are trained **at once** by the batched learner (one ``fit`` with a (B, n) weight
matrix): networks from B different seeded initialisations, other learners (convex, so identical
from any start) on B Poisson(1) bootstrap weightings. Each model scores every training point from
its predicted probabilities, and the value is the mean over the models (stderr across them). The
value is the natural score, never negated; each method declares its direction
(:mod:`assay.result`):

======================  ===========================================  ==================
score                   per model                                    direction
======================  ===========================================  ==================
``loss``                ``-log p_y``                                 higher-is-suspect
``margin``              ``p_(1) - p_(2)`` (top two, label-free)      higher-is-better
``entropy``             ``-sum_c p_c log p_c``                       higher-is-suspect
``confidence``          ``p_y`` (probability of the true class)      higher-is-better
``el2n``                ``||p - onehot(y)||_2`` (Paul et al. 2021)   higher-is-suspect
======================  ===========================================  ==================

So ``suspects(k)`` are the hard, uncertain or likely mislabelled points and ``keepers(k)`` the
easy, typical ones, whichever score is used; ``highest(k)`` / ``lowest(k)`` stay literal (the
highest-loss points are ``highest(k)``, the hard examples data pruning keeps).

EL2N (and GraNd in :mod:`assay.valuation.gradient`) use *early-training* models by default: a
network learner is trained for 10% of its epochs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidParameterError
from assay.learners.base import FittedModels, TrainingData
from assay.learners.networks import NetworkClassifier
from assay.result import HIGHER_IS_BETTER, HIGHER_IS_SUSPECT, ValuationResult
from assay.valuation.base import ValuationMethod, check_utility

Tensor = torch.Tensor
SCORES = ("loss", "margin", "entropy", "confidence", "el2n")
DIRECTION = {
    "loss": HIGHER_IS_SUSPECT,
    "margin": HIGHER_IS_BETTER,
    "entropy": HIGHER_IS_SUSPECT,
    "confidence": HIGHER_IS_BETTER,
    "el2n": HIGHER_IS_SUSPECT,
}
"""The declared direction of each score's natural value."""


def point_scores(proba: Tensor, y: Tensor, score: str) -> Tensor:
    """Per-model, per-point scores (B, m) from probabilities (B, m, K) and labels (m,)."""
    if score not in SCORES:
        raise InvalidParameterError(f"score must be one of {SCORES}, got {score!r}")
    p = proba.to(torch.float64)
    py = p.gather(-1, y.view(1, -1, 1).expand(p.shape[0], -1, 1))[..., 0]
    if score == "loss":
        return -torch.log(py.clamp_min(1e-12))
    if score == "confidence":
        return py
    if score == "entropy":
        return -(torch.special.xlogy(p, p)).sum(-1)
    if score == "margin":
        top = p.topk(2, dim=-1).values if p.shape[-1] > 1 else torch.cat([p, 0 * p], -1)
        return top[..., 0] - top[..., 1]
    onehot = torch.nn.functional.one_hot(y, p.shape[-1]).to(p.dtype)
    return (p - onehot[None]).norm(dim=-1)


def ensemble_learner(learner: Any, epochs: int | None) -> Any:
    """``learner`` with ``epochs`` changed (a copy); unchanged when ``epochs`` is None."""
    if epochs is None:
        return learner
    if not hasattr(learner, "epochs"):
        raise InvalidParameterError(f"{type(learner).__name__} has no epochs to shorten")
    out = copy.copy(learner)
    out.epochs = int(epochs)
    return out


def train_ensemble(
    learner: Any, data: TrainingData, n_models: int, *, bootstrap: bool | None = None, seed: int = 0
) -> FittedModels:
    """Train ``n_models`` models in one batched fit (varied seeds for networks, else bootstrap).

    ``bootstrap=None`` bootstraps only learners whose models would otherwise be identical.
    """
    if n_models < 1:
        raise InvalidParameterError(f"n_models must be >= 1, got {n_models}")
    is_net = isinstance(learner, NetworkClassifier)
    boot = (not is_net and n_models > 1) if bootstrap is None else bootstrap
    n = data.n
    W = torch.ones(n_models, n, dtype=data.X.dtype, device=data.X.device)
    if boot:
        g = torch.Generator().manual_seed(seed)
        W = torch.poisson(torch.ones(n_models, n, dtype=torch.float64), generator=g).to(W)
    init = None
    if is_net:
        parts = []
        for b in range(n_models):
            twin = copy.copy(learner)
            twin.seed = int(learner.seed) + seed * 10_007 + b
            parts.append(twin.initial_state(data, 1))
        init = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    return learner.fit(data, W, init)


def ensemble_scores(
    fitted: FittedModels, X: Tensor, y: Tensor, score: str, *, chunk: int = 8192
) -> Tensor:
    """Scores (B, m) of every trained model of ``fitted`` on (X, y), in chunks of rows."""
    parts = [
        point_scores(fitted.predict_proba(X[i : i + chunk]), y[i : i + chunk], score)
        for i in range(0, len(X), chunk)
    ]
    S = torch.cat(parts, dim=1)
    return S[fitted.trained.to(S.device)]


def loss_oracle(
    fitted: FittedModels, X: ArrayLike | Tensor, y: ArrayLike | Tensor, *, b: int = 0
) -> Callable[[NDArray[np.int64]], NDArray[np.float64]]:
    """A sensitivity-sampling oracle: positions -> cross-entropy loss of model ``b`` there."""
    Xt = torch.as_tensor(X)
    yt = torch.as_tensor(y, dtype=torch.long)

    def oracle(positions: NDArray[np.int64]) -> NDArray[np.float64]:
        idx = torch.as_tensor(np.asarray(positions, np.int64))
        if idx.numel() == 0:
            return np.zeros(0)
        proba = fitted.predict_proba(Xt[idx])[b : b + 1]
        return point_scores(proba, yt[idx], "loss")[0].cpu().numpy()

    return oracle


def warm_start(
    learner: Any, data: TrainingData, size: int, *, seed: int = 0
) -> tuple[NDArray[np.int64], FittedModels]:
    """One model trained on ``size`` uniformly drawn training points, and their positions.

    The paper's classification protocol (§5.2.2) trains the loss oracle of sensitivity sampling
    on a uniform warm-start sample of 20% of the budget; ``size = n`` trains on everything.
    """
    n = data.n
    if not 1 <= size <= n:
        raise InvalidParameterError(f"warm-start size must lie in [1, {n}], got {size}")
    pos = np.sort(np.random.default_rng(seed).choice(n, size, replace=False)).astype(np.int64)
    rows = torch.as_tensor(pos, device=data.X.device)
    # train on the sampled rows themselves: a mini-batch learner given 0/1 weights over all n rows
    # would still step through every mini-batch of the full set
    sub = TrainingData(data.X[rows], data.y[rows], data.n_classes, data.onehot[rows])
    fitted = learner.fit(sub, torch.ones(1, size, dtype=data.X.dtype, device=data.X.device))
    if not bool(fitted.trained[0]):
        raise InvalidParameterError(
            f"the warm-start sample of {size} points has a single class; use a larger one"
        )
    return pos, fitted


def default_epochs(learner: Any, early: bool) -> int | None:
    """10% of a network learner's epochs (at least 1) for early-training scores, else None."""
    if early and isinstance(learner, NetworkClassifier):
        return max(1, round(0.1 * learner.epochs))
    return None


def fit_ensemble(
    name: str,
    game: Any,
    n_models: int | None,
    epochs: int | None,
    *,
    early: bool,
    bootstrap: bool | None,
    seed: int,
) -> tuple[FittedModels, int | None]:
    """The ensemble of an ensemble score on ``game`` (a Utility): fitted models and their epochs.

    ``n_models`` defaults to 10 for early-training scores, else 1; ``epochs`` to
    :func:`default_epochs`.
    """
    check_utility(game, name)
    if not hasattr(game, "train_data"):
        raise InvalidParameterError(f"{name} needs a Utility (a learner and train data)")
    B = n_models or (10 if early else 1)
    epochs = epochs if epochs is not None else default_epochs(game.learner, early)
    learner = ensemble_learner(game.learner, epochs)
    return train_ensemble(learner, game.train_data, B, bootstrap=bootstrap, seed=seed), epochs


def ensemble_result(
    game: Any,
    S: Tensor,
    method: str,
    params: dict[str, Any],
    start: float,
    direction: str = HIGHER_IS_BETTER,
) -> ValuationResult:
    """Values = mean over the trained models' scores S (B, n), with their standard error."""
    B = S.shape[0]
    if B == 0:
        raise InvalidParameterError("no model of the ensemble could be trained")
    values = S.mean(0).cpu().numpy()
    stderr = (S.std(0) / np.sqrt(B)).cpu().numpy() if B > 1 else np.zeros(len(values))
    return ValuationResult(
        game.train.ids,
        values,
        stderr,
        np.full(len(values), B),
        method,
        {**params, "n_models": B, "seconds": time.perf_counter() - start},
        direction,
    )


class InferenceScore(ValuationMethod):
    """Values from an ensemble's predictions on the training points (see the module docstring).

    Parameters
    ----------
    score : {"loss", "margin", "entropy", "confidence", "el2n"}
    n_models : int, optional
        Ensemble size, trained in one batched fit (default 10 for EL2N, else 1).
    epochs : int, optional
        Epochs of each network (default: 10% of the learner's for EL2N, all for the others).
    bootstrap : bool, optional
        Train on Poisson(1) bootstrap weights (default: only for non-network ensembles).
    seed : int
    """

    name = "inference"
    direction = HIGHER_IS_SUSPECT
    default_score: ClassVar[str] = "el2n"

    def __init__(
        self,
        score: str | None = None,
        *,
        n_models: int | None = None,
        epochs: int | None = None,
        bootstrap: bool | None = None,
        seed: int = 0,
    ) -> None:
        self.score = score or self.default_score
        if self.score not in SCORES:
            raise InvalidParameterError(f"score must be one of {SCORES}, got {self.score!r}")
        self.n_models = n_models
        self.epochs = epochs
        self.bootstrap = bootstrap
        self.seed = seed

    def fit(self, game: Any) -> ValuationResult:
        t0 = time.perf_counter()
        fitted, epochs = fit_ensemble(
            self.score,
            game,
            self.n_models,
            self.epochs,
            early=self.score == "el2n",
            bootstrap=self.bootstrap,
            seed=self.seed,
        )
        data = game.train_data
        S = ensemble_scores(fitted, data.X, data.y, self.score)
        params = {"score": self.score, "epochs": epochs, "seed": self.seed}
        return ensemble_result(game, S, self.score, params, t0, DIRECTION[self.score])


class LossScore(InferenceScore):
    """Cross-entropy loss of each point (higher = harder: higher-is-suspect)."""

    name = "loss"
    direction = HIGHER_IS_SUSPECT
    default_score = "loss"


class MarginScore(InferenceScore):
    """Top-two probability margin (higher = more certain: higher-is-better)."""

    name = "margin"
    direction = HIGHER_IS_BETTER
    default_score = "margin"


class EntropyScore(InferenceScore):
    """Predictive entropy (higher = more uncertain: higher-is-suspect)."""

    name = "entropy"
    direction = HIGHER_IS_SUSPECT
    default_score = "entropy"


class ConfidenceScore(InferenceScore):
    """Probability of the true class (higher = more confident: higher-is-better)."""

    name = "confidence"
    direction = HIGHER_IS_BETTER
    default_score = "confidence"


class EL2N(InferenceScore):
    """EL2N (Paul et al., NeurIPS 2021): mean ||p - onehot(y)|| over early-trained models.

    Higher = harder (higher-is-suspect).
    """

    name = "el2n"
    direction = HIGHER_IS_SUSPECT
    default_score = "el2n"
