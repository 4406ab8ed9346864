"""Data-OOB (Kwon & Zou, 2023): out-of-bag accuracy of bootstrap models on each point.

``B`` bootstrap samples are drawn as multinomial counts and passed to the learner as sample
weights, so a whole round of bagged models is one batched fit. A point's value is the mean, over
the models whose bootstrap missed it, of 1[model predicts its label]; low values flag label noise.
For a regression target (a regressor such as ``ridge``) the per-model score is the negative
squared error ``-(f(x_i) - y_i)^2`` (Kwon & Zou's regression form): the value is minus the
out-of-bag mean squared error, so outlying targets get the lowest values.

A point that no bootstrap ever left out has no estimate: its value is NaN with count 0 (and a
warning says how many), not 0, the worst score. NaN values come last in every ordering of a
:class:`~assay.result.ValuationResult` (never flagged, never kept first); give more models (a larger
``stop``) or a smaller ``sample_fraction`` to estimate them.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from assay.errors import InvalidParameterError
from assay.learners.base import FittedModels, State
from assay.result import ValuationResult
from assay.utility.utility import Utility
from assay.valuation.base import Estimate, Game, RunningMoments, SamplingValuation
from assay.valuation.stopping import StoppingRule


class DataOOB(SamplingValuation):
    """Out-of-bag value of every training point.

    Parameters
    ----------
    stop : StoppingRule or int
        An int is the number of bootstrap models.
    sample_fraction : float
        Bootstrap size as a fraction of n (1.0 = classic bootstrap).
    batch_size : int
        Models per round (trained as one batch).
    seed, checkpoint, progress
        See :class:`~assay.valuation.base.SamplingValuation`.
    """

    name = "data-oob"

    def __init__(
        self,
        stop: StoppingRule | int = 500,
        *,
        sample_fraction: float = 1.0,
        batch_size: int = 500,
        seed: int = 0,
        checkpoint: str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            stop, batch_size=batch_size, seed=seed, checkpoint=checkpoint, progress=progress
        )
        if not 0 < sample_fraction <= 1:
            raise InvalidParameterError(
                f"sample_fraction must lie in (0, 1], got {sample_fraction}"
            )
        self.sample_fraction = sample_fraction

    def _values(self, moments: dict[str, RunningMoments]) -> Estimate:
        values, stderr, counts = super()._values(moments)
        never = counts == 0
        return np.where(never, np.nan, values), np.where(never, np.nan, stderr), counts

    def fit(self, game: Game) -> ValuationResult:
        result = super().fit(game)
        never = int((result.counts == 0).sum())
        if never:
            warnings.warn(
                f"data-oob: {never} of {len(result)} points were never out of bag in "
                f"{result.params.get('samples')} bootstrap models; their value is NaN (count 0). "
                "Use more models or a smaller sample_fraction",
                UserWarning,
                stacklevel=2,
            )
        return result

    def method_params(self) -> dict[str, object]:
        return {**super().method_params(), "sample_fraction": self.sample_fraction}

    def _round(
        self, game: Game, rng: np.random.Generator, size: int, moments: dict[str, RunningMoments]
    ) -> None:
        if not isinstance(game, Utility):
            raise InvalidParameterError(
                "data-oob needs a Utility (it trains and predicts on train)"
            )
        n = game.n_players
        m = max(1, round(self.sample_fraction * n))
        counts = rng.multinomial(m, np.full(n, 1.0 / n), size=size).astype(np.float64)
        correct = np.empty_like(counts)
        trained = np.empty(size, bool)
        step = game.batch_size
        full = _full_state(game)
        for lo in range(0, size, step):
            batch = counts[lo : lo + step]
            init = (
                None
                if full is None
                else {k: v.expand(len(batch), *v.shape[1:]).clone() for k, v in full.items()}
            )
            fitted = game.fit(batch, init)
            correct[lo : lo + step] = _oob_scores(game, fitted)
            trained[lo : lo + step] = fitted.trained.cpu().numpy()
        moments[""].update(correct, (counts == 0) & trained[:, None])


def _oob_scores(game: Utility, fitted: FittedModels) -> np.ndarray:
    """Every model's score on every training point: 1[right class], or -(squared error)."""
    data = game.train_data
    if game.train.is_regression:
        err = fitted.predict(data.X) - data.y.to(data.X.dtype)
        return (-(err**2)).to(torch.float64).cpu().numpy()
    hit = fitted.predict_proba(data.X).argmax(-1) == data.y
    return hit.to(torch.float64).cpu().numpy()


def _full_state(game: Utility) -> State | None:
    """The full-data model's parameters, to warm-start every bootstrap model from.

    Bootstrap optima lie near the full-data one, so Newton needs fewer iterations from there
    (digits: 9 instead of 14) and reaches the same optimum (the objectives are strictly convex).
    None when the learner cannot warm-start.
    """
    if not game.learner.supports_warm_start:
        return None
    fitted = game.fit(np.ones((1, game.n_players)))
    if not bool(fitted.trained.all()):
        return None
    return fitted.state()
