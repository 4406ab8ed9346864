"""``assay evaluate`` (detection and curves of saved values) and ``assay report`` (HTML)."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.common import OverwriteOpt, TargetOpt, ThreadsOpt, out_option, setup


def evaluate(
    values: list[Path] = typer.Argument(..., help="VALUES.parquet files written by `assay value`."),
    flipped: Path | None = typer.Option(
        None, "--flipped", help="CSV of flipped ids (column 'id'), default: from the values' task"
    ),
    data: str | None = typer.Option(None, "--data", help="Override the data of the values' task."),
    target: str | None = TargetOpt,
    test: str | None = typer.Option(None, "--test", help="Test file for removal curves."),
    learner: str | None = typer.Option(None, "--learner", "-l", help="Default: the values' one."),
    threads: int | None = ThreadsOpt,
    out: Path = out_option("Results directory to write."),
    overwrite: bool = OverwriteOpt,
) -> None:
    """Noisy-label detection and point-removal / addition curves of saved values."""
    setup(threads=threads)
    from assay.evaluate.saved import evaluate_saved

    written = evaluate_saved(
        values,
        out,
        data=data,
        target=target,
        test=test,
        learner=learner,
        flipped=flipped,
        overwrite=overwrite,
    )
    typer.echo(f"evaluation -> {written}")


def report(
    results_dir: Path = typer.Argument(..., help="Directory of values and evaluation.json."),
    out: Path | None = out_option("HTML file (default DIR/report.html)", None),
    title: str | None = typer.Option(None, "--title"),
    threads: int | None = ThreadsOpt,
    overwrite: bool = OverwriteOpt,
) -> None:
    """Write one self-contained HTML report of a results directory."""
    setup(threads=threads)
    from assay.evaluate.report import build_report
    from assay.runs import check_new

    target_path = out or results_dir / "report.html"
    check_new(target_path, overwrite=overwrite, what="report")
    path = build_report(results_dir, title=title).write(target_path, overwrite=overwrite)
    typer.echo(f"report -> {path}")


COMMANDS = {"evaluate": evaluate, "report": report}
