"""Compare the subsets of several selection methods and write the comparison as HTML.

``assay select --compare a,b --report R.html`` uses :func:`compare_subsets` (one batched fit of
the learner per subset, validation accuracy side by side) and :func:`write_selection_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def compare_subsets(
    learner: Any,
    train: Any,
    valid: Any,
    subsets: Mapping[str, Any],
    seconds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Validation accuracy of the learner trained on each subset (weights normalised to the
    subset's size), with a full-data reference row and each method's selection time."""
    from assay.select.budget import evaluate_subsets

    table = evaluate_subsets(learner, train, valid, dict(subsets), weighting="normalised")
    times = dict(seconds or {})
    table["seconds"] = [times.get(n, float("nan")) for n in table["method"]]
    return table


def write_selection_report(
    path: str | Path,
    table: pd.DataFrame,
    *,
    method: str,
    budget: float,
    n: int,
    learner: str,
    overwrite: bool = False,
) -> Path:
    """Write the comparison ``table`` (:func:`compare_subsets`) as one HTML report, atomically;
    an existing file is refused unless ``overwrite``."""
    from assay.evaluate.htmldoc import Report

    rep = Report("assay select", subtitle=f"method {method}, learner {learner}")
    rep.add_section(f"Data selection: {budget:g} of {n} points", table)
    rep.add_text(
        None,
        "Each subset trains one model (weights normalised to the subset's size); "
        "the score is validation accuracy. The full-data row is the reference.",
    )
    return rep.write(path, overwrite=overwrite)
