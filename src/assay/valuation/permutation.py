"""Permutation-sampling semivalues: TMC Data Shapley and Beta Shapley.

Each sample is a random permutation of the players; player i's marginal contribution is
U(predecessors + i) - U(predecessors). The B permutations of a round advance together through the
utility's batched prefix training (each prefix model warm-started from the previous one), and are
split into groups that joblib can spread over processes or Ray when a backend is configured.

Truncation (Ghorbani & Zou, 2019, as pyDVL's ``RelativeTruncation``): after ``burn_in`` of a
permutation, once |U(prefix) - U(N)| <= rtol |U(N)|, the rest of the permutation's marginals are 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.parallel import map_tasks
from assay.valuation.base import Game, RunningMoments, SamplingValuation
from assay.valuation.semivalues import beta_weights, size_probabilities
from assay.valuation.stopping import StoppingRule


def random_permutations(rng: np.random.Generator, size: int, n: int) -> NDArray[np.int64]:
    """``size`` independent uniform permutations of ``range(n)``, one per row."""
    return np.argsort(rng.random((size, n)), axis=1).astype(np.int64)


class RelativeTruncation:
    """Stop a permutation once its prefix utility is within ``rtol`` of U(N), after ``burn_in``."""

    def __init__(self, total: float, n: int, rtol: float, burn_in: float) -> None:
        self.total, self.n, self.rtol, self.burn_in = total, n, rtol, burn_in

    def describe(self) -> dict[str, float]:
        """What the rule depends on (part of the key of cached prefix scores)."""
        return {"total": self.total, "n": self.n, "rtol": self.rtol, "burn_in": self.burn_in}

    def __call__(self, t: int, scores: NDArray[np.float64]) -> NDArray[np.bool_]:
        if t < self.burn_in * self.n:
            return np.zeros(len(scores), bool)
        return np.abs(scores - self.total) <= 1e-8 + self.rtol * abs(self.total)


def prefix_utilities(
    game: Game, perms: NDArray[np.int64], truncation: RelativeTruncation | None
) -> NDArray[np.float64]:
    """U of every prefix of every permutation, (B, n + 1); batched prefix training when offered."""
    if hasattr(game, "permutation_scores"):
        return np.asarray(game.permutation_scores(perms, truncation=truncation))
    B, n = perms.shape
    masks = np.zeros((B, n + 1, n), bool)
    rows = np.arange(B)[:, None]
    for t in range(1, n + 1):
        masks[:, t] = masks[:, t - 1]
        masks[rows[:, 0], t, perms[:, t - 1]] = True
    scores = np.asarray(game(masks.reshape(-1, n)), dtype=np.float64).reshape(B, n + 1)
    if truncation is not None:
        done = np.zeros(B, bool)
        for t in range(1, n):
            done |= truncation(t, scores[:, t])
            scores[done, t + 1] = scores[done, t]
    return scores


class PermutationSemivalue(SamplingValuation):
    """Semivalue estimated from permutations, each marginal weighted by ``n * P(size = k)``.

    With Shapley weights the importance weight is 1 (plain permutation sampling).
    """

    def __init__(
        self,
        stop: StoppingRule | int = 100,
        *,
        truncation_rtol: float | None = 0.01,
        burn_in: float = 0.4,
        batch_size: int = 100,
        seed: int = 0,
        checkpoint: str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            stop, batch_size=batch_size, seed=seed, checkpoint=checkpoint, progress=progress
        )
        if truncation_rtol is not None and truncation_rtol < 0:
            raise InvalidParameterError(f"truncation_rtol must be >= 0, got {truncation_rtol}")
        if not 0 <= burn_in <= 1:
            raise InvalidParameterError(f"burn_in must lie in [0, 1], got {burn_in}")
        self.truncation_rtol = truncation_rtol
        self.burn_in = burn_in
        self._truncation: RelativeTruncation | None = None

    def importance(self, n: int) -> NDArray[np.float64] | None:
        """Weight of a marginal by its position k (None for Shapley: all 1)."""
        return None

    def method_params(self) -> dict[str, Any]:
        return {
            **super().method_params(),
            "truncation_rtol": self.truncation_rtol,
            "burn_in": self.burn_in,
        }

    def _prepare(self, game: Game) -> None:
        self._truncation = None
        if self.truncation_rtol is not None:
            total = float(np.asarray(game(np.ones((1, game.n_players), bool)))[0])
            self._truncation = RelativeTruncation(
                total, game.n_players, self.truncation_rtol, self.burn_in
            )

    def _round(
        self, game: Game, rng: np.random.Generator, size: int, moments: dict[str, RunningMoments]
    ) -> None:
        n = game.n_players
        perms = random_permutations(rng, size, n)
        groups = _groups(perms)
        parts = map_tasks(lambda p: prefix_utilities(game, p, self._truncation), groups)
        scores = np.concatenate(parts)
        marginal_by_position = np.diff(scores, axis=1)  # (B, n): column t is the (t+1)-th player
        weight = self.importance(n)
        if weight is not None:
            marginal_by_position = marginal_by_position * weight[None, :]
        marginals = np.empty_like(marginal_by_position)
        np.put_along_axis(marginals, perms, marginal_by_position, axis=1)
        moments[""].update(marginals)


def _groups(perms: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """Split a round's permutations across the configured joblib workers (one group if none)."""
    from joblib.parallel import get_active_backend

    backend, jobs = get_active_backend()
    if type(backend).__name__ == "SequentialBackend" or jobs in (None, 1):
        return [perms]
    workers = backend.effective_n_jobs(jobs)
    return [g for g in np.array_split(perms, max(1, workers)) if len(g)]


class TMCShapley(PermutationSemivalue):
    """Truncated Monte Carlo Data Shapley (Ghorbani & Zou, 2019).

    Parameters
    ----------
    stop : StoppingRule or int
        An int is the number of permutations.
    truncation_rtol : float or None
        Relative tolerance of truncation (None: no truncation, plain permutation sampling).
    burn_in : float
        Fraction of each permutation always evaluated before truncation may stop it.
    batch_size : int
        Permutations trained in lock-step per round.
    seed, checkpoint, progress
        See :class:`~assay.valuation.base.SamplingValuation`.
    """

    name = "tmc-shapley"


class BetaShapley(PermutationSemivalue):
    """Beta(alpha, beta) Shapley (Kwon & Zou, 2022) by importance-weighted permutation sampling.

    The marginal of the player at position k is weighted by
    ``n * BetaBinomial(n-1, beta, alpha)(k)``,
    which makes the permutation average unbiased for the Beta semivalue. Truncation is off by
    default: small subsets carry most of the weight.
    """

    name = "beta-shapley"

    def __init__(
        self,
        stop: StoppingRule | int = 100,
        *,
        alpha: float = 16.0,
        beta: float = 1.0,
        truncation_rtol: float | None = None,
        burn_in: float = 0.4,
        batch_size: int = 100,
        seed: int = 0,
        checkpoint: str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            stop,
            truncation_rtol=truncation_rtol,
            burn_in=burn_in,
            batch_size=batch_size,
            seed=seed,
            checkpoint=checkpoint,
            progress=progress,
        )
        beta_weights(2, alpha, beta)  # validates
        self.alpha = alpha
        self.beta = beta

    def importance(self, n: int) -> NDArray[np.float64]:
        return n * size_probabilities(beta_weights(n, self.alpha, self.beta))

    def method_params(self) -> dict[str, Any]:
        return {**super().method_params(), "alpha": self.alpha, "beta": self.beta}
