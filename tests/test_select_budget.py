"""Budget selection from any ValuationResult, subsets on disk, and the evaluation loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import ValuationResult
from assay.select.budget import (
    Subset,
    budget_count,
    evaluate_subsets,
    group_quotas,
    select_subset,
    uniform_subset,
)


def _values(n: int = 20) -> ValuationResult:
    v = np.random.default_rng(0).permutation(n).astype(float)
    return ValuationResult.exact(np.arange(100, 100 + n), v, "toy")


def test_top_bottom_and_fraction() -> None:
    r = _values()
    top = select_subset(r, 5)
    np.testing.assert_array_equal(top.positions, r.ranking()[:5])
    np.testing.assert_array_equal(top.ids, r.ids[r.ranking()[:5]])
    assert (top.weights == 1).all()
    bottom = select_subset(r, 0.25, strategy="bottom")
    np.testing.assert_array_equal(np.sort(r.values[bottom.positions]), np.arange(5.0))


def test_class_balanced_quotas_are_proportional_and_capped() -> None:
    groups = np.array([0] * 10 + [1] * 6 + [2] * 4)
    assert group_quotas(groups, 10) == {0: 5, 1: 3, 2: 2}
    assert group_quotas(groups, 15, quota="equal") == {0: 6, 1: 5, 2: 4}  # class 2 is capped
    assert sum(group_quotas(groups, 7).values()) == 7
    r = _values()
    s = select_subset(r, 10, balance="class", groups=groups, reweight=True)
    counts = np.bincount(groups[s.positions], minlength=3)
    np.testing.assert_array_equal(counts, [5, 3, 2])
    for g in range(3):  # top within each class
        members = np.flatnonzero(groups == g)
        best = members[np.argsort(-r.values[members])[: counts[g]]]
        assert set(best) == set(s.positions[groups[s.positions] == g])
    # reweighting restores each class's mass
    np.testing.assert_allclose(np.bincount(groups[s.positions], s.weights), [10, 6, 4])


def test_weighted_sampling_is_unbiased_for_sums() -> None:
    rng = np.random.default_rng(1)
    v = rng.uniform(0.1, 2, 50)
    f = v * rng.uniform(0.5, 1.5, 50)  # a quantity roughly proportional to the values
    r = ValuationResult.exact(np.arange(50), v, "toy")
    est = [
        (s.weights * f[s.positions]).sum()
        for s in (select_subset(r, 10, strategy="sample", seed=i) for i in range(2000))
    ]
    assert abs(np.mean(est) - f.sum()) < 4 * np.std(est) / math.sqrt(2000)
    with pytest.raises(InvalidDataError, match="non-negative"):
        select_subset(ValuationResult.exact(np.arange(3), [-1.0, 1, 2], "x"), 2, strategy="sample")


def test_uniform_subset_and_weight_vector() -> None:
    s = uniform_subset(10, 4, seed=0, weighted=True)
    assert len(np.unique(s.positions)) == 4
    w = s.weight_vector(10)
    assert w.sum() == pytest.approx(10) and np.count_nonzero(w) == 4


def test_save_load_roundtrip(tmp_path) -> None:
    s = select_subset(_values(), 6)
    path = s.save(tmp_path / "subset.parquet")
    import pandas as pd

    assert list(pd.read_parquet(path).columns) == ["id", "weight"]
    back = Subset.load(path, np.arange(100, 120))
    np.testing.assert_array_equal(back.positions, s.positions)
    np.testing.assert_array_equal(back.weights, s.weights)
    assert back.method == "toy"
    with pytest.raises(InvalidDataError, match="not in the data"):
        Subset.load(path, np.arange(10))


def test_clear_errors() -> None:
    r = _values()
    with pytest.raises(InvalidParameterError, match="exceeds the 20 points"):
        select_subset(r, 21)
    with pytest.raises(InvalidParameterError, match="budget must be"):
        budget_count(0, 10)
    with pytest.raises(InvalidParameterError, match="whole count"):
        budget_count(2.5, 10)
    with pytest.raises(InvalidParameterError, match="needs groups"):
        select_subset(r, 5, balance="class")
    with pytest.raises(InvalidDataError, match="shape mismatch"):
        select_subset(r, 5, balance="cluster", groups=np.zeros(3))
    with pytest.raises(InvalidParameterError, match="strategy"):
        select_subset(r, 5, strategy="random")


def test_evaluate_subsets_trains_all_subsets_in_one_batch(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    subsets = {
        "uniform": uniform_subset(train.n, 0.2, seed=0),
        "weighted": uniform_subset(train.n, 0.2, seed=1, weighted=True),
    }
    df = evaluate_subsets("logistic", train, valid, subsets, weighting="normalised")
    assert list(df["method"]) == ["uniform", "weighted", "full data"]
    assert (df["accuracy"] > 0.85).all()
    assert df.loc[1, "weight_sum"] == pytest.approx(df.loc[1, "size"])


def test_evaluate_subsets_fits_minibatch_learners_on_the_subset_rows(breast_cancer) -> None:
    import torch

    from assay.learners import MLPClassifier

    train, valid, _ = breast_cancer
    mlp = MLPClassifier(hidden=(4,), epochs=2, batch_size=32)
    s = uniform_subset(train.n, 30, seed=0)
    df = evaluate_subsets(mlp, train, valid, {"u": s})
    fitted = mlp.fit(mlp.prepare(train.subset(s.positions)), torch.ones(1, 30))
    data = mlp.prepare(valid)
    acc = float((fitted.predict_proba(data.X)[0].argmax(-1) == data.y).float().mean())
    assert df.loc[0, "accuracy"] == pytest.approx(acc)


def test_uniform_baseline_does_not_pick_the_flipped_rows() -> None:
    from assay.data import Dataset, flip_labels

    data = Dataset.from_arrays(np.zeros((200, 1)), np.arange(200) % 2)
    _, flipped = flip_labels(data, 0.1, seed=3)
    picked = uniform_subset(200, len(flipped), seed=3).positions
    # same seed, same size: an independent draw shares about 10% of the rows, not all of them
    assert len(np.intersect1d(picked, flipped)) < len(flipped) // 2
