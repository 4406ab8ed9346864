"""Value a task end to end, the way ``assay value`` does, with the same result sidecar.

:func:`value_task` builds the task, the learner, the utility and the method from names, fits
the method on the chosen backend and returns a :class:`ValuationRun`; :func:`describe_result`
adds the run's facts (wall time, learner with all its parameters, scorer, backend, jobs, task) to
a result's parameters, so a Python user's saved result carries the sidecar the command line
writes and ``assay evaluate`` can retrain exactly the same way.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.data.provenance import absolute_spec, provenance
from assay.data.task import Task, TaskSpec, build_task
from assay.errors import InvalidParameterError
from assay.parallel import threads_for_problem
from assay.valuation.groups import GroupGame, cluster_groups, parse_players, values_per_row

if TYPE_CHECKING:
    from assay.utility import Utility
    from assay.valuation.base import ValuationMethod
    from assay.valuation.estimate import RunEstimate
from assay.result import ValuationResult


@dataclass(frozen=True)
class ValuationRun:
    """What :func:`value_task` returns.

    Attributes
    ----------
    result : ValuationResult
        The values, with the run's facts in ``result.params`` (see :func:`describe_result`).
    task : Task
        The task the values were computed on (train / valid / test, flipped positions).
    seconds : float
        Wall time of the method's ``fit``.
    backend : str
        The backend the work ran on (``auto`` resolved).
    path : Path, optional
        The values file written (when ``out`` was given).
    """

    result: ValuationResult
    task: Task
    seconds: float
    backend: str
    path: Path | None = None


def value_outputs(out: str | Path, flips: bool) -> tuple[Path, ...]:
    """The files ``value_task(out=...)`` writes: values, sidecar and (with flips) flipped ids.

    ``.parquet`` is appended, never put in place of a suffix (``run.v1`` -> ``run.v1.parquet``,
    ``run.v1.json``, ``run.v1.flipped.csv``).

    Raises
    ------
    OutputPathError
        ``out`` is empty, a directory, or under a file.
    """
    from assay.runs import pair_outputs, sibling

    files = pair_outputs(out)
    return (*files, sibling(files[0], ".flipped.csv")) if flips else files


@dataclass(frozen=True)
class _UtilityFacts:
    """What :func:`describe_result` reads of a utility, for a cross-fitted run (one per fold)."""

    learner: Any
    scorer: Any


def resolve_backend(backend: str, jobs: int) -> str:
    """``auto`` -> ``loky`` when ``jobs > 1``, else ``sequential``; other names unchanged.

    Raises
    ------
    InvalidParameterError
        If ``jobs`` is not a whole number >= 1.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidParameterError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if backend == "auto":
        return "loky" if jobs > 1 else "sequential"
    return backend


def describe_result(
    result: ValuationResult,
    utility: Any,
    *,
    seconds: float,
    learner: str,
    backend: str = "sequential",
    jobs: int = 1,
    task: TaskSpec | None = None,
    built: Task | None = None,
    learner_args: dict[str, Any] | None = None,
) -> ValuationResult:
    """``result`` with the facts of its run added to ``params``.

    Parameters
    ----------
    result : ValuationResult
        Values returned by a method's ``fit``.
    utility : Utility
        The utility the method valued (its learner's parameters and scorer are recorded).
    seconds : float
        Wall time of the fit, stored rounded to 0.1 ms as ``wall_seconds``.
    learner : str
        The learner's registry name (``logistic``, ``mlp``, ``sklearn:...``).
    backend, jobs : str, int
        Where the work ran.
    task : TaskSpec, optional
        How the data was built; stored as a dict (file paths made absolute) so the task can be
        rebuilt from anywhere.
    built : Task, optional
        The built task: its provenance (file hashes, content fingerprint) is stored as ``data``,
        which ``assay evaluate`` checks (:func:`assay.data.provenance.check_provenance`).
    learner_args : dict, optional
        The arguments the learner was built with (``make_learner(learner, **learner_args)``),
        stored so ``evaluate`` retrains exactly the same learner.

    Returns
    -------
    ValuationResult
        A new result with the same values and the extended parameters.
    """
    params = {
        **result.params,
        "wall_seconds": round(seconds, 4),
        "learner": learner,
        "learner_params": utility.learner.get_params(),
        "scorer": utility.scorer.name,
        "backend": backend,
        "jobs": jobs,
    }
    if learner_args is not None:
        params["learner_args"] = dict(learner_args)
    if task is not None:
        params["task"] = absolute_spec(task).to_dict()
    if built is not None:
        params["data"] = provenance(built)
    return dataclasses.replace(result, params=params)


