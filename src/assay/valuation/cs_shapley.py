"""CS-Shapley: class-wise Shapley values (Schoch, Xu & Ji, NeurIPS 2022).

A point i of class c is valued in the game of its own class D_c, *conditioned* on a subset S of
the other classes D_{-c}:

    phi_i = E_{S ~ Unif(2^{D_{-c}})} [ Shapley value of i in T -> w(T | S), T subset of D_c ],
    w(T | S) = a_in(T + S) * exp(a_out(T + S)),   w(empty | S) = 0,

where a_in is the score of the model trained on T + S summed over the development points of
class c, a_out the same over the other development points, both divided by the whole development
set size (the original code's normalisation), and the scores are per-point accuracies (or any
per-point scorer the utility has, e.g. ``confidence`` for one prediction). The empty in-class
coalition scores 0, as in the original code. Finally (``normalize``) each class's values are
rescaled to sum to a_in of the model trained on all data: v_c <- v_c / sum(v_c) * a_in(N).

Estimation as in the original (``valda``): for each class, permutations of D_c, each paired with
a random S; all prefixes of a permutation are trained in one batched utility call. Choices where
the paper and the code differ, recorded here: S is uniform over the subsets of D_{-c} (the
paper's definition; the original code draws a random size per other class first); no within-class
truncation (the original truncates once a_in is within 1e-4 of its final value, with a quirk
that zeroes a_out on truncated steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from assay.errors import InvalidDataError
from assay.utility.scorers import Scorer
from assay.valuation.base import Estimate, Game, RunningMoments, SamplingValuation
from assay.valuation.permutation import random_permutations
from assay.valuation.stopping import StoppingRule

Tensor = torch.Tensor
PointScores = Callable[[NDArray[np.bool_]], NDArray[np.float64]]


@dataclass(frozen=True)
class PointAccuracy(Scorer):
    """Per-point 0/1 correctness of the most probable class, shape (B, m)."""

    name: str = "point_accuracy"
    per_point: bool = True

    def __call__(self, proba: Tensor, y: Tensor) -> Tensor:
        return (proba.argmax(-1) == y).to(proba.dtype)

    def empty_value(self, n_classes: int) -> float:
        return 0.0


def point_scores(game: Game) -> tuple[PointScores, NDArray[np.int64], NDArray[np.int64]]:
    """Per-development-point scores of ``game``, and the training and development labels.

    A per-point scorer is used as is; a scalar game over a single development point is that
    point's score; otherwise a sibling utility with :class:`PointAccuracy` is built.
    """
    train, valid = getattr(game, "train", None), getattr(game, "valid", None)
    if train is None or valid is None:
        raise InvalidDataError(
            "CS-Shapley needs a utility with labelled training and development sets "
            "(assay.utility.Utility), not a bare game"
        )
    per_point = bool(getattr(getattr(game, "scorer", None), "per_point", False))
    if per_point or valid.n == 1:
        m = valid.n

        def scores(masks: NDArray[np.bool_]) -> NDArray[np.float64]:
            return np.asarray(game(masks), dtype=np.float64).reshape(len(masks), m)

        return scores, np.asarray(train.y), np.asarray(valid.y)
    from assay.utility import Utility

    sibling = Utility(
        game.learner,  # type: ignore[attr-defined]
        train,
        valid,
        PointAccuracy(),
        single_class=getattr(game, "single_class", "default"),
    )
    return (lambda masks: np.asarray(sibling(masks))), np.asarray(train.y), np.asarray(valid.y)


class CSShapley(SamplingValuation):
    """Class-wise Shapley values (Schoch et al., 2022).

    Parameters
    ----------
    stop : StoppingRule or int
        An int is the number of permutations per class (the original's T, default 200 there).
    normalize : bool
        Rescale each class's values to sum to its in-class score of the full model.
    batch_size : int
        Permutations per class per round.
    seed, checkpoint, progress
        See :class:`~assay.valuation.base.SamplingValuation`.
    """

    name = "cs-shapley"

    def __init__(
        self,
        stop: StoppingRule | int = 100,
        *,
        normalize: bool = True,
        batch_size: int = 20,
        seed: int = 0,
        checkpoint: str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            stop, batch_size=batch_size, seed=seed, checkpoint=checkpoint, progress=progress
        )
        self.normalize = normalize
        self._scores: PointScores | None = None
        self._ytrain = np.zeros(0, np.int64)
        self._ydev = np.zeros(0, np.int64)
        self._full_in: dict[int, float] = {}

    def method_params(self) -> dict[str, Any]:
        return {**super().method_params(), "normalize": self.normalize}

    def _prepare(self, game: Game) -> None:
        self._scores, self._ytrain, self._ydev = point_scores(game)
        full = self._scores(np.ones((1, game.n_players), bool))[0]
        m = len(self._ydev)
        self._full_in = {
            int(c): float(full[self._ydev == c].sum() / m) for c in np.unique(self._ytrain)
        }

    def utilities(self, masks: NDArray[np.bool_], c: int) -> NDArray[np.float64]:
        """w = a_in exp(a_out) of class ``c`` for (B, n) masks."""
        assert self._scores is not None
        s = self._scores(masks)
        m = len(self._ydev)
        inside = self._ydev == c
        a_in = s[:, inside].sum(1) / m
        a_out = s[:, ~inside].sum(1) / m
        return np.asarray(a_in * np.exp(a_out))

    def _round(
        self, game: Game, rng: np.random.Generator, size: int, moments: dict[str, RunningMoments]
    ) -> None:
        n = game.n_players
        for c in np.unique(self._ytrain):
            members = np.flatnonzero(self._ytrain == c)
            others = np.flatnonzero(self._ytrain != c)
            k = len(members)
            perms = members[random_permutations(rng, size, k)]  # (size, k) point indices
            masks = np.zeros((size, k + 1, n), dtype=bool)
            masks[:, :, others] = (rng.random((size, len(others))) < 0.5)[:, None, :]
            for t in range(1, k + 1):
                masks[:, t] = masks[:, t - 1]
                masks[np.arange(size), t, perms[:, t - 1]] = True
            w = self.utilities(masks.reshape(-1, n), int(c)).reshape(size, k + 1)
            w[:, 0] = 0.0  # the empty in-class coalition scores 0 (original code)
            samples = np.zeros((size, n))
            np.put_along_axis(samples, perms, np.diff(w, axis=1), axis=1)
            seen = np.zeros((size, n), dtype=bool)
            seen[:, members] = True
            moments[""].update(samples, seen)

    def _values(self, moments: dict[str, RunningMoments]) -> Estimate:
        m = moments[""]
        values, stderr = m.mean.copy(), m.stderr.copy()
        if self.normalize and m.count.max(initial=0) > 0:
            for c, target in self._full_in.items():
                members = self._ytrain == c
                total = values[members].sum()
                if abs(total) > 1e-12:
                    scale = target / total
                    values[members] *= scale
                    stderr[members] *= abs(scale)
        return values, stderr, m.count.copy()
