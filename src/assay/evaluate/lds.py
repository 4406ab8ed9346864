"""The linear datamodeling score (LDS; Park et al. 2023, TRAK) of an attribution method.

An attribution ``tau`` (m_test, n_train) predicts the output of a model trained on a subset ``S``
as ``sum_{i in S} tau[j, i]`` for test example ``j``. LDS retrains on ``n_subsets`` random subsets
(each training example kept with probability ``frac``, one batched fit of all of them with the
subsets as 0/1 weight rows), measures the actual output (the correct-class margin
``log p_y - log(1 - p_y)``), and averages over test examples the Spearman correlation, across
subsets, between predicted and actual outputs. 1 is a perfect linear datamodel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy.stats import spearmanr

from assay.data import Dataset
from assay.errors import InvalidDataError, InvalidParameterError


@dataclass(frozen=True)
class LDSResult:
    """LDS (mean over test examples), the per-test correlations and the retraining data."""

    lds: float
    per_test: NDArray[np.float64]
    masks: NDArray[np.bool_]
    predicted: NDArray[np.float64]
    actual: NDArray[np.float64]


def subset_masks(n: int, n_subsets: int, *, frac: float = 0.5, seed: int = 0) -> NDArray[np.bool_]:
    """(n_subsets, n) random subsets, each example kept with probability ``frac``."""
    if not 0.0 < frac < 1.0:
        raise InvalidParameterError(f"frac must lie in (0, 1), got {frac}")
    if n_subsets < 3:
        raise InvalidParameterError(f"n_subsets must be >= 3 for a correlation, got {n_subsets}")
    return np.random.default_rng(seed).random((n_subsets, n)) < frac


def lds_from_outputs(
    scores: ArrayLike, masks: ArrayLike, actual: ArrayLike
) -> tuple[float, NDArray[np.float64]]:
    """LDS of ``scores`` (m, n) given subsets ``masks`` (S, n) and actual outputs (S, m)."""
    tau = np.asarray(scores, np.float64)
    M = np.asarray(masks, np.float64)
    Y = np.asarray(actual, np.float64)
    if tau.ndim != 2 or M.ndim != 2 or tau.shape[1] != M.shape[1]:
        raise InvalidDataError(f"scores {tau.shape} and masks {M.shape} must share n_train")
    if Y.shape != (M.shape[0], tau.shape[0]):
        raise InvalidDataError(
            f"actual outputs have shape {Y.shape}, want {(M.shape[0], tau.shape[0])}"
        )
    pred = M @ tau.T
    per = np.array(
        [
            np.nan
            if np.ptp(pred[:, j]) == 0 or np.ptp(Y[:, j]) == 0
            else float(spearmanr(pred[:, j], Y[:, j]).statistic)
            for j in range(tau.shape[0])
        ]
    )
    if np.all(np.isnan(per)):
        raise InvalidDataError("every test example has constant predicted or actual outputs")
    return float(np.nanmean(per)), per


def retrain_margins(
    learner: Any, train: Dataset, test: Dataset, masks: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Correct-class margins (S, m) on ``test`` of models trained on each subset (one batch)."""
    data = learner.prepare(train)
    W = torch.as_tensor(np.asarray(masks), dtype=data.X.dtype, device=data.X.device)
    fitted = learner.fit(data, W)
    X = torch.tensor(np.asarray(test.X), dtype=data.X.dtype, device=data.X.device)
    y = torch.tensor(np.asarray(test.y), dtype=torch.long, device=data.X.device)
    P = fitted.predict_proba(X).to(torch.float64)  # (S, m, K)
    hot = torch.nn.functional.one_hot(y, P.shape[-1]).bool().expand_as(P)
    # log(1 - p_y) as the log of the other classes' sum: 1 - p_y cancels to 0 once p_y rounds
    # to 1 (float32 models on examples they fit well), the other classes' small probabilities
    # do not, so confident examples keep distinct margins instead of tying at a clamp
    py = (P * hot).sum(-1).clamp_min(1e-300)
    rest = (P * ~hot).sum(-1).clamp_min(1e-300)
    return (torch.log(py) - torch.log(rest)).cpu().numpy()


def linear_datamodeling_score(
    scores: ArrayLike,
    learner: Any,
    train: Dataset,
    test: Dataset,
    *,
    n_subsets: int = 50,
    frac: float = 0.5,
    seed: int = 0,
) -> LDSResult:
    """LDS of an attribution ``scores`` (m_test, n_train) for ``learner`` on ``train``/``test``.

    Parameters
    ----------
    scores : array-like (m_test, n_train)
        Attribution of each test example to each training example (e.g. TRAK).
    learner : BatchLearner
        Retrained on every subset in one batched fit.
    train, test : Dataset
    n_subsets : int, default 50
    frac : float, default 0.5
        Probability of keeping each training example in a subset.
    seed : int, default 0
    """
    tau = np.asarray(scores, np.float64)
    if tau.shape != (test.n, train.n):
        raise InvalidDataError(
            f"scores have shape {tau.shape}, want (m_test, n_train) = {(test.n, train.n)}"
        )
    masks = subset_masks(train.n, n_subsets, frac=frac, seed=seed)
    actual = retrain_margins(learner, train, test, masks)
    lds, per = lds_from_outputs(tau, masks, actual)
    return LDSResult(lds, per, masks, masks.astype(np.float64) @ tau.T, actual)
