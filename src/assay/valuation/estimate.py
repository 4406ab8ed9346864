"""How long a valuation run will take, said before it starts, with the faster alternatives.

A run's cost is, to first order, the models it trains times the cost of one model. The count
follows from the method and its budget (:func:`planned_models`: a permutation of n players
trains up to n prefix models, a Banzhaf or Data-OOB sample one model, leave-one-out n + 1); the
cost of one model is measured by a pilot that trains :data:`PILOT_MODELS` models on subsets of
the size the method trains on, and where those are quick, a second pilot of
:data:`BATCHED_PILOT_MODELS` in one batch, as the run trains them (:func:`seconds_per_model`:
on the reference task a model costs 6 ms in a batch of 4 and 0.7 ms in a batch of 64; a 4-model
pilot made a 3 s TMC run read "up to ~8 min"). Prefix models of a permutation start
from the previous prefix's optimum and truncation stops a permutation early, so for TMC / Beta
Shapley the estimate is an upper bound.

:func:`estimate_run` returns a :class:`RunEstimate`; ``assay value`` prints its
:meth:`~RunEstimate.describe` line when the estimate is over :data:`LONG_RUN_SECONDS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from assay.valuation.base import ValuationMethod
from assay.valuation.stopping import MaxSamples

#: runs estimated longer than this get a warning with the faster alternatives
LONG_RUN_SECONDS = 180.0
PILOT_MODELS = 4
#: a first pilot under PILOT_QUICK_SECONDS is followed by one of this many models in one batch
BATCHED_PILOT_MODELS = 64
PILOT_QUICK_SECONDS = 0.1
#: players of the suggested ``--players clusters:K`` alternative
SUGGESTED_GROUPS = 64


@dataclass(frozen=True)
class RunEstimate:
    """The estimated cost of a run: ``models`` models at ``seconds_per_model`` each."""

    method: str
    n_players: int  # of one game
    models: int
    seconds_per_model: float
    upper_bound: bool
    alternatives: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.models * self.seconds_per_model

    @property
    def long(self) -> bool:
        return self.seconds > LONG_RUN_SECONDS

    def describe(self) -> str:
        """One line: the estimate, what it counts, and the faster alternatives."""
        bound = "up to " if self.upper_bound else ""
        text = (
            f"{self.method} on {self.n_players:,} players: {bound}~{_duration(self.seconds)} "
            f"({self.models:,} models x {self.seconds_per_model:.3g} s)"
        )
        if self.alternatives:
            text += "; faster: " + "; ".join(self.alternatives)
        return text


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def planned_models(method: ValuationMethod, n_players: int) -> tuple[int, float, bool] | None:
    """(models, share of the rows each trains on, upper bound?) of a run; None when unknown.

    Known: TMC / Beta Shapley (permutations x n prefixes, an upper bound), Banzhaf, Data-OOB
    and group-testing Shapley (one model a sample), leave-one-out (n + 1) and exact Shapley
    (2^n), each with a sample budget (``MaxSamples``) where it samples.
    """
    from assay.valuation.banzhaf import MSRBanzhaf
    from assay.valuation.data_oob import DataOOB
    from assay.valuation.exact import ExactSemivalue
    from assay.valuation.group_testing import GroupTestingShapley
    from assay.valuation.loo import LeaveOneOut
    from assay.valuation.permutation import PermutationSemivalue

    if isinstance(method, LeaveOneOut):
        return n_players + 1, 1.0, False
    if isinstance(method, ExactSemivalue):  # beyond max_players it refuses before any work
        return (2**n_players, 0.5, False) if n_players <= method.max_players else None
    stop = getattr(method, "stop", None)
    if not isinstance(stop, MaxSamples):
        return None
    if isinstance(method, PermutationSemivalue):
        return stop.n * n_players, 0.5, True
    if isinstance(method, DataOOB):
        return stop.n, 1.0, False
    if isinstance(method, (MSRBanzhaf, GroupTestingShapley)):
        return stop.n, 0.5, False
    return None


def seconds_per_model(game: object, share: float, *, seed: int = 0) -> float:
    """Wall seconds per model of ``game`` on random subsets of ``share`` of its players.

    Trains :data:`PILOT_MODELS` models in one batch; when that took under
    :data:`PILOT_QUICK_SECONDS`, the per-model cost is the one of a second batch of
    :data:`BATCHED_PILOT_MODELS` (batched training amortises a step's fixed cost, as the run's own
    batches do). Distinct subsets drawn from their own seeded generator, so the run's own draws
    are untouched.
    """
    n = int(game.n_players)  # type: ignore[attr-defined]
    rng = np.random.default_rng([seed, 7])
    k = max(1, min(n - 1, round(share * n)))
    seconds = _pilot(game, rng, n, k, PILOT_MODELS)
    if seconds < PILOT_QUICK_SECONDS:
        return _pilot(game, rng, n, k, BATCHED_PILOT_MODELS) / BATCHED_PILOT_MODELS
    return seconds / PILOT_MODELS


def _pilot(game: object, rng: np.random.Generator, n: int, k: int, models: int) -> float:
    masks = np.zeros((models, n), bool)
    for row in masks:
        row[rng.choice(n, size=k, replace=False)] = True
    start = time.perf_counter()
    game(masks)  # type: ignore[operator]
    return time.perf_counter() - start


def estimate_run(
    name: str,
    method: ValuationMethod,
    game: object,
    *,
    grouped: bool = False,
    repeats: int = 1,
    seed: int = 0,
) -> RunEstimate | None:
    """The estimated cost of ``method.fit(game)``, or None when its model count is unknown.

    ``grouped``: the players are already groups (no ``--players clusters:K`` suggestion);
    ``repeats``: games like ``game`` the run plays (cross-fitting's K folds).
    The alternatives name faster ways to a comparable answer, each with its estimate.
    """
    n = int(game.n_players)  # type: ignore[attr-defined]
    plan = planned_models(method, n)
    if plan is None:
        return None
    models, share, upper = plan
    models *= repeats
    per_model = seconds_per_model(game, share, seed=seed)
    alternatives: list[str] = []
    if not grouped and upper and n > SUGGESTED_GROUPS:
        grouped_models = models // (n * repeats) * SUGGESTED_GROUPS  # permutations x groups
        split = " --valid-fraction 0.2" if repeats > 1 else ""  # groups need a validation set
        alternatives.append(
            f"--players clusters:{SUGGESTED_GROUPS}{split} (values {SUGGESTED_GROUPS} groups, "
            f"~{_duration(grouped_models * per_model)})"
        )
    if name != "data-oob":
        full_model = per_model / share  # a bootstrap model trains on n rows
        alternatives.append(f"data-oob (500 models, ~{_duration(500 * full_model)})")
    if name != "knn-shapley":
        alternatives.append("knn-shapley (no training, seconds)")
    return RunEstimate(name, n, models, per_model, upper, tuple(alternatives))
