"""Stopping rules for sampling estimators; they compose with ``|`` (either) and ``&`` (both).

>>> rule = MaxSamples(2000) | MaxSeconds(60)
>>> rule = (MaxSamples(5000) | RankStability(0.999)) & MaxSamples(200)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError


@dataclass
class Status:
    """What a sampling run has done so far."""

    samples: int
    seconds: float
    values: NDArray[np.float64]
    counts: NDArray[np.int64]


class StoppingRule(ABC):
    """Base class: ``rule(status)`` says whether to stop; ``budget(status)`` caps the next round."""

    @abstractmethod
    def __call__(self, status: Status) -> bool:
        """Whether the run should stop now."""

    def remaining(self, status: Status) -> int | None:
        """Samples still allowed (None when this rule sets no sample cap)."""
        return None

    def __or__(self, other: StoppingRule) -> StoppingRule:
        return AnyOf(self, other)

    def __and__(self, other: StoppingRule) -> StoppingRule:
        return AllOf(self, other)

    def describe(self) -> str:
        return repr(self)


@dataclass
class MaxSamples(StoppingRule):
    """Stop after ``n`` samples (permutations, subsets, bootstrap models)."""

    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise InvalidParameterError(f"the sample budget must be > 0, got {self.n}")

    def __call__(self, status: Status) -> bool:
        return status.samples >= self.n

    def remaining(self, status: Status) -> int | None:
        return max(0, self.n - status.samples)


@dataclass
class MaxSeconds(StoppingRule):
    """Stop once ``seconds`` of wall time have passed (checked between rounds)."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise InvalidParameterError(f"the time budget must be > 0 seconds, got {self.seconds}")

    def __call__(self, status: Status) -> bool:
        return status.seconds >= self.seconds


@dataclass
class RankStability(StoppingRule):
    """Stop when the Spearman correlation of the values between two checkpoints reaches
    ``threshold`` (checked after every round, once ``min_samples`` have been drawn)."""

    threshold: float = 0.999
    min_samples: int = 0
    _previous: NDArray[np.float64] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise InvalidParameterError(f"threshold must lie in (0, 1], got {self.threshold}")

    def __call__(self, status: Status) -> bool:
        from scipy.stats import spearmanr

        prev, self._previous = self._previous, status.values.copy()
        if prev is None or status.samples < self.min_samples:
            return False
        if np.ptp(prev) == 0 or np.ptp(status.values) == 0:
            return bool(np.array_equal(prev, status.values))
        return bool(spearmanr(prev, status.values).statistic >= self.threshold)


@dataclass
class AnyOf(StoppingRule):
    """Stop as soon as one of the rules says so."""

    a: StoppingRule
    b: StoppingRule

    def __call__(self, status: Status) -> bool:
        # evaluate both so that stateful rules (rank stability) see every checkpoint
        ra, rb = self.a(status), self.b(status)
        return ra or rb

    def remaining(self, status: Status) -> int | None:
        caps = [c for c in (self.a.remaining(status), self.b.remaining(status)) if c is not None]
        return min(caps) if caps else None


@dataclass
class AllOf(StoppingRule):
    """Stop only when both rules say so."""

    a: StoppingRule
    b: StoppingRule

    def __call__(self, status: Status) -> bool:
        ra, rb = self.a(status), self.b(status)
        return ra and rb

    def remaining(self, status: Status) -> int | None:
        caps = [c for c in (self.a.remaining(status), self.b.remaining(status)) if c is not None]
        return max(caps) if len(caps) == 2 else None
