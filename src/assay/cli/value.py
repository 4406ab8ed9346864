"""``assay value`` (value every training point) and ``assay flip`` (inject label noise)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from assay.valuation.estimate import RunEstimate

from assay.cli.common import (
    AddressOpt,
    BackendOpt,
    CategoricalOpt,
    DataArg,
    DropOpt,
    FlipOpt,
    IdColumnOpt,
    JobsOpt,
    LearnerParamOpt,
    OverwriteOpt,
    ParamOpt,
    RestartOpt,
    SeedOpt,
    TargetOpt,
    TestFractionOpt,
    TestOpt,
    ThreadsOpt,
    ValidOpt,
    VerboseOpt,
    learner_option,
    method_option,
    out_option,
    parse_params,
    setup,
)


def value(
    data: str = DataArg,
    target: str | None = TargetOpt,
    valid: str | None = ValidOpt,
    valid_fraction: float | None = typer.Option(
        None,
        "--valid-fraction",
        help="Hold out this fraction of DATA for validation (its rows get no value) instead of "
        "cross-fitting.",
    ),
    players: str = typer.Option(
        "rows",
        "--players",
        help="rows, clusters:K (K k-means groups of rows are the players) or groups:COLUMN "
        "(a column's levels); each row gets its group's value. Needs --valid / --valid-fraction.",
    ),
    folds: int | None = typer.Option(
        None,
        "--folds",
        help="Cross-fit with K stratified folds, so every row of DATA gets a value (default 5 "
        "without --valid / --valid-fraction).",
    ),
    test: str | None = TestOpt,
    test_fraction: float = TestFractionOpt,
    method: str = method_option(),
    learner: str = learner_option(),
    learner_param: list[str] = LearnerParamOpt,
    param: list[str] = ParamOpt,
    scorer: str | None = typer.Option(
        None,
        "--scorer",
        help="accuracy (default) or log_likelihood; r2 (default) or neg_mse with a regressor",
    ),
    budget: int | None = typer.Option(
        None, "--budget", "-b", help="samples: permutations, subsets or bootstrap models"
    ),
    seed: int = SeedOpt,
    flip_rate: float = FlipOpt,
    id_column: str | None = IdColumnOpt,
    drop: list[str] | None = DropOpt,
    categorical: list[str] | None = CategoricalOpt,
    jobs: int = JobsOpt,
    backend: str = BackendOpt,
    address: str | None = AddressOpt,
    threads: int | None = ThreadsOpt,
    cache_dir: str | None = typer.Option(None, "--cache-dir", help="on-disk utility cache"),
    checkpoint: str | None = typer.Option(None, "--checkpoint", help="resume file (.npz)"),
    restart: bool = RestartOpt,
    out: Path = out_option("VALUES.parquet to write (.parquet is appended when missing)"),
    overwrite: bool = OverwriteOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Value every training point of DATA; write id, value, stderr, count to --out.

    Without --valid / --valid-fraction the values are cross-fitted: every row gets one.

    With a regressor (--learner ridge) the target is a number and the utility R^2 or -MSE.
    """
    from assay.data.task import TaskSpec, resolve_folds
    from assay.valuation.run import value_task

    setup(threads=threads, verbose=verbose)
    k = resolve_folds(folds, valid=valid, valid_fraction=valid_fraction)
    spec = TaskSpec(
        data,
        target,
        valid,
        test,
        0.0 if valid_fraction is None else valid_fraction,  # used only when given
        test_fraction,
        seed,
        flip_rate,
        id_column=id_column,
        drop=tuple(drop or ()),
        categorical=tuple(categorical or ()),
        folds=k,
        group_column=players.partition(":")[2] if players.startswith("groups:") else None,
    )
    run = value_task(
        spec,
        method,
        learner=learner,
        learner_params=parse_params(learner_param),
        method_params=parse_params(param),
        scorer=scorer,
        budget=budget,
        players=players,
        jobs=jobs,
        backend=backend,
        address=address,
        cache_dir=cache_dir,
        checkpoint=checkpoint,
        restart=restart,
        progress=True,
        out=out,
        overwrite=overwrite,
        on_estimate=_warn_if_long,
    )
    result, path = run.result, run.path
    crossed = result.params.get("cross_fit", {})
    how = ""
    if crossed:
        k_or_mode = f"in {crossed['folds']} folds" if "folds" in crossed else f"({crossed['mode']})"
        how = f", cross-fitted {k_or_mode}"
    if result.params.get("algorithm") == "truncated":  # KNN-Shapley above its exact_rows
        m, bound = result.params["neighbours"], result.params["error_bound"]
        how += f", truncated to the {m} nearest rows (every value within {bound:.3g} of exact)"
    typer.echo(f"{method}: {len(result)} values in {run.seconds:.2f} s{how} -> {path}")
    low = result.suspects(min(5, len(result)))
    typer.echo(
        "most suspect: "
        + ", ".join(f"{i}={v:.4g}" for i, v in zip(low.ids, low.values, strict=True))
    )


def flip(
    data: str = DataArg,
    target: str = typer.Option(..., "--target", "-t", help="Label column."),
    rate: float = typer.Option(0.1, "--rate", help="Fraction of labels to flip."),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("Noisy CSV / Parquet to write."),
    overwrite: bool = OverwriteOpt,
) -> None:
    """Flip exactly round(rate * n) labels of DATA; write the noisy table and the flipped ids."""
    from assay.data.noise import flip_file

    setup(threads=threads)
    path, ids_path, flipped, n = flip_file(data, target, rate, out, seed=seed, overwrite=overwrite)
    typer.echo(f"flipped {flipped} of {n} labels -> {path} (ids in {ids_path})")


def _warn_if_long(estimate: RunEstimate) -> None:
    """Say before a long run how long it will take and what is faster."""
    if estimate.long:
        typer.echo(f"estimate: {estimate.describe()}", err=True)


COMMANDS = {"value": value, "flip": flip}
