"""Audit of a regression target: which rows have outlying target values (:func:`audit_regression`).

Every row is predicted out of sample: K folds, each fold's rows predicted by models trained on the
other folds, so no row is held out and every row is scored.

- ``ridge``: assay's batched closed-form ridge regression, the K fold models in one batched fit;
- ``hgb``: scikit-learn's HistGradientBoostingRegressor, one model per fold;
- ``knn``: the mean target of a row's k nearest neighbours (the row itself excluded).

The chosen detectors' predictions are averaged into the out-of-fold prediction, which is the
``suggested_target``. The residual ``r = y - prediction`` gets a robust z-score (its distance from
the median residual in units of 1.4826 x the median absolute deviation, a standard deviation for
normal residuals that a few gross errors do not inflate); ``target_quality`` is the two-sided
normal tail probability of that z-score, in [0, 1] (lower = more likely a wrong target), and
``is_target_issue`` flags ``|z| > 3.5`` (Iglewicz & Hoaglin's cut-off for modified z-scores).
Outliers in feature space and near duplicates come from the same k-NN graph as the label audit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.data.encode import numeric_target
from assay.data.io import encode_frame
from assay.errors import InvalidParameterError

REGRESSION_METHODS = ("ridge", "hgb", "knn")
#: detectors used when none are named, chosen on data (benchmarks/audit_regression.py: 5% of
#: targets shifted by 1.5-3 standard deviations, mean of 3 seeds): ridge alone is best on the
#: near-linear diabetes table (ROC-AUC 0.974 vs 0.969 for all three) but misses nonlinear
#: structure (Friedman #1: 0.990 vs 0.999, recall of the flag 0.71 vs 0.91); all three together
#: are never far from the best
DEFAULT_METHODS = REGRESSION_METHODS
#: robust z-score beyond which a target is flagged
Z_THRESHOLD = 3.5


def kfold(n: int, k: int, seed: int) -> NDArray[np.int64]:
    """Fold number of every row: a shuffled, seeded K-fold split."""
    from sklearn.model_selection import KFold

    fold = np.empty(n, np.int64)
    for f, (_, test) in enumerate(KFold(k, shuffle=True, random_state=seed).split(np.zeros(n))):
        fold[test] = f
    return fold


def oof_ridge(
    X: NDArray[np.float64], y: NDArray[np.float64], fold: NDArray[np.int64], alpha: float = 1.0
) -> NDArray[np.float64]:
    """Out-of-fold predictions (n,) of K ridge models trained in one batched fit."""
    import torch

    from assay.learners.base import TrainingData
    from assay.learners.ridge import RidgeRegression

    k = int(fold.max()) + 1
    Xt, yt = torch.tensor(X), torch.tensor(y)
    data = TrainingData(Xt, yt, 0, torch.zeros((len(y), 0), dtype=torch.float64))
    W = torch.tensor((fold[None, :] != np.arange(k)[:, None]).astype(np.float64))
    pred = RidgeRegression(alpha=alpha).fit(data, W).predict(Xt).numpy()  # (k, n)
    return np.asarray(pred[fold, np.arange(len(y))])


def oof_hgb_regressor(
    X: NDArray[np.float64], y: NDArray[np.float64], fold: NDArray[np.int64], seed: int
) -> NDArray[np.float64]:
    """Out-of-fold predictions (n,) of HistGradientBoostingRegressor, one model per fold."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    out = np.empty(len(y))
    for f in range(int(fold.max()) + 1):
        tr, te = fold != f, fold == f
        out[te] = HistGradientBoostingRegressor(random_state=seed).fit(X[tr], y[tr]).predict(X[te])
    return out


