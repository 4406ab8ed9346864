"""The evaluation workflow: detection and removal / addition curves for a set of results."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.data.task import Task
from assay.evaluate.curves import DEFAULT_FRACTIONS, point_curves
from assay.evaluate.detection import detection_table
from assay.evaluate.results_dir import write_evaluation
from assay.learners.base import BatchLearner
from assay.result import ValuationResult
from assay.utility import Utility


def evaluate_results(
    results: Mapping[str, ValuationResult],
    task: Task,
    learner: BatchLearner | str,
    out_dir: str | Path,
    *,
    facts: Mapping[str, Any] | None = None,
    times: Mapping[str, float] | None = None,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    n_random: int = 5,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Score ``results`` on ``task`` and write ``out_dir/evaluation.json``.

    Detection needs the task's flipped labels; curves need its test set (the learner is retrained
    on every curve subset in one batched utility call). Either part is skipped when its input is
    missing. An existing ``evaluation.json`` is refused unless ``overwrite``.
    """
    ids = task.flipped_ids
    detection = None if ids is None else detection_table(results, flipped_ids=ids)
    curves = None
    if task.test is not None:
        utility = Utility(learner, task.train, task.test)
        curves = point_curves(results, utility, fractions=fractions, n_random=n_random, seed=seed)
    all_facts = {
        "data": task.spec.source,
        "n_train": task.train.n,
        "n_valid": task.valid.n,
        "n_test": None if task.test is None else task.test.n,
        "flip_rate": task.spec.flip_rate,
        "seed": task.spec.seed,
        "learner": str(learner),
        **dict(facts or {}),
    }
    return write_evaluation(
        out_dir, detection, curves, all_facts, flipped_ids=ids, times=times, overwrite=overwrite
    )
