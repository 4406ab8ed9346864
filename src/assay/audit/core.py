"""One call that scores every row of a table for label quality (see :func:`audit`).

Detectors, all out of sample, so no row is held out and every row is scored:

- ``logistic``: cross-fitted probabilities of assay's batched logistic regression (the K fold
  models are trained in one batched fit, each predicting the fold it did not see);
- ``hgb``: 5-fold out-of-fold probabilities of scikit-learn's HistGradientBoostingClassifier;
- ``knn``: the share of a row's k nearest neighbours (on the encoded, scaled features; FAISS when
  installed, else scikit-learn) that carry its label.

The probabilities of the model detectors are averaged; ``label_quality`` is the weighted mean of
the per-detector ranks, scaled to [0, 1] (lower = more likely mislabelled), with weights
:data:`WEIGHTS`. The estimated number of label errors is the confident-learning count (rows whose
confidently predicted class, against per-class thresholds, differs from the given label) with a
bootstrap interval; ``is_label_issue`` flags that many lowest-quality rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.data.encode import TableEncoder
from assay.data.io import encode_frame
from assay.errors import InvalidParameterError

METHODS = ("logistic", "hgb", "knn")
#: rank weights of the detectors in ``label_quality``
WEIGHTS = {"proba": 0.8, "knn": 0.2}


@dataclass
class AuditResult:
    """The audited table (original columns first), a summary, and the fitted encoder."""

    table: pd.DataFrame
    summary: dict[str, Any]
    encoder: TableEncoder
    suspects: pd.DataFrame = field(default_factory=pd.DataFrame)


def _folds(y: NDArray[np.int64], k: int, seed: int) -> NDArray[np.int64]:
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(y), np.int64)
    counts = np.bincount(y)
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    strat = y if counts[counts > 0].min() >= k else np.zeros_like(y)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(y)), strat)):
        fold[test] = f
    return fold


def oof_logistic(
    X: NDArray[np.float64], y: NDArray[np.int64], n_classes: int, fold: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Out-of-fold probabilities (n, K) of K logistic models trained in one batched fit."""
    import torch

    from assay.learners.base import TrainingData
    from assay.learners.logistic import LogisticRegression

    k = int(fold.max()) + 1
    learner = LogisticRegression()
    Xt = torch.tensor(X)
    yt = torch.tensor(y)
    data = TrainingData(Xt, yt, n_classes, torch.nn.functional.one_hot(yt, n_classes).double())
    W = torch.tensor((fold[None, :] != np.arange(k)[:, None]).astype(np.float64))
    proba = learner.fit(data, W).predict_proba(Xt).numpy()  # (k, n, K)
    return np.asarray(proba[fold, np.arange(len(y))])


def oof_hgb(
    X: NDArray[np.float64], y: NDArray[np.int64], n_classes: int, fold: NDArray[np.int64], seed: int
) -> NDArray[np.float64]:
    """Out-of-fold probabilities (n, K) of HistGradientBoostingClassifier, one model per fold."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    out = np.zeros((len(y), n_classes))
    for f in range(int(fold.max()) + 1):
        tr, te = fold != f, fold == f
        model = HistGradientBoostingClassifier(random_state=seed).fit(X[tr], y[tr])
        out[np.ix_(te, model.classes_)] = model.predict_proba(X[te])
    return out


def knn_graph(X: NDArray[np.float64], k: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distances and positions of each row's ``k`` nearest other rows (FAISS, else sklearn)."""
    k = min(k, len(X) - 1)
    try:
        import faiss

        index = faiss.IndexFlatL2(X.shape[1])
        xf = np.ascontiguousarray(X, dtype=np.float32)
        index.add(xf)
        d2, idx = index.search(xf, k + 1)
        dist = np.sqrt(np.maximum(d2, 0.0)).astype(np.float64)
    except ImportError:
        from sklearn.neighbors import NearestNeighbors

        dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    # drop each row itself (it may not come first among exact duplicates)
    rows = np.arange(len(X))[:, None]
    keep = idx != rows
    keep[keep.sum(1) > k, -1] = False
    return dist[keep].reshape(len(X), k), idx[keep].reshape(len(X), k).astype(np.int64)


