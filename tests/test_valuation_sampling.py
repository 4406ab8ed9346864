"""Data-OOB against a direct computation; stopping rules; results; determinism."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic

from assay.errors import InvalidParameterError
from assay.parallel import task_rng
from assay.result import ValuationResult
from assay.utility import Utility
from assay.valuation import (
    AdditiveGame,
    DataOOB,
    MaxSamples,
    MaxSeconds,
    MSRBanzhaf,
    RankStability,
    TMCShapley,
    make_method,
)
from assay.valuation.stopping import Status


def test_data_oob_equals_a_direct_bagging_computation(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    result = DataOOB(40, batch_size=20, seed=5).fit(Utility("logistic", train, valid))
    correct = np.zeros(train.n)
    seen = np.zeros(train.n)
    for r in range(2):  # the same bootstrap counts the method draws: round r uses (seed, r)
        counts = task_rng(5, r).multinomial(train.n, np.full(train.n, 1 / train.n), size=20)
        for c in counts:
            sk = SkLogistic(tol=1e-12, max_iter=10_000).fit(train.X, train.y, sample_weight=c)
            oob = c == 0
            correct[oob] += sk.predict(train.X[oob]) == train.y[oob]
            seen[oob] += 1
    np.testing.assert_array_equal(result.counts, seen)
    np.testing.assert_allclose(result.values, correct / seen, atol=1e-12)


def test_data_oob_flags_flipped_labels(noisy_breast_cancer) -> None:
    from sklearn.metrics import roc_auc_score

    (train, valid, _), flipped = noisy_breast_cancer
    result = DataOOB(200).fit(Utility("logistic", train, valid))
    is_flipped = np.isin(np.arange(train.n), flipped)
    assert roc_auc_score(is_flipped, -result.values) > 0.9


def test_max_samples_is_exact_and_rounds_are_cut_to_fit() -> None:
    result = MSRBanzhaf(MaxSamples(250), batch_size=100).fit(AdditiveGame(np.ones(4)))
    assert result.params["samples"] == 250
    assert result.params["rounds"] == 3
    assert int(result.counts[0]) == 250


def test_stopping_rules_compose() -> None:
    status = Status(samples=50, seconds=2.0, values=np.arange(3.0), counts=np.ones(3, np.int64))
    assert (MaxSamples(50) | MaxSeconds(100))(status)
    assert not (MaxSamples(50) & MaxSeconds(100))(status)
    assert (MaxSamples(80) | MaxSamples(60)).remaining(status) == 10
    rank = RankStability(0.99)
    assert not rank(status)  # first checkpoint: nothing to compare with
    assert rank(status)  # same ranking twice
    with pytest.raises(InvalidParameterError, match="budget must be > 0"):
        MaxSamples(0)


def test_rank_stability_stops_a_converging_run() -> None:
    w = np.linspace(-1, 1, 8)
    result = MSRBanzhaf(RankStability(0.95) | MaxSamples(100_000), batch_size=200).fit(
        AdditiveGame(w)
    )
    assert result.params["samples"] < 100_000


def test_max_seconds_stops_an_unbounded_run() -> None:
    result = MSRBanzhaf(MaxSeconds(0.2), batch_size=50).fit(AdditiveGame(np.ones(6)))
    assert result.params["seconds"] >= 0.2
    assert result.params["samples"] >= 50


def test_same_seed_same_values_different_seed_different(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid)
    a = TMCShapley(8, batch_size=4, seed=1).fit(u).values
    b = TMCShapley(8, batch_size=4, seed=1).fit(Utility("logistic", train, valid)).values
    c = TMCShapley(8, batch_size=4, seed=2).fit(u).values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_result_is_frozen_sortable_and_round_trips(tmp_path) -> None:
    r = ValuationResult(
        np.array(["a", "b", "c"]),
        np.array([0.2, -1.0, 3.0]),
        np.array([0.1, 0.1, 0.2]),
        np.array([5, 5, 5]),
        "demo",
        {"seed": 1},
    )
    with pytest.raises(ValueError):
        r.values[0] = 1.0
    assert r.sort().ids.tolist() == ["c", "a", "b"]
    assert r.lowest(1).ids.tolist() == ["b"]
    assert r.highest(2).values.tolist() == [3.0, 0.2]
    path = r.save(tmp_path / "values.parquet")
    assert (tmp_path / "values.json").exists()
    back = ValuationResult.load(path)
    assert back.method == "demo" and back.params == {"seed": 1}
    np.testing.assert_array_equal(back.values, r.values)
    assert back.ids.tolist() == ["a", "b", "c"]
    assert list(back.to_pandas().columns) == ["id", "value", "stderr", "count"]


def test_method_registry_validates_names_and_budgets() -> None:
    assert isinstance(make_method("tmc-shapley", budget=10), TMCShapley)
    with pytest.raises(InvalidParameterError, match=r"valid methods: .*banzhaf"):
        make_method("shapely")
    with pytest.raises(InvalidParameterError, match="budget must be > 0"):
        make_method("banzhaf", budget=0)
