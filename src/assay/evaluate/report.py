"""The evaluation report: run facts, detection, curves, per-method value summaries.

:func:`make_report` lays out an evaluation in a :class:`~assay.evaluate.htmldoc.Report`;
:func:`build_report` does the same from a results directory (see :mod:`assay.evaluate.results_dir`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.data.provenance import check_same_data
from assay.errors import InvalidDataError
from assay.evaluate.detection import Results, labelled
from assay.evaluate.htmldoc import (
    ExtraSection,
    Report,
)
from assay.evaluate.plots import plot_curves, plot_detection, plot_value_histogram
from assay.evaluate.results_dir import FACTS_FILE, load_results, read_evaluation
from assay.result import ValuationResult

log = logging.getLogger(__name__)


def method_facts(
    results: Mapping[str, ValuationResult], times: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per method: points, seconds, samples, seed, and the other parameters.

    ``seconds`` is ``times[label]`` when given, else the ``seconds`` the method recorded in its
    params. Columns that are empty for every method (``samples``, ``seed``) are left out.
    """
    rows = []
    for label, r in results.items():
        p = dict(r.params)
        sec = p.pop("seconds", None)
        rows.append(
            {
                "method": label,
                "n": len(r),
                "seconds": (times or {}).get(label, sec),
                "samples": p.pop("samples", None),
                "seed": p.pop("seed", None),
            }
        )
    df = pd.DataFrame(rows)
    empty = [c for c in ("samples", "seed") if df[c].isna().all()]
    return df.drop(columns=empty)


def method_params(results: Mapping[str, ValuationResult]) -> pd.DataFrame:
    """The methods' parameters as a table a person reads: one row per parameter.

    Columns ``parameter`` and one per method; nested parameters (``task.flip_rate``) are spelt
    out with dots, lists joined with commas; a blank cell means the method has no such parameter.
    Seconds, samples and seed are in :func:`method_facts` instead.
    """
    flat: dict[str, dict[str, str]] = {}
    for label, r in results.items():
        p = {k: v for k, v in r.params.items() if k not in ("seconds", "samples", "seed")}
        flat[label] = dict(_flatten(p))
    names = sorted({k for f in flat.values() for k in f})
    return pd.DataFrame(
        {"parameter": names, **{lab: [f.get(n, "") for n in names] for lab, f in flat.items()}}
    )


def _flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            out.append((name, ", ".join(_cell(v) for v in value)))
        else:
            out.append((name, _cell(value)))
    return out


