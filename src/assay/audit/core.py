"""One call that scores every row of a table for label quality (see :func:`audit`).

Detectors, all out of sample, so no row is held out and every row is scored:

- ``logistic``: cross-fitted probabilities of L2 logistic regression (from
  :data:`~assay.audit.detectors.BATCHED_CELLS` rows x features x classes the K fold models are
  trained in one fit of assay's batched trainer; below it, and on the large-table path where each
  fold fits a sample, scikit-learn fits them one by one);
- ``hgb``: K-fold out-of-fold probabilities of scikit-learn's HistGradientBoostingClassifier on
  compact features (each one-hot block folded back into one native categorical column);
- ``knn``: the share of a row's k nearest neighbours (on the encoded, scaled features; FAISS when
  installed, else scikit-learn) that carry its label;
- ``knn-shapley`` and ``data-oob`` (:mod:`assay.audit.values`): data values, mixed in by rank
  (KNN-Shapley by default under :data:`SHAPLEY_ROWS` rows, :func:`default_methods`).

The combination rule, chosen on data (``benchmarks/audit_rule.py``: 7 tables with 10% flipped
labels; picked on seeds 0 and 1 of every table, reported on seed 2, and checked leaving one
table out, where the rule picked on the other six tables was the same for every table):
:func:`~assay.audit.stacking.stack` the detectors' out-of-sample class probabilities (the k-NN
vote's as smoothed neighbour label counts, :func:`~assay.audit.detectors.knn_proba`) as
``softmax(sum_m a_m log p_m + b)`` with weights ``a_m >= 0`` and class biases ``b`` fitted by
maximum likelihood on the given labels; ``label_quality`` is the rank, scaled to [0, 1], of the
stacked probability of the row's given label (lower = more likely mislabelled), mixed at rank
weight :data:`VALUE_WEIGHT` with the leave-one-out KNN-Shapley value under :data:`SHAPLEY_ROWS`
rows (mean AUC 0.8951 / 0.8954 on the pick / held-out seeds against 0.8945 / 0.8945 without it).
Stacking beat every accuracy-weighted geometric mean (:func:`~assay.audit.stacking.model_weights`,
:func:`~assay.audit.stacking.combine_probas`) and any extra k-NN rank weight
(:func:`~assay.audit.stacking.combine`, ``knn_weight``, default
:data:`~assay.audit.stacking.KNN_WEIGHT` = 0): a model that predicts the labels worse, or is
overconfident, gets less weight, so the stack follows HGB where it is much better (Adult,
telescope) and averages where the models are close (Bank, German, COMPAS).

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

from assay.audit.detectors import (
    compact_features,
    fit_rows,
    knn_proba,
    oof_hgb,
    oof_logistic,
    standardised,
    stratified_folds,
)
from assay.audit.graph import knn_graph
from assay.audit.stacking import KNN_WEIGHT, combine, confident_count, rank01, stack
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


def is_large(frame: pd.DataFrame, target: str) -> bool:
    """Whether ``frame`` takes the large-table path: more than :data:`LARGE_CELLS` rows x
    columns besides the target (known before encoding, which already uses the path's float32)."""
    return len(frame) * max(1, frame.shape[1] - int(target in frame.columns)) > LARGE_CELLS


def with_row_columns(
    frame: pd.DataFrame, pos: NDArray[np.int64], columns: dict[str, tuple[Any, Any, Any]]
) -> pd.DataFrame:
    """``frame`` with new columns ``name: (fill, values, dtype)``: ``values`` at the row
    positions ``pos``, ``fill`` elsewhere, of ``dtype`` (None: pandas infers it, e.g. text).

    One concat, not a column at a time (a 784-column table warned of fragmentation); the
    caller's frame is never changed and its columns are not copied (copy-on-write).
    """
    added: dict[str, Any] = {}
    for name, (fill, values, dtype) in columns.items():
        out = np.full(len(frame), fill, dtype=object if dtype is None else dtype)
        out[pos] = values
        added[name] = out if dtype is None else pd.Series(out, dtype=dtype, index=frame.index)
    return pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)


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
        X = standardised(feats)  # HGB takes these: its bins are scale-free
    else:
        std = feats.std(0)
        X = (feats - feats.mean(0)) / np.where(std > 0, std, 1.0)
        raw = feats
    del feats
    fold = stratified_folds(y, k_folds, seed)
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
            [rank01(v) for v in values], 0
        )
    n_err, interval, joint = confident_count(proba, y, seed=seed)
    issue = np.zeros(len(y), bool)
    issue[np.argsort(quality, kind="stable")[:n_err]] = True
    suggested = np.asarray(labels)[proba.argmax(1)]
    outlier = rank01(dist.mean(1))
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
