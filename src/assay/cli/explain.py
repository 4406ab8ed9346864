"""``assay explain``: train a Fast-DataShapley explainer from a table and save it for serving.

The explainer is trained on standardised features and saved with the scaler, so ``assay
attribute`` and ``assay serve`` take raw inputs in the data file's units (and table columns are
matched by name).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

from assay.cli.common import (
    DataArg,
    IdColumnOpt,
    LearnerParamOpt,
    SeedOpt,
    TargetOpt,
    ThreadsOpt,
    ValidFractionOpt,
    ValidOpt,
    VerboseOpt,
    learner_option,
    out_option,
    parse_params,
    setup,
)
from assay.errors import InvalidParameterError


def explain(
    data: str = DataArg,
    target: str | None = TargetOpt,
    valid: str | None = ValidOpt,
    valid_fraction: float = ValidFractionOpt,
    inputs: Path | None = typer.Option(
        None,
        "--inputs",
        help="Unlabelled inputs the explainer learns on (CSV / Parquet / .npy; default: the "
        "validation rows of DATA).",
    ),
    variant: str = typer.Option("afds", "--variant", help="fds, afds, gfds or gfds+"),
    learner: str = learner_option("mlp"),
    learner_param: list[str] = LearnerParamOpt,
    grouping: str = typer.Option(
        "label", "--grouping", help="GFDS / GFDS+ groups: label, kmeans or provider"
    ),
    group_column: str | None = typer.Option(
        None, "--provider-column", help="Column of data-provider ids (payouts per provider)."
    ),
    id_column: str | None = IdColumnOpt,
    n_train: int | None = typer.Option(
        None, "--n-train", help="Use the first N training rows as the players (default: all)."
    ),
    n_subsets: int = typer.Option(2048, "--n-subsets", help="Sub-models trained (the pool)."),
    epochs: int = typer.Option(200, "--epochs", help="Explainer training epochs (at most)."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="other FastDataShapley key=value, repeatable"
    ),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("Folder to write the explainer to."),
    verbose: bool = VerboseOpt,
) -> None:
    """Train an explainer that values every training point of DATA for any new prediction.

    A killed run rerun with the same arguments resumes from OUT/work (utilities and checkpoint).
    """
    import numpy as np

    from assay.data.splits import Standardizer
    from assay.data.task import TaskSpec, build_task
    from assay.explain import FastDataShapley
    from assay.explain.inputs import read_inputs
    from assay.learners import make_learner

    setup(threads=threads, verbose=verbose)
    spec = TaskSpec(
        data,
        target,
        valid,
        None,
        valid_fraction,
        0.0,
        seed,
        scale=False,
        id_column=id_column,
        group_column=group_column,
    )
    task = build_task(spec)
    train = task.train
    if n_train is not None:
        if not 2 <= n_train <= train.n:
            raise InvalidParameterError(f"--n-train must lie in 2..{train.n}, got {n_train}")
        train = train.subset(np.arange(n_train))
    if grouping == "provider" and train.groups is None:
        raise InvalidParameterError("--grouping provider needs --provider-column")
    names = None if train.feature_names is None else list(train.feature_names)
    if inputs is None:
        raw_inputs = task.valid.X
    else:
        raw_inputs, _, _ = read_inputs(inputs, None, None, names, task.encoder)
    scaler = Standardizer.fit(train)
    train = scaler.transform(train)
    X_in = (np.asarray(raw_inputs, dtype=np.float64) - scaler.mean) / scaler.scale

    fds = FastDataShapley(
        make_learner(learner, **parse_params(learner_param)),
        variant=variant,
        grouping=grouping,
        n_subsets=n_subsets,
        epochs=epochs,
        seed=seed,
        work_dir=out / "work",
        progress=True,
        **parse_params(param),
    )
    explainer = fds.fit(train, X_in)
    explainer = dataclasses.replace(
        explainer,
        input_scaler=(scaler.mean, scaler.scale),
        feature_names=names,
        encoder=task.encoder,
        info={**explainer.info, "task": spec.to_dict(), "learner": learner, "n_train": train.n},
    )
    explainer.save(out)
    info = explainer.info
    typer.echo(
        f"{variant} explainer for {train.n} training points, {len(X_in)} inputs: "
        f"{info['seconds_total']:.1f} s (utilities {info['seconds_utility']:.1f} s) -> {out}"
    )
    typer.echo(json.dumps({k: info[k] for k in ("pool_size", "best_epoch", "best_val_loss")}))


COMMANDS = {"explain": explain}
