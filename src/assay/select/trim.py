"""Data trimming (the seed's Algorithm 3): remove the b most suspect training points, retrain.

The suspects are read from each result's declared direction (:mod:`assay.result`): the lowest
values of a higher-is-better result, the highest scores of a higher-is-suspect one (loss, EL2N).
Trimming by FI^util (higher-is-suspect) removes the highest-FI points, and trimming by IV
(higher-is-better) removes the most negative ones, as each paper does. Every retraining of a
trimming experiment (each method at each budget, the random baseline's repetitions) is one row of
a mask matrix scored by one batched :class:`~assay.utility.Utility` call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError
from assay.learners.base import BatchLearner
from assay.parallel import task_rng
from assay.result import ValuationResult
from assay.utility import Utility
from assay.valuation.base import ValuationMethod, player_ids

RANDOM = "random"


class RandomValues(ValuationMethod):
    """Uniform random values (seeded): the random-trimming baseline as a valuation method."""

    name = RANDOM

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, game: Any) -> ValuationResult:
        v = task_rng(self.seed, 0).random(game.n_players)
        return ValuationResult.exact(player_ids(game), v, self.name, seed=self.seed)


def check_budgets(budgets: int | Sequence[int], n: int) -> list[int]:
    """Sorted distinct budgets in ``[0, n - 2]`` (two points must remain to train)."""
    b = [budgets] if isinstance(budgets, int | np.integer) else list(budgets)
    if not b:
        raise InvalidParameterError("give at least one budget (number of points to remove)")
    bad = [int(x) for x in b if not 0 <= int(x) <= n - 2]
    if bad:
        raise InvalidParameterError(
            f"budgets must lie in [0, {n - 2}] for {n} training points, got {bad}"
        )
    return sorted({int(x) for x in b})


def removal_order(values: ValuationResult, train: Dataset) -> NDArray[np.int64]:
    """Positions of ``train`` from the most suspect (removed first) to the keepers (stable).

    NaN values (points without an estimate) come last: they are removed only after every scored
    point.
    """
    pos = values.positions_of(train.ids)
    return values.take(pos).suspect_order()


def trimming_masks(order: NDArray[np.int64], budgets: Sequence[int]) -> NDArray[np.bool_]:
    """(len(budgets), n) masks: row j drops the first ``budgets[j]`` points of ``order``."""
    masks = np.ones((len(budgets), len(order)), dtype=bool)
    for j, b in enumerate(budgets):
        masks[j, order[:b]] = False
    return masks


def trimming_curves(
    learner: BatchLearner | str,
    train: Dataset,
    test: Dataset,
    orders: Mapping[str, ValuationResult],
    budgets: Sequence[int],
    *,
    random_repeats: int = 5,
    seed: int = 0,
    scorer: str = "accuracy",
) -> pd.DataFrame:
    """Test score after removing the ``b`` most suspect points, for every method and budget.

    Returns one row per (method, budget): ``method, budget, score, std`` (``std`` over the random
    baseline's ``random_repeats`` seeded orders; 0 for valuations). An order named ``"random"`` is
    replaced by that baseline. All models are trained in one batched utility call.
    """
    if random_repeats < 0:
        raise InvalidParameterError(f"random_repeats must be >= 0, got {random_repeats}")
    budgets = check_budgets(budgets, train.n)
    u = Utility(learner, train, test, scorer)
    blocks: list[tuple[str, NDArray[np.bool_]]] = []
    for name, values in orders.items():
        if name != RANDOM:  # a random order is what the baseline averages over seeds
            blocks.append((name, trimming_masks(removal_order(values, train), budgets)))
    for r in range(random_repeats):
        blocks.append((RANDOM, trimming_masks(task_rng(seed, r).permutation(train.n), budgets)))
    scores = u(np.vstack([m for _, m in blocks]))
    rows, at = [], 0
    per = len(budgets)
    grouped: dict[str, list[NDArray[np.float64]]] = {}
    for name, _ in blocks:
        grouped.setdefault(name, []).append(scores[at : at + per])
        at += per
    for name, parts in grouped.items():
        s = np.vstack(parts)
        for j, b in enumerate(budgets):
            std = float(s[:, j].std(ddof=1)) if len(s) > 1 else 0.0
            rows.append({"method": name, "budget": b, "score": float(s[:, j].mean()), "std": std})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TrimResult:
    """A trimming run: the values, what was removed, the scores before and after."""

    values: ValuationResult
    removed_ids: NDArray[Any]
    curves: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)

    def removed_table(self) -> pd.DataFrame:
        """``rank, id, value`` of the removed points, first removed first."""
        pos = self.values.positions_of(self.removed_ids)
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(pos) + 1),
                "id": self.removed_ids,
                "value": self.values.values[pos],
            }
        )


def trim(
    learner: BatchLearner | str,
    train: Dataset,
    valid: Dataset,
    method: ValuationMethod,
    budgets: int | Sequence[int],
    *,
    test: Dataset | None = None,
    random_repeats: int = 5,
    seed: int = 0,
) -> TrimResult:
    """Algorithm 3: value ``train`` against ``valid``, remove the most suspect points, retrain.

    Parameters
    ----------
    learner : BatchLearner or name
    train, valid : Dataset
        Values are computed on the validation set.
    method : ValuationMethod
        ``LocalInfluence()`` for FI^util, ``InfluenceValue()`` for IV, ``RandomValues()``, ...
    budgets : int or sequence of int
        Numbers of points to remove; the largest one defines ``removed_ids``.
    test : Dataset, optional
        Scores are reported on ``test`` (and always on ``valid``).
    random_repeats : int
        Random-removal baseline orders averaged in the curves.

    Returns
    -------
    TrimResult
    """
    b = check_budgets(budgets, train.n)
    utility = Utility(learner, train, valid)
    start = time.perf_counter()
    values = method.fit(utility)
    seconds = time.perf_counter() - start
    order = removal_order(values, train)
    curves = []
    for split, data in (("valid", valid), ("test", test)):
        if data is None:
            continue
        df = trimming_curves(
            utility.learner,
            train,
            data,
            {values.method: values},
            sorted({0, *b}),
            random_repeats=random_repeats,
            seed=seed,
        )
        curves.append(df.assign(split=split))
    facts = {"method": values.method, "budgets": b, "valuation_seconds": round(seconds, 4)}
    return TrimResult(values, train.ids[order[: max(b)]], pd.concat(curves), facts)


def plot_trimming(curves: pd.DataFrame, split: str = "test", title: str | None = None) -> Any:
    """Score against the number of removed points, one line per method (random: mean +- sd)."""
    from assay.plotting import new_figure

    df = curves[curves["split"] == split] if "split" in curves else curves
    fig = new_figure()
    ax = fig.add_subplot()
    for name, part in df.groupby("method", sort=False):
        part = part.sort_values("budget")
        rand = name == RANDOM
        ax.plot(
            part["budget"],
            part["score"],
            marker="o",
            label=str(name),
            color="0.5" if rand else None,
            linestyle="--" if rand else "-",
        )
        if name == RANDOM:
            lo, hi = part["score"] - part["std"], part["score"] + part["std"]
            ax.fill_between(part["budget"], lo, hi, color="0.8", alpha=0.5)
    ax.set_xlabel("training points removed")
    ax.set_ylabel(f"{split} score")
    ax.set_title(title or "Data trimming (Algorithm 3)")
    ax.legend()
    return fig
