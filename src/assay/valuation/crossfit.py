"""Cross-fitting: a value for every row, with no rows held out as validation.

:func:`cross_fit` values all rows of one dataset. What "cross-fitted" means depends on the
method (:func:`cross_fit_mode`):

``folds`` (LOO, TMC, Beta, Banzhaf, exact, influence, ... : every method that scores a
    validation set)
    The rows are cut into K stratified folds (:func:`~assay.data.splits.fold_assignment`).
    Fold f's rows are the players of a utility validated on the other K - 1 folds, and the
    plain method (same parameters, same seed) values them. Each row's value is its value in
    its own fold's game, so it equals the plain method run on that fold exactly.
``all-rows`` (Data-OOB, loss, margin, entropy, confidence, EL2N, GraNd, k-center, ...)
    The method never reads a validation set (Data-OOB scores each row with the bootstrap
    models that left it out; the others score rows in-sample): it runs once on all rows.
``leave-one-out`` (KNN-Shapley)
    Every row is a validation point for all the others, with itself excluded from its own
    training set: a row's value is the mean of its exact KNN-Shapley values over the n - 1
    other rows (:func:`~assay.valuation.knn_shapley.knn_shapley_loo_values`); above the
    method's ``exact_rows`` from each row's ``neighbours`` nearest others, within
    ``1 / neighbours`` (:func:`~assay.valuation.knn_shapley.knn_shapley_auto`).

Values of different folds come from different games (other players, another validation set),
so they are on comparable scales only approximately: a fold whose players matter less to its
validation set has values closer to zero. Rankings across folds are what the noisy-label
benchmarks measure.

K folds run one after another; each fold's subset models are trained in batches as in a plain
run. Stacking the K folds' models into one batched fit was measured slower on CPU (each model
then computes over all n rows, zero-weighted outside its fold: K times the work;
``benchmarks/crossfit_cost.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from assay.data.dataset import Dataset
from assay.data.splits import fold_assignment
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners.base import BatchLearner
from assay.result import ValuationResult
from assay.runs import digest
from assay.utility.scorers import Scorer
from assay.utility.utility import Utility
from assay.valuation.base import SamplingValuation, ValuationMethod
from assay.valuation.data_oob import DataOOB
from assay.valuation.geometry import KCenter, NearestDistance, Representativeness
from assay.valuation.gradient import GraNd
from assay.valuation.inference import EL2N, ConfidenceScore, EntropyScore, LossScore, MarginScore
from assay.valuation.knn_shapley import KNNShapley, knn_shapley_auto

FOLDS, ALL_ROWS, LEAVE_ONE_OUT = "folds", "all-rows", "leave-one-out"

#: methods that never read a validation set: they run once on all rows
_ALL_ROWS: tuple[type[ValuationMethod], ...] = (
    DataOOB,
    LossScore,
    MarginScore,
    EntropyScore,
    ConfidenceScore,
    EL2N,
    GraNd,
    KCenter,
    NearestDistance,
    Representativeness,
)


def cross_fit_mode(method: ValuationMethod | str) -> str:
    """How ``method`` is cross-fitted: ``"folds"``, ``"all-rows"`` or ``"leave-one-out"``.

    See the module docstring for what each means.
    """
    if isinstance(method, str):
        from assay.valuation.registry import make_method

        method = make_method(method)
    if isinstance(method, KNNShapley):
        return LEAVE_ONE_OUT
    if isinstance(method, _ALL_ROWS):
        return ALL_ROWS
    return FOLDS


def assignment_hash(fold: np.ndarray) -> str:
    """A short hash of a fold assignment (recorded in the result; a rebuilt one must match)."""
    return digest(np.asarray(fold, np.int64).tobytes()).hex()


def cross_fit(
    method: ValuationMethod | str,
    data: Dataset,
    learner: BatchLearner | str = "logistic",
    scorer: str | Scorer = "accuracy",
    *,
    k: int = 5,
    seed: int = 0,
    utility_params: dict[str, Any] | None = None,
) -> ValuationResult:
    """Value every row of ``data``, cross-fitted (no row is held out unvalued).

    Parameters
    ----------
    method : ValuationMethod or str
        The method (or its registered name); every fold runs a clone with the same parameters
        and seed. A checkpoint path ``p`` becomes ``p.fold<f>`` per fold.
    data : Dataset
        All rows to value.
    learner : BatchLearner or str
        What the utilities train.
    scorer : str or Scorer
        The utilities' scorer.
    k : int
        Number of stratified folds (used in ``folds`` mode; checked in every mode, so a bad
        ``k`` is refused whatever the method).
    seed : int
        Seeds the fold assignment.
    utility_params : dict, optional
        Further :class:`~assay.utility.Utility` arguments (``cache_dir``, ``n_jobs``, ...).

    Returns
    -------
    ValuationResult
        One value, stderr and count per row of ``data``, in its order (``ids`` are
        ``data.ids``). ``params`` holds the parameters the folds share, ``cross_fit`` (mode,
        folds, seed, fold sizes, a hash of the assignment) and, in ``folds`` mode,
        ``fold_params`` (what differs between folds, e.g. ``full_utility``).

    Raises
    ------
    InvalidParameterError
        For a bad ``k`` (see :func:`~assay.data.splits.fold_assignment`).

    Examples
    --------
    >>> from assay.data import load_dataset
    >>> train, _, _ = load_dataset("breast_cancer")
    >>> r = cross_fit("loo", train, k=5)
    >>> len(r) == train.n and bool((r.ids == train.ids).all())
    True
    """
    if isinstance(method, str):
        from assay.valuation.registry import make_method

        method = make_method(method)
    if not isinstance(method, ValuationMethod):
        raise InvalidParameterError(
            f"method must be a ValuationMethod or a registered name, got {type(method).__name__}"
        )
    fold = fold_assignment(data, k, seed=seed)
    mode = cross_fit_mode(method)
    facts: dict[str, Any] = {"mode": mode, "seed": int(seed)}
    kw = dict(utility_params or {})
    if mode == LEAVE_ONE_OUT:
        assert isinstance(method, KNNShapley)
        values, knn_facts = knn_shapley_auto(
            data, None, method.k, exact_rows=method.exact_rows, neighbours=method.neighbours
        )
        result = ValuationResult.exact(data.ids, values, method.name, k=method.k, **knn_facts)
    elif mode == ALL_ROWS:
        # the method reads no validation set; the utility still needs one: the rows themselves
        result = method.clone().fit(Utility(learner, data, data, scorer, **kw))
    else:
        result = _folded(method, data, learner, scorer, fold, kw)
        facts["folds"] = int(k)
        facts["sizes"] = np.bincount(fold, minlength=k).tolist()
        facts["assignment"] = assignment_hash(fold)
    if not np.array_equal(np.asarray(result.ids), np.asarray(data.ids)):
        raise InvalidDataError("cross-fitting lost the row order (ids differ from the data's)")
    return _with_params(result, {**result.params, "cross_fit": facts})


def fold_games(
    method: ValuationMethod,
    data: Dataset,
    learner: BatchLearner | str = "logistic",
    scorer: str | Scorer = "accuracy",
    *,
    k: int = 5,
    seed: int = 0,
    utility_params: dict[str, Any] | None = None,
) -> tuple[Utility, int] | None:
    """The first game :func:`cross_fit` plays and how many like it it plays (for estimates).

    ``folds`` mode: fold 0's utility, K games; ``all-rows``: the all-rows utility, one game;
    ``leave-one-out`` (KNN-Shapley trains nothing): None.
    """
    mode = cross_fit_mode(method)
    kw = dict(utility_params or {})
    if mode == LEAVE_ONE_OUT:
        return None
    if mode == ALL_ROWS:
        return Utility(learner, data, data, scorer, **kw), 1
    fold = fold_assignment(data, k, seed=seed)
    return _fold_utility(learner, data, scorer, fold, 0, kw), int(fold.max()) + 1


def _fold_utility(
    learner: BatchLearner | str,
    data: Dataset,
    scorer: str | Scorer,
    fold: np.ndarray,
    f: int,
    kw: dict[str, Any],
) -> Utility:
    """Fold f's rows as players, validated on the other folds."""
    return Utility(
        learner, data.subset(np.flatnonzero(fold == f)), data.subset(fold != f), scorer, **kw
    )


