"""One call that scores every row of a table for label quality (see :func:`audit`).

Detectors, all out of sample, so no row is held out and every row is scored:

- ``logistic``: cross-fitted probabilities of L2 logistic regression (from :data:`BATCHED_CELLS`
  rows x features x classes the K fold models are trained in one fit of assay's batched trainer;
  below it, and on the large-table path where each fold fits a sample, scikit-learn fits them
  one by one);
- ``hgb``: K-fold out-of-fold probabilities of scikit-learn's HistGradientBoostingClassifier on
  compact features (each one-hot block folded back into one native categorical column);
- ``knn``: the share of a row's k nearest neighbours (on the encoded, scaled features; FAISS when
  installed, else scikit-learn) that carry its label;
- ``knn-shapley`` and ``data-oob`` (:mod:`assay.audit.values`): data values, mixed in by rank
  (KNN-Shapley by default under :data:`SHAPLEY_ROWS` rows, :func:`default_methods`).

The combination rule, chosen on data (``benchmarks/audit_rule.py``: 7 tables with 10% flipped
labels; picked on seeds 0 and 1 of every table, reported on seed 2, and checked leaving one
table out, where the rule picked on the other six tables was the same for every table):
:func:`stack` the detectors' out-of-sample class probabilities (the k-NN vote's as smoothed
neighbour label counts, :func:`knn_proba`) as ``softmax(sum_m a_m log p_m + b)`` with weights
``a_m >= 0`` and class biases ``b`` fitted by maximum likelihood on the given labels;
``label_quality`` is the rank, scaled to [0, 1], of the stacked probability of the row's given
label (lower = more likely mislabelled), mixed at rank weight :data:`VALUE_WEIGHT` with the
leave-one-out KNN-Shapley value under :data:`SHAPLEY_ROWS` rows (mean AUC 0.8951 / 0.8954 on the
pick / held-out seeds against 0.8945 / 0.8945 without it). Stacking beat every accuracy-weighted
geometric mean (:func:`model_weights`, :func:`combine_probas`) and any extra k-NN rank weight
(:func:`combine`, ``knn_weight``, default :data:`KNN_WEIGHT` = 0): a model that predicts the labels
worse, or is overconfident, gets less weight, so the stack follows HGB where it is much better
(Adult, telescope) and averages where the models are close (Bank, German, COMPAS).

The estimated number of label errors is the confident-learning count (rows whose confidently
predicted class, against per-class thresholds, differs from the given label) on the combined
probabilities, with a bootstrap interval; ``is_label_issue`` flags that many lowest-quality rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.audit.graph import knn_graph, progress_bar
from assay.audit.values import SHAPLEY_K, SHAPLEY_NEIGHBOURS, data_oob_scores
from assay.data.dataset import check_task, looks_continuous
from assay.data.encode import TableEncoder, numeric_target
from assay.data.io import encode_frame
from assay.errors import InvalidDataError, InvalidParameterError
from assay.valuation.knn_truncated import LooShapleySum

#: detectors whose out-of-sample class probabilities are stacked
PROBA_METHODS = ("logistic", "hgb", "knn")
#: data values mixed in by rank (:mod:`assay.audit.values`; not in the default, by measurement)
VALUE_METHODS = ("data-oob", "knn-shapley")
METHODS = PROBA_METHODS + VALUE_METHODS
#: rows below which the default adds ``knn-shapley`` (see :func:`default_methods`)
SHAPLEY_ROWS = 20_000
#: rank weight, shared by the chosen value detectors, mixed into ``label_quality``
VALUE_WEIGHT = 0.1
#: rows x features x max(classes - 1, 1) from which the logistic detector uses the batched
#: (torch) trainer. Measured on Adult (48,842 x 110, binary: 5.4e6): the five scikit-learn fits
#: took 1.14 s, the batched fit 0.55 s after a 1.4 s torch import, so the whole process breaks
#: even at about 2.4x Adult's size.
BATCHED_CELLS = 13_000_000
#: cells (rows x input columns) above which an audit takes its large-table path
#: (benchmarks/million_rows.py): float32 features standardised in chunks, each fold's logistic
#: and HGB model fitted on at most :data:`FIT_CELLS` of its training cells, out-of-fold
#: probabilities predicted fold by fold in chunks, and the k-NN search's index sized for n
#: (:func:`~assay.audit.graph.ivf_params`). 200,000 rows of 50 columns, or Fashion-MNIST's
#: 70,000 rows of 784 pixels (whose five full-width folds took 110 s each for the logistic fit
#: and 160 s for HGB). The defaults were chosen on tables under 50,000 rows and 6e6 cells
#: (``benchmarks/audit_rule.py``), so none of this changes an audit at or below that size.
LARGE_CELLS = 10_000_000
#: training cells (rows x features) a fold's logistic and HGB models see at most on the
#: large-table path: 200,000 rows of 50 features, 12,755 of 784. On the 1,000,000-row benchmark
#: HGB on every fold's 800,000 rows took most of the audit's time
FIT_CELLS = 10_000_000
#: rows predicted at once on the large-table path (bounds the temporaries of predict_proba)
PREDICT_ROWS = 65_536
#: accuracy gap (on the given labels) over which a model's weight falls by e in the
#: accuracy-weighted rule :func:`model_weights` (a candidate the data did not choose)
TEMPERATURE = 0.02
#: rank weight of the k-NN label agreement mixed into ``label_quality`` after stacking
KNN_WEIGHT = 0.0
#: columns an audit adds to the table (an input column of one of these names is refused)
OUTPUT_COLUMNS = (
    "label_quality",
    "is_label_issue",
    "suggested_label",
    "outlier_score",
    "near_duplicate_of",
)


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


def default_methods(n_rows: int) -> tuple[str, ...]:
    """The detectors an audit of ``n_rows`` labelled rows combines by default.

    The three stacked models, plus leave-one-out KNN-Shapley below :data:`SHAPLEY_ROWS` rows
    (``benchmarks/audit_rule.py``, 7 tables x 3 seeds with 10% flipped labels: mixed in at rank
    weight :data:`VALUE_WEIGHT` it raised the mean ROC-AUC on each of the six tables under 20,000
    rows, by 0.0002 to 0.0024, and lowered it on Adult's 48,842 rows by 0.0009, where its wider
    k-NN graph also costs about 2 s, a fifth of the audit).
    """
    return PROBA_METHODS + (("knn-shapley",) if n_rows < SHAPLEY_ROWS else ())


def check_methods(methods: Sequence[str]) -> None:
    """Refuse unknown detectors, or a set without one whose probabilities can be stacked."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not any(m in PROBA_METHODS for m in methods):
        raise InvalidParameterError(
            f"methods must be among {list(METHODS)}, with at least one of "
            f"{list(PROBA_METHODS)}; got {list(methods)}"
        )


