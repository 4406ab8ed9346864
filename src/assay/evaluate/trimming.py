"""Trim a task end to end, the way ``assay trim`` does: value, remove, retrain, write a folder.

:func:`trim_method` builds the valuation of a trimming run from a name (``fi`` = FI^util,
``random`` or any registered method); :func:`trim_summary` condenses a
:class:`~assay.select.trim.TrimResult` into the JSON written as ``trim.json``;
:func:`trim_task` runs the whole recipe and writes ``OUT/values.parquet`` (+ ``values.json``),
``OUT/removed.csv``, ``OUT/trim.json`` and ``OUT/report.html``, each atomically
(:mod:`assay.runs`), after refusing (before any work) outputs that exist unless ``overwrite``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.data.task import TaskSpec, build_task
from assay.errors import check_output_dir
from assay.runs import atomic_write_text, check_new
from assay.select.trim import TrimResult

#: short names ``assay trim --method`` accepts besides the registered methods
ALIASES = {"fi": "fi-util"}
#: the files :func:`trim_task` writes in its folder
TRIM_FILES = ("values.parquet", "values.json", "removed.csv", "trim.json", "report.html")


def trim_method(name: str, seed: int = 0, params: dict[str, Any] | None = None) -> Any:
    """The valuation of a trimming run: ``fi`` (= ``fi-util``), ``random`` or a method name.

    Parameters
    ----------
    name : str
        ``random`` (:class:`~assay.select.trim.RandomValues`), an alias of :data:`ALIASES` or
        any name of :data:`assay.valuation.registry.METHODS`.
    seed : int
        Seed of a random or sampling method.
    params : dict, optional
        Parameters of the method.

    Raises
    ------
    InvalidParameterError
        For an unknown name or bad parameters.
    """
    from assay.select.trim import RANDOM, RandomValues
    from assay.valuation import SamplingValuation, make_method

    if name == RANDOM:
        return RandomValues(seed=seed)
    method = make_method(ALIASES.get(name, name), **(params or {}))
    if isinstance(method, SamplingValuation):
        method.seed = seed
    return method


def trim_summary(
    res: TrimResult,
    requested: str,
    learner: str,
    learner_params: dict[str, Any],
    spec: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """The JSON of ``trim.json``: scores before / after per split, the random baseline, timings.

    Parameters
    ----------
    res : TrimResult
        The trimming run.
    requested : str
        The method name as the user gave it (``fi``).
    learner, learner_params : str, dict
        The learner's name and parameters.
    spec : dict
        The task spec (``TaskSpec.to_dict()``).
    seconds : float
        Wall time of the whole run.
    """
    scores: dict[str, Any] = {}
    for split, part in res.curves.groupby("split"):
        own = part[part["method"] == res.values.method].sort_values("budget")
        rand = part[part["method"] == "random"].sort_values("budget")
        ref = own if len(own) else rand

        def by_budget(df: Any, col: str) -> dict[int, float]:
            return {int(b): float(s) for b, s in zip(df["budget"], df[col], strict=True)}

        scores[str(split)] = {
            "before": float(ref["score"].iloc[0]),
            "after": float(ref["score"].iloc[-1]),
            "by_budget": by_budget(ref, "score"),
            "random": by_budget(rand, "score"),
            "random_std": by_budget(rand, "std"),
        }
    return {
        "method": res.values.method,
        "requested": requested,
        "budgets": res.facts["budgets"],
        "removed": len(res.removed_ids),
        "scores": scores,
        "valuation_seconds": res.facts["valuation_seconds"],
        "seconds": round(seconds, 4),
        "learner": learner,
        "learner_params": learner_params,
        "task": spec,
    }


@dataclass(frozen=True)
class TrimRun:
    """What :func:`trim_task` returns: the result, its summary, the split scored, the folder."""

    result: TrimResult
    summary: dict[str, Any]
    split: str
    out: Path
    n_train: int


def trim_task(
    spec: TaskSpec,
    method: str,
    budgets: Sequence[int],
    out: str | Path,
    *,
    learner: str = "logistic",
    learner_params: dict[str, Any] | None = None,
    method_params: dict[str, Any] | None = None,
    random_repeats: int = 5,
    overwrite: bool = False,
) -> TrimRun:
    """Algorithm 3 on the task ``spec`` describes, written to the folder ``out``.

    Parameters
    ----------
    spec : TaskSpec
        Data, target, splits and seed.
    method : str
        See :func:`trim_method`.
    budgets : sequence of int
        Numbers of points to remove; the largest one is removed in ``removed.csv``.
    out : path
        Folder of :data:`TRIM_FILES`.
    learner, learner_params : str, dict
        The learner (:func:`assay.learners.make_learner`).
    method_params : dict, optional
        Parameters of the method.
    random_repeats : int
        Random-removal baselines averaged in the curves.
    overwrite : bool
        Replace files that exist (refused otherwise, before any work).

    Returns
    -------
    TrimRun
    """
    from assay.evaluate import figure_png, make_report
    from assay.evaluate.report import spec_rows
    from assay.learners import make_learner
    from assay.runs import atomic_write_table
    from assay.select.trim import plot_trimming, trim

    folder = Path(out)
    check_output_dir(folder)
    check_new(*(folder / f for f in TRIM_FILES), overwrite=overwrite, what="output")
    task = build_task(spec)
    model = make_learner(learner, **(learner_params or {}))
    valuation = trim_method(method, spec.seed, method_params)
    start = time.perf_counter()
    res = trim(
        model,
        task.train,
        task.valid,
        valuation,
        list(budgets),
        test=task.test,
        random_repeats=random_repeats,
        seed=spec.seed,
    )
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    res.values.save(folder / "values.parquet", overwrite=overwrite)  # + values.json
    atomic_write_table(folder / "removed.csv", res.removed_table(), overwrite=overwrite)
    summary = trim_summary(res, method, learner, model.get_params(), spec.to_dict(), seconds)
    atomic_write_text(folder / "trim.json", json.dumps(summary, indent=2), overwrite=overwrite)
    split = "test" if task.test is not None else "valid"
    table = res.curves.pivot_table(index="method", columns="budget", values="score", sort=False)
    table.columns = [f"remove {c}" for c in table.columns]
    facts = {
        "data": spec.source,
        "n_train": task.train.n,
        "n_valid": task.valid.n,
        "n_test": 0 if task.test is None else task.test.n,
        "learner": learner,
        "removed": max(budgets),
        "seconds": round(seconds, 3),
    }
    section = (
        f"Trimming ({split} score)",
        table.reset_index(),
        figure_png(plot_trimming(res.curves, split)),
    )
    report = make_report(
        {res.values.method: res.values},
        facts=facts,
        title=f"assay trim: {spec.source}",
        extra_sections=[section],
        rows=spec_rows(spec),
    )
    report.write(folder / "report.html", overwrite=overwrite)
    return TrimRun(res, summary, split, folder, task.train.n)
