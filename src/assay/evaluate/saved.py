"""Evaluate saved values as ``assay evaluate`` does: rebuild their task, check it, score them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assay.data.provenance import check_provenance, check_same_data
from assay.data.task import Task, TaskSpec, build_task
from assay.errors import InvalidDataError, StaleDataError, check_output_dir
from assay.evaluate.results_dir import EVALUATION_FILE, label_by_method
from assay.evaluate.run import evaluate_results
from assay.learners import make_learner
from assay.result import ValuationResult
from assay.runs import check_new, copy_pair, sidecar_path


def load_labelled(paths: Sequence[str | Path]) -> dict[str, ValuationResult]:
    """Results by label: the method name, or ``method (file stem)`` when two share a method."""
    return label_by_method([(Path(p), ValuationResult.load(p)) for p in paths])


def task_of(
    result: ValuationResult,
    *,
    data: str | None = None,
    target: str | None = None,
    test: str | None = None,
    what: str = "the values",
) -> Task:
    """Rebuild the task ``result`` was computed on, refusing data that changed since.

    ``data`` / ``target`` / ``test`` override the recorded spec (e.g. the file moved); the
    rebuilt task must still have the recorded content fingerprint.

    Raises
    ------
    InvalidDataError
        If the result records no task and no ``data`` is given.
    StaleDataError
        If the data differs from the data the values were computed on.
    """
    task_params = result.params.get("task")
    if data is None and not isinstance(task_params, dict):
        raise InvalidDataError(f"{what} do not record their data; pass --data and --target")
    spec = TaskSpec.from_dict(task_params) if isinstance(task_params, dict) else TaskSpec(str(data))
    spec = dataclasses.replace(
        spec, source=data or spec.source, target=target or spec.target, test=test or spec.test
    )
    task = build_task(spec)
    recorded = result.params.get("data")
    if test is not None and isinstance(recorded, dict):  # a new test set: check train / valid
        recorded = {"files": {}, "fingerprint": None}
    check_provenance(recorded, task, what=what)
    _check_folds(result, task, what)
    return task


def _check_folds(result: ValuationResult, task: Task, what: str) -> None:
    """Refuse a cross-fitted result whose fold assignment the rebuilt task does not reproduce."""
    from assay.valuation.crossfit import assignment_hash

    crossed = result.params.get("cross_fit")
    if not isinstance(crossed, dict) or "assignment" not in crossed or task.folds is None:
        return
    if assignment_hash(task.folds) != crossed["assignment"]:
        raise StaleDataError(
            f"{what} were cross-fitted on other folds than the rebuilt task's "
            f"({crossed.get('folds')} folds, seed {crossed.get('seed')}); value the data again"
        )


def learner_of(result: ValuationResult, override: str | None = None) -> Any:
    """The learner the values were computed with (name and construction arguments), or
    ``override`` with its defaults."""
    if override is not None:
        return make_learner(override)
    name = str(result.params.get("learner", "logistic"))
    args = result.params.get("learner_args")
    if not isinstance(args, dict):  # older sidecars: the built-in learners' full parameters
        args = {} if name.startswith("sklearn:") else dict(result.params.get("learner_params", {}))
    return make_learner(name, **args)


def evaluate_saved(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    data: str | None = None,
    target: str | None = None,
    test: str | None = None,
    learner: str | None = None,
    flipped: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Detection and removal / addition curves of saved values, written to ``out``.

    Parameters
    ----------
    paths : sequence of path
        Values files written by ``assay value`` (or :meth:`ValuationResult.save` with a task).
        They must have been computed on the same data.
    out : path
        Results directory; the values are copied next to ``evaluation.json`` (as pairs, see
        :func:`copy_names`), so ``assay report`` finds them.
    data, target, test : str, optional
        Override the recorded task (see :func:`task_of`).
    learner : str, optional
        Retrain with this learner instead of the recorded one.
    flipped : path, optional
        CSV of the truly noisy ids (column ``id``), instead of the task's recorded flips.
    overwrite : bool
        Replace ``evaluation.json`` and copies that exist (refused otherwise, before any work).

    Returns
    -------
    Path
        The ``evaluation.json`` written.
    """
    import pandas as pd

    out_dir = Path(out)
    check_output_dir(out_dir, what="results directory")
    copies = copy_names(paths, out_dir)
    check_new(
        out_dir / EVALUATION_FILE,
        *(c for d in copies.values() for c in (d, sidecar_path(d))),
        overwrite=overwrite,
        what="output",
    )
    results = load_labelled(paths)
    check_same_data(results)
    first = next(iter(results.values()))
    task = task_of(first, data=data, target=target, test=test, what=f"{str(paths[0])!r}")
    if flipped is not None:
        if not Path(flipped).exists():
            raise InvalidDataError(f"file not found: {str(flipped)!r}")
        wanted = set(pd.read_csv(flipped)["id"].tolist())
        positions = [i for i, v in enumerate(task.train.ids.tolist()) if v in wanted]
        task = dataclasses.replace(task, flipped=np.array(positions, dtype=np.int64))
    model = learner_of(first, learner)
    out_dir.mkdir(parents=True, exist_ok=True)
    for src, dest in copies.items():  # the report reads the values from the results directory
        copy_pair(src, dest, overwrite=overwrite)
    times = {
        k: float(r.params.get("wall_seconds", r.params.get("seconds", 0.0)))
        for k, r in results.items()
    }
    return Path(evaluate_results(results, task, model, out_dir, times=times, overwrite=overwrite))


def copy_names(paths: Sequence[str | Path], out: str | Path) -> dict[Path, Path]:
    """Where :func:`evaluate_saved` copies each values file in ``out``: its own name, or
    ``<folder>-<name>`` (then a counter) when another file of the same name came first.

    Files already in ``out`` are not copied (they are absent from the mapping).
    """
    out_dir = Path(out)
    taken = {p.name for p in map(Path, paths) if p.resolve().parent == out_dir.resolve()}
    names: dict[Path, Path] = {}
    for p in map(Path, paths):
        if p.resolve().parent == out_dir.resolve():
            continue
        name, k = p.name, 1
        if name in taken:
            name = f"{p.parent.name}-{p.name}"
        while name in taken:
            k += 1
            name = f"{p.parent.name}-{k}-{p.name}"
        taken.add(name)
        names[p] = out_dir / name
    return names
