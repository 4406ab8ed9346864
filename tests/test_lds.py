"""LDS: 1 for an exact linear datamodel; the retraining path with a batched logistic learner."""

from __future__ import annotations

import numpy as np
import pytest

from assay.errors import InvalidDataError, InvalidParameterError
from assay.evaluate.lds import (
    lds_from_outputs,
    linear_datamodeling_score,
    retrain_margins,
    subset_masks,
)
from assay.learners.logistic import LogisticRegression
from tests.conftest import tiny_task


def test_exact_linear_datamodel_has_lds_one() -> None:
    rng = np.random.default_rng(0)
    tau = rng.normal(size=(4, 30))
    masks = subset_masks(30, 40, seed=1)
    actual = masks @ tau.T + 2.0  # outputs are exactly linear in the subset
    lds, per = lds_from_outputs(tau, masks, actual)
    assert lds == pytest.approx(1.0) and np.allclose(per, 1.0)
    lds_neg, _ = lds_from_outputs(-tau, masks, actual)
    assert lds_neg == pytest.approx(-1.0)
    noise, _ = lds_from_outputs(rng.normal(size=tau.shape), masks, actual)
    assert abs(noise) < 0.5


def test_lds_with_retraining_rewards_a_fitted_datamodel() -> None:
    train, test = tiny_task(n_train=20, n_valid=6, seed=0)
    learner = LogisticRegression()
    masks = subset_masks(train.n, 200, seed=2)
    actual = retrain_margins(learner, train, test, masks)
    assert actual.shape == (200, test.n) and np.isfinite(actual).all()
    A = np.c_[masks.astype(float), np.ones(len(masks))]
    tau = np.linalg.lstsq(A, actual, rcond=None)[0][:-1].T  # the best linear datamodel
    good = linear_datamodeling_score(tau, learner, train, test, n_subsets=60, seed=3)
    bad = linear_datamodeling_score(-tau, learner, train, test, n_subsets=60, seed=3)
    assert good.lds > 0.5 > bad.lds
    assert good.predicted.shape == (60, test.n)


def test_lds_input_errors() -> None:
    with pytest.raises(InvalidParameterError, match="frac"):
        subset_masks(5, 10, frac=1.0)
    with pytest.raises(InvalidDataError, match="share n_train"):
        lds_from_outputs(np.zeros((2, 3)), np.zeros((5, 4)), np.zeros((5, 2)))
