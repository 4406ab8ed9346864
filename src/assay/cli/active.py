"""``assay active``: pool-based active learning (the seed's Algorithm 4) with learning curves.

POOL is a labelled table (or a bundled dataset) whose labels stay hidden from the acquisition
function and are revealed by the oracle only for the points it picks. ``--initial N`` points (a
seeded class-stratified sample) start the labelled set. Several acquisition functions
(``--acquisition fi,random,bald``) run on the same initial set and test set. Writes
``DIR/curve.json``, ``DIR/curve.png`` and ``DIR/report.html``; ``DIR/state/<name>/state.json``
lets a killed run continue where it stopped (rerun the same command).

With a person as the oracle: when POOL's target column is empty on some rows, those rows are the
pool and the labelled rows start the model. ``assay active POOL --target COL --batch N --out DIR``
writes the next N rows to label to ``DIR/to_label.csv`` and stops; fill in the target column (in
that file or any CSV with the id and target columns) and rerun with ``--labels FILE`` to train,
score and get the next batch (see :mod:`assay.select.label_rounds`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from assay.cli.common import (
    DataArg,
    LearnerParamOpt,
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
    learner: str = learner_option(),
    learner_param: list[str] = LearnerParamOpt,
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("output directory"),
    verbose: bool = VerboseOpt,
) -> None:
    """Active learning on POOL: --rounds rounds of --batch points from --initial labelled ones."""
    import numpy as np

    from assay.data.files_loaders import stratified_subsample
    from assay.data.pool import load_pool
    from assay.errors import InvalidParameterError
    from assay.evaluate import Report, figure_png
    from assay.learners import make_learner
    from assay.result import atomic_write_bytes
    from assay.select.acquisition import make_acquisition
    from assay.select.active import ActiveLearning, plot_learning_curves

    setup(threads=threads, verbose=verbose)
    names = [n.strip() for item in acquisition for n in item.split(",") if n.strip()]
    if not names:
        raise InvalidParameterError("--acquisition needs at least one name")
    from assay.select.label_rounds import has_blank_target

    if has_blank_target(pool, target):
        if len(names) != 1:
            raise InvalidParameterError(
                f"labelling rounds use one acquisition, got {len(names)}: {names}"
            )
        model = make_learner(learner, **parse_params(learner_param))
        _label_round(pool, target, id_column, labels, out, model, names[0], acq_param, batch, seed)
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
    data, test_ds, valid_ds = load_pool(pool, target, test, test_fraction, valid, seed)
    if not 2 <= initial < data.n:
        raise InvalidParameterError(f"--initial must lie in [2, {data.n - 1}], got {initial}")
    start_pos = stratified_subsample(data.y, initial, seed)
    mask = np.zeros(data.n, dtype=bool)
    mask[start_pos] = True
    labelled, rest = data.subset(mask), data.subset(~mask)
    model = make_learner(learner, **parse_params(learner_param))
    params = parse_params(acq_param)
    curves, times = {}, {}
    for name in names:
        loop = ActiveLearning(
            model,
            make_acquisition(name, **params),
            batch_size=batch,
            rounds=rounds,
            seed=seed,
            state_dir=out / "state" / name,
            progress=True,
        )
        t0 = time.perf_counter()
        curves[name] = loop.run(labelled, rest, test_ds, valid=valid_ds).curve
        times[name] = time.perf_counter() - t0
    fig = plot_learning_curves(curves, title=f"Active learning on {Path(pool).name}")
    payload = {
        "acquisitions": {k: v.to_dict(orient="list") for k, v in curves.items()},
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "initial": initial,
        "batch": batch,
        "rounds": rounds,
        "learner": learner,
        "learner_params": model.get_params(),
        "acquisition_params": params,
        "seed": seed,
        "pool": pool,
        "n_pool": rest.n,
        "n_test": test_ds.n,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "curve.json", json.dumps(payload, indent=2, default=str).encode())
    png = figure_png(fig)
    atomic_write_bytes(out / "curve.png", png)
    report = Report(f"assay active: {pool}", subtitle="Test score after each round.")
    report.add_facts(
        "Run facts",
        {
            k: payload[k]
            for k in ("pool", "n_pool", "n_test", "initial", "batch", "rounds", "learner")
        },
    )
    table = _table(curves, times)
    report.add_section("Active learning", table, png, caption="Algorithm 4; wall time in seconds.")
    report.write(out / "report.html")
    best = max(curves, key=lambda k: float(curves[k]["score"].iloc[-1]))
    typer.echo(
        f"{len(names)} acquisition(s), {rounds} rounds of {batch}: final test score "
        + ", ".join(f"{k} {float(v['score'].iloc[-1]):.4f}" for k, v in curves.items())
        + f" (best: {best}) -> {out}"
    )


def _label_round(
    pool: str,
    target: str | None,
    id_column: str | None,
    labels: Path | None,
    out: Path,
    model: Any,
    name: str,
    acq_param: list[str],
    batch: int,
    seed: int,
) -> None:
    from assay.select.acquisition import make_acquisition
    from assay.select.label_rounds import label_round, read_pool

    assert target is not None
    table = read_pool(pool, target, id_column=id_column)
    res = label_round(
        table,
        out,
        learner=model,
        acquisition=make_acquisition(name, **parse_params(acq_param)),
        batch=batch,
        labels=labels,
        seed=seed,
    )
    al = res.learner
    taught = f"taught {res.taught} label(s); " if res.taught else ""
    typer.echo(
        f"round {al.round}: {taught}{al.labelled.n} labelled, {len(al.remaining_ids)} unlabelled; "
        f"fill in {target!r} for the {len(res.batch)} rows in {res.path} and rerun with "
        f"--labels {res.path}"
    )


def _table(curves: dict[str, Any], times: dict[str, float]) -> Any:
    import pandas as pd

    rows = []
    for name, df in curves.items():
        row: dict[str, Any] = {"acquisition": name, "seconds": round(times[name], 2)}
        for n, s in zip(df["n_labelled"], df["score"], strict=True):
            row[str(int(n))] = round(float(s), 4)
        rows.append(row)
    return pd.DataFrame(rows)


COMMANDS = {"active": active}
