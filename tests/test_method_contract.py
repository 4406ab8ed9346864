"""The method contract, checked for every registered method (in the spirit of scikit-learn's
``parametrize_with_checks``): one ``fit(utility)``, seeded determinism, ids in data order, a
declared direction, get/set_params by the ``__init__`` signature, clear errors, no global RNG use.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pytest
import torch

from assay.data import flip_labels, load_dataset
from assay.errors import AssayError, InvalidParameterError
from assay.evaluate import detect_noisy
from assay.result import DIRECTIONS, HIGHER_IS_SUSPECT, ValuationResult
from assay.select.budget import evaluate_subsets, select_subset, uniform_subset
from assay.utility import Utility
from assay.valuation import METHODS, AdditiveGame, make_method
from assay.valuation.base import ValuationMethod

NAMES = sorted(METHODS)

# small budgets so that the whole module runs in seconds
FAST: dict[str, dict[str, Any]] = {
    "tmc-shapley": {"budget": 20, "batch_size": 10},
    "beta-shapley": {"budget": 20, "batch_size": 10},
    "banzhaf": {"budget": 64, "batch_size": 32},
    "data-oob": {"budget": 60, "batch_size": 30},
    "group-testing-shapley": {"budget": 64, "batch_size": 32},
    "cs-shapley": {"budget": 4, "batch_size": 4},
    "fi-subsample": {"alpha": 0.5, "n_estimators": 10},
    "el2n": {"n_models": 2},
    "grand": {"n_models": 2},
    "gradmatch": {"dim": 16},
    "kcenter": {"k": 10},
}
SMALL = {"exact-shapley": 8}  # enumeration: 2^n models


@pytest.fixture(scope="module")
def task() -> tuple[Any, Any, Any]:
    train, valid, test = load_dataset("breast_cancer", seed=0)
    return train.subset(balanced(train.y, 24)), valid.subset(range(40)), test


def balanced(y: np.ndarray, n: int) -> np.ndarray:
    """``n`` positions, half of each class, in data order."""
    y = np.asarray(y)
    return np.sort(np.concatenate([np.flatnonzero(y == c)[: n // 2] for c in (0, 1)]))


def utility_for(name: str, task: tuple[Any, Any, Any]) -> Utility:
    train, valid, _ = task
    if name in SMALL:
        train = train.subset(balanced(train.y, SMALL[name]))
    return Utility("logistic", train, valid)


def method(name: str, **extra: Any) -> ValuationMethod:
    return make_method(name, **{**FAST.get(name, {}), **extra})


def fit(m: ValuationMethod, u: Any) -> ValuationResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # data-oob's never-out-of-bag note
        return m.fit(u)


@pytest.mark.parametrize("name", NAMES)
def test_fit_takes_one_utility_and_declares_direction(name: str) -> None:
    cls = METHODS[name][0]
    params = [p for p in inspect.signature(cls.fit).parameters if p != "self"]
    assert len(params) == 1, f"{name}.fit{params}"
    assert cls.direction in DIRECTIONS
    names = cls._param_names()
    assert "random_state" not in names and all("seed" not in n or n == "seed" for n in names)


@pytest.mark.parametrize("name", NAMES)
def test_fit_values_the_utilitys_points_in_data_order(name: str, task: Any) -> None:
    u = utility_for(name, task)
    m = method(name)
    r = fit(m, u)
    assert isinstance(r, ValuationResult)
    np.testing.assert_array_equal(r.ids, u.train.ids)
    assert r.direction == type(m).direction
    assert np.isfinite(r.values).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_values_and_clone_round_trips(name: str, task: Any) -> None:
    u = utility_for(name, task)
    m = method(name)
    first = fit(m, u)
    np.testing.assert_array_equal(fit(method(name), u).values, first.values)
    params = m.get_params()
    assert set(params) == set(type(m)._param_names())
    twin = type(m)(**params)
    assert twin.get_params().keys() == params.keys()
    np.testing.assert_array_equal(fit(twin, u).values, first.values)
    np.testing.assert_array_equal(fit(m.clone(), u).values, first.values)
    # set_params on a default instance reaches the same method
    rebuilt = type(m)().set_params(**params)
    np.testing.assert_array_equal(fit(rebuilt, u).values, first.values)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_assay_errors(name: str, task: Any) -> None:
    m = method(name)
    with pytest.raises(InvalidParameterError, match="no parameter 'no_such_param'"):
        m.set_params(no_such_param=1)
    for bad in ("not a game", object(), None):
        with pytest.raises(AssayError):
            m.fit(bad)  # type: ignore[arg-type]
    try:  # a bare game: valued, or refused with a clear error (never a traceback)
        r = fit(m, AdditiveGame(np.arange(6.0)))
    except AssayError as exc:
        assert "Utility" in str(exc) or "utility" in str(exc)
    else:
        assert len(r) == 6


#: methods with a regression form (a ridge utility on a float target); the others refuse it
REGRESSION = {
    "loo", "exact-shapley", "tmc-shapley", "beta-shapley", "banzhaf", "data-oob", "knn-shapley",
    "influence", "iv", "group-testing-shapley",
    "kcenter", "nearest-distance", "representative",  # geometry: features only
}  # fmt: skip


@pytest.fixture(scope="module")
def regression_utility() -> Utility:
    from assay.data import Dataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=64)
    train = Dataset.from_arrays(X[:24], y[:24], task="regression")
    return Utility("ridge", train, Dataset.from_arrays(X[24:], y[24:], task="regression"))


@pytest.mark.parametrize("name", NAMES)
def test_regression_utility_is_valued_or_refused_clearly(name: str, regression_utility) -> None:
    u = regression_utility
    if name in SMALL:
        u = Utility("ridge", u.train.subset(range(SMALL[name])), u.valid)
    try:
        r = fit(method(name), u)
    except AssayError as exc:
        assert name not in REGRESSION, f"{name} should value a regression target: {exc}"
    else:
        assert name in REGRESSION, f"{name} now values regression: add it to REGRESSION"
        assert list(r.ids) == list(u.train.ids) and np.isfinite(r.values).all()


@pytest.mark.parametrize("name", NAMES)
def test_fit_leaves_the_global_torch_rng_alone(name: str, task: Any) -> None:
    u = utility_for(name, task)
    torch.manual_seed(1234)
    before, seed = torch.get_rng_state(), torch.initial_seed()
    fit(method(name), u)
    assert torch.initial_seed() == seed
    assert torch.equal(torch.get_rng_state(), before)


def test_exact_shapley_refuses_more_than_16_players(task: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"2\^24 models"):
        make_method("exact-shapley").fit(Utility("logistic", task[0], task[1]))


def test_sampling_budget_and_seed_are_parameters() -> None:
    m = make_method("tmc-shapley", budget=7, seed=3)
    assert m.get_params()["seed"] == 3 and m.get_params()["stop"].n == 7
    with pytest.raises(InvalidParameterError, match="batch_size"):
        m.set_params(batch_size=0)


# ------------------------------------------------------------------ Data-OOB without an estimate
def test_data_oob_points_never_out_of_bag_are_nan_with_a_warning(task: Any) -> None:
    u = utility_for("data-oob", task)
    with pytest.warns(UserWarning, match=r"never out of bag"):
        r = make_method("data-oob", budget=2, batch_size=2).fit(u)
    never = r.counts == 0
    assert never.any() and (~never).any()
    assert np.isnan(r.values[never]).all() and np.isnan(r.stderr[never]).all()
    assert np.isfinite(r.values[~never]).all()
    k = int((~never).sum())
    # NaN comes last at either end: never flagged before a scored point, never kept first
    assert not np.isnan(r.suspects(k).values).any()
    assert not np.isnan(r.keepers(k).values).any()
    assert np.isnan(r.lowest(len(r)).values[k:]).all()
    sub = select_subset(r, k, strategy="bottom")
    assert (r.counts[sub.positions] > 0).all()
    flipped = np.flatnonzero(~never)[:2]
    d = detect_noisy(r, flipped, fraction=2 / len(r))
    assert 0.0 <= d.roc_auc <= 1.0


# ------------------------------------------------------------------ direction (issue 10.6)
@pytest.fixture(scope="module")
def noisy() -> tuple[Any, Any, Any, np.ndarray]:
    train, valid, test = load_dataset("breast_cancer", seed=0)
    noisy_train, flipped = flip_labels(train, 0.2, seed=0)
    return noisy_train, valid, test, flipped


@pytest.mark.parametrize("name", ["loss", "el2n"])
def test_loss_and_el2n_flag_the_flipped_labels(name: str, noisy: Any) -> None:
    train, valid, _, flipped = noisy
    r = make_method(name).fit(Utility("logistic", train, valid))
    assert r.direction == HIGHER_IS_SUSPECT
    d = detect_noisy(r, flipped)
    assert d.roc_auc > 0.8 and d.precision > 0.5
    # the suspects are the highest scores, literally
    np.testing.assert_array_equal(r.suspects(10).ids, r.highest(10).ids)


@pytest.mark.parametrize("name", ["loss", "el2n"])
def test_selection_by_loss_and_el2n_keeps_the_clean_points(name: str, noisy: Any) -> None:
    train, valid, test, flipped = noisy
    r = make_method(name).fit(Utility("logistic", train, valid))
    keep = select_subset(r, 0.5, strategy="top")
    assert keep.params["direction"] == HIGHER_IS_SUSPECT
    noise_rate = len(flipped) / train.n
    assert np.isin(keep.positions, flipped).mean() < noise_rate / 4
    drop = select_subset(r, 0.5, strategy="suspect")
    assert np.isin(drop.positions, flipped).mean() > noise_rate
    scores = evaluate_subsets(
        "logistic",
        train,
        test,
        {"keep": keep, "uniform": uniform_subset(train.n, keep.params["budget"], seed=0)},
    )
    acc = dict(zip(scores["method"], scores["accuracy"], strict=True))
    assert acc["keep"] > acc["uniform"]


def test_direction_round_trips_through_the_sidecar(tmp_path: Any) -> None:
    r = ValuationResult.exact([1, 2, 3], [0.5, 2.0, 1.0], "loss", direction=HIGHER_IS_SUSPECT)
    back = ValuationResult.load(r.save(tmp_path / "v"))
    assert back.direction == HIGHER_IS_SUSPECT
    assert back.suspects(1).ids.tolist() == [2] and back.keepers(1).ids.tolist() == [1]
    import json

    side = tmp_path / "v.json"
    meta = json.loads(side.read_text())
    del meta["direction"]  # a file written before directions existed: no embedded metadata
    side.write_text(json.dumps(meta))
    import pandas as pd

    pd.read_parquet(tmp_path / "v.parquet").to_parquet(tmp_path / "v.parquet", index=False)
    old = ValuationResult.load(tmp_path / "v.parquet")
    assert old.direction == "higher-is-better" and old.suspects(1).ids.tolist() == [1]
    with pytest.raises(InvalidParameterError, match="direction must be one of"):
        ValuationResult.exact([1], [0.0], "x", direction="up")


def test_network_fit_leaves_the_global_torch_rng_alone() -> None:
    from assay.data import Dataset
    from assay.learners import MLPClassifier

    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(rng.normal(size=(30, 3)), np.arange(30) % 2)
    mlp = MLPClassifier(hidden=(4,), epochs=3, dropout=0.5, batch_size=8, seed=5)
    data = mlp.prepare(ds)
    torch.manual_seed(99)
    before, seed = torch.get_rng_state(), torch.initial_seed()
    a = mlp.fit(data, torch.ones(2, 30, dtype=data.X.dtype)).predict_proba(data.X)
    assert torch.initial_seed() == seed and torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(7)  # another global state: the same seeded fit
    b = mlp.fit(data, torch.ones(2, 30, dtype=data.X.dtype)).predict_proba(data.X)
    assert torch.equal(a, b)
