"""Options shared by commands, defined once: data, learner, seeds, parallelism, output, logging.

Every command calls :func:`setup` first: it sets the logging level, the process's thread policy
(:func:`assay.parallel.set_threads`) and assay's process-wide numerical state
(:func:`assay.learners.base.configure_process`) once, at the entry point, before any work (and
not at ``--help``, which must not load torch).
"""

from __future__ import annotations

import ast
import logging
from typing import Any

import typer

from assay.errors import InvalidParameterError
from assay.valuation.catalog import methods_help

DataArg = typer.Argument(
    ..., help="CSV / Parquet file, or a bundled dataset name (e.g. breast_cancer)."
)
TargetOpt = typer.Option(None, "--target", "-t", help="Label column of the data file.")
IdColumnOpt = typer.Option(None, "--id-column", help="Column of row ids.")
DropOpt = typer.Option(None, "--drop", help="Column never used as a feature (repeatable).")
CategoricalOpt = typer.Option(
    None, "--categorical", help="Column one-hot encoded whatever its type (repeatable)."
)
ValidOpt = typer.Option(None, "--valid", help="Validation file (default: a split of DATA).")
ValidFractionOpt = typer.Option(
    0.2, "--valid-fraction", help="Fraction of DATA held out for validation."
)
TestOpt = typer.Option(None, "--test", help="Test file (for removal curves).")
TestFractionOpt = typer.Option(
    0.0, "--test-fraction", help="Fraction of DATA held out for testing."
)
SeedOpt = typer.Option(0, "--seed", help="Seed of splits, label flips and sampling.")
FlipOpt = typer.Option(0.0, "--flip-rate", help="Flip this fraction of training labels first.")
LearnerParamOpt = typer.Option([], "--learner-param", help="Learner key=value, repeatable.")
ParamOpt = typer.Option([], "--param", "-p", help="Method key=value, repeatable.")
JobsOpt = typer.Option(1, "--jobs", "-j", help="Parallel workers (each gets one thread).")
BackendOpt = typer.Option(
    "auto", "--backend", help="auto (loky when --jobs > 1), sequential, loky or ray"
)
AddressOpt = typer.Option(
    None, "--address", help="HOST:PORT of a running Ray cluster (with --backend ray)."
)
ThreadsOpt = typer.Option(
    None,
    "--threads",
    help="Threads of torch / BLAS in this process (default: the CPUs it may use).",
)
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Log progress details.")
OverwriteOpt = typer.Option(
    False, "--overwrite", help="Replace outputs that exist (refused otherwise, before any work)."
)
RestartOpt = typer.Option(
    False,
    "--restart",
    help="Discard a checkpoint / saved state of another run and start afresh (refused otherwise).",
)


def learner_option(default: str = "logistic") -> Any:
    """The ``--learner`` option with this default."""
    return typer.Option(
        default, "--learner", "-l", help="logistic, mlp, cnn, ridge (regression) or sklearn:<Class>"
    )


def method_option(extra: str = "", default: Any = ...) -> Any:
    """The ``--method`` option; its help lists every registered valuation method."""
    return typer.Option(default, "--method", "-m", help=methods_help(extra))


def out_option(help: str, default: Any = ...) -> Any:
    """The ``--out`` / ``-o`` option with a command's own description of what it writes."""
    return typer.Option(default, "--out", "-o", help=help)


def setup(*, threads: int | None = None, verbose: bool = False, torch_state: bool = True) -> int:
    """Set logging, threads and numerical state once at a command's start; the threads chosen.

    ``torch_state=False`` leaves torch's process state alone (and torch unimported), for
    commands that may not need torch at all (``audit`` on a small table)."""
    quiet_logging(verbose)
    from assay.parallel import set_threads

    chosen = set_threads(threads)
    if torch_state:
        from assay.learners.base import configure_process

        configure_process()
    return chosen


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["C=0.5", "hidden=(32, 32)", "solver=newton"]`` -> a dict of Python values."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"parameters are given as key=value, got {item!r}")
        try:
            out[key.strip()] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key.strip()] = raw
    return out


def quiet_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
