"""``assay attribute`` (values and payouts for a file of inputs) and ``assay serve`` (HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from assay.errors import InvalidDataError, InvalidParameterError


def read_inputs(
    path: Path,
    label_column: str | None,
    id_column: str | None,
    feature_names: list[str] | None = None,
) -> tuple[Any, Any, Any]:
    """Features (m, d), optional labels and optional prediction ids from CSV / Parquet / .npy.

    Tables: with ``feature_names`` those columns, in that order, are the features (other
    columns are ignored); otherwise every column except ``label_column`` and ``id_column`` is a
    feature. Features must be numeric. ``.npy``: a 2-D array of features; ``.npz``: arrays
    ``X`` and optionally ``y``.
    """
    import numpy as np
    import pandas as pd

    if not path.exists():
        raise InvalidDataError(f"inputs file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        if label_column or id_column:
            raise InvalidParameterError("--label-column / --id-column apply to CSV or Parquet")
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None, None
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z:
                raise InvalidDataError(f"{str(path)!r} has no array 'X' (found {sorted(z)})")
            return z["X"], z.get("y"), None
    if suffix == ".parquet":
        df = pd.read_parquet(path)
    elif suffix in (".csv", ".txt"):
        df = pd.read_csv(path)
    else:
        raise InvalidDataError(f"inputs must be .csv, .parquet, .npy or .npz, got {str(path)!r}")
    for col in (label_column, id_column):
        if col is not None and col not in df.columns:
            raise InvalidDataError(f"column {col!r} not in {str(path)!r}: {list(df.columns)[:20]}")
    labels = None if label_column is None else df[label_column].to_numpy()
    ids = None if id_column is None else df[id_column].to_numpy()
    if feature_names is not None:
        missing = [c for c in feature_names if c not in df.columns]
        if missing:
            raise InvalidDataError(
                f"{str(path)!r} lacks {len(missing)} feature columns the explainer was "
                f"trained on: {missing[:10]}"
            )
        features = df[feature_names]
    else:
        features = df.drop(columns=[c for c in (label_column, id_column) if c is not None])
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise InvalidDataError(f"non-numeric feature columns in {str(path)!r}: {bad[:10]}")
    return features.to_numpy(np.float64), labels, ids


def attribute(
    inputs: Path = typer.Argument(..., help="Inputs to attribute: CSV, Parquet, .npy or .npz."),
    explainer: Path = typer.Option(..., "--explainer", "-e", help="Folder of a saved explainer."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Payout table to write, .parquet or .csv (default: INPUTS.payouts.parquet).",
    ),
    price: float = typer.Option(1.0, "--price", help="Amount paid out per prediction."),
    level: str = typer.Option("point", "--level", help="point or provider"),
    negative: str = typer.Option("clip", "--negative", help="clip or signed (see assay.payouts)"),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column with the label paid for (default: predicted)."
    ),
    id_column: str | None = typer.Option(None, "--id-column", help="Column of prediction ids."),
) -> None:
    """Value every training point (or provider) for each input and split the price."""
    import numpy as np

    from assay.explain import DataExplainer
    from assay.payouts import aggregate_payouts, payouts

    if out is None:
        out = inputs.with_name(inputs.stem + ".payouts.parquet")
    ex = DataExplainer.load(explainer)
    X, labels, ids = read_inputs(inputs, label_column, id_column, ex.feature_names)
    ex.check_inputs(X)  # a clear error before any work; values() standardises if it must
    y = ex.predict(X) if labels is None else ex.encode_labels(labels)
    if level == "provider" and ex.providers is None:
        raise InvalidParameterError("this explainer has no provider ids; use --level point")
    values = ex.values(X, y)
    table = payouts(
        values, price, ids=ex.ids, providers=ex.providers, negative=negative, level=level
    )
    table.insert(1, "label", np.asarray(ex.classes)[y][table["prediction"].to_numpy()])
    if ids is not None:
        table["prediction"] = np.asarray(ids)[table["prediction"].to_numpy()]
    if out.suffix == ".csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    else:
        out = out if out.suffix == ".parquet" else out.with_suffix(".parquet")
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out, index=False)
    totals = aggregate_payouts(table, by="provider").head(5)
    typer.echo(f"{len(X)} predictions x {values.shape[1]} training points ({ex.variant}) -> {out}")
    typer.echo(
        "top payees: "
        + ", ".join(
            f"{p}={t:.4g}" for p, t in zip(totals["provider"], totals["payout_total"], strict=True)
        )
    )


def serve(
    explainer: Path = typer.Option(..., "--explainer", "-e", help="Folder of a saved explainer."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", "-p"),
    max_batch: int = typer.Option(1024, "--max-batch", help="Most inputs per request."),
) -> None:  # pragma: no cover - blocking; the app is tested with a real server in tests
    """Serve values and payouts over HTTP (POST /attribute; needs assay[serve])."""
    from assay.serve import serve as run

    if not 0 < port < 65536:
        raise InvalidParameterError(f"--port must lie in 1..65535, got {port}")
    run(explainer, host=host, port=port, max_batch=max_batch)


COMMANDS = {"attribute": attribute, "serve": serve}
