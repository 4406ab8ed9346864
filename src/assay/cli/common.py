"""Options shared by commands: data loading, parameters given as ``key=value``, output paths."""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

import typer

from assay.errors import InvalidParameterError

DataArg = typer.Argument(
    ..., help="CSV / Parquet file, or a bundled dataset name (e.g. breast_cancer)."
)
TargetOpt = typer.Option(None, "--target", "-t", help="Label column of the data file.")
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


def values_path(out: Path) -> Path:
    return out if out.suffix == ".parquet" else out.with_suffix(".parquet")


def quiet_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
