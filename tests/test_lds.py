"""LDS: 1 for an exact linear datamodel; the retraining path with a batched logistic learner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.evaluate.lds import (
    lds_from_outputs,
    linear_datamodeling_score,
    retrain_margins,
    subset_masks,
)
from assay.learners.base import TrainingData
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


def test_margins_of_confident_float32_models_do_not_tie() -> None:
    # p_y rounds to 1 in float32 for both test rows; their margins (log 1e6 and log 1e9 odds)
    # must still differ, as they do through the other classes' probabilities
    P = torch.tensor([[[1 - 1e-6, 1e-6], [1e-9, 1 - 1e-9]]], dtype=torch.float32)

    class Fitted:
        def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
            return P.expand(len(masks), -1, -1)

    class Learner:
        def prepare(self, data: Dataset) -> TrainingData:
            return TrainingData.from_dataset(data, torch.float32, "cpu")

        def fit(self, data: TrainingData, weights: torch.Tensor) -> Fitted:
            return Fitted()

    train, test = tiny_task(n_train=6, n_valid=2, seed=0)
    masks = subset_masks(train.n, 3, seed=0)
    got = retrain_margins(Learner(), train, test, masks)
    want = [np.log((1 - 1e-6) / 1e-6), np.log((1 - 1e-9) / 1e-9)]
    np.testing.assert_allclose(got, np.tile(want, (3, 1)), rtol=1e-3)
