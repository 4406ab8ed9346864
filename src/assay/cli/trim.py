"""``assay trim``: value the training data against a validation set, remove the b least valuable
points (the seed's Algorithm 3), retrain, and report the scores before and after.

Writes ``DIR/values.parquet`` (+ ``values.json``), ``DIR/removed.csv`` (``rank, id, value``, first
removed first, for the largest budget), ``DIR/trim.json`` (scores before / after on the validation
and test sets, the random baseline, timings, the task spec) and ``DIR/report.html``.
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
    ParamOpt,
    SeedOpt,
    TargetOpt,
    TestFractionOpt,
    TestOpt,
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

ALIASES = {"fi": "fi-util"}


def parse_budgets(items: list[str]) -> list[int]:
    """``["5,10", "20"]`` -> ``[5, 10, 20]``."""
    from assay.errors import InvalidParameterError

    out = []
    for item in items:
        for part in str(item).split(","):
            if part.strip():
                try:
                    out.append(int(part))
                except ValueError:
                    raise InvalidParameterError(
                        f"--remove takes whole numbers of points, got {part!r}"
                    ) from None
    if not out:
        raise InvalidParameterError("--remove needs at least one budget, e.g. --remove 50")
    return out


def make_trim_method(name: str, seed: int, params: dict[str, Any]) -> Any:
    """``fi`` / ``iv`` / ``influence`` / ``random`` or any valuation method name."""
    from assay.select.trim import RANDOM, RandomValues
    from assay.valuation import SamplingValuation, make_method

    if name == RANDOM:
        return RandomValues(seed=seed)
    method = make_method(ALIASES.get(name, name), **params)
    if isinstance(method, SamplingValuation):
        method.seed = seed
    return method


def trim(
    data: str = DataArg,
    target: str | None = TargetOpt,
    valid: str | None = ValidOpt,
    valid_fraction: float = ValidFractionOpt,
    test: str | None = TestOpt,
    test_fraction: float = TestFractionOpt,
    method: str = method_option("fi (= fi-util), random, or a method: ", "fi"),
    remove: list[str] = typer.Option(
        ..., "--remove", "-r", help="points to remove: 50, or 10,20,50 for a curve"
    ),
    learner: str = learner_option(),
    learner_param: list[str] = LearnerParamOpt,
    param: list[str] = ParamOpt,
    random_repeats: int = typer.Option(5, "--random-repeats", help="random-removal baselines"),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    out: Path = out_option("output directory"),
    verbose: bool = VerboseOpt,
) -> None:
    """Trim DATA: remove the --remove least valuable training points and retrain."""
    from assay.data.task import TaskSpec, build_task
    from assay.evaluate import figure_png, make_report
    from assay.evaluate.report import spec_rows
    from assay.learners import make_learner
    from assay.result import atomic_write_bytes
    from assay.select.trim import plot_trimming
    from assay.select.trim import trim as run_trim

    setup(threads=threads, verbose=verbose)
    spec = TaskSpec(data, target, valid, test, valid_fraction, test_fraction, seed)
    task = build_task(spec)
    budgets = parse_budgets(remove)
    model = make_learner(learner, **parse_params(learner_param))
    valuation = make_trim_method(method, seed, parse_params(param))
    start = time.perf_counter()
    res = run_trim(
        model,
        task.train,
        task.valid,
        valuation,
        budgets,
        test=task.test,
        random_repeats=random_repeats,
        seed=seed,
    )
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    res.values.save(out / "values.parquet")
    atomic_write_bytes(out / "removed.csv", res.removed_table().to_csv(index=False).encode())
    summary = _summary(res, method, learner, model.get_params(), spec.to_dict(), seconds)
    atomic_write_bytes(out / "trim.json", json.dumps(summary, indent=2).encode())
    split = "test" if task.test is not None else "valid"
    fig = plot_trimming(res.curves, split)
    table = res.curves.pivot_table(index="method", columns="budget", values="score", sort=False)
    table.columns = [f"remove {c}" for c in table.columns]
    facts = {
        "data": data,
        "n_train": task.train.n,
        "n_valid": task.valid.n,
        "n_test": 0 if task.test is None else task.test.n,
        "learner": learner,
        "removed": max(budgets),
        "seconds": round(seconds, 3),
    }
    section = (
        f"Trimming ({split} score)",
        table.reset_index(),
        figure_png(fig),
    )
    report = make_report(
        {res.values.method: res.values},
        facts=facts,
        title=f"assay trim: {data}",
        extra_sections=[section],
        rows=spec_rows(spec),
    )
    report.write(out / "report.html")
    first, last = summary["scores"][split]["before"], summary["scores"][split]["after"]
    typer.echo(
        f"{res.values.method}: removed {max(budgets)} of {task.train.n}; {split} score "
        f"{first:.4f} -> {last:.4f} in {seconds:.2f} s -> {out}"
    )


def _summary(
    res: Any, method: str, learner: str, learner_params: dict[str, Any], spec: Any, seconds: float
) -> dict[str, Any]:
    curves = res.curves
    scores: dict[str, Any] = {}
    for split, part in curves.groupby("split"):
        own = part[part["method"] == res.values.method].sort_values("budget")
        rand = part[part["method"] == "random"].sort_values("budget")
        ref = own if len(own) else rand
        scores[str(split)] = {
            "before": float(ref["score"].iloc[0]),
            "after": float(ref["score"].iloc[-1]),
            "by_budget": {
                int(b): float(s) for b, s in zip(ref["budget"], ref["score"], strict=True)
            },
            "random": {
                int(b): float(s) for b, s in zip(rand["budget"], rand["score"], strict=True)
            },
            "random_std": {
                int(b): float(s) for b, s in zip(rand["budget"], rand["std"], strict=True)
            },
        }
    return {
        "method": res.values.method,
        "requested": method,
        "budgets": res.facts["budgets"],
        "removed": len(res.removed_ids),
        "scores": scores,
        "valuation_seconds": res.facts["valuation_seconds"],
        "seconds": round(seconds, 4),
        "learner": learner,
        "learner_params": learner_params,
        "task": spec,
    }


COMMANDS = {"trim": trim}
