"""``assay active``: pool-based active learning (the seed's Algorithm 4) with learning curves.

POOL is a labelled table (or a bundled dataset) whose labels stay hidden from the acquisition
function and are revealed by the oracle only for the points it picks. ``--initial N`` points (a
seeded class-stratified sample) start the labelled set. Several acquisition functions
(``--acquisition fi,random,bald``) run on the same initial set and test set. Writes
``DIR/curve.json``, ``DIR/curve.png`` and ``DIR/report.html``; ``DIR/state/<name>/state.json``
lets a killed run continue where it stopped (rerun the same command).
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
    initial: int = typer.Option(..., "--initial", help="Size of the initial labelled set."),
    batch: int = typer.Option(..., "--batch", help="Points labelled per round."),
    rounds: int = typer.Option(..., "--rounds", help="Acquisition rounds."),
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
