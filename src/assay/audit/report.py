"""What an audit leaves behind: the scored table as CSV / Parquet and an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from assay.errors import OutputPathError
from assay.runs import atomic_write_table

if TYPE_CHECKING:
    from assay.audit.core import AuditResult

#: file endings :func:`write_table` understands, and the pandas writer of each
TABLE_FORMATS = (".csv", ".parquet")


def check_table_path(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path`; :class:`OutputPathError` unless it ends in a known
    table format (``.csv`` or ``.parquet``)."""
    p = Path(path)
    if p.suffix.lower() not in TABLE_FORMATS:
        raise OutputPathError(
            f"the scored table must end in {' or '.join(TABLE_FORMATS)}, got {str(p)!r}"
        )
    return p


def write_table(table: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the audited table in the format its file ending names (``.csv`` / ``.parquet``).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`AuditResult.table`.
    path : str or Path
        Ends in ``.csv`` or ``.parquet`` (any case).
    overwrite : bool
        Replace an existing file (otherwise it is refused).

    Returns
    -------
    Path
        The file written.
    """
    p = check_table_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".csv":
        return atomic_write_table(p, table, overwrite=overwrite)
    # object columns mixing labels of several types (suggested labels, ids) as text
    out = table.copy(deep=False)  # copy-on-write: the replaced columns only (not 0.4 GB)
    for c in ("suggested_label", "near_duplicate_of"):
        if c not in out.columns:  # a regression audit suggests numbers
            continue
        out[c] = out[c].map(lambda v: None if v is None or v != v else str(v))
    return atomic_write_table(p, out, overwrite=overwrite)


def _params_table(params: dict[str, Any]) -> pd.DataFrame:
    """Parameters as rows a person reads (nested mappings flattened as ``outer.inner``)."""
    rows = []
    for k, v in params.items():
        if isinstance(v, dict):
            rows += [(f"{k}.{ik}", str(iv)) for ik, iv in v.items()]
        else:
            rows.append((k, ", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)))
    return pd.DataFrame(rows, columns=["parameter", "value"])


def audit_report(
    result: AuditResult, path: str | Path, *, title: str = "assay audit", overwrite: bool = False
) -> Path:
    """An HTML report of ``result``: the estimated number of label errors with its interval,
    the top suspects with their row contents, class-level noise, what was done to the columns,
    and the parameters as a table (for a regression target: the out-of-fold R^2 and the
    outlying targets instead of label errors and class noise).

    Parameters
    ----------
    result : AuditResult
    path : str or Path
        The ``.html`` file to write.
    title : str
    overwrite : bool
        Replace an existing file (otherwise it is refused).

    Returns
    -------
    Path
        The file written.
    """
    from assay.evaluate.htmldoc import Report

    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        raise OutputPathError(f"the report must end in .html, got {str(p)!r}")
    s = result.summary
    rep = Report(title, subtitle=f"{s['rows']} rows, {s['features']} encoded features")
    if s.get("task") == "regression":
        _regression_sections(rep, result)
        return rep.write(p, overwrite=overwrite)
    lo, hi = s["estimated_label_errors_interval"]
    rep.add_facts(
        "Summary",
        {
            "rows": s["rows"],
            "rows without a label (excluded)": s["rows_without_label"],
            "estimated label errors": s["estimated_label_errors"],
            "95% interval": f"{lo} to {hi}",
            "flagged as label issues": s["flagged"],
            "near duplicates": s["near_duplicates"],
        },
    )
    rep.add_table(
        "Top suspects",
        result.suspects,
        caption="Lowest label_quality first; the row's own columns, then the audit's.",
        max_rows=None,
    )
    rep.add_table(
        "Class-level noise",
        s["class_noise"],
        caption="Rows by given label (rows) and confidently predicted class (columns).",
        index=True,
        max_rows=None,
    )
    _columns_and_params(rep, s)
    return rep.write(p, overwrite=overwrite)


def _columns_and_params(rep: Any, summary: dict[str, Any]) -> None:
    rep.add_table("Columns", pd.DataFrame({"what was done": summary["columns"]}), max_rows=None)
    rep.add_table("Parameters", _params_table(summary["params"]), max_rows=None)


def _regression_sections(rep: Any, result: AuditResult) -> None:
    s = result.summary
    rep.add_facts(
        "Summary",
        {
            "rows": s["rows"],
            "rows without a target (excluded)": s["rows_without_target"],
            "out-of-fold R^2": f"{s['oof_r2']:.3f}",
            "residual scale (robust)": f"{s['residual_scale']:.4g}",
            f"outlying targets (|robust z| > {s['z_threshold']})": s["target_issues"],
            "near duplicates": s["near_duplicates"],
        },
    )
    rep.add_table(
        "Top suspects",
        result.suspects,
        caption="Largest |robust z| of the residual first; the row's own columns, then the "
        "audit's (suggested_target is the out-of-fold prediction).",
        max_rows=None,
    )
    _columns_and_params(rep, s)
