"""The demo: noisy bundled breast cancer, five valuation methods, detection, curves, a report.

``assay demo --out DIR`` (and ``make demo``) run :func:`run_demo`; it takes seconds on 2 cores.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from assay.data.task import TaskSpec, build_task
from assay.evaluate.report import build_report
from assay.evaluate.run import evaluate_results
from assay.learners import LogisticRegression
from assay.result import ValuationResult
from assay.utility import Utility
from assay.valuation import DataOOB, KNNShapley, LeaveOneOut, MSRBanzhaf, TMCShapley
from assay.valuation.base import ValuationMethod

log = logging.getLogger(__name__)


def demo_methods(seed: int = 0, progress: bool = False) -> list[ValuationMethod]:
    """The demo's methods and budgets."""
    return [
        KNNShapley(k=5),
        DataOOB(500, seed=seed, progress=progress),
        LeaveOneOut(),
        TMCShapley(200, seed=seed, progress=progress),
        MSRBanzhaf(2000, seed=seed, progress=progress),
    ]


def run_demo(
    out_dir: str | Path = "demo-output",
    *,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> Path:
    """Value the noisy breast-cancer task with every demo method; write values and the report.

    Returns the path of ``report.html``. Existing outputs are refused unless ``overwrite``.
    """
    from assay.errors import check_output_dir
    from assay.runs import check_new, sidecar_path

    out = Path(out_dir)
    check_output_dir(out)
    planned = [out / f"{m.name}.parquet" for m in demo_methods(seed, False)]
    planned += [sidecar_path(p) for p in planned]
    check_new(*planned, out / "evaluation.json", out / "report.html", overwrite=overwrite)
    spec = TaskSpec("breast_cancer", seed=seed, flip_rate=0.1)
    task = build_task(spec)
    learner = LogisticRegression(C=1.0)
    utility = Utility(learner, task.train, task.valid)
    results: dict[str, ValuationResult] = {}
    times: dict[str, float] = {}
    for method in demo_methods(seed, progress):
        start = time.perf_counter()
        result = method.fit(utility)
        times[result.method] = time.perf_counter() - start
        results[result.method] = result
        result.save(out / f"{result.method}.parquet", overwrite=overwrite)
        log.info("%s: %.2f s", result.method, times[result.method])
    facts = {
        "dataset": "breast_cancer (scikit-learn), 60/20/20 stratified split",
        "noise": f"{len(task.flipped) if task.flipped is not None else 0} training labels "
        "flipped (10%)",
        "utility": "validation accuracy of L2 logistic regression (C = 1)",
    }
    evaluate_results(
        results, task, learner, out, facts=facts, times=times, seed=seed, overwrite=overwrite
    )
    report = build_report(out, title="assay demo: which breast-cancer labels are wrong?")
    return report.write(out / "report.html", overwrite=overwrite)
