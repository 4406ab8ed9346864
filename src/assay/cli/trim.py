"""``assay trim``: value the training data against a validation set, remove the b least valuable
points (the seed's Algorithm 3), retrain, and report the scores before and after.

Writes ``DIR/values.parquet`` (+ ``values.json``), ``DIR/removed.csv`` (``rank, id, value``, first
removed first, for the largest budget), ``DIR/trim.json`` (scores before / after on the validation
and test sets, the random baseline, timings, the task spec) and ``DIR/report.html``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.common import (
    CategoricalOpt,
    DataArg,
    DropOpt,
    LearnerParamOpt,
    OverwriteOpt,
    ParamOpt,
    SeedOpt,
    TargetOpt,
    TestFractionOpt,
    TestOpt,
    ThreadsOpt,
    ValidFractionOpt,
    ValidOpt,
    VerboseOpt,
    learner_option,
    method_option,
    out_option,
    parse_params,
    setup,
)


def parse_budgets(items: list[str]) -> list[int]:
    """``["5,10", "20"]`` -> ``[5, 10, 20]``."""
    from assay.errors import InvalidParameterError

    out = []
    for item in items:
        for part in str(item).split(","):
            if part.strip():
                try:
                    out.append(int(part))
                except ValueError:
                    raise InvalidParameterError(
                        f"--remove takes whole numbers of points, got {part!r}"
                    ) from None
    if not out:
        raise InvalidParameterError("--remove needs at least one budget, e.g. --remove 50")
    return out


def trim(
    data: str = DataArg,
    target: str | None = TargetOpt,
    drop: list[str] | None = DropOpt,
    categorical: list[str] | None = CategoricalOpt,
    valid: str | None = ValidOpt,
    valid_fraction: float = ValidFractionOpt,
    test: str | None = TestOpt,
    test_fraction: float = TestFractionOpt,
    method: str = method_option("fi (= fi-util), random, or a method: ", "fi"),
    remove: list[str] = typer.Option(
        ..., "--remove", "-r", help="points to remove: 50, or 10,20,50 for a curve"
    ),
    learner: str = learner_option(),
    learner_param: list[str] = LearnerParamOpt,
    param: list[str] = ParamOpt,
    random_repeats: int = typer.Option(5, "--random-repeats", help="random-removal baselines"),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("output directory"),
    overwrite: bool = OverwriteOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Trim DATA: remove the --remove least valuable training points and retrain."""
    from assay.data.task import TaskSpec
    from assay.evaluate.trimming import trim_task

    setup(threads=threads, verbose=verbose)
    spec = TaskSpec(
        data,
        target,
        valid,
        test,
        valid_fraction,
        test_fraction,
        seed,
        drop=tuple(drop or ()),
        categorical=tuple(categorical or ()),
    )
    run = trim_task(
        spec,
        method,
        parse_budgets(remove),
        out,
        learner=learner,
        learner_params=parse_params(learner_param),
        method_params=parse_params(param),
        random_repeats=random_repeats,
        overwrite=overwrite,
    )
    scores = run.summary["scores"][run.split]
    typer.echo(
        f"{run.result.values.method}: removed {run.summary['removed']} of {run.n_train}; "
        f"{run.split} score {scores['before']:.4f} -> {scores['after']:.4f} in "
        f"{run.summary['seconds']:.2f} s -> {run.out}"
    )


COMMANDS = {"trim": trim}
