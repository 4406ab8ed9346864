"""Scorers: turn every model's predicted probabilities on held-out points into a utility.

A scorer maps probabilities of shape (B, m, K) and labels (m,) to scores of shape (B,) (or
(B, m) for per-point scorers). ``empty_value`` is the score given to a model that could not be
trained (empty subset, or fewer than two classes): by default the score of knowing nothing.

Regression scorers (``task = "regression"``: ``r2``, ``neg_mse``) take predictions (B, m) and
targets (m,) instead; an untrainable (empty) subset is scored as the constant prediction of the
training targets' mean (the :class:`~assay.utility.Utility` computes that score).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from assay.errors import unknown_name

Tensor = torch.Tensor


@dataclass(frozen=True)
class Scorer(ABC):
    """Base class: a named score, higher is better."""

    name: str = "scorer"
    per_point: bool = False
    task: str = "classification"

    @abstractmethod
    def __call__(self, proba: Tensor, y: Tensor) -> Tensor:
        """Scores of B models: (B,), or (B, m) when ``per_point``."""

    @abstractmethod
    def empty_value(self, n_classes: int) -> float:
        """Score of an untrainable subset (documented per scorer)."""


@dataclass(frozen=True)
class Accuracy(Scorer):
    """Fraction of points whose most probable class is the true one.

    Untrainable subsets score 0 (pyDVL's and OpenDataVal's convention), which makes the first
    point of each class look valuable; pass ``default_score`` to the utility to change it.
    """

    name: str = "accuracy"

    def __call__(self, proba: Tensor, y: Tensor) -> Tensor:
        return (proba.argmax(-1) == y).to(proba.dtype).mean(-1)

    def empty_value(self, n_classes: int) -> float:
        return 0.0


@dataclass(frozen=True)
class LogLikelihood(Scorer):
    """Mean log-probability of the true class (probabilities clipped at 1e-12).

    Untrainable subsets score log(1/K): the uniform prediction.
    """

    name: str = "log_likelihood"

    def __call__(self, proba: Tensor, y: Tensor) -> Tensor:
        p = proba.gather(-1, y.expand(proba.shape[0], -1)[..., None])[..., 0]
        return p.clamp_min(1e-12).log().mean(-1)

    def empty_value(self, n_classes: int) -> float:
        return math.log(1.0 / n_classes)


@dataclass(frozen=True)
class Confidence(Scorer):
    """Per-point probability of the true class, shape (B, m): Fast-DataShapley's v_{x,y}(S).

    Untrainable subsets give 1/K at every point (the uniform prediction).
    """

    name: str = "confidence"
    per_point: bool = True

    def __call__(self, proba: Tensor, y: Tensor) -> Tensor:
        return proba.gather(-1, y.expand(proba.shape[0], -1)[..., None])[..., 0]

    def empty_value(self, n_classes: int) -> float:
        return 1.0 / n_classes


@dataclass(frozen=True)
class R2(Scorer):
    """Coefficient of determination ``1 - sum (y - f)^2 / sum (y - mean y)^2`` on the targets.

    The mean is the validation targets' own (scikit-learn's ``r2_score``); they must not all be
    equal (the :class:`~assay.utility.Utility` checks).
    """

    name: str = "r2"
    task: str = "regression"

    def __call__(self, pred: Tensor, y: Tensor) -> Tensor:
        y = y.to(pred.dtype)
        ss_tot = ((y - y.mean()) ** 2).sum()
        return 1.0 - ((pred - y) ** 2).sum(-1) / ss_tot

    def empty_value(self, n_classes: int) -> float:
        return 0.0


@dataclass(frozen=True)
class NegMSE(Scorer):
    """Negative mean squared error ``-mean (y - f)^2`` (higher is better)."""

    name: str = "neg_mse"
    task: str = "regression"

    def __call__(self, pred: Tensor, y: Tensor) -> Tensor:
        return -((pred - y.to(pred.dtype)) ** 2).mean(-1)

    def empty_value(self, n_classes: int) -> float:
        return float("nan")  # depends on the data: the Utility scores the mean prediction


SCORERS: dict[str, Scorer] = {
    s.name: s for s in (Accuracy(), LogLikelihood(), Confidence(), R2(), NegMSE())
}


def default_scorer(task: str) -> str:
    """The scorer used when none is named: ``accuracy``, or ``r2`` for regression."""
    return "r2" if task == "regression" else "accuracy"


def make_scorer(scorer: str | Scorer) -> Scorer:
    """A scorer by name (``accuracy``, ``log_likelihood``, ``confidence``, ``r2``, ``neg_mse``)."""
    if isinstance(scorer, Scorer):
        return scorer
    if scorer not in SCORERS:
        raise unknown_name("scorer", scorer, list(SCORERS))
    return SCORERS[scorer]
