"""Subsets from the Shapley kernel, with paired (antithetic) sampling, over points or groups.

The Shapley kernel over n players puts probability

    P(s) = (n - 1) / (C(n, |s|) |s| (n - |s|)),        0 < |s| < n,

on a subset s (Eq. 1 of the Fast-DataShapley paper, normalised): the size k = |s| has probability
proportional to 1 / (k (n - k)) and, given its size, the subset is uniform. The empty and the full
set are never drawn; they enter the explainer's loss only through v(0) and the efficiency
normalisation. With *paired sampling* (FastSHAP's default), row 2j + 1 is the complement of row
2j; the kernel is symmetric in k and n - k, so every row still has the kernel distribution and each
pair's error terms are negatively correlated.

Grouped samplers draw the same kernel over a smaller set of players and expand each player to the
training points it stands for:

- ``"owen"`` (GFDS, Algorithm 1 of the paper): for a *focus* group j, the players are the points of
  group j one by one plus every other group as one player (|D_j| + N - 1 players); rows of a pool
  cycle through the focus groups (pairs stay in one focus group);
- ``"groups"`` (GFDS+): the N groups are the players.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.valuation.exact import all_subsets

MAX_EXHAUSTIVE_PLAYERS = 20


def kernel_size_probabilities(n: int) -> NDArray[np.float64]:
    """P(|s| = k) for k = 0..n under the Shapley kernel (zero at k = 0 and k = n).

    Examples
    --------
    >>> kernel_size_probabilities(4).round(4).tolist()
    [0.0, 0.375, 0.25, 0.375, 0.0]
    """
    if n < 2:
        raise InvalidParameterError(f"the Shapley kernel needs at least 2 players, got {n}")
    k = np.arange(n + 1, dtype=np.float64)
    w = np.zeros(n + 1)
    w[1:n] = 1.0 / (k[1:n] * (n - k[1:n]))
    return w / w.sum()


def kernel_subset_probabilities(masks: ArrayLike) -> NDArray[np.float64]:
    """P(s) of each row of a (B, n) 0/1 matrix under the Shapley kernel (0 for empty / full)."""
    S = np.atleast_2d(np.asarray(masks, dtype=bool))
    n = S.shape[1]
    from scipy.special import comb

    sizes = S.sum(1)
    return kernel_size_probabilities(n)[sizes] / comb(n, sizes)


def sample_kernel(
    rng: np.random.Generator, size: int, n: int, *, paired: bool = True
) -> NDArray[np.bool_]:
    """``size`` subsets of ``n`` players from the Shapley kernel, shape (size, n).

    With ``paired``, row 2j + 1 is the complement of row 2j (an odd last row stays unpaired).
    """
    if size < 0:
        raise InvalidParameterError(f"size must be >= 0, got {size}")
    probs = kernel_size_probabilities(n)
    draws = (size + 1) // 2 if paired else size
    sizes = rng.choice(n + 1, size=draws, p=probs)
    ranks = np.argsort(np.argsort(rng.random((draws, n)), axis=1), axis=1)
    base = ranks < sizes[:, None]
    if not paired:
        return base
    out = np.empty((2 * draws, n), dtype=bool)
    out[0::2] = base
    out[1::2] = ~base
    return out[:size]


def exhaustive_kernel(n: int) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Every subset with 0 < |s| < n and its kernel probability (they sum to 1).

    Rows come in complementary pairs (row 2j + 1 is the complement of row 2j), like a paired pool.
    """
    if not 2 <= n <= MAX_EXHAUSTIVE_PLAYERS:
        raise InvalidParameterError(
            f"exhaustive subsets need 2 <= n <= {MAX_EXHAUSTIVE_PLAYERS} players, got {n}"
        )
    S = all_subsets(n)
    sizes = S.sum(1)
    keep = (sizes > 0) & (sizes < n) & (~S[:, -1])  # one of each complementary pair
    half = S[keep]
    masks = np.empty((2 * len(half), n), dtype=bool)
    masks[0::2], masks[1::2] = half, ~half
    return masks, kernel_subset_probabilities(masks)


