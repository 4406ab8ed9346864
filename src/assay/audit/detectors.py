"""The audit's cross-fitted detectors: every row's out-of-fold class probabilities.

Each of K stratified folds (:func:`stratified_folds`) is predicted by a model fitted on the
other folds, so no row is scored by a model that saw its label: L2 logistic regression
(:func:`oof_logistic`: assay's batched trainer or scikit-learn), scikit-learn's
HistGradientBoostingClassifier on compact features (:func:`oof_hgb`, :func:`compact_features`),
and the k-NN vote's smoothed label counts (:func:`knn_proba`). On the large-table path the fold
models train on a share of rows (:func:`fit_rows`) and predict in chunks of
:data:`PREDICT_ROWS`; the features are standardised in chunks (:func:`standardised`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.data.encode import TableEncoder
from assay.errors import InvalidParameterError
from assay.progress import progress_bar

#: rows x features x max(classes - 1, 1) from which the logistic detector uses the batched
#: (torch) trainer. Measured on Adult (48,842 x 110, binary: 5.4e6): the five scikit-learn fits
#: took 1.14 s, the batched fit 0.55 s after a 1.4 s torch import, so the whole process breaks
#: even at about 2.4x Adult's size.
BATCHED_CELLS = 13_000_000
#: rows predicted at once on the large-table path (bounds the temporaries of predict_proba)
PREDICT_ROWS = 65_536


def stratified_folds(y: NDArray[np.int64], k: int, seed: int) -> NDArray[np.int64]:
    """Each row's fold in ``0 .. k - 1``: stratified by label (plain K-fold when a class has
    fewer than ``k`` rows), shuffled with ``seed``."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(y), np.int64)
    counts = np.bincount(y)
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    strat = y if counts[counts > 0].min() >= k else np.zeros_like(y)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(y)), strat)):
        fold[test] = f
    return fold


def fit_rows(
    y: NDArray[np.int64], fold: NDArray[np.int64], cap: int, seed: int = 0
) -> NDArray[np.bool_] | None:
    """The rows the cross-fitted models train on: None (all) while every fold's training set
    has at most ``cap`` rows, else a seeded random share of rows giving each fold about ``cap``
    (every row of a class with fewer than 1,000 rows is kept, so no fold loses a class).

    A model's out-of-fold probabilities change little past a few hundred thousand rows, while
    its cost grows with them; every row is still predicted by the model of its own fold.
    """
    if cap < 1:
        raise InvalidParameterError(f"cap must be >= 1, got {cap}")
    most = len(y) - int(np.bincount(fold).min())  # the largest fold's training set
    if most <= cap:
        return None
    keep = np.random.default_rng(seed).random(len(y)) < cap / most
    return np.asarray(keep | (np.bincount(y)[y] < 1000))


def _chunks(rows: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    return [rows[lo : lo + PREDICT_ROWS] for lo in range(0, len(rows), PREDICT_ROWS)]


def oof_logistic(
    X: NDArray[np.floating[Any]],
    y: NDArray[np.int64],
    n_classes: int,
    fold: NDArray[np.int64],
    backend: str = "auto",
    *,
    fit_mask: NDArray[np.bool_] | None = None,
    progress: bool = False,
) -> NDArray[np.float64]:
    """Out-of-fold probabilities (n, K) of L2 logistic regression (C = 1), one model per fold.

    ``backend="batched"``: assay's batched trainer fits the K fold models in one fit (float32);
    ``"sklearn"``: scikit-learn's ``LogisticRegression``, one fit per fold, the same objective.
    ``"auto"`` takes the batched trainer from :data:`BATCHED_CELLS` rows x features x
    ``max(K - 1, 1)``; below that the K fits cost less than importing torch.

    ``fit_mask`` (:func:`fit_rows`): the rows the models may train on (the large-table path).
    ``"auto"`` then fits fold by fold with scikit-learn, predicting each fold's rows in chunks:
    one model at a time has nothing to batch (a million rows, 200,000 fitted per fold: 1.5 s
    against the batched trainer's 2.6 s), and the audit never imports torch, 0.18 GB of its
    peak memory. ``progress``: a bar over the folds.
    """
    if backend not in ("auto", "batched", "sklearn"):
        raise InvalidParameterError(f"backend must be auto, batched or sklearn, got {backend!r}")
    cells = X.shape[0] * X.shape[1] * max(n_classes - 1, 1)
    sklearn = backend == "sklearn" or (backend == "auto" and cells < BATCHED_CELLS)
    if sklearn or (backend == "auto" and fit_mask is not None):
        return _oof_sklearn_logistic(X, y, n_classes, fold, fit_mask, progress)
    import torch

    from assay.learners.base import TrainingData
    from assay.learners.logistic import LogisticRegression

    k = int(fold.max()) + 1
    # binary: float32 and a loose tolerance (ranks need 3 digits of probability, not 10; 12x
    # faster on Adult). Multiclass stays float64: in float32 the batched softmax fit stopped
    # after one Newton step, reporting convergence.
    dtype = torch.float32 if n_classes == 2 else torch.float64
    learner = LogisticRegression(dtype=str(dtype).removeprefix("torch."), tol=1e-4)
    Xt = torch.tensor(X, dtype=dtype)
    yt = torch.tensor(y)
    data = TrainingData(Xt, yt, n_classes, torch.nn.functional.one_hot(yt, n_classes).to(dtype))
    W = (torch.tensor(fold)[None, :] != torch.arange(k)[:, None]).to(dtype)
    proba = learner.fit(data, W).predict_proba(Xt).double().numpy()  # (k, n, K)
    return np.asarray(proba[fold, np.arange(len(y))])


def _oof_sklearn_logistic(
    X: NDArray[np.floating[Any]],
    y: NDArray[np.int64],
    n_classes: int,
    fold: NDArray[np.int64],
    fit_mask: NDArray[np.bool_] | None = None,
    progress: bool = False,
) -> NDArray[np.float64]:
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(y), n_classes))
    k = int(fold.max()) + 1
    with progress_bar(k, "logistic", progress, "fold") as bar:
        for f in range(k):
            tr = (fold != f) if fit_mask is None else (fold != f) & fit_mask
            te = np.flatnonzero(fold == f)
            present = np.unique(y[tr])
            if len(present) < 2:  # nothing to fit: the one class seen
                out[np.ix_(te, present)] = 1.0
                bar.update()
                continue
            model = LogisticRegression(C=1.0, max_iter=1000).fit(X[tr], y[tr])
            for rows in _chunks(te):
                out[np.ix_(rows, model.classes_)] = model.predict_proba(X[rows])
            bar.update()
    return out


