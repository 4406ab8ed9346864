"""Budgets of a corpus selection: a share of the examples or a number of tokens, with caps.

A float in ``(0, 1]`` is a share of the examples (``round(share * n)``, at least one); an integer
``>= 1`` is a token budget (the chosen examples' scored-token counts sum to at most it). A cap
limits every group (a ``source`` or ``domain`` column) to ``cap`` times the budget, in the
budget's unit: with an example budget no group holds more than ``cap`` of the subset.
:class:`Filler` takes examples one at a time while they fit, so a ranking is walked greedily: an
example that does not fit is skipped and the walk goes on with the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError


@dataclass(frozen=True)
class Budget:
    """``unit`` ``"examples"`` or ``"tokens"`` and the ``limit`` in that unit."""

    unit: str
    limit: int

    @classmethod
    def parse(cls, budget: float | int, n: int, total_tokens: int) -> Budget:
        """The budget of a corpus of ``n`` examples and ``total_tokens`` scored tokens."""
        if isinstance(budget, bool) or not isinstance(budget, int | float | np.number):
            raise InvalidParameterError(f"budget must be a share or a token count, got {budget!r}")
        if not math.isfinite(float(budget)):
            raise InvalidParameterError(f"budget must be finite, got {budget}")
        if isinstance(budget, float | np.floating) and 0.0 < budget <= 1.0:
            return cls("examples", max(1, round(float(budget) * n)))
        if float(budget) != int(budget) or budget < 1:
            raise InvalidParameterError(
                f"budget must be a share in (0, 1] or a whole number of tokens >= 1, got {budget}"
            )
        if int(budget) > total_tokens:
            raise InvalidParameterError(
                f"token budget {int(budget)} exceeds the corpus's {total_tokens} tokens; "
                "give a smaller budget or a share in (0, 1]"
            )
        return cls("tokens", int(budget))

    def split(self, share: float) -> tuple[Budget, Budget]:
        """``(main, replay)``: ``share`` of the budget goes to the replay corpus."""
        if not 0.0 <= share < 1.0:
            raise InvalidParameterError(f"replay share must lie in [0, 1), got {share}")
        replay = round(share * self.limit)
        return Budget(self.unit, self.limit - replay), Budget(self.unit, replay)


def group_codes(table: pd.DataFrame, column: str) -> tuple[NDArray[np.int64], list[Any]]:
    """Integer codes of ``column`` of ``table`` (a missing value is a group of its own)."""
    if column not in table.columns:
        raise InvalidDataError(
            f"cap column {column!r} is not in the corpus; it has {sorted(map(str, table.columns))}"
        )
    codes, levels = pd.factorize(table[column], use_na_sentinel=False)
    return np.asarray(codes, np.int64), list(levels)


class Filler:
    """Take examples while they fit a budget and the per-group caps.

    Parameters
    ----------
    tokens : array-like (n,)
        Scored-token count of every example (the cost under a token budget).
    budget : Budget
    groups : array-like (n,) of int, optional
        Group code of every example (from :func:`group_codes`).
    cap : float, optional
        Largest share of the budget one group may use, in ``(0, 1]``.
    """

    def __init__(
        self,
        tokens: ArrayLike,
        budget: Budget,
        groups: ArrayLike | None = None,
        cap: float | None = None,
    ) -> None:
        tok = np.asarray(tokens, np.int64)
        self.cost = tok if budget.unit == "tokens" else np.ones(len(tok), np.int64)
        self.limit = budget.limit
        self.spent = 0
        self.taken = np.zeros(len(tok), bool)
        self.chosen: list[int] = []
        self.groups = None if groups is None else np.asarray(groups, np.int64)
        if cap is not None and self.groups is None:
            raise InvalidParameterError("a cap needs a group column (cap_column)")
        if self.groups is not None:
            if cap is None:
                raise InvalidParameterError("a group column needs a cap in (0, 1]")
            if not 0.0 < cap <= 1.0:
                raise InvalidParameterError(f"cap must lie in (0, 1], got {cap}")
            self.group_limit = math.floor(cap * self.limit + 1e-9)
            if self.group_limit < 1:
                raise InvalidParameterError(
                    f"cap {cap} of a budget of {self.limit} {budget.unit} leaves no room per group"
                )
            self.group_spent = np.zeros(int(self.groups.max()) + 1, np.int64)

    def fits(self) -> NDArray[np.bool_]:
        """Which examples could be taken next."""
        ok = ~self.taken & (self.spent + self.cost <= self.limit)
        if self.groups is not None:
            ok &= self.group_spent[self.groups] + self.cost <= self.group_limit
        return ok

    def add(self, i: int) -> None:
        """Take example ``i`` (which must fit)."""
        self.taken[i] = True
        self.chosen.append(int(i))
        self.spent += int(self.cost[i])
        if self.groups is not None:
            self.group_spent[self.groups[i]] += self.cost[i]

    def walk(self, order: ArrayLike) -> NDArray[np.int64]:
        """Take the examples of ``order`` that fit, in that order; the positions taken."""
        for i in np.asarray(order, np.int64).tolist():
            if self.spent >= self.limit:
                break
            if self.fits_one(i):
                self.add(i)
        return np.asarray(self.chosen, np.int64)

    def fits_one(self, i: int) -> bool:
        """Whether example ``i`` could be taken next."""
        if self.taken[i] or self.spent + self.cost[i] > self.limit:
            return False
        if self.groups is None:
            return True
        return bool(self.group_spent[self.groups[i]] + self.cost[i] <= self.group_limit)
