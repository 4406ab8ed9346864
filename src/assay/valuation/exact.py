"""Exact semivalues by enumerating all 2^n subsets: the reference every estimator is tested on."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.result import ValuationResult
from assay.valuation.base import Game, ValuationMethod, check_game, player_ids
from assay.valuation.semivalues import banzhaf_weights, beta_weights, shapley_weights


def all_subsets(n: int) -> NDArray[np.bool_]:
    """The (2^n, n) 0/1 matrix whose row s is the binary expansion of s (bit i = player i)."""
    codes = np.arange(2**n, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def exact_semivalue(
    utilities: NDArray[np.float64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``phi_i = sum_{S not containing i} w(|S|) (U(S + i) - U(S))`` from all 2^n utilities.

    ``utilities[s]`` is U of the subset whose bits are ``s``.
    """
    n = len(weights)
    codes = np.arange(2**n, dtype=np.int64)
    sizes = np.bitwise_count(codes) if hasattr(np, "bitwise_count") else all_subsets(n).sum(1)
    values = np.empty(n)
    for i in range(n):
        without = codes[(codes >> i) & 1 == 0]
        values[i] = np.sum(
            weights[sizes[without]] * (utilities[without | (1 << i)] - utilities[without])
        )
    return values


class ExactSemivalue(ValuationMethod):
    """Exact Shapley, Banzhaf or Beta Shapley values by enumeration (n <= ``max_players``).

    Parameters
    ----------
    kind : {"shapley", "banzhaf", "beta"}
    alpha, beta : float
        Parameters of Beta Shapley.
    max_players : int
        Refuse larger games (2^n models are trained).
    """

    def __init__(
        self,
        kind: str = "shapley",
        *,
        alpha: float = 16.0,
        beta: float = 1.0,
        max_players: int = 16,
    ) -> None:
        if kind not in ("shapley", "banzhaf", "beta"):
            raise InvalidParameterError(f"kind must be shapley, banzhaf or beta, got {kind!r}")
        self.kind = kind
        self.alpha = alpha
        self.beta = beta
        self.max_players = max_players

    @property
    def name(self) -> str:  # type: ignore[override]
        return {
            "shapley": "exact-shapley",
            "banzhaf": "exact-banzhaf",
            "beta": "exact-beta-shapley",
        }[self.kind]

    def weights(self, n: int) -> NDArray[np.float64]:
        if self.kind == "shapley":
            return shapley_weights(n)
        if self.kind == "banzhaf":
            return banzhaf_weights(n)
        return beta_weights(n, self.alpha, self.beta)

    def fit(self, game: Game) -> ValuationResult:
        n = check_game(game, self.name).n_players
        if n > self.max_players:
            raise InvalidParameterError(
                f"exact enumeration needs 2^{n} models; "
                f"refused above max_players={self.max_players} "
                "(use a sampling method such as tmc-shapley)"
            )
        utilities = np.asarray(game(all_subsets(n)), dtype=np.float64)
        values = exact_semivalue(utilities, self.weights(n))
        params: dict[str, Any] = {"kind": self.kind, "models": 2**n}
        if self.kind == "beta":
            params.update(alpha=self.alpha, beta=self.beta)
        return ValuationResult.exact(player_ids(game), values, self.name, **params)


class ExactShapley(ExactSemivalue):
    """Exact Shapley values by enumeration (``ExactSemivalue("shapley")``)."""

    def __init__(self, *, max_players: int = 16) -> None:
        super().__init__("shapley", max_players=max_players)