def compact_features(
    X: NDArray[np.floating[Any]], encoder: TableEncoder
) -> tuple[NDArray[np.floating[Any]], list[bool]]:
    """``X`` with each one-hot block folded back into one column of level codes, and which
    columns are categorical (for tree models' native categorical splits: fewer, richer columns).

    A row with no level set in its block (a level unseen when the encoder was fitted) gets NaN.
    """
    if not any(p.kind == "categorical" and 1 < len(p.outputs()) <= 255 for p in encoder.columns):
        return X, [False] * X.shape[1]  # nothing to fold: the features themselves, no copy
    cols: list[NDArray[np.floating[Any]]] = []
    is_cat: list[bool] = []
    j = 0
    for plan in encoder.columns:
        width = len(plan.outputs())
        if width == 0:
            continue
        block = X[:, j : j + width]
        if plan.kind == "categorical" and 1 < width <= 255:
            code = block.argmax(1).astype(np.float64)
            # one-hot entries are the largest value of their column (also after scaling)
            hot = block[np.arange(len(X)), block.argmax(1)] > block.min(0)[block.argmax(1)]
            cols.append(np.where(hot, code, np.nan))
            is_cat.append(True)
        else:
            cols.extend(block.T)
            is_cat.extend([False] * width)
        j += width
    return np.column_stack(cols), is_cat


def oof_hgb(
    X: NDArray[np.floating[Any]],
    y: NDArray[np.int64],
    n_classes: int,
    fold: NDArray[np.int64],
    seed: int,
    categorical: Sequence[bool] | None = None,
    *,
    fit_mask: NDArray[np.bool_] | None = None,
    progress: bool = False,
) -> NDArray[np.float64]:
    """Out-of-fold probabilities (n, K) of HistGradientBoostingClassifier, one model per fold
    (``categorical`` marks columns of level codes for native categorical splits).

    ``fit_mask`` (:func:`fit_rows`): the rows the models may train on, each fold's rows then
    predicted in chunks (the large-table path); ``progress``: a bar over the folds.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    cats = list(categorical) if categorical is not None and any(categorical) else None
    out = np.zeros((len(y), n_classes))
    k = int(fold.max()) + 1
    with progress_bar(k, "hgb", progress, "fold") as bar:
        for f in range(k):
            tr, te = fold != f, fold == f
            model = HistGradientBoostingClassifier(random_state=seed, categorical_features=cats)
            if fit_mask is None:
                model.fit(X[tr], y[tr])
                out[np.ix_(te, model.classes_)] = model.predict_proba(X[te])
            else:
                model.fit(X[tr & fit_mask], y[tr & fit_mask])
                for rows in _chunks(np.flatnonzero(te)):
                    out[np.ix_(rows, model.classes_)] = model.predict_proba(X[rows])
            bar.update()
    return out


def standardised(X: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    """``X`` with every column at mean 0 and standard deviation 1 (a constant column at 0), in
    a new array of its dtype, written in chunks of rows (no full-size temporaries)."""
    mean = X.mean(0, dtype=np.float64)
    # numpy's std subtracts the mean from a float64 copy of all of X (0.4 GB at 1e6 x 50)
    squares = np.zeros(X.shape[1])
    for lo in range(0, len(X), PREDICT_ROWS):
        squares += ((X[lo : lo + PREDICT_ROWS] - mean) ** 2).sum(0)
    std = np.sqrt(squares / max(len(X), 1))
    scale = np.where(std > 0, std, 1.0)
    out = np.empty_like(X)
    for lo in range(0, len(X), PREDICT_ROWS):
        part = X[lo : lo + PREDICT_ROWS]
        out[lo : lo + PREDICT_ROWS] = (part - mean) / scale
    return out


def knn_proba(y_nbr: NDArray[np.int64], n_classes: int) -> NDArray[np.float64]:
    """Class probabilities (n, K) from the neighbours' labels ``y_nbr`` (n, k), Laplace-smoothed:
    ``(count_c + 1) / (k + K)`` (never 0, so the k-NN vote can enter a geometric mean)."""
    counts = np.stack([(y_nbr == c).sum(1) for c in range(n_classes)], 1)
    return np.asarray((counts + 1.0) / (y_nbr.shape[1] + n_classes))
