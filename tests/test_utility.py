"""The batched utility: scores, untrainable subsets, memoisation, disk cache, prefixes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic

from assay.data import Dataset
from assay.errors import InvalidDataError
from assay.learners import LogisticRegression
from assay.utility import Utility


def test_scores_match_sklearn_accuracy(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility(LogisticRegression(), train, valid)
    masks = np.random.default_rng(0).random((6, train.n)) < 0.3
    scores = u(masks)
    for b in range(6):
        sk = SkLogistic(tol=1e-12, max_iter=10_000).fit(train.X[masks[b]], train.y[masks[b]])
        assert scores[b] == pytest.approx(sk.score(valid.X, valid.y), abs=1e-12)


def test_empty_and_one_class_subsets_get_documented_defaults(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    masks = np.zeros((3, train.n), bool)
    masks[1, np.flatnonzero(train.y == 1)[:4]] = True
    masks[2] = True
    u = Utility("logistic", train, valid)
    assert u(masks)[:2].tolist() == [0.0, 0.0]  # accuracy's default, as pyDVL
    assert Utility("logistic", train, valid, default_score=0.5)(masks)[0] == 0.5
    constant = Utility("logistic", train, valid, single_class="constant")(masks)
    assert constant[1] == pytest.approx(np.mean(valid.y == 1))
    ll = Utility("logistic", train, valid, scorer="log_likelihood")(masks)
    assert ll[0] == pytest.approx(np.log(0.5))
    conf = Utility("logistic", train, valid, scorer="confidence")(masks)
    assert conf.shape == (3, valid.n)
    assert np.all(conf[0] == 0.5)


def test_memoisation_avoids_retraining(breast_cancer, monkeypatch) -> None:
    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid)
    masks = np.random.default_rng(1).random((5, train.n)) < 0.5
    first = u(masks)
    calls = []
    original = u.learner.fit
    monkeypatch.setattr(u.learner, "fit", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = u(np.concatenate([masks, masks[:2]]))
    assert calls == []
    np.testing.assert_array_equal(again[:5], first)
    np.testing.assert_array_equal(again[5:], first[:2])


def test_disk_cache_survives_a_new_process_object(breast_cancer, tmp_path) -> None:
    train, valid, _ = breast_cancer
    masks = np.random.default_rng(2).random((7, train.n)) < 0.5
    first = Utility("logistic", train, valid, cache_dir=str(tmp_path), batch_size=3)(masks)
    u2 = Utility("logistic", train, valid, cache_dir=str(tmp_path))
    assert len(u2.cache) == 7
    np.testing.assert_array_equal(u2(masks), first)
    # another learner parameter is another namespace: nothing is reused by mistake
    u3 = Utility(LogisticRegression(C=0.1), train, valid, cache_dir=str(tmp_path))
    assert len(u3.cache) == 0 and u3.key != u2.key


def test_chunking_does_not_change_scores(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    masks = np.random.default_rng(3).random((10, train.n)) < 0.5
    one = Utility("logistic", train, valid, batch_size=10)(masks)
    many = Utility("logistic", train, valid, batch_size=1)(masks)
    np.testing.assert_array_equal(one, many)


def test_permutation_prefixes_equal_independent_fits(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid, scorer="log_likelihood")
    rng = np.random.default_rng(4)
    perms = np.stack([rng.permutation(train.n) for _ in range(3)])
    prefixes = u.permutation_scores(perms)  # warm-started chain
    ref = Utility("logistic", train, valid, scorer="log_likelihood")
    for b in range(3):
        for t in (0, 1, 2, 5, 40, train.n):
            mask = np.zeros(train.n, bool)
            mask[perms[b, :t]] = True
            assert prefixes[b, t] == pytest.approx(ref(mask), abs=1e-7)


def test_truncation_freezes_the_rest_of_a_permutation(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid)
    perms = np.stack([np.random.default_rng(s).permutation(train.n) for s in range(2)])
    scores = u.permutation_scores(perms, truncation=lambda t, s: np.full(len(s), t >= 10))
    assert np.all(scores[:, 11:] == scores[:, [10]])


def test_bad_inputs_are_named(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    with pytest.raises(InvalidDataError, match="single class"):
        one = train.subset(np.flatnonzero(train.y == 0))
        Utility("logistic", one, valid)
    with pytest.raises(InvalidDataError, match="features"):
        Utility(
            "logistic", train, Dataset.from_arrays(valid.X[:, :3], valid.y, classes=train.classes)
        )
    u = Utility("logistic", train, valid)
    with pytest.raises(InvalidDataError, match=r"shape \(B, 341\)"):
        u(np.ones((2, 5), bool))
    with pytest.raises(InvalidDataError, match="non-negative"):
        u(-np.ones(train.n))


def test_validation_labels_unseen_in_train_are_rejected() -> None:
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = np.array([0, 1, 2] * 10)
    full = Dataset.from_arrays(X, y)
    train = full.subset(np.flatnonzero(y != 2))
    valid = full.subset(np.arange(30))
    with pytest.raises(InvalidDataError, match=r"never has: \[2\]"):
        Utility("logistic", train, valid)
