"""Influence functions of a ridge regression, in closed form (the regression form of Koh & Liang).

With parameters ``theta = (beta, c)`` and rows augmented by a constant, ``xa = (x, 1)``, the
ridge objective ``sum_i (y_i - xa_i . theta)^2 + alpha ||beta||^2`` has

    g_i = -2 r_i xa_i  (r_i = y_i - xa_i . theta, the residual),
    H   = 2 (Xa^T Xa + diag(alpha, ..., alpha, 0)),

and the validation loss (mean squared error, or its sum for IV) has gradient
``g_V = -2/m sum_v r_v xa_v``. The score ``g_V^T H^{-1} g_i`` is the first-order change of the
validation loss when point i is removed: **positive = removing it hurts = valuable**, the same
sign as the classification influence. The tests compare it with real retraining (finite
differences of the weight of point i, and leave-one-out).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError
from assay.learners.base import BatchLearner
from assay.learners.ridge import RidgeRegression


def _augment(X: torch.Tensor, fit_intercept: bool) -> torch.Tensor:
    if not fit_intercept:
        return X
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], 1)


def ridge_influence(
    learner: BatchLearner,
    train: Dataset,
    valid: Dataset,
    *,
    reduction: str = "mean",
    damping: float = 0.0,
) -> NDArray[np.float64]:
    """``g_V^T H^{-1} g_i`` for every training point of a full-data ridge fit: (n,).

    Parameters
    ----------
    learner : RidgeRegression
    train, valid : Dataset
        Regression datasets.
    reduction : {"mean", "sum"}
        Validation loss averaged (Koh & Liang) or summed (IV).
    damping : float
        Added to ``H``'s diagonal (needed only for ``alpha = 0`` with collinear features).

    Raises
    ------
    InvalidParameterError
        The learner is not a ridge regression, or ``reduction`` is unknown.
    """
    if not isinstance(learner, RidgeRegression):
        raise InvalidParameterError(
            f"influence on a regression target needs the ridge learner, got {learner.name!r}"
        )
    if reduction not in ("mean", "sum"):
        raise InvalidParameterError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    data, vdata = learner.prepare(train), learner.prepare(valid)
    fitted = learner.fit(data, torch.ones(1, train.n, dtype=learner.dtype, device=learner.device))
    theta = (
        torch.cat([fitted.coef[0], fitted.intercept[:1]])
        if learner.fit_intercept
        else (fitted.coef[0])
    )
    Xa, Xv = _augment(data.X, learner.fit_intercept), _augment(vdata.X, learner.fit_intercept)
    r, rv = data.y - Xa @ theta, vdata.y - Xv @ theta
    reg = torch.full((Xa.shape[1],), float(learner.alpha) + damping / 2, dtype=Xa.dtype)
    if learner.fit_intercept:
        reg[-1] = damping / 2
    H = 2 * (Xa.T @ Xa + torch.diag(reg.to(Xa.device)))
    g_v = -2 * (rv[:, None] * Xv).sum(0) / (valid.n if reduction == "mean" else 1)
    h = torch.linalg.solve(H, g_v)
    return (-2 * r * (Xa @ h)).cpu().numpy()
