"""``assay active``: pool-based active learning (the seed's Algorithm 4) with learning curves.

POOL is a labelled table (or a bundled dataset) whose labels stay hidden from the acquisition
function and are revealed by the oracle only for the points it picks. ``--initial N`` points (a
seeded class-stratified sample) start the labelled set. Several acquisition functions
(``--acquisition fi,random,bald``) run on the same initial set and test set. Writes
``DIR/curve.json``, ``DIR/curve.png`` and ``DIR/report.html``; ``DIR/state/<name>/state.npz``
lets a killed run continue where it stopped (rerun the same command).

With a person as the oracle: when POOL's target column is empty on some rows, those rows are the
pool and the labelled rows start the model. ``assay active POOL --target COL --batch N --out DIR``
writes the next N rows to label to ``DIR/to_label.csv`` and stops; fill in the target column (in
that file or any CSV with the id and target columns) and rerun with ``--labels FILE`` to train,
score and get the next batch (see :mod:`assay.select.label_rounds`).
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
    RestartOpt,
    SeedOpt,
    TargetOpt,
    TestOpt,
    ThreadsOpt,
    VerboseOpt,
    learner_option,
    out_option,
    parse_params,
    setup,
)


def active(
    pool: str = DataArg,
    target: str | None = TargetOpt,
    test: str | None = TestOpt,
    test_fraction: float = typer.Option(
        0.2, "--test-fraction", help="Held-out share of POOL when no --test file is given."
    ),
    valid: str | None = typer.Option(
        None, "--valid", help="Validation file (used by iv and valuation-based acquisitions)."
    ),
    initial: int | None = typer.Option(
        None, "--initial", help="Size of the initial labelled set (simulated mode)."
    ),
    batch: int = typer.Option(10, "--batch", help="Points labelled per round."),
    rounds: int | None = typer.Option(None, "--rounds", help="Acquisition rounds (simulated)."),
    labels: Path | None = typer.Option(
        None,
        "--labels",
        help="Filled-in labels (CSV with the id and target columns, e.g. DIR/to_label.csv); "
        "teaches them and proposes the next batch.",
    ),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Column of row ids (default: a column named id, else the row)."
    ),
    acquisition: list[str] = typer.Option(
        ["fi"],
        "--acquisition",
        "-a",
        help="fi, fi-approx, iv, bald, entropy, margin, least-confidence, random or a valuation "
        "method; comma-separated or repeated to compare",
    ),
    acq_param: list[str] = typer.Option([], "--acq-param", help="key=value, repeatable"),
    drop: list[str] | None = DropOpt,
    categorical: list[str] | None = CategoricalOpt,
    learner: str = learner_option(),
    learner_param: list[str] = LearnerParamOpt,
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("output directory"),
    overwrite: bool = OverwriteOpt,
    restart: bool = RestartOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Active learning on POOL: --rounds rounds of --batch points from --initial labelled ones."""
    from assay.errors import InvalidParameterError
    from assay.select.label_rounds import has_blank_target

    setup(threads=threads, verbose=verbose)
    names = [n.strip() for item in acquisition for n in item.split(",") if n.strip()]
    if has_blank_target(pool, target):
        if len(names) != 1:
            raise InvalidParameterError(
                f"labelling rounds use one acquisition, got {len(names)}: {names}"
            )
        _label_round(
            pool,
            target,
            id_column,
            labels,
            out,
            learner,
            learner_param,
            names[0],
            acq_param,
            batch,
            seed,
            restart,
            drop=tuple(drop or ()),
            categorical=tuple(categorical or ()),
        )
        return
    if labels is not None:
        raise InvalidParameterError(
            f"--labels needs a POOL whose {target!r} column is empty on the rows to label"
        )
    if initial is None or rounds is None:
        raise InvalidParameterError(
            "--initial and --rounds are needed when every POOL row is labelled (simulated mode); "
            "leave the target empty on the rows a person should label instead"
        )
    from assay.evaluate.learning import active_task

    run = active_task(
        pool,
        target,
        names,
        out,
        initial=initial,
        batch=batch,
        rounds=rounds,
        test=test,
        test_fraction=test_fraction,
        valid=valid,
        learner=learner,
        learner_params=parse_params(learner_param),
        acquisition_params=parse_params(acq_param),
        seed=seed,
        overwrite=overwrite,
        restart=restart,
        progress=True,
        id_column=id_column,
        drop=tuple(drop or ()),
        categorical=tuple(categorical or ()),
    )
    typer.echo(
        f"{len(names)} acquisition(s), {rounds} rounds of {batch}: final test score "
        + ", ".join(f"{k} {float(v['score'].iloc[-1]):.4f}" for k, v in run.curves.items())
        + f" (best: {run.best}) -> {run.out}"
    )


def _label_round(
    pool: str,
    target: str | None,
    id_column: str | None,
    labels: Path | None,
    out: Path,
    learner: str,
    learner_param: list[str],
    name: str,
    acq_param: list[str],
    batch: int,
    seed: int,
    restart: bool,
    *,
    drop: tuple[str, ...],
    categorical: tuple[str, ...],
) -> None:
    from assay.select.label_rounds import label_pool_file

    assert target is not None
    res = label_pool_file(
        pool,
        target,
        out,
        acquisition=name,
        batch=batch,
        labels=labels,
        id_column=id_column,
        learner=learner,
        learner_params=parse_params(learner_param),
        acquisition_params=parse_params(acq_param),
        seed=seed,
        restart=restart,
        drop=drop,
        categorical=categorical,
    )
    al = res.learner
    taught = f"taught {res.taught} label(s); " if res.taught else ""
    typer.echo(
        f"round {al.round}: {taught}{al.labelled.n} labelled, {len(al.remaining_ids)} unlabelled; "
        f"fill in {target!r} for the {len(res.batch)} rows in {res.path} and rerun with "
        f"--labels {res.path}"
    )


COMMANDS = {"active": active}
