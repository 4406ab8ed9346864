"""Every estimator against enumeration of all subsets (and analytic games with known values)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from assay.errors import InvalidParameterError
from assay.utility import Utility
from assay.valuation import (
    AdditiveGame,
    BetaShapley,
    ExactSemivalue,
    ExactShapley,
    GloveGame,
    KNNGame,
    KNNShapley,
    LeaveOneOut,
    MajorityGame,
    MSRBanzhaf,
    TMCShapley,
)
from tests.conftest import tiny_task


def shapley_by_permutations(game, n: int) -> np.ndarray:
    """The textbook definition: average marginal contribution over all n! orders."""
    values = np.zeros(n)
    for order in itertools.permutations(range(n)):
        mask = np.zeros(n, bool)
        prev = float(game(mask[None])[0])
        for i in order:
            mask[i] = True
            cur = float(game(mask[None])[0])
            values[i] += cur - prev
            prev = cur
    return values / math.factorial(n)


@pytest.fixture(scope="module")
def tiny_utility() -> Utility:
    train, valid = tiny_task(n_train=6, n_valid=60, seed=3)
    return Utility("logistic", train, valid, scorer="log_likelihood")


def test_analytic_games_have_their_known_values() -> None:
    np.testing.assert_allclose(ExactShapley().fit(GloveGame(1, 2)).values, [2 / 3, 1 / 6, 1 / 6])
    np.testing.assert_allclose(ExactShapley().fit(MajorityGame(5)).values, np.full(5, 0.2))
    w = np.array([0.5, -1.0, 2.0, 0.0])
    for kind in ("shapley", "banzhaf", "beta"):
        np.testing.assert_allclose(ExactSemivalue(kind).fit(AdditiveGame(w)).values, w)
    # Banzhaf of the 5-player majority game: P(exactly 2 of the other 4 are in) = 6/16
    np.testing.assert_allclose(ExactSemivalue("banzhaf").fit(MajorityGame(5)).values, 0.375)


def test_exact_shapley_equals_the_permutation_definition(tiny_utility: Utility) -> None:
    exact = ExactShapley().fit(tiny_utility).values
    np.testing.assert_allclose(exact, shapley_by_permutations(tiny_utility, 6), atol=1e-12)


def test_shapley_efficiency_on_a_real_utility(tiny_utility: Utility) -> None:
    n = tiny_utility.n_players
    values = ExactShapley().fit(tiny_utility).values
    full, empty = tiny_utility(np.ones(n, bool)), tiny_utility(np.zeros(n, bool))
    assert values.sum() == pytest.approx(full - empty, abs=1e-12)


def test_beta_one_one_is_shapley(tiny_utility: Utility) -> None:
    beta = ExactSemivalue("beta", alpha=1.0, beta=1.0).fit(tiny_utility).values
    np.testing.assert_allclose(beta, ExactShapley().fit(tiny_utility).values, atol=1e-12)


def test_exact_refuses_large_games() -> None:
    with pytest.raises(InvalidParameterError, match="max_players=16"):
        ExactShapley().fit(AdditiveGame(np.ones(20)))


def _z(estimate, exact) -> float:
    return float(np.max(np.abs(estimate.values - exact) / np.maximum(estimate.stderr, 1e-12)))


def test_permutation_shapley_converges_to_exact(tiny_utility: Utility) -> None:
    exact = ExactShapley().fit(tiny_utility).values
    est = TMCShapley(3000, truncation_rtol=None, batch_size=500, seed=1).fit(tiny_utility)
    assert _z(est, exact) < 4.5
    np.testing.assert_allclose(est.values, exact, atol=0.02)
    assert est.counts.tolist() == [3000] * 6


def test_permutation_sampling_is_unbiased_over_seeds(tiny_utility: Utility) -> None:
    exact = ExactShapley().fit(tiny_utility).values
    runs = np.array(
        [TMCShapley(20, truncation_rtol=None, seed=s).fit(tiny_utility).values for s in range(60)]
    )
    stderr = runs.std(0, ddof=1) / np.sqrt(len(runs))
    assert np.all(np.abs(runs.mean(0) - exact) < 4.5 * stderr + 1e-9)


def test_beta_shapley_estimator_matches_enumeration(tiny_utility: Utility) -> None:
    exact = ExactSemivalue("beta", alpha=4.0, beta=1.0).fit(tiny_utility).values
    est = BetaShapley(4000, alpha=4.0, beta=1.0, batch_size=1000, seed=2).fit(tiny_utility)
    assert _z(est, exact) < 4.5


def test_msr_banzhaf_matches_enumeration(tiny_utility: Utility) -> None:
    exact = ExactSemivalue("banzhaf").fit(tiny_utility).values
    est = MSRBanzhaf(6000, seed=3).fit(tiny_utility)
    assert _z(est, exact) < 4.5
    np.testing.assert_allclose(est.values, exact, atol=0.03)


def test_msr_banzhaf_is_unbiased_on_an_additive_game() -> None:
    w = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    runs = np.array([MSRBanzhaf(200, seed=s).fit(AdditiveGame(w)).values for s in range(40)])
    stderr = runs.std(0, ddof=1) / np.sqrt(len(runs))
    assert np.all(np.abs(runs.mean(0) - w) < 4.5 * stderr + 1e-9)


def test_loo_is_the_direct_difference(tiny_utility: Utility) -> None:
    n = tiny_utility.n_players
    values = LeaveOneOut().fit(tiny_utility).values
    full = tiny_utility(np.ones(n, bool))
    for i in range(n):
        mask = np.ones(n, bool)
        mask[i] = False
        assert values[i] == pytest.approx(full - tiny_utility(mask), abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_shapley_matches_enumeration_of_its_utility(k: int) -> None:
    train, valid = tiny_task(n_train=9, n_valid=15, seed=k)
    exact = ExactShapley().fit(KNNGame(train, valid, k)).values
    fast = KNNShapley(k).fit(Utility("logistic", train, valid)).values
    np.testing.assert_allclose(fast, exact, atol=1e-12)


def test_warm_started_loo_equals_cold_retraining(breast_cancer) -> None:
    from assay.valuation import LeaveOneOut

    train, valid, _ = breast_cancer
    utility = Utility("logistic", train, valid, scorer="log_likelihood")
    warm = LeaveOneOut().fit(utility)
    n = train.n
    cold = Utility("logistic", train, valid, scorer="log_likelihood")(~np.eye(n + 1, n, dtype=bool))
    np.testing.assert_allclose(warm.values, cold[n] - cold[:n], rtol=0, atol=1e-9)
    assert len(utility.cache) == n + 1
