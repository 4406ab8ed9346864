"""Simulated active learning end to end, the way ``assay active`` runs it, written to a folder.

:func:`active_task` loads a fully labelled pool (:func:`assay.data.pool.load_pool`), starts from
a seeded class-stratified labelled sample, runs :class:`~assay.select.active.ActiveLearning` for
each acquisition function on the same start and test set, and writes ``OUT/curve.json``,
``OUT/curve.png`` and ``OUT/report.html`` atomically; ``OUT/state/<name>/state.npz`` lets a killed
run continue (a state of another run is refused unless ``restart``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.errors import InvalidParameterError, check_output_dir
from assay.runs import atomic_write_bytes, atomic_write_text, check_new

#: the files :func:`active_task` writes in its folder (besides ``state/``)
ACTIVE_FILES = ("curve.json", "curve.png", "report.html")


@dataclass(frozen=True)
class ActiveRun:
    """What :func:`active_task` returns: learning curves and wall time by acquisition."""

    curves: dict[str, pd.DataFrame]
    seconds: dict[str, float]
    out: Path

    @property
    def best(self) -> str:
        """The acquisition with the highest final test score."""
        return max(self.curves, key=lambda k: float(self.curves[k]["score"].iloc[-1]))


def curves_table(curves: dict[str, pd.DataFrame], seconds: dict[str, float]) -> pd.DataFrame:
    """One row per acquisition: its wall time and its score at each labelled-set size."""
    rows = []
    for name, df in curves.items():
        row: dict[str, Any] = {"acquisition": name, "seconds": round(seconds[name], 2)}
        for n, s in zip(df["n_labelled"], df["score"], strict=True):
            row[str(int(n))] = round(float(s), 4)
        rows.append(row)
    return pd.DataFrame(rows)


def active_task(
    pool: str,
    target: str | None,
    acquisitions: Sequence[str],
    out: str | Path,
    *,
    initial: int,
    batch: int,
    rounds: int,
    test: str | None = None,
    test_fraction: float = 0.2,
    valid: str | None = None,
    learner: str = "logistic",
    learner_params: dict[str, Any] | None = None,
    acquisition_params: dict[str, Any] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    restart: bool = False,
    progress: bool = False,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> ActiveRun:
    """Algorithm 4 on a labelled pool for each of ``acquisitions``, written to ``out``.

    Parameters
    ----------
    pool, target : str
        The labelled pool (file or bundled name) and its label column.
    acquisitions : sequence of str
        Acquisition names (:func:`assay.select.acquisition.make_acquisition`).
    out : path
        Folder of :data:`ACTIVE_FILES` and ``state/``.
    initial, batch, rounds : int
        Size of the initial labelled set, points per round and rounds.
    test, test_fraction, valid
        Test file (or the held-out share of the pool) and validation file.
    learner, learner_params : str, dict
        The learner.
    acquisition_params : dict, optional
        Parameters of every acquisition.
    seed : int
        Seed of the initial sample, the split and the acquisitions.
    overwrite : bool
        Replace outputs that exist (refused otherwise, before any work).
    restart : bool
        Discard round states of another run in ``out/state`` (refused otherwise).
    progress : bool
        Show progress bars.
    id_column, drop, categorical
        See :class:`~assay.data.encode.TableEncoder` (data files).

    Raises
    ------
    InvalidParameterError
        No acquisition, or ``initial`` outside ``[2, n - 1]``.
    """
    from assay.data.files_loaders import stratified_subsample
    from assay.data.pool import load_pool
    from assay.evaluate import Report, figure_png
    from assay.learners import make_learner
    from assay.select.acquisition import make_acquisition
    from assay.select.active import ActiveLearning, plot_learning_curves

    if not acquisitions:
        raise InvalidParameterError("--acquisition needs at least one name")
    folder = Path(out)
    check_output_dir(folder)
    check_new(*(folder / f for f in ACTIVE_FILES), overwrite=overwrite, what="output")
    data, test_ds, valid_ds = load_pool(
        pool,
        target,
        test,
        test_fraction,
        valid,
        seed,
        id_column=id_column,
        drop=drop,
        categorical=categorical,
    )
    if not 2 <= initial < data.n:
        raise InvalidParameterError(f"--initial must lie in [2, {data.n - 1}], got {initial}")
    mask = np.zeros(data.n, dtype=bool)
    mask[stratified_subsample(data.y, initial, seed)] = True
    labelled, rest = data.subset(mask), data.subset(~mask)
    model = make_learner(learner, **(learner_params or {}))
    params = dict(acquisition_params or {})
    curves, seconds = {}, {}
    for name in acquisitions:
        loop = ActiveLearning(
            model,
            make_acquisition(name, **params),
            batch_size=batch,
            rounds=rounds,
            seed=seed,
            state_dir=folder / "state" / name,
            progress=progress,
            restart=restart,
        )
        t0 = time.perf_counter()
        curves[name] = loop.run(labelled, rest, test_ds, valid=valid_ds).curve
        seconds[name] = time.perf_counter() - t0
    payload = {
        "acquisitions": {k: v.to_dict(orient="list") for k, v in curves.items()},
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
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
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, default=str)
    atomic_write_text(folder / "curve.json", text, overwrite=overwrite)
    png = figure_png(plot_learning_curves(curves, title=f"Active learning on {Path(pool).name}"))
    atomic_write_bytes(folder / "curve.png", png, overwrite=overwrite)
    report = Report(f"assay active: {pool}", subtitle="Test score after each round.")
    keys = ("pool", "n_pool", "n_test", "initial", "batch", "rounds", "learner")
    report.add_facts("Run facts", {k: payload[k] for k in keys})
    report.add_section(
        "Active learning",
        curves_table(curves, seconds),
        png,
        caption="Algorithm 4; wall time in seconds.",
    )
    report.write(folder / "report.html", overwrite=overwrite)
    return ActiveRun(curves, seconds, folder)
