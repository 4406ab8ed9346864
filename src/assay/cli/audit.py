"""``assay audit DATA --target COL``: score every row of a table for label quality."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from assay.cli.common import OverwriteOpt, SeedOpt, ThreadsOpt, setup
from assay.errors import InvalidParameterError


def audit(
    data: Path = typer.Argument(..., help="CSV, TSV or Parquet table."),
    target: str = typer.Option(..., "--target", "-t", help="Label column."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Scored table (.csv or .parquet)."),
    report: Path | None = typer.Option(None, "--report", help="HTML report (.html)."),
    methods: str | None = typer.Option(
        None,
        "--methods",
        help="Detectors to combine (default logistic,hgb,knn, plus knn-shapley under 20,000 "
        "rows; also data-oob; for a regression target any of ridge,hgb,knn, default all three).",
    ),
    task: str = typer.Option(
        "auto",
        "--task",
        help="auto (a continuous float target is regression), classification or regression",
    ),
    folds: int = typer.Option(5, "--folds", help="Folds of the cross-fitted models."),
    id_column: str | None = typer.Option(None, "--id-column", help="Row id column."),
    drop: list[str] | None = typer.Option(None, "--drop", help="Column to ignore (repeatable)."),
    categorical: list[str] | None = typer.Option(
        None, "--categorical", help="Column to one-hot encode (repeatable)."
    ),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    overwrite: bool = OverwriteOpt,
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bars with ETAs on stderr (default: when stderr is a terminal).",
    ),
) -> None:
    """Find likely mislabelled rows (or outlying targets), outliers and near duplicates in DATA."""
    setup(threads=threads, torch_state=False)  # small tables never import torch
    from assay.audit import audit as run_audit
    from assay.audit import audit_report, write_table
    from assay.audit.report import check_table_path
    from assay.data.io import read_frame
    from assay.runs import check_new

    if out is not None:
        check_table_path(out)
        check_new(out, overwrite=overwrite, what="scored table")
    if report is not None:
        if report.suffix.lower() not in (".html", ".htm"):
            raise InvalidParameterError(f"--report must end in .html, got {str(report)!r}")
        check_new(report, overwrite=overwrite, what="report")
    chosen = None if methods is None else [m.strip() for m in methods.split(",") if m.strip()]
    if progress is None:
        progress = sys.stderr.isatty()
    frame = read_frame(data)
    result = run_audit(
        frame,
        target,
        methods=chosen,
        task=task,
        k_folds=folds,
        id_column=id_column,
        drop=drop or (),
        categorical=categorical or (),
        seed=seed,
        progress=progress,
    )
    del frame
    s = result.summary
    if s.get("task") == "regression":
        _print_regression(result)
        if out is not None:
            typer.echo(f"wrote {write_table(result.table, out, overwrite=overwrite)}")
        if report is not None:
            typer.echo(f"wrote {audit_report(result, report, overwrite=overwrite)}")
        return
    lo, hi = s["estimated_label_errors_interval"]
    typer.echo(f"{s['rows']} rows, {s['features']} features; methods: {', '.join(s['methods'])}")
    if s["model_weights"]:
        weights = ", ".join(f"{m} {w:.2f}" for m, w in s["model_weights"].items())
        typer.echo(f"stacking weights (log-probability scale): {weights}")
    if s["rows_without_label"]:
        typer.echo(f"excluded {s['rows_without_label']} rows with a missing label")
    typer.echo(f"estimated label errors: {s['estimated_label_errors']} (95% interval {lo}-{hi})")
    typer.echo("columns:\n  " + "\n  ".join(s["columns"]))
    typer.echo("class-level noise (given label x confidently predicted):")
    typer.echo(s["class_noise"].to_string())
    typer.echo("top suspects:")
    typer.echo(result.suspects.to_string(max_cols=12))
    if out is not None:
        typer.echo(f"wrote {write_table(result.table, out, overwrite=overwrite)}")
    if report is not None:
        typer.echo(f"wrote {audit_report(result, report, overwrite=overwrite)}")


def _print_regression(result: Any) -> None:
    s = result.summary
    typer.echo(f"{s['rows']} rows, {s['features']} features; methods: {', '.join(s['methods'])}")
    if s["rows_without_target"]:
        typer.echo(f"excluded {s['rows_without_target']} rows with a missing target")
    typer.echo(
        f"out-of-fold R^2 {s['oof_r2']:.3f}; residual scale {s['residual_scale']:.4g}; "
        f"outlying targets (|robust z| > {s['z_threshold']}): {s['target_issues']}"
    )
    typer.echo("columns:\n  " + "\n  ".join(s["columns"]))
    typer.echo("top suspects:")
    typer.echo(result.suspects.to_string(max_cols=12))


COMMANDS = {"audit": audit}