def check_groups(groups: ArrayLike, n: int) -> NDArray[np.int64]:
    """Group labels as codes 0..N-1 of length ``n`` (at least two groups), or a clear error."""
    g = np.asarray(groups)
    if g.shape != (n,):
        raise InvalidDataError(f"groups must have shape ({n},), got {g.shape}")
    _, codes = np.unique(g, return_inverse=True)
    if codes.max(initial=0) < 1:
        raise InvalidDataError("grouping needs at least two groups, got one")
    return codes.astype(np.int64)


@dataclass(frozen=True)
class SubsetSampler:
    """Draws pools of training subsets (0/1 masks over the n points) for the explainer's loss.

    Parameters
    ----------
    n : int
        Number of training points.
    groups : array of shape (n,), optional
        Group of every point; required for ``mode`` ``"owen"`` and ``"groups"``.
    mode : {"points", "owen", "groups"}
        Players are the points (FDS, AFDS), points of a focus group plus the other groups (GFDS),
        or the groups (GFDS+).
    paired : bool
        Paired (antithetic) sampling within each player space.
    """

    n: int
    groups: NDArray[np.int64] | None = None
    mode: str = "points"
    paired: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("points", "owen", "groups"):
            raise InvalidParameterError(
                f"mode must be 'points', 'owen' or 'groups', got {self.mode!r}"
            )
        if self.mode == "points":
            kernel_size_probabilities(self.n)  # validates n
            return
        if self.groups is None:
            raise InvalidParameterError(f"mode {self.mode!r} needs groups")
        object.__setattr__(self, "groups", check_groups(self.groups, self.n))

    @property
    def n_groups(self) -> int:
        return 0 if self.groups is None else int(self.groups.max()) + 1

    def n_distinct(self) -> int | None:
        """Number of distinct subsets the sampler can draw (None when above 2^20)."""
        if self.mode == "points":
            return 2**self.n - 2 if self.n <= MAX_EXHAUSTIVE_PLAYERS else None
        if self.mode == "groups":
            return 2**self.n_groups - 2 if self.n_groups <= MAX_EXHAUSTIVE_PLAYERS else None
        return None

    def exhaustive(self) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        """All distinct subsets with their kernel probabilities (``points`` and ``groups``)."""
        if self.mode == "points":
            return exhaustive_kernel(self.n)
        if self.mode == "groups":
            masks, probs = exhaustive_kernel(self.n_groups)
            return self._expand_groups(masks), probs
        raise InvalidParameterError("the 'owen' sampler has no exhaustive form; sample a pool")

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.bool_]:
        """``size`` masks over the n points, shape (size, n); pairs are complements in the
        sampler's player space."""
        if self.mode == "points":
            return sample_kernel(rng, size, self.n, paired=self.paired)
        if self.mode == "groups":
            return self._expand_groups(sample_kernel(rng, size, self.n_groups, paired=self.paired))
        return self._sample_owen(rng, size)

    def _expand_groups(self, group_masks: NDArray[np.bool_]) -> NDArray[np.bool_]:
        assert self.groups is not None
        return group_masks[:, self.groups]

    def _sample_owen(self, rng: np.random.Generator, size: int) -> NDArray[np.bool_]:
        assert self.groups is not None
        N = self.n_groups
        unit = 2 if self.paired else 1
        units = (size + unit - 1) // unit
        focus = np.arange(units) % N  # Algorithm 1 loops over every focus group
        out = np.empty((units * unit, self.n), dtype=bool)
        for j in range(N):
            rows = np.flatnonzero(focus == j)
            if len(rows) == 0:
                continue
            members = np.flatnonzero(self.groups == j)
            others = [g for g in range(N) if g != j]
            n_players = len(members) + len(others)
            if n_players < 2:
                raise InvalidDataError(f"group {j} leaves fewer than two players")
            draws = sample_kernel(rng, len(rows) * unit, n_players, paired=self.paired)
            masks = np.zeros((len(draws), self.n), dtype=bool)
            masks[:, members] = draws[:, : len(members)]
            # each other group is one player: all its points in or out together
            other_bits = draws[:, len(members) :]
            lookup = np.full(N, -1)
            lookup[others] = np.arange(len(others))
            outside = np.flatnonzero(self.groups != j)
            masks[:, outside] = other_bits[:, lookup[self.groups[outside]]]
            idx = (rows[:, None] * unit + np.arange(unit)[None, :]).ravel()
            out[idx] = masks
        return out[:size]
