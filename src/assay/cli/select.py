"""``assay select``: choose a (weighted) training subset for a budget and write ``id, weight``.

Methods: ``sensitivity`` (clustering-based sensitivity sampling), ``uniform``, the geometry scores
``kcenter`` / ``representative`` / ``nearest-distance``, the model scores ``loss`` / ``margin`` /
``entropy`` / ``confidence`` / ``el2n`` / ``grand`` / ``gradmatch``, or any valuation method name
(``data-oob``, ``knn-shapley``, ...), whose values are turned into a subset by
:func:`assay.select.budget.select_subset`. ``--compare`` trains the learner on each method's
subset (one batched fit) and reports validation accuracy side by side (``--report`` writes HTML).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from assay.cli.common import (
    CategoricalOpt,
    DataArg,
    DropOpt,
    IdColumnOpt,
    LearnerParamOpt,
    OverwriteOpt,
    ParamOpt,
    SeedOpt,
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
from assay.errors import InvalidParameterError


def select(
    data: str = DataArg,
    target: str | None = typer.Option(
        None, "--target", "-t", help="Label column of DATA; with --model: a target corpus file"
    ),
    embeddings: Path | None = typer.Option(
        None, "--embeddings", "-e", help=".npy embeddings, one row per row of DATA"
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Embed this text column with all-MiniLM-L6-v2"
    ),
    method: str = method_option("sensitivity, uniform, or a method: "),
    budget: float = typer.Option(..., "--budget", "-b", help="points, or a fraction in (0, 1)"),
    clusters: int | None = typer.Option(None, "--clusters", "-k", help="k (default 20% of budget)"),
    lam: str = typer.Option("auto", "--lam", help="sensitivity lambda: auto, estimate or a number"),
    warm_start: float = typer.Option(
        0.2, "--warm-start", help="share of budget training the oracle"
    ),
    strategy: str = typer.Option(
        "top", "--strategy", help="keep (= top: the most valuable), suspect (= bottom) or sample"
    ),
    balance: str | None = typer.Option(None, "--balance", help="class or cluster"),
    learner: str = learner_option(),
    learner_param: list[str] = LearnerParamOpt,
    param: list[str] = ParamOpt,
    valid: str | None = ValidOpt,
    valid_fraction: float = ValidFractionOpt,
    seed: int = SeedOpt,
    id_column: str | None = IdColumnOpt,
    drop: list[str] | None = DropOpt,
    categorical: list[str] | None = CategoricalOpt,
    compare: str | None = typer.Option(None, "--compare", help="methods to compare, a,b,c"),
    report: Path | None = typer.Option(None, "--report", help="HTML report of the comparison"),
    cache_dir: str | None = typer.Option(None, "--cache-dir", help="embedding cache directory"),
    threads: int | None = ThreadsOpt,
    out: Path = out_option("SUBSET.parquet to write (id, weight); with --model: a corpus file"),
    model: Path | None = typer.Option(
        None, "--model", help="Causal LM directory (save_pretrained): DATA is then a text corpus"
    ),
    device: str = typer.Option("cpu", "--device", help="with --model: cpu, cuda or auto"),
    cap_column: str | None = typer.Option(
        None, "--cap-column", help="with --model: column whose values are capped (source)"
    ),
    cap: float | None = typer.Option(
        None, "--cap", help="with --model: largest share of the budget per --cap-column value"
    ),
    replay: Path | None = typer.Option(
        None, "--replay", help="with --model: an old corpus to replay (continual learning)"
    ),
    replay_share: float = typer.Option(
        0.0, "--replay-share", help="with --replay: share of the budget drawn from it uniformly"
    ),
    overwrite: bool = OverwriteOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Select a training subset of DATA for a budget; write id, weight to --out.

    With --model DIR, DATA is a text corpus (JSONL / Parquet / CSV with prompt + response or
    text) and --method one of less, ifd, perplexity, loss, grand, kcenter, sensitivity, mix;
    --budget is a share of the examples or a whole number of tokens; --out gets the chosen
    examples in the corpus format with their scores, and OUT.json the parameters.
    """
    if model is not None:
        from assay.cli.select_llm import select_llm

        tabular = {"--embeddings": embeddings, "--text-column": text_column, "--compare": compare,
                   "--report": report, "--balance": balance, "--valid": valid}  # fmt: skip
        setup(threads=threads, verbose=verbose)
        tabular_given = {k: v for k, v in tabular.items() if v}
        select_llm(data, model, method, budget, out, target, device, cap_column, cap, replay,
                   replay_share, seed, verbose, overwrite, param, tabular_given)  # fmt: skip
        return
    from assay.cli.select_llm import refuse_llm_options

    refuse_llm_options(cap_column, cap, replay, replay_share)
    from assay.evaluate.selection import compare_subsets, write_selection_report
    from assay.runs import check_new, pair_outputs
    from assay.select.recipes import selection_task, subset_by_method

    setup(threads=threads, verbose=verbose)
    check_new(*pair_outputs(out, "subset file"), overwrite=overwrite)
    if report is not None:
        check_new(report, overwrite=overwrite, what="report")
    task = selection_task(
        data,
        target,
        learner=learner,
        learner_params=parse_params(learner_param),
        valid=valid,
        valid_fraction=valid_fraction,
        seed=seed,
        id_column=id_column,
        drop=tuple(drop or ()),
        categorical=tuple(categorical or ()),
        embeddings=embeddings,
        text_column=text_column,
        cache_dir=cache_dir,
    )
    train, valid_ds = task.train, task.valid
    lam_value: float | str = lam if lam in ("auto", "estimate") else _number(lam, "--lam")
    options: dict[str, Any] = {
        "clusters": clusters,
        "lam": lam_value,
        "warm_start": warm_start,
        "strategy": strategy,
        "balance": balance,
    }
    names = [method] + [c.strip() for c in (compare or "").split(",") if c.strip()]
    subsets, seconds = {}, {}
    for i, name in enumerate(dict.fromkeys(names)):
        t0 = time.perf_counter()
        params = parse_params(param) if i == 0 else {}
        subsets[name] = subset_by_method(task, name, budget, params=params, **options)
        seconds[name] = time.perf_counter() - t0
    chosen = subsets[method]
    path = chosen.save(out, overwrite=overwrite)
    typer.echo(f"{method}: {len(chosen)} of {train.n} points in {seconds[method]:.2f} s -> {path}")
    if len(subsets) > 1 or report is not None:
        table = compare_subsets(task.learner, train, valid_ds, subsets, seconds)
        typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if report is not None:
            written = write_selection_report(
                report,
                table,
                method=method,
                budget=budget,
                n=train.n,
                learner=learner,
                overwrite=overwrite,
            )
            typer.echo(f"report -> {written}")


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise InvalidParameterError(
            f"{what} must be auto, estimate or a number, got {text!r}"
        ) from exc


COMMANDS = {"select": select}
