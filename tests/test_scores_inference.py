"""Inference-based scores: literal formulas, batched ensembles, value conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.errors import InvalidParameterError
from assay.learners import LogisticRegression, MLPClassifier
from assay.utility import Utility
from assay.valuation.inference import (
    EL2N,
    InferenceScore,
    LossScore,
    MarginScore,
    loss_oracle,
    point_scores,
    train_ensemble,
)


def test_point_scores_follow_their_formulas() -> None:
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), size=(2, 6))
    y = rng.integers(0, 4, 6)
    Pt, yt = torch.tensor(P), torch.tensor(y)
    py = P[:, np.arange(6), y]
    top = np.sort(P, -1)[..., ::-1]
    ref = {
        "loss": -np.log(py),
        "confidence": py,
        "entropy": -(P * np.log(P)).sum(-1),
        "margin": top[..., 0] - top[..., 1],
        "el2n": np.linalg.norm(P - np.eye(4)[y][None], axis=-1),
    }
    for name, expected in ref.items():
        np.testing.assert_allclose(point_scores(Pt, yt, name).numpy(), expected, rtol=1e-12)
    with pytest.raises(InvalidParameterError, match="score must be"):
        point_scores(Pt, yt, "forgetting")


def test_single_model_scores_equal_a_direct_fit(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid)
    lr = LogisticRegression()
    data = lr.prepare(train)
    P = lr.fit(data, torch.ones(1, train.n, dtype=torch.float64)).predict_proba(data.X)[0].numpy()
    loss = LossScore().fit(u)
    np.testing.assert_allclose(loss.values, -np.log(P[np.arange(train.n), train.y]), rtol=1e-8)
    margin = MarginScore().fit(u)
    np.testing.assert_allclose(margin.values, np.abs(P[:, 1] - P[:, 0]), rtol=1e-8)
    assert margin.direction == "higher-is-better" and (margin.stderr == 0).all()
    assert loss.direction == "higher-is-suspect" and "sign" not in loss.params
    # the same model as a sensitivity-sampling oracle
    oracle = loss_oracle(lr.fit(data, torch.ones(1, train.n, dtype=torch.float64)), data.X, data.y)
    np.testing.assert_allclose(oracle(np.array([3, 0, 7])), loss.values[[3, 0, 7]], rtol=1e-8)


def test_network_ensemble_is_b_independent_runs_in_one_fit() -> None:
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(rng.normal(size=(40, 3)), np.arange(40) % 3)
    mlp = MLPClassifier(hidden=(6,), epochs=5, dtype="float64", seed=4)
    data = mlp.prepare(ds)
    fitted = train_ensemble(mlp, data, 3, seed=0)
    P = fitted.predict_proba(data.X)
    assert not torch.allclose(P[0], P[1])  # different initialisations
    import copy

    for b in range(3):  # model b equals a separate run from its own initialisation
        twin = copy.copy(mlp)
        twin.seed = 4 + b
        alone = mlp.fit(data, torch.ones(1, 40, dtype=torch.float64), twin.initial_state(data, 1))
        torch.testing.assert_close(alone.predict_proba(data.X)[0], P[b], atol=1e-10, rtol=0)


def test_el2n_uses_an_early_trained_ensemble(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility(MLPClassifier(hidden=(8,), epochs=20), train, valid)
    r = EL2N(n_models=4).fit(u)
    assert r.params["epochs"] == 2 and r.params["n_models"] == 4
    assert (r.counts == 4).all() and (r.stderr > 0).mean() > 0.9
    assert r.values.min() >= 0 and r.values.max() <= np.sqrt(2)
    # bootstrap ensembles for convex learners (identical otherwise)
    lo = InferenceScore("entropy", n_models=3).fit(Utility("logistic", train, valid))
    assert (lo.stderr > 0).mean() > 0.9


def test_scores_need_a_utility() -> None:
    with pytest.raises(InvalidParameterError, match="needs a Utility"):
        LossScore().fit(np.zeros((3, 2)))


def test_warm_start_trains_on_the_sampled_rows_only(breast_cancer) -> None:
    from assay.valuation.inference import warm_start

    train, _, _ = breast_cancer
    lr = LogisticRegression()
    data = lr.prepare(train)
    pos, fitted = warm_start(lr, data, 40, seed=2)
    assert len(np.unique(pos)) == 40
    direct = lr.fit(lr.prepare(train.subset(pos)), torch.ones(1, 40, dtype=torch.float64))
    torch.testing.assert_close(fitted.predict_proba(data.X), direct.predict_proba(data.X))
    with pytest.raises(InvalidParameterError, match="warm-start size"):
        warm_start(lr, data, 0)