def score_column(method: str) -> str:
    """The output column of one detector's score (``score_knn_shapley`` for ``knn-shapley``)."""
    return "score_" + method.replace("-", "_")


def check_label_count(classes: Any, n: int, target: str) -> None:
    """Refuse a label column with about as many classes as rows (an id, free text or a number).

    Raises
    ------
    InvalidDataError
        If more than half the labelled rows have a class of their own.
    """
    from assay.data.dataset import regression_hint
    from assay.errors import InvalidDataError

    k = len(classes)
    if k > 2 and k > n // 2:
        raise InvalidDataError(
            f"target {target!r} has {k} distinct values in {n} labelled rows: that is an id, "
            f"free text or a number, not a class label{regression_hint(classes)}"
        )


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


def is_large(frame: pd.DataFrame, target: str) -> bool:
    """Whether ``frame`` takes the large-table path: more than :data:`LARGE_CELLS` rows x
    columns besides the target (known before encoding, which already uses the path's float32)."""
    return len(frame) * max(1, frame.shape[1] - int(target in frame.columns)) > LARGE_CELLS


def with_row_columns(
    frame: pd.DataFrame, pos: NDArray[np.int64], columns: dict[str, tuple[Any, Any, Any]]
) -> pd.DataFrame:
    """``frame`` (a default index) with new columns ``name: (fill, values, dtype)``: ``values``
    at rows ``pos``, ``fill`` elsewhere, of ``dtype`` (None: pandas infers it, e.g. text).

    One concat, not a column at a time (a 784-column table warned of fragmentation); the
    caller's frame is never changed and its columns are not copied (copy-on-write).
    """
    added: dict[str, Any] = {}
    for name, (fill, values, dtype) in columns.items():
        out = np.full(len(frame), fill, dtype=object if dtype is None else dtype)
        out[pos] = values
        added[name] = out if dtype is None else pd.Series(out, dtype=dtype, index=frame.index)
    return pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)


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
    with progress_bar(k, "logistic", progress) as bar:
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
    with progress_bar(k, "hgb", progress) as bar:
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


