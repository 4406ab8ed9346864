"""Group-testing Shapley (Jia et al., "Towards efficient data valuation based on the Shapley
value", AISTATS 2019), as pyDVL's ``group_testing_shapley`` and the Fast-DataShapley authors ran it.

Test t draws a size k in {1, ..., n - 1} with probability q(k) = (1/k + 1/(n - k)) / Z,
Z = 2 sum_{k=1}^{n-1} 1/k, then a uniform subset S_t of that size, and records u_t = U(S_t) and
the indicator beta_t of S_t. The pairwise differences

    C_ij = (Z / T) sum_t u_t (beta_ti - beta_tj)

are unbiased for phi_i - phi_j, and the method returns any v with sum_i v_i = U(N) - U(0) and
|(v_i - v_j) - C_ij| <= epsilon for all i < j (pyDVL solves this feasibility problem with cvxpy).

*Closed form.* C_ij = a_i - a_j with a_i = (Z / T) sum_t u_t beta_ti, so
v = a + (U(N) - U(0) - sum_i a_i) / n meets every difference constraint with zero slack: it is
feasible for every epsilon >= 0 and is the centre of the feasible set. We return it (no solver,
O(T n) time and O(n) memory instead of O(n^2) constraints); the tests check it against a linear
program of the original constraints. We use the Shapley efficiency U(N) - U(0); pyDVL and the
authors' run use U(N), which shifts every value by U(0) / n.

Tests run in rounds through :class:`~assay.valuation.base.SamplingValuation` (batched utility
calls, checkpoints, stopping rules); :func:`required_tests` gives Jia et al.'s (epsilon, delta)
sample bound.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.valuation.base import Estimate, Game, RunningMoments, SamplingValuation
from assay.valuation.stopping import StoppingRule


def size_distribution(n: int) -> tuple[float, NDArray[np.float64]]:
    """(Z, q) with q[k - 1] = q(k) = (1/k + 1/(n - k)) / Z for k = 1..n-1."""
    if n < 2:
        raise InvalidParameterError(f"group testing needs at least 2 players, got {n}")
    k = np.arange(1, n, dtype=np.float64)
    Z = 2.0 * float(np.sum(1.0 / k))
    return Z, (1.0 / k + 1.0 / (n - k)) / Z


def required_tests(n: int, epsilon: float, delta: float, utility_range: float = 1.0) -> int:
    """Jia et al.'s number of tests T for an (epsilon, delta) approximation in l2 (Theorem 3).

    T >= 8 log(n (n - 1) / (2 delta)) / (1 - q_tot^2) / h(2 epsilon / (sqrt(n) Z r (1 - q_tot^2)))
    with h(u) = (1 + u) log(1 + u) - u and r the utility range (the form pyDVL implements).
    """
    if not (epsilon > 0 and 0 < delta < 1 and utility_range > 0):
        raise InvalidParameterError(
            f"need epsilon > 0, 0 < delta < 1, range > 0; got {epsilon}, {delta}, {utility_range}"
        )
    Z, q = size_distribution(n)
    k = np.arange(1, n, dtype=np.float64)
    q_tot = (n - 2) / n * q[0] + float(
        np.sum(q[1:] * (1 + 2 * k[1:] * (k[1:] - n) / (n * (n - 1))))
    )
    u = 2 * epsilon / (math.sqrt(n) * Z * utility_range * (1 - q_tot**2))
    h = (1 + u) * math.log1p(u) - u
    return math.ceil(8 * math.log(n * (n - 1) / (2 * delta)) / (1 - q_tot**2) / h)


def group_testing_values(
    utilities: NDArray[np.float64], tests: NDArray[np.bool_], total: float
) -> NDArray[np.float64]:
    """The closed-form feasible point from T tests: (T,), (T, n), U(N) - U(0) -> (n,).

    Satisfies sum(v) = total and (v_i - v_j) = C_ij exactly for every pair (see module notes).
    """
    u = np.asarray(utilities, dtype=np.float64)
    B = np.asarray(tests, dtype=np.float64)
    n = B.shape[1]
    Z, _ = size_distribution(n)
    a = Z * (u @ B) / len(u)
    return a + (total - a.sum()) / n


def sample_tests(rng: np.random.Generator, size: int, n: int) -> NDArray[np.bool_]:
    """``size`` subsets: size k ~ q(k), then uniform given k; shape (size, n)."""
    _, q = size_distribution(n)
    k = rng.choice(np.arange(1, n), size=size, p=q)
    ranks = np.argsort(np.argsort(rng.random((size, n)), axis=1), axis=1)
    return ranks < k[:, None]


class GroupTestingShapley(SamplingValuation):
    """Shapley values by group testing (Jia et al., 2019), closed-form feasibility solution.

    Parameters
    ----------
    stop : StoppingRule or int
        An int is the number of tests T (see :func:`required_tests`; the Fast-DataShapley
        authors used T = 20,000).
    batch_size : int
        Tests per round (trained together).
    seed, checkpoint, progress
        See :class:`~assay.valuation.base.SamplingValuation`.

    Notes
    -----
    ``stderr`` is the standard error of a_i; the common shift adds a correlated error that
    cancels in differences, so rankings are as accurate as the a_i.
    """

    name = "group-testing-shapley"

    def __init__(
        self,
        stop: StoppingRule | int = 2000,
        *,
        batch_size: int = 500,
        seed: int = 0,
        checkpoint: str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            stop, batch_size=batch_size, seed=seed, checkpoint=checkpoint, progress=progress
        )
        self._total = 0.0
        self._Z = 0.0

    def _prepare(self, game: Game) -> None:
        n = game.n_players
        self._Z, _ = size_distribution(n)
        ends = np.asarray(game(np.array([np.ones(n, bool), np.zeros(n, bool)])), dtype=np.float64)
        self._total = float(ends[0] - ends[1])

    def _round(
        self, game: Game, rng: np.random.Generator, size: int, moments: dict[str, RunningMoments]
    ) -> None:
        masks = sample_tests(rng, size, game.n_players)
        u = np.asarray(game(masks), dtype=np.float64)
        moments[""].update(self._Z * u[:, None] * masks)

    def _values(self, moments: dict[str, RunningMoments]) -> Estimate:
        m = moments[""]
        n = len(m.mean)
        values = m.mean + (self._total - m.mean.sum()) / n if m.count.max(initial=0) > 0 else m.mean
        return values, m.stderr, m.count.copy()

    def method_params(self) -> dict[str, Any]:
        return {**super().method_params(), "efficiency": "U(N) - U(0)"}