def _cell(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, Mapping):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def value_summary(
    result: ValuationResult,
    k: int = 10,
    flipped_ids: Sequence[Any] | None = None,
    rows: pd.DataFrame | None = None,
    max_columns: int = 8,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``k`` points most worth keeping and the ``k`` most suspect, by the declared direction.

    Each table has rank, id, value, stderr, count (and ``flipped`` when ``flipped_ids`` is given);
    for a higher-is-better result they are the highest and the lowest values. With ``rows`` (the
    data rows, an ``id`` column and their label and feature columns, e.g.
    :meth:`Dataset.to_pandas`), each point's row is joined on by id: its label and its first
    ``max_columns`` other columns.
    """
    k = min(k, len(result))
    flipped = None if flipped_ids is None else {str(v) for v in flipped_ids}

    def frame(part: ValuationResult) -> pd.DataFrame:
        df = part.to_pandas()
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        if flipped is not None:
            df["flipped"] = ["yes" if str(v) in flipped else "" for v in df["id"]]
        return df if rows is None else join_rows(df, rows, max_columns)

    return frame(result.keepers(k)), frame(result.suspects(k))


def join_rows(table: pd.DataFrame, rows: pd.DataFrame, max_columns: int = 8) -> pd.DataFrame:
    """``table`` (with an ``id`` column) with each id's data row appended (ids matched as text).

    ``rows`` needs an ``id`` column; its other columns follow ``table``'s, the first
    ``max_columns`` of them (a label column, if named ``label`` or ``target``, is always kept).
    """
    if "id" not in rows.columns:
        raise InvalidDataError(f"the data rows need an 'id' column; they have {list(rows)[:10]}")
    others = [c for c in rows.columns if c != "id" and c not in table.columns]
    first = [c for c in others if str(c) in ("label", "target")]
    keep = first + [c for c in others if c not in first][: max(0, max_columns - len(first))]
    lookup = rows.assign(_key=rows["id"].astype(str)).drop_duplicates("_key").set_index("_key")
    joined = lookup.reindex(table["id"].astype(str))[keep].reset_index(drop=True)
    return pd.concat([table.reset_index(drop=True), joined], axis=1)


def _describe(r: ValuationResult) -> str:
    v = np.asarray(r.values)
    v = v[np.isfinite(v)]
    if not len(v):
        return f"{len(r)} points, no finite values."
    se = np.asarray(r.stderr)
    se = se[np.isfinite(se)]
    parts = [
        f"{len(r)} points",
        f"mean {v.mean():.4g}",
        f"sd {v.std():.4g}",
        f"min {v.min():.4g}",
        f"median {np.median(v):.4g}",
        f"max {v.max():.4g}",
    ]
    if len(se):
        parts.append(f"median stderr {np.median(se):.3g}")
    return ", ".join(parts) + "."


def _curve_table(curves: pd.DataFrame, curve: str) -> pd.DataFrame:
    df = curves[curves["curve"] == curve]
    wide = df.pivot_table(
        index=["method", "direction"], columns="fraction", values="score", sort=False
    )
    wide.columns = [f"{c:g}" for c in wide.columns]
    return wide.reset_index()


def make_report(
    results: Results | ValuationResult,
    *,
    detection: pd.DataFrame | None = None,
    curves: pd.DataFrame | None = None,
    facts: Mapping[str, Any] | None = None,
    flipped_ids: Sequence[Any] | None = None,
    times: Mapping[str, float] | None = None,
    title: str = "assay report",
    top_k: int = 10,
    extra_sections: Sequence[ExtraSection] = (),
    rows: pd.DataFrame | None = None,
) -> Report:
    """The evaluation report of one run.

    Parameters
    ----------
    results : ValuationResult, sequence or mapping ``{label: result}``
    detection : DataFrame, optional
        :func:`assay.evaluate.detection_table`'s output (shown sorted by ROC-AUC).
    curves : DataFrame, optional
        :func:`assay.evaluate.point_curves`'s output.
    facts : mapping, optional
        Run facts shown first (dataset, n, noise rate, learner, seeds, ...).
    flipped_ids : sequence, optional
        Ids of the flipped points: colours the histograms and marks the top / bottom tables.
    times : mapping ``{label: seconds}``, optional
        Wall time of each method (else the ``seconds`` in its params, when it recorded one).
    top_k : int
        Rows of the highest / lowest tables per method.
    extra_sections : sequence of (title, content[, figure])
        Appended at the end; ``content`` is text (escaped), :class:`Html` or a DataFrame.
    rows : DataFrame, optional
        The training rows (an ``id`` column, the label, the features): the keeper and suspect
        tables show each point's label and contents (see :func:`join_rows`).
    """
    res = labelled(results)
    report = Report(
        title,
        subtitle="Each method declares its direction: higher-is-better (low values are suspect) "
        "or higher-is-suspect (loss, EL2N, GraNd, entropy: high scores are suspect).",
    )
    report.add_facts("Run facts", {"methods": ", ".join(res), **dict(facts or {})})
    report.add_table("Methods", method_facts(res, times), caption="Wall time in seconds.")
    params = method_params(res)
    if len(params):
        report.add_table("Method parameters", params, caption="Blank: the method has no such one.")
    _check_columns(detection, {"method", "roc_auc"}, "detection")
    _check_columns(curves, {"method", "curve", "direction", "fraction", "score"}, "curves")
    if detection is not None and not detection.empty:
        det = detection.sort_values("roc_auc", ascending=False, kind="stable")
        report.add_table(
            "Noisy-label detection",
            det,
            caption="Each method's most suspect points (by its declared direction) are flagged as "
            "flipped (by default as many as were flipped); ROC-AUC and average precision score "
            "the suspicion. Chance: ROC-AUC 0.5.",
        )
        report.add_figure(None, plot_detection(det))
    if curves is not None and not curves.empty:
        for curve, what in (
            (
                "removal",
                "Removing the most suspect points first should keep the score up; "
                "removing the keepers first should drop it.",
            ),
            ("addition", "Adding the keepers first should raise the score fastest."),
        ):
            if (curves["curve"] == curve).any():
                report.add_figure(f"Point {curve} curves", plot_curves(curves, curve), what)
                report.add_table(None, _curve_table(curves, curve), caption="Test score.")
    for label, r in res.items():
        report.add_text(f"Values: {label} ({r.direction})", _describe(r))
        fig = plot_value_histogram(
            r, flipped_ids=_known(r, flipped_ids), title=f"Values of {label}"
        )
        report.add_figure(None, fig)
        high, low = value_summary(r, top_k, flipped_ids, rows)
        report.add_table(None, high, caption=f"The {len(high)} most worth keeping.")
        report.add_table(None, low, caption=f"The {len(low)} most suspect.")
    for extra in extra_sections:
        report.add_section(extra[0], extra[1], extra[2] if len(extra) > 2 else None)
    return report


def _check_columns(df: pd.DataFrame | None, needed: set[str], what: str) -> None:
    if df is not None and not df.empty and not needed <= set(df.columns):
        raise InvalidDataError(
            f"the {what} table lacks columns {sorted(needed - set(df.columns))}; "
            f"it has {list(df.columns)}"
        )


def _known(r: ValuationResult, flipped_ids: Sequence[Any] | None) -> list[Any] | None:
    """The flipped ids this result values (None when there are none to colour)."""
    if flipped_ids is None:
        return None
    ids = {str(v): v for v in r.ids.tolist()}
    known = [ids[str(v)] for v in flipped_ids if str(v) in ids]
    return known or None


def build_report(
    results_dir: str | Path,
    *,
    title: str | None = None,
    extra_sections: Sequence[ExtraSection] = (),
) -> Report:
    """The report of a results directory (see the module docstring for its layout).

    Only the Parquet results are required: without ``evaluation.json`` the report shows the run
    facts it can find and the value summaries. ``facts.json`` overrides facts of the evaluation.

    Raises
    ------
    InvalidDataError
        If the directory does not exist or holds no ValuationResult.
    """
    d = Path(results_dir)
    if not d.is_dir():
        raise InvalidDataError(f"results directory not found: {str(d)!r}")
    results = load_results(d)
    if not results:
        raise InvalidDataError(
            f"no ValuationResult *.parquet files in {str(d)!r}; write them with "
            "ValuationResult.save"
        )
    check_same_data(results)
    ev = read_evaluation(d)
    facts = dict(ev["facts"])
    facts_path = d / FACTS_FILE
    if facts_path.exists():
        try:
            extra = json.loads(facts_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidDataError(f"cannot read {str(facts_path)!r}: {exc}") from exc
        if not isinstance(extra, dict):
            raise InvalidDataError(f"{str(facts_path)!r} must hold a JSON object")
        facts.update(extra)
    return make_report(
        results,
        rows=task_rows(results),
        detection=ev["detection"],
        curves=ev["curves"],
        facts=facts,
        flipped_ids=ev["flipped_ids"],
        times=ev["times"],
        title=title or f"assay report: {d.name}",
        extra_sections=extra_sections,
    )


def task_rows(results: Mapping[str, ValuationResult]) -> pd.DataFrame | None:
    """The unscaled training rows of the task the results record (None when it cannot be read).

    The labels are the ones the methods saw (flipped ones included); the data is rebuilt from the
    ``task`` the first result records, without standardising, so the values read as in the file.
    """
    from assay.data.task import TaskSpec
    from assay.errors import AssayError

    spec = next((r.params.get("task") for r in results.values() if "task" in r.params), None)
    if not isinstance(spec, dict):
        return None
    try:
        return spec_rows(TaskSpec.from_dict(spec))
    except (AssayError, OSError, ValueError) as exc:
        log.warning("report: the data rows are not shown (%s)", exc)
        return None


def spec_rows(spec: Any) -> pd.DataFrame:
    """The unscaled training rows of a :class:`~assay.data.task.TaskSpec`: id, features, label."""
    import dataclasses

    from assay.data.task import build_task

    task = build_task(dataclasses.replace(spec, scale=False))
    return task.train.to_pandas(target="label")
