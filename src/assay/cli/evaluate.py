"""``assay evaluate`` (detection and curves of saved values) and ``assay report`` (HTML)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from assay.cli.common import TargetOpt, ThreadsOpt, out_option, setup


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
) -> None:
    """Noisy-label detection and point-removal / addition curves of saved values."""
    setup(threads=threads)
    import dataclasses

    import numpy as np
    import pandas as pd

    from assay.data.task import TaskSpec, build_task
    from assay.errors import InvalidDataError
    from assay.evaluate.run import evaluate_results
    from assay.learners import make_learner
    from assay.result import ValuationResult, sidecar_path

    results = {}
    for path in values:
        r = ValuationResult.load(path)
        results[r.method if r.method not in results else f"{r.method} ({path.stem})"] = r
    first = next(iter(results.values()))
    task_params = first.params.get("task")
    if data is None and not isinstance(task_params, dict):
        raise InvalidDataError(
            f"{str(values[0])!r} does not record its data; pass --data and --target"
        )
    spec = TaskSpec.from_dict(task_params) if isinstance(task_params, dict) else TaskSpec(str(data))
    spec = dataclasses.replace(
        spec, source=data or spec.source, target=target or spec.target, test=test or spec.test
    )
    task = build_task(spec)
    if flipped is not None:
        if not flipped.exists():
            raise InvalidDataError(f"file not found: {str(flipped)!r}")
        ids = pd.read_csv(flipped)["id"].to_numpy()
        wanted = set(ids.tolist())
        positions = [i for i, v in enumerate(task.train.ids.tolist()) if v in wanted]
        task = dataclasses.replace(task, flipped=np.array(positions, dtype=np.int64))
    name = learner or str(first.params.get("learner", "logistic"))
    learner_params = {} if learner else dict(first.params.get("learner_params", {}))
    if name.startswith("sklearn:"):
        learner_params = {}
    model = make_learner(name, **learner_params)
    out.mkdir(parents=True, exist_ok=True)
    for path in values:  # the report reads the values from the results directory
        if path.resolve().parent != out.resolve():
            shutil.copy(path, out / path.name)
            if sidecar_path(path).exists():
                shutil.copy(sidecar_path(path), out / sidecar_path(path).name)
    times = {
        k: float(r.params.get("wall_seconds", r.params.get("seconds", 0.0)))
        for k, r in results.items()
    }
    written = evaluate_results(results, task, model, out, times=times)
    typer.echo(f"evaluation -> {written}")


def report(
    results_dir: Path = typer.Argument(..., help="Directory of values and evaluation.json."),
    out: Path | None = out_option("HTML file (default DIR/report.html)", None),
    title: str | None = typer.Option(None, "--title"),
    threads: int | None = ThreadsOpt,
) -> None:
    """Write one self-contained HTML report of a results directory."""
    setup(threads=threads)
    from assay.evaluate.report import build_report

    path = build_report(results_dir, title=title).write(out or results_dir / "report.html")
    typer.echo(f"report -> {path}")


COMMANDS = {"evaluate": evaluate, "report": report}
