"""Results directories: ValuationResults as Parquet plus ``evaluation.json`` and ``facts.json``::

results/
    tmc-shapley.parquet  (+ tmc-shapley.json)   ValuationResult.save, one per method
    evaluation.json      optional, written by write_evaluation
    facts.json           optional, any JSON object of run facts
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidDataError
from assay.result import ValuationResult
from assay.runs import atomic_write_text

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
FACTS_FILE = "facts.json"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if df is None:
        return None
    return [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        for rec in df.astype(object).to_dict("records")
    ]


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float | np.floating) and math.isnan(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def write_evaluation(
    results_dir: str | Path,
    detection_df: pd.DataFrame | None = None,
    curves_df: pd.DataFrame | None = None,
    facts: Mapping[str, Any] | None = None,
    *,
    flipped_ids: Sequence[Any] | np.ndarray | None = None,
    times: Mapping[str, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``results_dir/evaluation.json`` (atomically): tables as lists of records.

    Parameters
    ----------
    results_dir : path
        Created if missing.
    detection_df : DataFrame, optional
        :func:`assay.evaluate.detection_table`'s output.
    curves_df : DataFrame, optional
        :func:`assay.evaluate.point_curves`'s output.
    facts : mapping, optional
        Run facts for the report (dataset, n, noise rate, learner, seeds, ...); JSON-serialisable.
    flipped_ids : sequence, optional
        Ids of the flipped training points (colours the report's histograms).
    times : mapping ``{label: seconds}``, optional
        Wall time of each valuation method.
    overwrite : bool
        Replace an existing ``evaluation.json`` (refused otherwise).

    Returns
    -------
    Path
        The file written. Layout: ``{"format": 1, "facts": {...}, "times": {...},
        "detection": [...], "curves": [...], "flipped_ids": [...]}``; absent parts are ``null``,
        NaN is written as ``null``.
    """
    payload = {
        "format": 1,
        "facts": _nan_to_none(dict(facts or {})),
        "times": None if times is None else _nan_to_none(dict(times)),
        "detection": _records(detection_df),
        "curves": _records(curves_df),
        "flipped_ids": None if flipped_ids is None else np.asarray(flipped_ids).tolist(),
    }
    text = json.dumps(payload, indent=1, default=_json_default, allow_nan=False)
    path = Path(results_dir) / EVALUATION_FILE
    return atomic_write_text(path, text, overwrite=overwrite)


def read_evaluation(results_dir: str | Path) -> dict[str, Any]:
    """Read ``evaluation.json``: ``facts`` and ``times`` (dicts), ``detection`` and ``curves``
    (DataFrame or None), ``flipped_ids`` (list or None). An absent file gives them all empty."""
    path = Path(results_dir) / EVALUATION_FILE
    out: dict[str, Any] = {
        "facts": {},
        "times": {},
        "detection": None,
        "curves": None,
        "flipped_ids": None,
    }
    if not path.exists():
        return out
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"cannot read {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidDataError(f"{str(path)!r} must hold a JSON object")
    out["facts"] = dict(data.get("facts") or {})
    out["times"] = dict(data.get("times") or {})
    for key in ("detection", "curves"):
        if data.get(key):
            out[key] = pd.DataFrame.from_records(data[key])
    out["flipped_ids"] = data.get("flipped_ids")
    return out


def load_results(results_dir: str | Path) -> dict[str, ValuationResult]:
    """Every ValuationResult ``*.parquet`` in ``results_dir``, labelled by method.

    Parquet files that are not results (no ``id`` / ``value`` columns) are skipped with a warning;
    two results of the same method are labelled ``method (file stem)``.
    """
    d = Path(results_dir)
    loaded: list[tuple[Path, ValuationResult]] = []
    for p in sorted(d.glob("*.parquet")):
        try:
            loaded.append((p, ValuationResult.load(p)))
        except InvalidDataError as exc:
            log.warning("skipping %s: %s", p, exc)
    return label_by_method(loaded)


def label_by_method(loaded: Sequence[tuple[Path, ValuationResult]]) -> dict[str, ValuationResult]:
    """Results keyed by a distinct label each: the method name, ``method (file stem)`` where two
    share a method, ``method (folder/file stem)`` or a counter where that still collides."""
    paths = [p for p, _ in loaded]
    methods = [r.method for _, r in loaded]
    first = [
        r.method if methods.count(r.method) == 1 else f"{r.method} ({Path(p).stem})"
        for p, r in loaded
    ]
    labels = [
        label if first.count(label) == 1 else f"{m} ({Path(p).parent.name}/{Path(p).stem})"
        for label, m, p in zip(first, methods, paths, strict=True)
    ]
    seen: dict[str, int] = {}
    out: dict[str, ValuationResult] = {}
    for label, (_, r) in zip(labels, loaded, strict=True):
        seen[label] = seen.get(label, 0) + 1
        out[label if seen[label] == 1 else f"{label} #{seen[label]}"] = r
    return out