def _rank01(score: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ranks of ``score`` scaled to [0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    if len(score) < 2:
        return np.ones(len(score))
    return (rankdata(score) - 1) / (len(score) - 1)


def confident_count(
    proba: NDArray[np.float64], y: NDArray[np.int64], *, n_boot: int = 200, seed: int = 0
) -> tuple[int, tuple[int, int], NDArray[np.int64]]:
    """Confident-learning estimate of the number of label errors, a 95% bootstrap interval, and
    the (K, K) confident joint (given label x confidently predicted class)."""
    n, K = proba.shape
    thr = np.array([proba[y == c, c].mean() if (y == c).any() else 1.0 for c in range(K)])
    above = proba >= thr[None, :]
    masked = np.where(above, proba, -1.0)
    guess = masked.argmax(1)
    confident = above.any(1)
    joint = np.zeros((K, K), np.int64)
    np.add.at(joint, (y[confident], guess[confident]), 1)
    err = confident & (guess != y)
    rng = np.random.default_rng(seed)
    boots = rng.binomial(n, err.mean(), n_boot) if n else np.zeros(n_boot)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return int(err.sum()), (int(lo), int(hi)), joint


def audit(
    frame: pd.DataFrame,
    target: str,
    *,
    methods: Sequence[str] = METHODS,
    k_folds: int = 5,
    n_neighbors: int = 10,
    seed: int = 0,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    top: int = 10,
) -> AuditResult:
    """Score every row of ``frame`` for label quality, outlyingness and near duplicates.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as the user has it (any column types, missing values, an id column).
    target : str
        The label column.
    methods : sequence of {"logistic", "hgb", "knn"}
        Detectors combined into ``label_quality`` (see the module docstring).
    k_folds : int
        Folds of the cross-fitted models.
    n_neighbors : int
        Neighbours of the k-NN graph (label agreement, outliers, duplicates).
    seed : int
    id_column, drop, categorical
        See :class:`~assay.data.encode.TableEncoder`.
    top : int
        Suspects listed in the summary.

    Returns
    -------
    AuditResult
        ``table`` has one row per input row, in input order: the original columns, then
        ``label_quality`` (in [0, 1], lower = more likely mislabelled), ``is_label_issue``,
        ``suggested_label``, ``outlier_score``, ``near_duplicate_of`` and one column per detector.
        Rows without a label get quality 1 and no suggestion.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise InvalidParameterError(f"methods must be among {list(METHODS)}, got {list(methods)}")
    if k_folds < 2:
        raise InvalidParameterError(f"k_folds must be >= 2, got {k_folds}")
    if n_neighbors < 1:
        raise InvalidParameterError(f"n_neighbors must be >= 1, got {n_neighbors}")
    frame = frame.reset_index(drop=True)
    data, encoder, n_unlabelled = encode_frame(
        frame, target, id_column=id_column, drop=drop, categorical=categorical
    )
    pos = np.flatnonzero(frame[target].notna().to_numpy())  # input rows that have a label
    X = np.asarray(data.X)
    std = X.std(0)
    X = (X - X.mean(0)) / np.where(std > 0, std, 1.0)
    y, K = np.asarray(data.y), data.n_classes
    fold = _folds(y, k_folds, seed)
    scores: dict[str, NDArray[np.float64]] = {}
    probas = []
    if "logistic" in methods:
        probas.append(oof_logistic(X, y, K, fold))
        scores["logistic"] = probas[-1][np.arange(len(y)), y]
    if "hgb" in methods:
        probas.append(oof_hgb(X, y, K, fold, seed))
        scores["hgb"] = probas[-1][np.arange(len(y)), y]
    dist, nbr = knn_graph(X, n_neighbors)
    agree = (y[nbr] == y[:, None]).mean(1)
    if "knn" in methods:
        scores["knn"] = agree
    if probas:
        proba = np.mean(probas, axis=0)
    else:  # neighbours' label shares as probabilities
        proba = np.stack([(y[nbr] == c).mean(1) for c in range(K)], 1)
    parts, weights = [], []
    if probas:
        parts.append(_rank01(proba[np.arange(len(y)), y]))
        weights.append(WEIGHTS["proba"])
    if "knn" in methods:
        parts.append(_rank01(agree))
        weights.append(WEIGHTS["knn"])
    quality = np.average(np.stack(parts), axis=0, weights=weights)
    n_err, interval, joint = confident_count(proba, y, seed=seed)
    issue = np.zeros(len(y), bool)
    issue[np.argsort(quality, kind="stable")[:n_err]] = True
    suggested = np.asarray(data.classes)[proba.argmax(1)]
    outlier = _rank01(dist.mean(1))
    nn_d = dist[:, 0]
    scale = float(np.median(nn_d[nn_d > 0])) if (nn_d > 0).any() else 1.0
    ids = np.asarray(data.ids)
    dup = np.where(nn_d <= 1e-9 + 1e-3 * scale, ids[nbr[:, 0]].astype(object), "")
    first = nbr[:, 0] > np.arange(len(y))  # the earlier row of a pair is the original
    dup[first & (nn_d <= 1e-9 + 1e-3 * scale)] = ""

    n = len(frame)
    table = frame.copy()
    table["label_quality"] = 1.0
    table.loc[pos, "label_quality"] = quality
    table["is_label_issue"] = False
    table.loc[pos, "is_label_issue"] = issue
    table["suggested_label"] = pd.Series([None] * n, dtype=object)
    table.loc[pos, "suggested_label"] = pd.Series(suggested, index=pos, dtype=object)
    table["outlier_score"] = 0.0
    table.loc[pos, "outlier_score"] = outlier
    table["near_duplicate_of"] = ""
    table.loc[pos, "near_duplicate_of"] = pd.Series(dup.astype(str), index=pos)
    for name, s in scores.items():
        table[f"score_{name}"] = np.nan
        table.loc[pos, f"score_{name}"] = s
    classes = [str(c) for c in np.asarray(data.classes).tolist()]
    noise = pd.DataFrame(joint, index=[f"given {c}" for c in classes], columns=classes)
    suspects = table.loc[pos[np.argsort(quality, kind="stable")[:top]]]
    summary = {
        "rows": n,
        "rows_without_label": n_unlabelled,
        "features": len(encoder.feature_names),
        "methods": list(methods),
        "weights": WEIGHTS,
        "estimated_label_errors": n_err,
        "estimated_label_errors_interval": list(interval),
        "flagged": int(issue.sum()),
        "near_duplicates": int((dup != "").sum()),
        "class_noise": noise,
        "columns": encoder.report(),
    }
    return AuditResult(table, summary, encoder, suspects)
