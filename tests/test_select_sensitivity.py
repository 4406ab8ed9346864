"""Sensitivity sampling against Algorithm 1's literal formulas and its estimator's properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from assay.clustering import kmeans
from assay.errors import InvalidDataError, InvalidParameterError
from assay.select.sensitivity import (
    LossOracle,
    SensitivitySampler,
    draw_sample,
    draws_for_eps,
    eps_for_draws,
    estimate_lambda,
    sensitivity_distribution,
)


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, _ = make_blobs(n, centers=5, n_features=4, cluster_std=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    losses = np.abs(X[:, 0]) + rng.exponential(0.3, n)  # smooth in X plus noise
    return X, losses


@pytest.fixture(scope="module")
def problem():
    X, losses = _data()
    c = kmeans(X, 8, backend="sklearn", seed=0)
    return X, losses, c


def test_probabilities_follow_algorithm_1_literally(problem) -> None:
    X, losses, c = problem
    lam = np.linspace(0.1, 0.8, c.k)  # one Lambda per cluster
    d = sensitivity_distribution(c, losses[c.representatives], lam=lam, include_centres=False)
    reps = X[c.representatives]
    num = np.empty(len(X))
    for i, x in enumerate(X):  # the formula, point by point
        j = c.labels[i]
        num[i] = losses[c.representatives[j]] + lam[j] * float(((x - reps[j]) ** 2).sum())
    Z = sum(
        c.sizes[j] * losses[c.representatives[j]]
        + lam[j] * sum(((X[i] - reps[j]) ** 2).sum() for i in np.flatnonzero(c.labels == j))
        for j in range(c.k)
    )
    assert d.normaliser == pytest.approx(Z, rel=1e-10)
    np.testing.assert_allclose(d.probabilities, num / Z, rtol=1e-9)
    assert d.probabilities.sum() == pytest.approx(1.0)
    assert d.phi == pytest.approx(sum(lam[c.labels] * c.sq_distances))


@pytest.mark.parametrize("include", [False, True])
def test_estimator_is_unbiased_with_the_exact_variance(problem, include) -> None:
    X, losses, c = problem
    d = sensitivity_distribution(c, losses[c.representatives], lam=0.2, include_centres=include)
    T, s, seeds = losses.sum(), 30, 3000
    est = np.array(
        [draw_sample(d, s, seed=i).estimate(LossOracle(losses, len(X))).total for i in range(seeds)]
    )
    pop = d.population
    p = d.probabilities[pop]
    T_pop = losses[pop].sum()
    var = ((losses[pop] ** 2 / p).sum() - T_pop**2) / s  # Var of the importance estimate
    z = (est.mean() - T) / math.sqrt(var / seeds)
    assert abs(z) < 4, (est.mean(), T, z)
    assert est.var(ddof=1) == pytest.approx(var, rel=0.1)


def test_weights_sum_to_n_in_expectation_overall_and_per_cluster(problem) -> None:
    X, losses, c = problem
    d = sensitivity_distribution(c, losses[c.representatives], include_centres=True)
    sums, per = [], []
    for seed in range(1500):
        smp = draw_sample(d, 40, seed=seed)
        sums.append(smp.weights.sum())
        per.append(np.bincount(c.labels[smp.positions], smp.weights, minlength=c.k))
    sums, per = np.array(sums), np.array(per)
    assert abs(sums.mean() - len(X)) < 4 * sums.std() / math.sqrt(len(sums))
    se = per.std(0) / math.sqrt(len(per))
    assert (np.abs(per.mean(0) - c.sizes) < 4 * se + 1e-9).all()


def test_error_shrinks_like_one_over_sqrt_s(problem) -> None:
    _X, losses, c = problem
    d = sensitivity_distribution(c, losses[c.representatives], lam=0.2, include_centres=False)
    sd = [
        np.std(
            [
                draw_sample(d, s, seed=i)
                .estimate(losses[draw_sample(d, s, seed=i).positions])
                .total
                for i in range(600)
            ]
        )
        for s in (25, 100)
    ]
    assert sd[0] / sd[1] == pytest.approx(2.0, rel=0.15)


def test_theorem_2_bound_holds_on_data_satisfying_the_assumption() -> None:
    rng = np.random.default_rng(1)
    X, _ = make_blobs(600, centers=6, n_features=3, random_state=1)
    c = kmeans(X, 6, backend="sklearn")
    lam = 0.5
    centre = rng.uniform(1, 3, c.k)
    losses = centre[c.labels] + lam * c.sq_distances * rng.uniform(-1, 1, len(X))
    losses = np.maximum(losses, 0)
    d = sensitivity_distribution(c, centre, lam=lam, include_centres=False)
    eps = 0.2
    s, T = draws_for_eps(eps), losses.sum()
    errs = [
        abs(draw_sample(d, s, seed=i).estimate(LossOracle(losses, 600)).total - T)
        for i in range(300)
    ]
    fail = np.mean(np.array(errs) > eps * (T + 2 * d.phi))
    assert fail <= 0.37
    assert eps_for_draws(s) <= eps and eps_for_draws(s - 1) > eps


def test_zero_variance_when_the_proxy_is_exact(problem) -> None:
    _X, _, c = problem
    centre = np.linspace(1, 2, c.k)
    losses = centre[c.labels] + 0.3 * c.sq_distances
    d = sensitivity_distribution(c, centre, lam=0.3, include_centres=False)
    for seed in range(5):
        smp = draw_sample(d, 7, seed=seed)
        assert smp.estimate(losses[smp.positions]).total == pytest.approx(losses.sum(), rel=1e-12)


@pytest.mark.parametrize("include", [False, True])
def test_k_equal_n_is_exact(include) -> None:
    X, losses = _data(40)
    s = SensitivitySampler(40, eps=0.5, include_centres=include, backend="sklearn").fit(X, losses)
    assert s.estimate(losses[s.positions]).total == pytest.approx(losses.sum(), rel=1e-12)


def test_identical_points_and_constant_loss_give_uniform_weights() -> None:
    X = np.ones((50, 3))
    s = SensitivitySampler(1, budget=10, include_centres=False, backend="sklearn").fit(
        X, np.full(50, 0.7)
    )
    np.testing.assert_allclose(s.distribution.probabilities, 1 / 50)
    draws_w = 50 / 10
    np.testing.assert_allclose(s.weights / np.bincount(s.draws)[s.positions], draws_w)


def test_lambda_zero_and_constant_loss_reduce_to_uniform(problem) -> None:
    X, _, c = problem
    d = sensitivity_distribution(c, np.full(c.k, 2.0), lam=0.0, include_centres=False)
    np.testing.assert_allclose(d.probabilities, 1 / len(X))
    d = sensitivity_distribution(c, np.full(c.k, 2.0), lam=0.0, include_centres=True)
    pop = d.population
    np.testing.assert_allclose(d.probabilities[pop], 1 / len(pop))


def test_lambda_zero_is_uniform_within_clusters(problem) -> None:
    _X, losses, c = problem
    cl = losses[c.representatives]
    d = sensitivity_distribution(c, cl, lam=0.0, include_centres=False)
    np.testing.assert_allclose(d.probabilities, cl[c.labels] / (cl * c.sizes).sum())


def test_k_one_is_a_uniform_distance_mixture() -> None:
    X, losses = _data(200)
    c = kmeans(X, 1, backend="sklearn")
    lc = losses[c.representatives[0]]
    d = sensitivity_distribution(c, [lc], lam=0.4, include_centres=False)
    n, phi = len(X), c.cost()
    a = n * lc / (n * lc + 0.4 * phi)
    np.testing.assert_allclose(d.probabilities, a / n + (1 - a) * c.sq_distances / phi)


def test_zero_losses_and_zero_lambda_fall_back_to_uniform(problem, caplog) -> None:
    X, _, c = problem
    d = sensitivity_distribution(c, np.zeros(c.k), lam=0.0, include_centres=False)
    assert d.fallback
    np.testing.assert_allclose(d.probabilities, 1 / len(X))


def test_invariances(problem) -> None:
    X, losses, c = problem
    cl = losses[c.representatives]
    p = sensitivity_distribution(c, cl, lam=0.3).probabilities
    np.testing.assert_allclose(sensitivity_distribution(c, 5 * cl, lam=1.5).probabilities, p)
    a = 3.0  # embeddings scaled by a, Lambda by a^-z
    c3 = kmeans(a * X, 8, backend="sklearn", seed=0)
    np.testing.assert_array_equal(c3.labels, c.labels)
    p3 = sensitivity_distribution(c3, cl, lam=0.3 / a**2).probabilities
    np.testing.assert_allclose(p3, p, rtol=1e-5)
    # "auto" lambda is scale-free on its own
    pa = sensitivity_distribution(c, cl).probabilities
    np.testing.assert_allclose(sensitivity_distribution(c3, 2 * cl).probabilities, pa, rtol=1e-5)


def test_oracle_is_called_exactly_k_times(problem) -> None:
    X, losses, _ = problem
    asked: list[int] = []

    def oracle(pos: np.ndarray) -> np.ndarray:
        asked.extend(pos.tolist())
        return losses[pos]

    sampler = SensitivitySampler(8, budget=60, backend="sklearn")
    sample = sampler.fit(X, oracle)
    assert sorted(asked) == sorted(sampler.clustering_.representatives.tolist())
    assert sampler.oracle_calls_ == 8 == sample.params["oracle_calls"]
    assert len(sample) <= 60 and sample.n_draws == 60 - 8


def test_merged_duplicates_give_the_same_estimate(problem) -> None:
    _X, losses, c = problem
    d = sensitivity_distribution(c, losses[c.representatives], include_centres=False)
    smp = draw_sample(d, 200, seed=3)
    assert len(smp.positions) < smp.n_draws  # there are repeats
    raw = sum(losses[i] / (200 * d.probabilities[i]) for i in smp.draws)
    assert (smp.weights * losses[smp.positions]).sum() == pytest.approx(raw, rel=1e-12)
    assert smp.estimate(losses[smp.positions]).total == pytest.approx(raw, rel=1e-12)


def test_beats_uniform_on_clustered_data() -> None:
    X, _ = make_blobs(
        1000, centers=[[0, 0], [10, 10], [20, 0]], cluster_std=[0.5, 0.5, 3], random_state=0
    )
    losses = np.where(X[:, 0] > 15, 5.0, 0.1) * (1 + 0.1 * np.abs(X[:, 1]))
    c = kmeans(X, 10, backend="sklearn")
    d = sensitivity_distribution(c, losses[c.representatives], include_centres=False)
    s, T, rng = 40, losses.sum(), np.random.default_rng(0)
    sens = [draw_sample(d, s, seed=i).estimate(LossOracle(losses, 1000)).total for i in range(400)]
    unif = [1000 * losses[rng.integers(0, 1000, s)].mean() for _ in range(400)]
    assert np.std(sens) < 0.5 * np.std(unif)
    assert abs(np.mean(sens) - T) < 4 * np.std(sens) / 20


def test_lemma_8_recovers_per_cluster_constants() -> None:
    X, _ = make_blobs(500, centers=4, n_features=2, random_state=2)
    c = kmeans(X, 4, backend="sklearn")
    lam = np.array([0.1, 0.5, 1.0, 2.0])
    centre = np.ones(c.k)
    losses = centre[c.labels] + lam[c.labels] * c.sq_distances
    oracle = LossOracle(losses, 500)
    est = estimate_lambda(c, oracle, centre, log_factor=False)
    np.testing.assert_allclose(est, lam, rtol=1e-8)
    q = math.ceil(math.log(400) / math.log(2))
    assert oracle.calls == 4 * q
    full = estimate_lambda(c, LossOracle(losses, 500), centre)
    np.testing.assert_allclose(full, lam * math.log(500), rtol=1e-8)
    s = SensitivitySampler(4, budget=50, lam="estimate", backend="sklearn").fit(X, losses)
    assert s.params["oracle_calls"] == 4 + 4 * q


def test_estimate_reports_the_bound_terms(problem) -> None:
    X, losses, _ = problem
    sampler = SensitivitySampler(8, eps=0.3, backend="sklearn", include_centres=False)
    smp = sampler.fit(X, losses)
    est = smp.estimate(losses[smp.positions])
    assert est.n_draws == draws_for_eps(0.3) and est.eps <= 0.3
    assert est.kmeans_cost == pytest.approx(sampler.clustering_.cost())
    assert est.phi == pytest.approx(sampler.distribution_.lam[0] * est.kmeans_cost)
    assert est.bound_total == pytest.approx(est.eps * (est.total + 2 * est.phi))
    assert est.mean == pytest.approx(est.total / len(X))
    assert est.stderr_total > 0


def test_clear_errors(problem) -> None:
    X, losses, c = problem
    with pytest.raises(InvalidParameterError, match="budget must lie"):
        SensitivitySampler(8, budget=401, backend="sklearn").fit(X, losses)
    with pytest.raises(InvalidParameterError, match="smaller than the 8 points it keeps"):
        SensitivitySampler(8, budget=5, backend="sklearn").fit(X, losses)
    with pytest.raises(InvalidParameterError, match="k must lie"):
        SensitivitySampler(500, budget=10, backend="sklearn", include_centres=False).fit(X, losses)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(InvalidDataError, match="row 7"):
        SensitivitySampler(8, budget=50).fit(bad, losses)
    with pytest.raises(InvalidDataError, match=r"shape \(400,\)"):
        SensitivitySampler(8, budget=50, backend="sklearn").fit(X, losses[:-1])
    with pytest.raises(InvalidDataError, match="non-negative"):
        sensitivity_distribution(c, -np.ones(c.k))
    with pytest.raises(InvalidParameterError, match="lam"):
        sensitivity_distribution(c, np.ones(c.k), lam="magic")
    with pytest.raises(InvalidParameterError, match="either budget or eps"):
        SensitivitySampler(8, budget=50, eps=0.1)


def test_kept_points_have_weight_one_and_keep_the_estimator_unbiased(problem) -> None:
    X, losses, c = problem
    keep = np.arange(0, 400, 10)  # e.g. a warm-start sample the oracle model was trained on
    d = sensitivity_distribution(c, losses[c.representatives], keep=keep)
    assert set(keep) | set(c.representatives) == set(d.kept)
    assert (d.probabilities[d.kept] == 0).all() and d.probabilities.sum() == pytest.approx(1)
    est = [draw_sample(d, 25, seed=i).estimate(LossOracle(losses, 400)).total for i in range(1500)]
    assert abs(np.mean(est) - losses.sum()) < 4 * np.std(est) / math.sqrt(1500)
    smp = SensitivitySampler(8, budget=100, backend="sklearn").fit(X, losses, keep=keep)
    assert len(smp.draws) == 100 - len(smp.distribution.kept)
    np.testing.assert_array_equal(smp.weights[: len(smp.distribution.kept)], 1.0)