def value_task(
    spec: TaskSpec,
    method: str,
    *,
    learner: str = "logistic",
    learner_params: dict[str, Any] | None = None,
    method_params: dict[str, Any] | None = None,
    scorer: str | None = None,
    budget: int | None = None,
    jobs: int = 1,
    backend: str = "auto",
    address: str | None = None,
    cache_dir: str | None = None,
    checkpoint: str | Path | None = None,
    restart: bool = False,
    progress: bool = False,
    out: str | Path | None = None,
    overwrite: bool = False,
    players: str = "rows",
    on_estimate: Callable[[RunEstimate], None] | None = None,
) -> ValuationRun:
    """Value every training point of the task ``spec`` describes with the method ``method``.

    With ``spec.folds`` the task has no validation rows and the values are cross-fitted
    (:func:`assay.valuation.crossfit.cross_fit`): every training row gets one.

    Parameters
    ----------
    spec : TaskSpec
        Data source, target, splits, seed and label flips.
    method : str
        A registered method name (:data:`assay.valuation.registry.METHODS`).
    learner : str
        Learner name for :func:`assay.learners.make_learner`; ``learner_params`` its parameters.
    method_params : dict, optional
        Parameters of the method.
    scorer : str, optional
        Utility scorer: ``accuracy`` (default) or ``log_likelihood``; for a regression task
        ``r2`` (default) or ``neg_mse``. A regressor (``learner="ridge"``) makes a
        ``spec.task`` left at ``"classification"`` a regression task: the target is read as
        float values.
    budget : int, optional
        Samples of a sampling method (permutations, subsets, bootstrap models).
    jobs : int
        Parallel workers; ``backend`` ``auto`` uses loky when ``jobs > 1``.
    address : str, optional
        ``HOST:PORT`` of an existing Ray cluster (with ``backend="ray"``).
    cache_dir : str, optional
        On-disk utility cache.
    checkpoint : path, optional
        Resume file of a sampling method.
    restart : bool
        Discard a ``checkpoint`` that belongs to another run (refused otherwise).
    progress : bool
        Show a progress bar (sampling methods).
    out : path, optional
        Write the values and their sidecar there (:func:`value_outputs`, as a pair), and the
        flipped ids when ``spec`` flips labels. Checked before any work is done.
    overwrite : bool
        Replace outputs that exist (refused otherwise, before any work).
    players : str
        ``"rows"`` (each training row is a player), ``"clusters:K"`` (K k-means clusters of
        the encoded features are the players) or ``"groups:COLUMN"`` (the levels of a column,
        ``spec.group_column``; set it to COLUMN): Shapley-family methods then sample coalitions
        of K groups instead of n rows, and every row gets its group's value
        (:mod:`assay.valuation.groups`). Needs a validation set (not cross-fitted).
    on_estimate : callable, optional
        Called before the method runs with the run's estimated cost and faster alternatives
        (:func:`assay.valuation.estimate.estimate_run`, a pilot of a few models); not called
        when the cost is unknown (cross-fitting, methods that train no subset models).

    Returns
    -------
    ValuationRun
        The described result (:func:`describe_result`), the task, the wall time and backend.
    """
    from assay.learners import make_learner
    from assay.parallel import backend as use_backend
    from assay.utility import Utility
    from assay.valuation.base import SamplingValuation
    from assay.valuation.registry import make_method

    chosen = resolve_backend(backend, jobs)
    outputs = None if out is None else value_outputs(out, spec.flip_rate > 0)
    if players != "rows":
        parse_players(players)  # a bad spec fails before any work
        if spec.folds is not None:
            raise InvalidParameterError(
                f"--players {players} needs a validation set: give --valid or --valid-fraction "
                "(cross-fitting values the rows fold by fold)"
            )
    if outputs is not None:
        from assay.runs import check_new

        check_new(*outputs, overwrite=overwrite, what="output")
    learner_obj = make_learner(learner, **(learner_params or {}))
    if learner_obj.task == "regression" and spec.task == "classification":
        spec = dataclasses.replace(spec, task="regression")
    task = build_task(spec)
    threads_for_problem(task.train.n, task.train.n_features, max(task.train.n_classes - 1, 1))
    method_obj = make_method(method, budget=budget, **(method_params or {}))
    if isinstance(method_obj, SamplingValuation):
        method_obj.seed, method_obj.progress = spec.seed, progress
        if checkpoint:
            method_obj.checkpoint = Path(checkpoint)
        method_obj.restart = restart
    model = learner_obj
    utility_params: dict[str, Any] = {"cache_dir": cache_dir, "n_jobs": jobs if jobs > 1 else None}
    facts: Any
    if spec.folds is None:
        facts = Utility(model, task.train, task.valid, scorer, **utility_params)
        game = facts if players == "rows" else _group_game(facts, task, players, spec)
    else:  # cross-fitted: every training row valued, no validation rows; a utility per fold
        from assay.utility.scorers import default_scorer, make_scorer
        from assay.valuation.crossfit import cross_fit

        facts = _UtilityFacts(model, make_scorer(scorer or default_scorer(task.train.task)))
    if on_estimate is not None:
        _estimate(method, method_obj, game if spec.folds is None else None, task, spec, facts,
                  utility_params, on_estimate)  # fmt: skip
    start = time.perf_counter()
    with use_backend(chosen, n_jobs=jobs, address=address):
        if spec.folds is None:
            result = method_obj.fit(game)
            if game is not facts:
                result = values_per_row(result, game, task.train.ids)
        else:
            result = cross_fit(
                method_obj,
                task.train,
                model,
                facts.scorer,
                k=spec.folds,
                seed=spec.seed,
                utility_params=utility_params,
            )
    seconds = time.perf_counter() - start
    described = describe_result(
        result,
        facts,
        seconds=seconds,
        learner=learner,
        backend=chosen,
        jobs=jobs,
        task=spec,
        built=task,
        learner_args=learner_params or {},
    )
    path = None
    if outputs is not None:
        path = described.save(outputs[0], overwrite=overwrite)
        if task.flipped is not None and len(outputs) > 2:
            import pandas as pd

            from assay.runs import atomic_write_table

            ids = pd.DataFrame({"id": task.flipped_ids})
            atomic_write_table(outputs[2], ids, overwrite=overwrite)
    return ValuationRun(described, task, seconds, chosen, path)


