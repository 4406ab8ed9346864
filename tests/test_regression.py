"""Regression targets: ridge learner, scorers, task checks, every regression estimator against an
exact reference (scikit-learn retraining, enumeration, finite differences of real retraining)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import mean_squared_error, r2_score

from assay.data import Dataset
from assay.errors import AssayError, InvalidDataError, InvalidParameterError
from assay.learners import RidgeRegression, make_learner
from assay.parallel import task_rng
from assay.utility import Utility
from assay.valuation import (
    BetaShapley,
    DataOOB,
    ExactSemivalue,
    ExactShapley,
    KNNGame,
    KNNShapley,
    LeaveOneOut,
    MSRBanzhaf,
    TMCShapley,
    make_method,
)


def reg_task(
    n_train: int = 6, n_valid: int = 40, seed: int = 0, d: int = 2, noise: float = 0.5
) -> tuple[Dataset, Dataset]:
    """A linear target with noise; the validation set is large enough for a smooth score."""
    rng = np.random.default_rng(seed)
    beta = rng.normal(size=d)
    X = rng.normal(size=(n_train + n_valid, d))
    y = X @ beta + 1.0 + noise * rng.normal(size=len(X))
    train = Dataset.from_arrays(X[:n_train], y[:n_train], task="regression")
    return train, Dataset.from_arrays(X[n_train:], y[n_train:], task="regression")


def _z(estimate, exact) -> float:
    return float(np.max(np.abs(estimate.values - exact) / np.maximum(estimate.stderr, 1e-12)))


@pytest.fixture(scope="module")
def tiny() -> Utility:
    train, valid = reg_task(n_train=6, seed=3)
    return Utility("ridge", train, valid, scorer="r2")


# ---------------------------------------------------------------- data and task
def test_task_flows_from_the_data() -> None:
    y = np.linspace(0.05, 3.3, 20)
    X = np.arange(40.0).reshape(20, 2)
    assert Dataset.from_arrays(X, y, task="auto").is_regression
    assert not Dataset.from_arrays(X, np.arange(20) % 3, task="auto").is_regression
    with pytest.raises(InvalidDataError, match=r"continuous.*--learner ridge"):
        Dataset.from_arrays(X, y)
    data = Dataset.from_arrays(X, y, task="regression")
    assert data.task == "regression" and data.n_classes == 0
    np.testing.assert_array_equal(data.labels, y)
    assert (
        data.subset([1, 3]).is_regression
        and data.fingerprint() != data.subset(range(19)).fingerprint()
    )
    with pytest.raises(InvalidDataError, match="regression target must be numeric"):
        Dataset.from_arrays(X[:3], np.array(["a", "b", "c"]), task="regression")
    with pytest.raises(InvalidDataError, match="missing or infinite"):
        Dataset.from_arrays(X[:3], [1.0, np.nan, 2.0], task="regression")
    with pytest.raises(InvalidParameterError, match="task must be one of"):
        Dataset.from_arrays(X, y, task="ranking")


def test_learner_scorer_and_data_must_agree() -> None:
    train, valid = reg_task(n_train=20)
    with pytest.raises(InvalidDataError, match=r"continuous.*classifier.*--learner ridge"):
        Utility("logistic", train, valid)
    with pytest.raises(InvalidParameterError, match="scorer 'accuracy' is for classification"):
        Utility("ridge", train, valid, scorer="accuracy")
    classes = Dataset.from_arrays(train.X, np.arange(20) % 2)
    with pytest.raises(InvalidDataError, match="regressor but the target has classes"):
        Utility("ridge", classes, Dataset.from_arrays(valid.X, np.arange(40) % 2))
    with pytest.raises(InvalidDataError, match="classification set but validation a regression"):
        Utility("logistic", classes, valid)
    flat = Dataset.from_arrays(valid.X, np.ones(valid.n), task="regression")
    with pytest.raises(InvalidDataError, match="r2 needs validation targets that vary"):
        Utility("ridge", train, flat)
    assert Utility("ridge", train, flat, scorer="neg_mse").scorer.name == "neg_mse"
    assert Utility("ridge", train, valid).scorer.name == "r2"  # the regression default
    with pytest.raises(InvalidParameterError, match="alpha must be >= 0"):
        make_learner("ridge", alpha=-1.0)


# ---------------------------------------------------------------- learner and scorers
@pytest.mark.parametrize("alpha", [0.0, 0.3, 5.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_batched_ridge_equals_scikit_learn_on_weighted_subsets(
    alpha: float, fit_intercept: bool
) -> None:
    train, valid = reg_task(n_train=30, d=4, seed=1)
    rng = np.random.default_rng(0)
    W = rng.integers(0, 3, size=(7, train.n)).astype(float)
    W[0] = 1.0
    ridge = RidgeRegression(alpha=alpha, fit_intercept=fit_intercept)
    fitted = ridge.fit(ridge.prepare(train), torch.tensor(W))
    pred = fitted.predict(torch.tensor(np.asarray(valid.X))).numpy()
    for b, w in enumerate(W):
        sk = (
            Ridge(alpha=alpha, fit_intercept=fit_intercept)
            if alpha > 0
            else LinearRegression(fit_intercept=fit_intercept)
        ).fit(train.X, train.y, sample_weight=w)
        np.testing.assert_allclose(fitted.coef[b].numpy(), sk.coef_, atol=1e-9)
        np.testing.assert_allclose(pred[b], sk.predict(valid.X), atol=1e-9)


def test_empty_subsets_are_untrained_and_score_the_mean_prediction() -> None:
    train, valid = reg_task(n_train=10)
    for scorer, ref in (("r2", r2_score), ("neg_mse", mean_squared_error)):
        u = Utility("ridge", train, valid, scorer=scorer)
        mean = np.full(valid.n, train.y.mean())
        expected = ref(valid.y, mean) * (1 if scorer == "r2" else -1)
        assert u(np.zeros(train.n)) == pytest.approx(expected, abs=1e-12)
        assert u.default_score == pytest.approx(expected, abs=1e-12)
    fitted = RidgeRegression().fit(RidgeRegression().prepare(train), torch.zeros(2, train.n))
    assert not bool(fitted.trained.any())
    with pytest.raises(InvalidParameterError, match="regressor"):
        fitted.predict_proba(torch.zeros(1, 2))


@pytest.mark.parametrize("scorer", ["r2", "neg_mse"])
def test_utility_equals_scikit_learn_retraining(scorer: str) -> None:
    train, valid = reg_task(n_train=12)
    u = Utility("ridge", train, valid, scorer=scorer)
    rng = np.random.default_rng(2)
    masks = rng.random((5, train.n)) < 0.6
    masks[:, :2] = True
    for mask, got in zip(masks, u(masks), strict=True):
        sk = Ridge(alpha=1.0).fit(train.X[mask], train.y[mask])
        p = sk.predict(valid.X)
        want = r2_score(valid.y, p) if scorer == "r2" else -mean_squared_error(valid.y, p)
        assert got == pytest.approx(want, abs=1e-12)


# ---------------------------------------------------------------- estimators vs exact references
def test_exact_shapley_of_ridge_is_the_enumerated_definition(tiny: Utility) -> None:
    train, valid = tiny.train, tiny.valid
    n = train.n
    u = {}
    for bits in itertools.product([0, 1], repeat=n):
        mask = np.array(bits, bool)
        if mask.any():
            sk = Ridge(alpha=1.0).fit(train.X[mask], train.y[mask])
            u[bits] = r2_score(valid.y, sk.predict(valid.X))
        else:
            u[bits] = r2_score(valid.y, np.full(valid.n, train.y.mean()))
    values = np.zeros(n)
    for order in itertools.permutations(range(n)):
        bits = [0] * n
        for i in order:
            before = u[tuple(bits)]
            bits[i] = 1
            values[i] += u[tuple(bits)] - before
    values /= np.prod(np.arange(1, n + 1))
    np.testing.assert_allclose(ExactShapley().fit(tiny).values, values, atol=1e-10)


def test_tmc_shapley_converges_to_exact_on_ridge(tiny: Utility) -> None:
    exact = ExactShapley().fit(tiny).values
    est = TMCShapley(12000, truncation_rtol=None, batch_size=2000, seed=1).fit(tiny)
    assert _z(est, exact) < 4.5
    np.testing.assert_allclose(est.values, exact, atol=0.06)


def test_beta_shapley_and_banzhaf_match_enumeration_on_ridge(tiny: Utility) -> None:
    beta = ExactSemivalue("beta", alpha=4.0, beta=1.0).fit(tiny).values
    assert _z(BetaShapley(4000, alpha=4.0, beta=1.0, batch_size=1000, seed=2).fit(tiny), beta) < 4.5
    banzhaf = ExactSemivalue("banzhaf").fit(tiny).values
    est = MSRBanzhaf(6000, seed=3).fit(tiny)
    assert _z(est, banzhaf) < 4.5


def test_loo_is_real_leave_one_out_retraining() -> None:
    train, valid = reg_task(n_train=15, seed=4)
    values = LeaveOneOut().fit(Utility("ridge", train, valid, scorer="neg_mse")).values
    full = mean_squared_error(valid.y, Ridge(alpha=1.0).fit(train.X, train.y).predict(valid.X))
    for i in range(train.n):
        keep = np.arange(train.n) != i
        sk = Ridge(alpha=1.0).fit(train.X[keep], train.y[keep])
        drop = mean_squared_error(valid.y, sk.predict(valid.X))
        assert values[i] == pytest.approx(drop - full, abs=1e-12)  # -mse(full) - -mse(drop)


def test_data_oob_regression_equals_direct_bagging() -> None:
    train, valid = reg_task(n_train=25, seed=5)
    result = DataOOB(40, batch_size=20, seed=5).fit(Utility("ridge", train, valid))
    err, seen = np.zeros(train.n), np.zeros(train.n)
    for r in range(2):  # the same bootstrap counts the method draws: round r uses (seed, r)
        counts = task_rng(5, r).multinomial(train.n, np.full(train.n, 1 / train.n), size=20)
        for c in counts:
            sk = Ridge(alpha=1.0).fit(train.X, train.y, sample_weight=c)
            oob = c == 0
            err[oob] += (sk.predict(train.X[oob]) - train.y[oob]) ** 2
            seen[oob] += 1
    np.testing.assert_array_equal(result.counts, seen)
    ok = seen > 0
    np.testing.assert_allclose(result.values[ok], -err[ok] / seen[ok], atol=1e-10)


@pytest.mark.parametrize(("n", "k"), [(7, 1), (8, 2), (8, 3), (6, 6), (5, 8)])
def test_knn_regression_shapley_matches_enumeration_of_its_utility(n: int, k: int) -> None:
    train, valid = reg_task(n_train=n, n_valid=9, seed=n + k, noise=2.0)
    game = KNNGame(train, valid, k)
    mask = np.zeros(n, bool)
    mask[[0, 2]] = True  # U(S) is the literal formula: -(sum of the nearest / K - y)^2
    Xs, ys = train.X[mask], train.y[mask]
    pred = []
    for x in valid.X:
        near = np.argsort(np.linalg.norm(Xs - x, axis=1), kind="stable")[:k]
        pred.append(ys[near].sum() / k)
    assert game(mask[None])[0] == pytest.approx(-np.mean((np.array(pred) - valid.y) ** 2))
    exact = ExactShapley().fit(game).values
    fast = KNNShapley(k).fit(Utility("ridge", train, valid)).values
    np.testing.assert_allclose(fast, exact, atol=1e-12)


def test_ridge_influence_is_the_derivative_of_real_retraining() -> None:
    train, valid = reg_task(n_train=40, n_valid=30, d=3, seed=6)
    u = Utility("ridge", train, valid, scorer="neg_mse")
    values = make_method("influence").fit(u).values
    n, eps = train.n, 1e-5
    # down-weighting point i by eps and retraining: the validation MSE changes by eps * value
    fd = (u(np.ones(n)) - u(np.ones((n, n)) - eps * np.eye(n))) / eps
    np.testing.assert_allclose(values, fd, atol=1e-5 * np.abs(values).max())
    loo = LeaveOneOut().fit(u).values  # removing the point for real: the same ranking
    assert np.corrcoef(values, loo)[0, 1] > 0.95
    iv = make_method("iv").fit(u).values  # summed validation loss
    np.testing.assert_allclose(iv, values * valid.n, rtol=1e-10)


def test_outlying_targets_get_the_lowest_values() -> None:
    train, valid = reg_task(n_train=60, n_valid=60, seed=7, noise=0.3)
    y = np.array(train.y)
    bad = [3, 17, 42]
    y[bad] += 6.0
    u = Utility("ridge", train.with_labels(y), valid, scorer="neg_mse")
    for name, params in (
        ("data-oob", {"budget": 200}),
        ("knn-shapley", {}),
        ("influence", {}),
        ("loo", {}),
        ("banzhaf", {"budget": 400}),
    ):
        values = make_method(name, **params).fit(u).values
        assert set(np.argsort(values)[:3]) == set(bad), name


def test_classification_only_methods_refuse_regression_clearly(tiny: Utility) -> None:
    for name in ("cs-shapley", "margin", "entropy"):
        with pytest.raises(AssayError):
            make_method(name).fit(tiny)
