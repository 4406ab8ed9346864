"""Groups of rows as the players of a game, so Shapley-family methods run on large tables.

A Shapley value over n rows needs a number of coalitions that grows with n; over K groups
(k-means clusters of the encoded features, or the levels of a column such as a data provider) it
needs a number that grows with K. :class:`GroupGame` turns a game over rows into a game over
groups: a coalition of groups is the coalition of all their rows. A row's value is its group's
value (every row of a group gets the same number; divide by the group size for a per-row share).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import ValuationResult


class GroupGame:
    """The game over groups of ``game``'s players: U(T) = game(union of the groups in T).

    Parameters
    ----------
    game : Game
        Any game over n players (a :class:`~assay.utility.Utility` over training rows).
    groups : array-like of shape (n,)
        Each player's group label; labels are sorted (``labels``), players are their positions.

    Examples
    --------
    >>> from assay.valuation.games import AdditiveGame
    >>> g = GroupGame(AdditiveGame([1.0, 2.0, 3.0]), ["a", "b", "a"])
    >>> g.n_players, g([[1, 0], [0, 1]]).tolist()
    (2, [4.0, 2.0])
    """

    def __init__(self, game: Any, groups: ArrayLike) -> None:
        labels, codes = np.unique(np.asarray(groups), return_inverse=True)
        n = int(game.n_players)
        if len(codes) != n:
            raise InvalidDataError(f"groups has {len(codes)} entries, the game has {n} players")
        if len(labels) < 2:
            raise InvalidParameterError(f"players as groups needs >= 2 groups, got {len(labels)}")
        self.game, self.labels, self.codes = game, labels, codes.astype(np.int64)
        self.members = np.zeros((len(labels), n))
        self.members[self.codes, np.arange(n)] = 1.0

    @property
    def n_players(self) -> int:
        return len(self.labels)

    @property
    def sizes(self) -> NDArray[np.int64]:
        """Rows in each group."""
        return np.bincount(self.codes, minlength=self.n_players)

    def __call__(self, subsets: ArrayLike) -> NDArray[np.float64]:
        S = np.atleast_2d(np.asarray(subsets, dtype=np.float64))
        if S.shape[-1] != self.n_players:
            raise InvalidDataError(
                f"subsets must have {self.n_players} columns (one per group), got {S.shape[-1]}"
            )
        return np.asarray(self.game(S @ self.members > 0), dtype=np.float64)


def parse_players(spec: str) -> tuple[str, str | int]:
    """``"clusters:K"`` -> ("clusters", K); ``"groups:COL"`` -> ("groups", COL); else an error."""
    kind, sep, arg = spec.partition(":")
    if kind == "clusters" and sep:
        try:
            k = int(arg)
        except ValueError:
            k = 0
        if k < 2:
            raise InvalidParameterError(f"--players clusters:K needs a whole K >= 2, got {arg!r}")
        return kind, k
    if kind == "groups" and sep and arg:
        return kind, arg
    raise InvalidParameterError(
        f"--players must be rows, clusters:K (k-means on the features) or groups:COLUMN, "
        f"got {spec!r}"
    )


def cluster_groups(X: ArrayLike, k: int, *, seed: int = 0) -> NDArray[np.int64]:
    """K-means cluster of every row (the encoded, standardised features), in ``0..k-1``."""
    from assay.clustering import kmeans

    X = np.asarray(X, dtype=np.float32)
    if k > len(X):
        raise InvalidParameterError(f"clusters:{k} asks for more groups than the {len(X)} rows")
    return np.asarray(kmeans(X, k, seed=seed).labels, dtype=np.int64)


def values_per_row(result: ValuationResult, game: GroupGame, ids: ArrayLike) -> ValuationResult:
    """Give every row its group's value, stderr and count.

    The result's ``params`` record the grouping: ``player_groups`` (K), ``group_labels``,
    ``group_sizes`` and ``group_of_row`` (each row's group, a position in ``group_labels``).
    """
    codes = game.codes
    params = {
        **result.params,
        "player_groups": int(game.n_players),
        "group_labels": [str(v) for v in game.labels],
        "group_sizes": game.sizes.tolist(),
        "group_of_row": codes.tolist(),
    }
    return replace(
        result,
        ids=np.asarray(ids),
        values=result.values[codes],
        stderr=result.stderr[codes],
        counts=result.counts[codes],
        params=params,
    )