def _estimate(
    name: str,
    method: ValuationMethod,
    game: Any,
    task: Task,
    spec: TaskSpec,
    facts: Any,
    utility_params: dict[str, Any],
    on_estimate: Callable[[RunEstimate], None],
) -> None:
    """Estimate the run (a pilot of a few models) and hand the estimate to ``on_estimate``."""
    from assay.valuation.crossfit import fold_games
    from assay.valuation.estimate import estimate_run

    grouped, repeats = game is not None and game is not facts, 1
    if game is None:  # cross-fitted: the first fold's game, K times
        played = fold_games(
            method,
            task.train,
            facts.learner,
            facts.scorer,
            k=int(spec.folds or 0),
            seed=spec.seed,
            utility_params=utility_params,
        )
        if played is None:
            return
        game, repeats = played
    estimate = estimate_run(name, method, game, grouped=grouped, repeats=repeats, seed=spec.seed)
    if estimate is not None:
        on_estimate(estimate)


def _group_game(utility: Utility, task: Task, players: str, spec: TaskSpec) -> GroupGame:
    """The game whose players are the groups ``players`` names (see :func:`value_task`)."""
    kind, arg = parse_players(players)
    if kind == "clusters":
        return GroupGame(utility, cluster_groups(task.train.X, int(arg), seed=spec.seed))
    if spec.group_column != arg or task.train.groups is None:
        raise InvalidParameterError(
            f"--players groups:{arg} needs the task's group column set to {arg!r} "
            f"(TaskSpec(group_column={arg!r})), got {spec.group_column!r}"
        )
    return GroupGame(utility, task.train.groups)