def _standardised(X: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
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


def _rank01(score: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ranks of ``score`` scaled to [0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    if len(score) < 2:
        return np.ones(len(score))
    return (rankdata(score) - 1) / (len(score) - 1)


def model_weights(
    probas: dict[str, NDArray[np.float64]],
    y: NDArray[np.int64],
    temperature: float = TEMPERATURE,
) -> dict[str, float]:
    """Weights (summing to 1) of probability models: ``exp((acc_m - acc_best) / temperature)``
    with ``acc_m`` model m's out-of-fold accuracy on the given labels."""
    if temperature <= 0:
        raise InvalidParameterError(f"temperature must be > 0, got {temperature}")
    acc = {m: float((p.argmax(1) == y).mean()) for m, p in probas.items()}
    best = max(acc.values())
    raw = {m: float(np.exp((a - best) / temperature)) for m, a in acc.items()}
    total = sum(raw.values())
    return {m: w / total for m, w in raw.items()}


def combine_probas(
    probas: dict[str, NDArray[np.float64]], weights: dict[str, float]
) -> NDArray[np.float64]:
    """Weighted geometric mean of the models' (n, K) probabilities, renormalised per row."""
    logp = sum(w * np.log(np.clip(probas[m], 1e-12, 1.0)) for m, w in weights.items())
    logp = np.asarray(logp, dtype=np.float64)
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    return np.asarray(p / p.sum(1, keepdims=True))


def knn_proba(y_nbr: NDArray[np.int64], n_classes: int) -> NDArray[np.float64]:
    """Class probabilities (n, K) from the neighbours' labels ``y_nbr`` (n, k), Laplace-smoothed:
    ``(count_c + 1) / (k + K)`` (never 0, so the k-NN vote can enter a geometric mean)."""
    counts = np.stack([(y_nbr == c).sum(1) for c in range(n_classes)], 1)
    return np.asarray((counts + 1.0) / (y_nbr.shape[1] + n_classes))


def stack(
    probas: dict[str, NDArray[np.float64]], y: NDArray[np.int64]
) -> tuple[NDArray[np.float64], dict[str, float], NDArray[np.float64]]:
    """Stack out-of-sample probabilities by maximum likelihood on the given labels.

    The combined model is ``p(c | x) = softmax_c(sum_m a_m log p_m(c | x) + b_c)`` (a weighted
    geometric mean with class biases), with weights ``a_m >= 0`` and biases ``b`` maximising the
    mean log-likelihood of the given labels (L-BFGS-B; M + K parameters, so fitting them on the
    same rows overfits little). A model that predicts the labels worse, or is overconfident,
    gets a smaller weight.

    Returns
    -------
    (proba, weights, bias)
        Combined (n, K) probabilities, ``{model: a_m}`` and the (K,) biases.
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    names = list(probas)
    L = np.stack([np.log(np.clip(probas[m], 1e-12, 1.0)) for m in names])  # (M, n, K)
    M, n, K = L.shape
    Y = np.eye(K)[y]

    def nll(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        lp = log_softmax(np.tensordot(theta[:M], L, 1) + theta[M:], axis=1)
        g = np.exp(lp) - Y
        grad = np.concatenate([np.einsum("nk,mnk->m", g, L), g.sum(0)]) / n
        return float(-(lp * Y).sum() / n), grad

    theta0 = np.concatenate([np.full(M, 1.0 / M), np.zeros(K)])
    bounds = [(0.0, None)] * M + [(None, None)] * K
    theta = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds).x
    z = np.tensordot(theta[:M], L, 1) + theta[M:]
    proba = np.exp(log_softmax(z, axis=1))
    return proba, {m: float(a) for m, a in zip(names, theta[:M], strict=True)}, theta[M:]


def combine(
    model_score: NDArray[np.float64] | None,
    agreement: NDArray[np.float64] | None,
    knn_weight: float = KNN_WEIGHT,
) -> NDArray[np.float64]:
    """``label_quality`` in [0, 1]: ``(1 - w) * rank(model_score) + w * rank(agreement)``
    (ranks scaled to [0, 1]); either part alone when the other is None."""
    if model_score is None and agreement is None:
        raise InvalidParameterError("combine needs a model score or a k-NN agreement")
    if not 0.0 <= knn_weight <= 1.0:
        raise InvalidParameterError(f"knn_weight must lie in [0, 1], got {knn_weight}")
    if agreement is None:
        return _rank01(np.asarray(model_score))
    if model_score is None:
        return _rank01(agreement)
    return (1 - knn_weight) * _rank01(model_score) + knn_weight * _rank01(agreement)


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
    methods: Sequence[str] | None = None,
    k_folds: int = 5,
    n_neighbors: int = 10,
    seed: int = 0,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    top: int = 10,
    knn_weight: float = KNN_WEIGHT,
    task: str = "auto",
    progress: bool = False,
) -> AuditResult:
    """Score every row of ``frame`` for label quality, outlyingness and near duplicates.

    A regression target (``task="regression"``, or ``"auto"`` with a continuous float target)
    is audited for outlying target values instead: see
    :func:`assay.audit.regression.audit_regression`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as the user has it (any column types, missing values, an id column).
    target : str
        The label column.
    methods : sequence of {"logistic", "hgb", "knn", "data-oob", "knn-shapley"}, optional
        Detectors combined into ``label_quality`` (default :func:`default_methods` of the
        labelled rows; see the module docstring). At least one of the first three, whose
        probabilities are stacked; the data values of :mod:`assay.audit.values` are mixed in by
        rank with total weight :data:`VALUE_WEIGHT`.
    k_folds : int
        Folds of the cross-fitted models.
    n_neighbors : int
        Neighbours of the k-NN graph (label agreement, outliers, duplicates).
    seed : int
    id_column, drop, categorical
        See :class:`~assay.data.encode.TableEncoder`.
    top : int
        Suspects listed in the summary.
    knn_weight : float
        Rank weight of the k-NN label agreement mixed into ``label_quality`` after stacking
        (:func:`combine`); 0, the default, was chosen on data.
    task : {"auto", "classification", "regression"}
        What the target is (``auto``: :func:`assay.data.dataset.looks_continuous`).
    progress : bool
        Progress bars (stderr, with an ETA) for the steps that take long on a large table:
        encoding, each fold of the cross-fitted models, the k-NN search, Data-OOB (not used by
        a regression audit).

    Returns
    -------
    AuditResult
        ``table`` has one row per input row, in input order: the original columns, then
        ``label_quality`` (in [0, 1], lower = more likely mislabelled), ``is_label_issue``,
        ``suggested_label``, ``outlier_score``, ``near_duplicate_of`` and one column per detector.
        Rows without a label get quality 1 and no suggestion.
    """
    check_task(task)
    if task == "regression" or (
        task == "auto"
        and target in frame.columns
        and looks_continuous(numeric_target(frame, target)[target].to_numpy())
    ):
        from assay.audit.regression import audit_regression

        return audit_regression(
            frame,
            target,
            methods=methods,
            k_folds=k_folds,
            n_neighbors=n_neighbors,
            seed=seed,
            id_column=id_column,
            drop=drop,
            categorical=categorical,
            top=top,
        )
    if methods is not None:
        check_methods(methods)
    if k_folds < 2:
        raise InvalidParameterError(f"k_folds must be >= 2, got {k_folds}")
    if n_neighbors < 1:
        raise InvalidParameterError(f"n_neighbors must be >= 1, got {n_neighbors}")
    added = (*OUTPUT_COLUMNS, *(score_column(m) for m in methods or METHODS))
    taken = [c for c in added if c in frame.columns]
    if taken:
        raise InvalidDataError(
            f"the table already has column(s) {taken} that the audit adds; rename them first"
        )
    frame = frame.reset_index(drop=True)  # copy-on-write: no copy of the columns
    large = is_large(frame, target)
    data, encoder, n_unlabelled = encode_frame(
        frame,
        target,
        id_column=id_column,
        drop=drop,
        categorical=categorical,
        dtype=np.float32 if large else np.float64,
        progress=progress,
    )
    check_label_count(data.classes, data.n, target)
    methods = default_methods(data.n) if methods is None else tuple(methods)
    pos = np.flatnonzero(frame[target].notna().to_numpy())  # input rows that have a label
    y, K, ids, labels = np.asarray(data.y), data.n_classes, np.asarray(data.ids), data.classes
    feats: NDArray[np.floating[Any]] = np.asarray(data.X)
    del data  # the raw features live on in ``raw`` only as long as needed
    raw: NDArray[np.floating[Any]] | None = None
    if large:
        X = _standardised(feats)  # HGB takes these: its bins are scale-free
    else:
        std = feats.std(0)
        X = (feats - feats.mean(0)) / np.where(std > 0, std, 1.0)
        raw = feats
    del feats
    fold = _folds(y, k_folds, seed)
    fit_mask = fit_rows(y, fold, max(1, FIT_CELLS // X.shape[1]), seed) if large else None
    scores: dict[str, NDArray[np.float64]] = {}
    probas: dict[str, NDArray[np.float64]] = {}
    rows = np.arange(len(y))
    if "logistic" in methods:
        probas["logistic"] = oof_logistic(X, y, K, fold, fit_mask=fit_mask, progress=progress)
    if "hgb" in methods:
        Xc, is_cat = compact_features(X if raw is None else raw, encoder)
        probas["hgb"] = oof_hgb(Xc, y, K, fold, seed, is_cat, fit_mask=fit_mask, progress=progress)
        del Xc
    raw = None
    for m, p in probas.items():
        scores[m] = p[rows, y]
    # one search: KNN-Shapley's wider neighbour lists start with the k nearest, and it sums
    # over them chunk by chunk, so only the k nearest are kept for every row
    wide = max(n_neighbors, SHAPLEY_NEIGHBOURS) if "knn-shapley" in methods else n_neighbors
    shapley = None
    if "knn-shapley" in methods:
        shapley = LooShapleySum(y, max(1, min(SHAPLEY_K, wide, len(y) - 1)))
    each = None if shapley is None else shapley.add
    dist, nbr = knn_graph(
        X, wide, progress=progress, distances=n_neighbors, keep=n_neighbors, each=each
    )
    agree = (y[nbr] == y[:, None]).mean(1)
    if "knn" in methods:
        scores["knn"] = agree
        probas["knn"] = knn_proba(y[nbr], K)
    if "data-oob" in methods:
        scores["data-oob"] = data_oob_scores(X, y, seed, progress=progress)
    if shapley is not None:
        scores["knn-shapley"] = shapley.values()
    del X
    proba, weights, _ = stack(probas, y)
    quality = combine(proba[rows, y], agree if knn_weight > 0 else None, knn_weight)
    values = [scores[m] for m in VALUE_METHODS if m in methods]
    if values:
        quality = (1 - VALUE_WEIGHT) * quality + VALUE_WEIGHT * np.mean(
            [_rank01(v) for v in values], 0
        )
    n_err, interval, joint = confident_count(proba, y, seed=seed)
    issue = np.zeros(len(y), bool)
    issue[np.argsort(quality, kind="stable")[:n_err]] = True
    suggested = np.asarray(labels)[proba.argmax(1)]
    outlier = _rank01(dist.mean(1))
    nn_d = dist[:, 0]
    scale = float(np.median(nn_d[nn_d > 0])) if (nn_d > 0).any() else 1.0
    dup = np.where(nn_d <= 1e-9 + 1e-3 * scale, ids[nbr[:, 0]].astype(object), "")
    first = nbr[:, 0] > np.arange(len(y))  # the earlier row of a pair is the original
    dup[first & (nn_d <= 1e-9 + 1e-3 * scale)] = ""

    n = len(frame)
    table = with_row_columns(
        frame,
        pos,
        {
            "label_quality": (1.0, quality, np.float64),
            "is_label_issue": (False, issue, bool),
            # object, not inferred text: labels may be numbers, and unlabelled rows hold None
            "suggested_label": (None, suggested, object),
            "outlier_score": (0.0, outlier, np.float64),
            "near_duplicate_of": ("", dup.astype(str), None),
            **{score_column(m): (np.nan, v, np.float64) for m, v in scores.items()},
        },
    )
    classes = [str(c) for c in np.asarray(labels).tolist()]
    noise = pd.DataFrame(joint, index=[f"given {c}" for c in classes], columns=classes)
    suspects = table.loc[pos[np.argsort(quality, kind="stable")[:top]]]
    summary = {
        "rows": n,
        "rows_without_label": n_unlabelled,
        "features": len(encoder.feature_names),
        "methods": list(methods),
        "model_weights": weights,  # stacking weights a_m (see stack)
        "estimated_label_errors": n_err,
        "estimated_label_errors_interval": list(interval),
        "flagged": int(issue.sum()),
        "near_duplicates": int((dup != "").sum()),
        "class_noise": noise,
        "columns": encoder.report(),
        "params": {
            "methods": list(methods),
            "k_folds": k_folds,
            "n_neighbors": n_neighbors,
            "seed": seed,
            "knn_weight": knn_weight,
            "model_weights": {m: round(w, 4) for m, w in weights.items()},
        },
    }
    return AuditResult(table, summary, encoder, suspects)
