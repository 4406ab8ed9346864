"""Small games with known values: references for tests and for checking a method by hand."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


class AdditiveGame:
    """U(S) = sum of ``weights`` over S: every semivalue of player i equals ``weights[i]``."""

    def __init__(self, weights: ArrayLike) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)

    @property
    def n_players(self) -> int:
        return len(self.weights)

    def __call__(self, subsets: ArrayLike) -> NDArray[np.float64]:
        return np.atleast_2d(np.asarray(subsets, dtype=np.float64)) @ self.weights


class MajorityGame:
    """U(S) = 1 if |S| > n / 2 else 0: symmetric, so every Shapley value is 1 / n."""

    def __init__(self, n: int) -> None:
        self.n = n

    @property
    def n_players(self) -> int:
        return self.n

    def __call__(self, subsets: ArrayLike) -> NDArray[np.float64]:
        S = np.atleast_2d(np.asarray(subsets, bool))
        return (S.sum(1) > self.n / 2).astype(np.float64)


class GloveGame:
    """Left-glove owners ``0..n_left-1``, right-glove owners the rest; U(S) = pairs matched.

    With one left and two right gloves (n = 3) the Shapley values are (2/3, 1/6, 1/6).
    """

    def __init__(self, n_left: int, n_right: int) -> None:
        self.n_left, self.n_right = n_left, n_right

    @property
    def n_players(self) -> int:
        return self.n_left + self.n_right

    def __call__(self, subsets: ArrayLike) -> NDArray[np.float64]:
        S = np.atleast_2d(np.asarray(subsets, bool))
        return np.minimum(S[:, : self.n_left].sum(1), S[:, self.n_left :].sum(1)).astype(np.float64)