def _folded(
    method: ValuationMethod,
    data: Dataset,
    learner: BatchLearner | str,
    scorer: str | Scorer,
    fold: np.ndarray,
    kw: dict[str, Any],
) -> ValuationResult:
    """The plain method on every fold's game, stitched back into input order."""
    n = data.n
    values, stderr = np.full(n, np.nan), np.full(n, np.nan)
    counts = np.zeros(n, np.int64)
    per_fold: list[dict[str, Any]] = []
    direction, name = method.direction, method.name
    for f in range(int(fold.max()) + 1):
        rows = np.flatnonzero(fold == f)
        utility = _fold_utility(learner, data, scorer, fold, f, kw)
        m = method.clone()
        if isinstance(m, SamplingValuation) and m.checkpoint is not None:
            cp = Path(m.checkpoint)
            m.checkpoint = cp.with_name(f"{cp.name}.fold{f}")
            m.restart = bool(getattr(method, "restart", False))  # not an __init__ parameter
        r = m.fit(utility)
        values[rows], stderr[rows], counts[rows] = r.values, r.stderr, r.counts
        per_fold.append(dict(r.params))
        direction, name = r.direction, r.method
    shared = {
        key: v
        for key, v in per_fold[0].items()
        if all(key in p and p[key] == v for p in per_fold[1:])
    }
    params: dict[str, Any] = dict(shared)
    if all("seconds" in p for p in per_fold):  # the folds' time together
        params["seconds"] = round(sum(float(p.pop("seconds")) for p in per_fold), 4)
    differing = [{key: v for key, v in p.items() if key not in shared} for p in per_fold]
    if any(differing):
        params["fold_params"] = differing
    return ValuationResult(data.ids, values, stderr, counts, name, params, direction)


def _with_params(result: ValuationResult, params: dict[str, Any]) -> ValuationResult:
    return dataclasses.replace(result, params=params)
