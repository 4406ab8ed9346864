"""``assay explain``: train a Fast-DataShapley explainer from a table and save it for serving.

The explainer is trained on standardised features and saved with the scaler, so ``assay
attribute`` and ``assay serve`` take raw inputs in the data file's units (and table columns are
matched by name).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from assay.cli.common import (
    CategoricalOpt,
    DataArg,
    DropOpt,
    IdColumnOpt,
    LearnerParamOpt,
    OverwriteOpt,
    RestartOpt,
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
    variant: str | None = typer.Option(
        None,
        "--variant",
        help="fds, afds, gfds or gfds+ (default: afds up to 2,000 training points, gfds+ above)",
    ),
    learner: str = learner_option("mlp"),
    learner_param: list[str] = LearnerParamOpt,
    grouping: str | None = typer.Option(
        None,
        "--grouping",
        help="GFDS / GFDS+ groups: label, kmeans (model outputs), clusters (k-means on the "
        "features within labels) or provider (default: label; clusters above 2,000 points)",
    ),
    n_groups: int | None = typer.Option(
        None, "--n-groups", help="Groups of kmeans / clusters (default: from n, 16..128)."
    ),
    group_column: str | None = typer.Option(
        None, "--provider-column", help="Column of data-provider ids (payouts per provider)."
    ),
    id_column: str | None = IdColumnOpt,
    drop: list[str] | None = DropOpt,
    categorical: list[str] | None = CategoricalOpt,
    n_train: int | None = typer.Option(
        None, "--n-train", help="Use the first N training rows as the players (default: all)."
    ),
    n_subsets: int | None = typer.Option(
        None, "--n-subsets", help="Sub-models trained (the pool; default 2,048, fewer on big n)."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Explainer training epochs (at most; default 200)."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="other FastDataShapley key=value, repeatable"
    ),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("Folder to write the explainer to."),
    overwrite: bool = OverwriteOpt,
    restart: bool = RestartOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Train an explainer that values every training point of DATA for any new prediction.

    A killed run rerun with the same arguments resumes from OUT/work (utilities and checkpoint).
    """
    from assay.data.task import TaskSpec
    from assay.explain.recipes import explain_task

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
        drop=tuple(drop or ()),
        categorical=tuple(categorical or ()),
    )
    explainer = explain_task(
        spec,
        out,
        inputs=inputs,
        variant=variant,
        learner=learner,
        learner_params=parse_params(learner_param),
        grouping=grouping,
        n_groups=n_groups,
        n_train=n_train,
        n_subsets=n_subsets,
        epochs=epochs,
        params=parse_params(param),
        overwrite=overwrite,
        restart=restart,
        progress=True,
        on_settings=lambda line: typer.echo(line, err=True),
    )
    info = explainer.info
    typer.echo(
        f"{info['variant']} explainer for {info['n_train']} training points, "
        f"{info['n_inputs']} inputs: "
        f"{info['seconds_total']:.1f} s (utilities {info['seconds_utility']:.1f} s) -> {out}"
    )
    typer.echo(json.dumps({k: info[k] for k in ("pool_size", "best_epoch", "best_val_loss")}))


COMMANDS = {"explain": explain}
