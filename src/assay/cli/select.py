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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer
from numpy.typing import NDArray

from assay.cli.common import (
    DataArg,
    SeedOpt,
    TargetOpt,
    ValidFractionOpt,
    ValidOpt,
    parse_params,
    quiet_logging,
)
from assay.errors import InvalidDataError, InvalidParameterError

SELECTORS = ("sensitivity", "uniform")


@dataclass
class SelectionTask:
    """What every selector needs: the pool (train), held-out data, embeddings of the pool."""

    train: Any
    valid: Any
    embeddings: NDArray[Any]
    learner: Any
    seed: int = 0


def subset_by_method(
    task: SelectionTask,
    method: str,
    budget: float,
    *,
    clusters: int | None = None,
    lam: float | str = "auto",
    warm_start: float = 0.2,
    strategy: str = "top",
    balance: str | None = None,
    by_label: bool = True,
    params: dict[str, Any] | None = None,
) -> Any:
    """The subset chosen by ``method`` for ``budget`` points of ``task.train``.

    ``sensitivity`` trains the loss oracle on a uniform warm-start sample of ``warm_start`` x
    budget points (kept in the subset with weight 1; 0 trains it on the whole pool) and uses
    ``clusters`` clusters (default 20% of the budget, the paper's k''), formed within each
    label when ``by_label`` (the loss depends on the label). Other names are
    valuation methods: their values become a subset by ``strategy`` (top / bottom / sample),
    optionally ``balance``-d by class or by k-means cluster.
    """
    from assay.clustering import kmeans
    from assay.select.budget import budget_count, select_subset, uniform_subset
    from assay.select.sensitivity import SensitivitySampler
    from assay.utility import Utility
    from assay.valuation import make_method
    from assay.valuation.inference import loss_oracle
    from assay.valuation.inference import warm_start as train_warm

    train = task.train
    m = budget_count(budget, train.n)
    k = clusters or max(1, round(0.2 * m))
    if method == "uniform":
        return uniform_subset(train.n, m, seed=task.seed, ids=train.ids)
    if method == "sensitivity":
        data = task.learner.prepare(train)
        size = round(warm_start * m) if warm_start > 0 else train.n
        if not 0 <= warm_start < 1:
            raise InvalidParameterError(f"--warm-start must lie in [0, 1), got {warm_start}")
        if k + (size if warm_start > 0 else 0) > m:
            raise InvalidParameterError(
                f"budget {m} is smaller than the {k} cluster representatives plus the "
                f"{size if warm_start > 0 else 0} warm-start points it keeps; use fewer clusters"
            )
        pos, fitted = train_warm(task.learner, data, max(size, 2), seed=task.seed)
        keep = pos if warm_start > 0 else None
        sampler = SensitivitySampler(k, budget=m, lam=lam, seed=task.seed, **(params or {}))
        sample = sampler.fit(
            task.embeddings,
            loss_oracle(fitted, data.X, data.y),
            ids=train.ids,
            keep=keep,
            groups=train.y if by_label else None,
        )
        subset = sample.to_subset()
        subset.params.update({"warm_start": 0 if keep is None else len(keep), "clusters": k})
        return subset
    extra = dict(params or {})
    if method in ("kcenter", "representative", "nearest-distance"):
        extra.setdefault("embeddings", task.embeddings)
        extra.setdefault("seed", task.seed)
        if method == "kcenter":
            extra.setdefault("k", m)
    valuation = make_method(method, **extra)
    result = valuation.fit(Utility(task.learner, train, task.valid))
    groups = None
    if balance == "class":
        groups = np.asarray(train.y)
    elif balance == "cluster":
        groups = kmeans(task.embeddings, min(k, train.n), seed=task.seed).labels
    return select_subset(
        result, m, strategy=strategy, balance=balance, groups=groups, seed=task.seed
    )


def _load(
    data: str,
    target: str | None,
    valid: str | None,
    valid_fraction: float,
    seed: int,
    id_column: str | None,
    embeddings: Path | None,
    text_column: str | None,
    cache_dir: str | None,
) -> tuple[Any, Any, NDArray[Any]]:
    """(train, valid, embeddings of the train rows) from the command's data options."""
    from assay.data import Dataset, read_frame, split_dataset
    from assay.data.task import TaskSpec, build_task
    from assay.embed import check_embeddings, embed_text

    if embeddings is not None and text_column is not None:
        raise InvalidParameterError("give --embeddings or --text-column, not both")
    if text_column is not None:
        if target is None or not Path(data).exists():
            raise InvalidParameterError("--text-column needs a data file and --target")
        df = read_frame(data)
        for col in (text_column, target):
            if col not in df.columns:
                raise InvalidDataError(f"column {col!r} not found; columns: {list(df.columns)}")
        E_all = embed_text(df[text_column].tolist(), cache_dir=cache_dir, progress=True)
        ids = df[id_column].to_numpy() if id_column else None
        full = Dataset.from_arrays(E_all, df[target].to_numpy(), ids=ids, name=Path(data).stem)
        split = split_dataset(
            full, (1 - valid_fraction, valid_fraction, 0.0), seed=seed, scale=False
        )
        return split.train, split.valid, split.train.X.astype(np.float32)
    task = build_task(
        TaskSpec(data, target, valid, None, valid_fraction, 0.0, seed, id_column=id_column)
    )
    train = task.train
    if embeddings is None:
        return train, task.valid, train.X.astype(np.float32)
    if not embeddings.exists():
        raise InvalidDataError(f"embeddings file not found: {str(embeddings)!r}")
    E_all = np.load(embeddings, allow_pickle=False)
    if id_column is not None:
        order = read_frame(data)[id_column].tolist()
    elif Path(data).exists():
        order = list(range(len(read_frame(data))))
    else:  # a bundled dataset: ids are row positions of the whole set
        order = list(range(train.n + task.valid.n + (task.test.n if task.test else 0)))
    E_all = check_embeddings(E_all, n_rows=len(order))
    lookup = {v: i for i, v in enumerate(order)}
    rows = np.array([lookup[v] for v in train.ids.tolist()], np.int64)
    return train, task.valid, E_all[rows]


