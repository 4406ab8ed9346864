"""``assay value`` (value every training point) and ``assay flip`` (inject label noise)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from assay.cli.common import (
    DataArg,
    FlipOpt,
    SeedOpt,
    TargetOpt,
    TestFractionOpt,
    TestOpt,
    ValidFractionOpt,
    ValidOpt,
    parse_params,
    quiet_logging,
    values_path,
)


def value(
    data: str = DataArg,
    target: str | None = TargetOpt,
    valid: str | None = ValidOpt,
    valid_fraction: float = ValidFractionOpt,
    test: str | None = TestOpt,
    test_fraction: float = TestFractionOpt,
    method: str = typer.Option(
        ...,
        "--method",
        "-m",
        help="loo, exact-shapley, tmc-shapley, beta-shapley, banzhaf, data-oob, knn-shapley",
    ),
    learner: str = typer.Option(
        "logistic", "--learner", "-l", help="logistic, mlp or sklearn:<module.Class>"
    ),
    learner_param: list[str] = typer.Option([], "--learner-param", help="key=value, repeatable"),
    param: list[str] = typer.Option([], "--param", "-p", help="method key=value, repeatable"),
    scorer: str = typer.Option("accuracy", "--scorer", help="accuracy or log_likelihood"),
    budget: int | None = typer.Option(
        None, "--budget", "-b", help="samples: permutations, subsets or bootstrap models"
    ),
    seed: int = SeedOpt,
    flip_rate: float = FlipOpt,
    id_column: str | None = typer.Option(None, "--id-column", help="Column of row ids."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="parallel workers"),
    backend: str = typer.Option(
        "auto", "--backend", help="auto (loky when --jobs > 1), sequential, loky or ray"
    ),
    cache_dir: str | None = typer.Option(None, "--cache-dir", help="on-disk utility cache"),
    checkpoint: str | None = typer.Option(None, "--checkpoint", help="resume file (.npz)"),
    out: Path = typer.Option(..., "--out", "-o", help="VALUES.parquet to write"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Value every training point of DATA; write id, value, stderr, count to --out."""
    from assay.data.task import TaskSpec, build_task
    from assay.parallel import backend as use_backend
    from assay.utility import Utility
    from assay.valuation import SamplingValuation, make_method

    quiet_logging(verbose)
    if jobs < 1:
        from assay.errors import InvalidParameterError

        raise InvalidParameterError(f"--jobs must be >= 1, got {jobs}")
    spec = TaskSpec(
        data,
        target,
        valid,
        test,
        valid_fraction,
        test_fraction,
        seed,
        flip_rate,
        id_column=id_column,
    )
    task = build_task(spec)
    params = parse_params(param)
    method_obj = make_method(method, budget=budget, **params)
    if isinstance(method_obj, SamplingValuation):
        method_obj.seed, method_obj.progress = seed, True
        if checkpoint:
            method_obj.checkpoint = Path(checkpoint)
    from assay.learners import make_learner

    utility = Utility(
        make_learner(learner, **parse_params(learner_param)),
        task.train,
        task.valid,
        scorer,
        cache_dir=cache_dir,
        n_jobs=jobs if jobs > 1 else None,
    )
    chosen = ("loky" if jobs > 1 else "sequential") if backend == "auto" else backend
    start = time.perf_counter()
    with use_backend(chosen, n_jobs=jobs):
        result = method_obj.fit(utility)
    seconds = time.perf_counter() - start
    from assay.result import ValuationResult

    result = ValuationResult(
        result.ids,
        result.values,
        result.stderr,
        result.counts,
        result.method,
        {
            **result.params,
            "wall_seconds": round(seconds, 4),
            "learner": learner,
            "learner_params": utility.learner.get_params(),
            "scorer": utility.scorer.name,
            "backend": chosen,
            "jobs": jobs,
            "task": spec.to_dict(),
        },
        result.direction,
    )
    path = result.save(values_path(out))
    if task.flipped is not None:
        _write_ids(path.with_suffix(".flipped.csv"), task.flipped_ids)
    typer.echo(f"{method}: {len(result)} values in {seconds:.2f} s -> {path}")
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
    out: Path = typer.Option(..., "--out", "-o", help="Noisy CSV / Parquet to write."),
) -> None:
    """Flip exactly round(rate * n) labels of DATA; write the noisy table and the flipped ids."""
    from assay.data import flip_labels, read_table

    ds = read_table(data, target)
    noisy, flipped = flip_labels(ds, rate, seed=seed)
    df = noisy.to_pandas(target).drop(columns="id")  # row order keeps the ids (positions)
    if out.suffix == ".parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)
    ids_path = out.with_suffix(".flipped.csv")
    _write_ids(ids_path, noisy.ids[flipped])
    typer.echo(f"flipped {len(flipped)} of {noisy.n} labels -> {out} (ids in {ids_path})")


def _write_ids(path: Path, ids: object) -> None:
    import pandas as pd

    pd.DataFrame({"id": ids}).to_csv(path, index=False)


COMMANDS = {"value": value, "flip": flip}
