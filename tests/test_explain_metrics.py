"""Value loss H_eta against literal retraining, errors against exact values, baselines per
prediction."""

from __future__ import annotations

import numpy as np
import pytest

from assay.errors import InvalidDataError, InvalidParameterError
from assay.explain import PredictionUtility
from assay.explain.metrics import (
    error_vs_exact,
    global_values,
    per_prediction_values,
    removal_masks,
    value_loss,
)
from assay.utility import Utility
from assay.valuation import ExactShapley, LeaveOneOut, TMCShapley
from tests.test_explain_support import one_thread, tiny_task  # noqa: F401


def test_removal_masks_drop_the_top_eta_by_value() -> None:
    values = np.array([[0.1, 0.5, -0.2, 0.3, 0.0, 0.2, 0.4, 0.6, -0.1, 0.05]])
    masks = removal_masks(values, (0.0, 0.1, 0.2, 0.3))
    assert masks.shape == (1, 4, 10)
    assert masks[0, 0].all()
    np.testing.assert_array_equal(np.flatnonzero(~masks[0, 1]), [7])
    np.testing.assert_array_equal(np.flatnonzero(~masks[0, 2]), [1, 7])
    np.testing.assert_array_equal(np.flatnonzero(~masks[0, 3]), [1, 6, 7])
    ties = removal_masks(np.zeros((1, 4)), (0.5,))
    np.testing.assert_array_equal(ties[0, 0], [False, False, True, True])  # data order
    with pytest.raises(InvalidParameterError, match="etas"):
        removal_masks(values, (1.0,))
    with pytest.raises(InvalidDataError, match="non-finite"):
        removal_masks(np.array([[np.nan, 1.0]]), (0.5,))


def test_value_loss_is_the_cross_entropy_after_literal_retraining() -> None:
    task = tiny_task(n=10)
    putil = PredictionUtility("logistic", task.train)
    X, y = task.test.X[:6], task.test.y[:6]
    values = np.random.default_rng(0).normal(size=(6, 10))
    etas = (0.1, 0.2)
    out = value_loss(putil, X, y, values, etas)
    masks = removal_masks(values, etas)
    for j in range(6):
        point = Utility("logistic", task.train, task.test.subset([j]), "confidence")
        for e in range(2):
            p = float(point(masks[j, e][None])[0, 0])  # retrain on the rest, score p_y(x)
            assert out["loss"][j, e] == pytest.approx(-np.log(p), rel=1e-6)
    np.testing.assert_allclose(out["H"], out["loss"].mean(0))
    with pytest.raises(InvalidDataError, match="values"):
        value_loss(putil, X, y, values[:, :5], etas)


def test_error_vs_exact() -> None:
    exact = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])
    assert error_vs_exact(exact, exact) == {"mae": 0.0, "relative_l2": 0.0, "spearman": 1.0}
    est = exact + 0.1
    err = error_vs_exact(est, exact)
    assert err["mae"] == pytest.approx(0.1)
    assert err["relative_l2"] == pytest.approx(
        np.mean([np.sqrt(0.03) / np.sqrt(14), np.sqrt(0.03) / np.sqrt(2)])
    )
    with pytest.raises(InvalidDataError, match="shape"):
        error_vs_exact(exact, exact[:, :2])


def test_baselines_per_prediction_shared_or_independent() -> None:
    task = tiny_task()
    putil = PredictionUtility("logistic", task.train)
    X, y = task.test.X[:4], task.test.y[:4]
    shared, _ = per_prediction_values(LeaveOneOut(), putil, X, y, shared=True)
    alone, _ = per_prediction_values(LeaveOneOut(), putil, X, y, shared=False)
    np.testing.assert_allclose(shared, alone, rtol=1e-6, atol=1e-9)
    exact, _ = per_prediction_values(ExactShapley(), putil, X, y)
    tmc, seconds = per_prediction_values(
        TMCShapley(300, truncation_rtol=None, batch_size=300), putil, X, y, shared=False
    )
    assert seconds > 0
    np.testing.assert_allclose(tmc.sum(1), exact.sum(1), atol=1e-6)  # telescoping sums
    assert error_vs_exact(tmc, exact)["relative_l2"] < 0.2


def test_global_values_are_leave_one_out_on_test_accuracy_for_every_prediction() -> None:
    task = tiny_task(n=10)
    putil = PredictionUtility("logistic", task.train)
    values, seconds = global_values(LeaveOneOut(), putil, task.test, 3)
    assert values.shape == (3, 10) and seconds >= 0
    np.testing.assert_array_equal(values, np.repeat(values[:1], 3, axis=0))
    full = Utility("logistic", task.train, task.test)  # real retraining without each point
    everyone = full(np.ones((1, 10), dtype=bool))[0]
    for i in range(10):
        mask = np.ones((1, 10), dtype=bool)
        mask[0, i] = False
        assert values[0, i] == pytest.approx(everyone - full(mask)[0], abs=1e-9)
    with pytest.raises(InvalidParameterError, match="n_predictions"):
        global_values(LeaveOneOut(), putil, task.test, 0)