def select(
    data: str = DataArg,
    target: str | None = TargetOpt,
    embeddings: Path | None = typer.Option(
        None, "--embeddings", "-e", help=".npy embeddings, one row per row of DATA"
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Embed this text column with all-MiniLM-L6-v2"
    ),
    method: str = typer.Option(
        ...,
        "--method",
        "-m",
        help="sensitivity, uniform, kcenter, representative, loss, margin, entropy, el2n, grand, "
        "gradmatch, or a valuation method name",
    ),
    budget: float = typer.Option(..., "--budget", "-b", help="points, or a fraction in (0, 1)"),
    clusters: int | None = typer.Option(None, "--clusters", "-k", help="k (default 20% of budget)"),
    lam: str = typer.Option("auto", "--lam", help="sensitivity lambda: auto, estimate or a number"),
    warm_start: float = typer.Option(
        0.2, "--warm-start", help="share of budget training the oracle"
    ),
    strategy: str = typer.Option("top", "--strategy", help="top, bottom or sample (values)"),
    balance: str | None = typer.Option(None, "--balance", help="class or cluster"),
    learner: str = typer.Option("logistic", "--learner", "-l", help="logistic, mlp, sklearn:..."),
    learner_param: list[str] = typer.Option([], "--learner-param", help="key=value, repeatable"),
    param: list[str] = typer.Option([], "--param", "-p", help="method key=value, repeatable"),
    valid: str | None = ValidOpt,
    valid_fraction: float = ValidFractionOpt,
    seed: int = SeedOpt,
    id_column: str | None = typer.Option(None, "--id-column", help="Column of row ids."),
    compare: str | None = typer.Option(None, "--compare", help="methods to compare, a,b,c"),
    report: Path | None = typer.Option(None, "--report", help="HTML report of the comparison"),
    cache_dir: str | None = typer.Option(None, "--cache-dir", help="embedding cache directory"),
    out: Path = typer.Option(..., "--out", "-o", help="SUBSET.parquet to write (id, weight)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Select a training subset of DATA for a budget; write id, weight to --out."""
    from assay.learners import make_learner
    from assay.select.budget import evaluate_subsets

    quiet_logging(verbose)
    train, valid_ds, E = _load(
        data, target, valid, valid_fraction, seed, id_column, embeddings, text_column, cache_dir
    )
    lam_value: float | str = lam if lam in ("auto", "estimate") else _number(lam, "--lam")
    task = SelectionTask(
        train, valid_ds, E, make_learner(learner, **parse_params(learner_param)), seed
    )
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
    path = chosen.save(out if out.suffix == ".parquet" else out.with_suffix(".parquet"))
    typer.echo(f"{method}: {len(chosen)} of {train.n} points in {seconds[method]:.2f} s -> {path}")
    if len(subsets) > 1 or report is not None:
        table = evaluate_subsets(task.learner, train, valid_ds, subsets, weighting="normalised")
        table["seconds"] = [seconds.get(n, float("nan")) for n in table["method"]]
        typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if report is not None:
            _write_report(report, table, method, budget, train.n, learner)
            typer.echo(f"report -> {report}")


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise InvalidParameterError(
            f"{what} must be auto, estimate or a number, got {text!r}"
        ) from exc


def selection_section(table: Any, budget: float, n: int) -> tuple[str, Any]:
    """A report section ``(title, table)`` comparing the subsets of several methods."""
    return (f"Data selection: {budget:g} of {n} points", table)


def _write_report(path: Path, table: Any, method: str, budget: float, n: int, learner: str) -> None:
    from assay.evaluate.htmldoc import Report

    rep = Report("assay select", subtitle=f"method {method}, learner {learner}")
    title, content = selection_section(table, budget, n)
    rep.add_section(title, content)
    rep.add_text(
        None,
        "Each subset trains one model (weights normalised to the subset's size); "
        "the score is validation accuracy. The full-data row is the reference.",
    )
    rep.write(path)


COMMANDS = {"select": select}