def robust_z(residual: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Robust z-scores of residuals and the robust scale (1.4826 MAD; the std if MAD is 0)."""
    centre = float(np.median(residual))
    scale = 1.4826 * float(np.median(np.abs(residual - centre)))
    if not scale > 0:
        scale = float(np.std(residual)) or 1.0
    return (residual - centre) / scale, scale


def target_quality(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two-sided normal tail probability ``P(|Z| >= |z|)``: 1 for a typical row, near 0 for a gross
    error."""
    return np.array([math.erfc(abs(v) / math.sqrt(2.0)) for v in np.asarray(z, dtype=float)])


def audit_regression(
    frame: pd.DataFrame,
    target: str,
    *,
    methods: Sequence[str] | None = None,
    k_folds: int = 5,
    n_neighbors: int = 10,
    seed: int = 0,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    top: int = 10,
) -> Any:
    """Score every row of ``frame`` for an outlying target value, outlyingness and duplicates.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as the user has it; ``target`` is numeric.
    target : str
        The numeric target column.
    methods : sequence of {"ridge", "hgb", "knn"}, optional
        Detectors whose out-of-fold predictions are averaged (default :data:`DEFAULT_METHODS`).
    k_folds, n_neighbors, seed, id_column, drop, categorical, top
        As in :func:`assay.audit.audit`.

    Returns
    -------
    AuditResult
        ``table`` has one row per input row, in input order: the original columns, then
        ``target_quality`` (in [0, 1], lower = more likely a wrong target), ``is_target_issue``,
        ``suggested_target`` (the out-of-fold prediction), ``residual``, ``robust_z``,
        ``outlier_score``, ``near_duplicate_of`` and one ``pred_<method>`` column per detector.
        Rows without a target get quality 1 and no suggestion.
    """
    from assay.audit.core import AuditResult, with_row_columns
    from assay.audit.graph import knn_graph
    from assay.audit.stacking import rank01

    methods = tuple(DEFAULT_METHODS if methods is None else methods)
    unknown = [m for m in methods if m not in REGRESSION_METHODS]
    if unknown or not methods:
        raise InvalidParameterError(
            f"regression audit methods must be among {list(REGRESSION_METHODS)}, got "
            f"{list(methods)}"
        )
    if k_folds < 2:
        raise InvalidParameterError(f"k_folds must be >= 2, got {k_folds}")
    if n_neighbors < 1:
        raise InvalidParameterError(f"n_neighbors must be >= 1, got {n_neighbors}")
    frame = frame.reset_index(drop=True)
    frame = numeric_target(frame, target)  # "?" / "n/a" targets are missing values
    data, encoder, n_unlabelled = encode_frame(
        frame, target, id_column=id_column, drop=drop, categorical=categorical, task="regression"
    )
    if data.n < k_folds:
        raise InvalidParameterError(f"{data.n} rows with a target cannot make {k_folds} folds")
    pos = np.flatnonzero(frame[target].notna().to_numpy())
    X = np.asarray(data.X)
    std = X.std(0)
    X = (X - X.mean(0)) / np.where(std > 0, std, 1.0)
    y = np.asarray(data.y, dtype=np.float64)
    fold = kfold(len(y), k_folds, seed)
    dist, nbr = knn_graph(X, n_neighbors)
    preds: dict[str, NDArray[np.float64]] = {}
    if "ridge" in methods:
        preds["ridge"] = oof_ridge(X, y, fold)
    if "hgb" in methods:
        preds["hgb"] = oof_hgb_regressor(X, y, fold, seed)
    if "knn" in methods:
        preds["knn"] = y[nbr].mean(1)
    prediction = np.mean(list(preds.values()), axis=0)
    residual = y - prediction
    z, scale = robust_z(residual)
    quality = target_quality(z)
    issue = np.abs(z) > Z_THRESHOLD
    outlier = rank01(dist.mean(1))
    nn_d = dist[:, 0]
    near = nn_d <= 1e-9 + 1e-3 * (float(np.median(nn_d[nn_d > 0])) if (nn_d > 0).any() else 1.0)
    ids = np.asarray(data.ids)
    dup = np.where(near & (nbr[:, 0] < np.arange(len(y))), ids[nbr[:, 0]].astype(str), "")

    n = len(frame)
    table = with_row_columns(
        frame,
        pos,
        {
            "target_quality": (1.0, quality, np.float64),
            "is_target_issue": (False, issue, bool),
            "suggested_target": (np.nan, prediction, np.float64),
            "residual": (np.nan, residual, np.float64),
            "robust_z": (np.nan, z, np.float64),
            "outlier_score": (0.0, outlier, np.float64),
            "near_duplicate_of": ("", dup, object),
            **{f"pred_{m}": (np.nan, p, np.float64) for m, p in preds.items()},
        },
    )
    order = pos[np.argsort(-np.abs(z), kind="stable")[:top]]
    summary = {
        "task": "regression",
        "rows": n,
        "rows_without_target": n_unlabelled,
        "features": len(encoder.feature_names),
        "methods": list(methods),
        "target_issues": int(issue.sum()),
        "z_threshold": Z_THRESHOLD,
        "residual_scale": scale,
        "oof_r2": float(1 - np.sum(residual**2) / max(np.sum((y - y.mean()) ** 2), 1e-300)),
        "near_duplicates": int((dup != "").sum()),
        "columns": encoder.report(),
        "params": {
            "methods": list(methods),
            "k_folds": k_folds,
            "n_neighbors": n_neighbors,
            "seed": seed,
            "z_threshold": Z_THRESHOLD,
        },
    }
    return AuditResult(table, summary, encoder, table.loc[order])
