"""``assay attribute`` (values and payouts for a file of inputs) and ``assay serve`` (HTTP)."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.common import IdColumnOpt, OverwriteOpt, ThreadsOpt, out_option, setup
from assay.errors import InvalidParameterError


def attribute(
    inputs: Path = typer.Argument(..., help="Inputs to attribute: CSV, Parquet, .npy or .npz."),
    explainer: Path = typer.Option(..., "--explainer", "-e", help="Folder of a saved explainer."),
    out: Path | None = out_option(
        "Payout table to write, .parquet or .csv (default: INPUTS.payouts.parquet).", None
    ),
    price: float = typer.Option(1.0, "--price", help="Amount paid out per prediction."),
    level: str = typer.Option("point", "--level", help="point or provider"),
    negative: str = typer.Option("clip", "--negative", help="clip or signed (see assay.payouts)"),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column with the label paid for (default: predicted)."
    ),
    id_column: str | None = IdColumnOpt,
    top_k: int = typer.Option(
        10,
        "--top-k",
        help="Payees kept per prediction (the rest summed in one row); 0 keeps them all.",
    ),
    threads: int | None = ThreadsOpt,
    overwrite: bool = OverwriteOpt,
) -> None:
    """Value every training point (or provider) for each input and split the price."""
    from assay.explain.attribution import attribute_file

    setup(threads=threads)
    res = attribute_file(
        inputs,
        explainer,
        out,
        price=price,
        level=level,
        negative=negative,
        label_column=label_column,
        id_column=id_column,
        top_k=top_k,
        overwrite=overwrite,
    )
    typer.echo(
        f"{res.n_inputs} predictions x {res.n_train} training points ({res.variant}), "
        f"{len(res.table)} rows -> {res.path}"
    )
    totals = res.totals
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
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="ASSAY_TOKEN",
        help="Every request must send 'Authorization: Bearer TOKEN' (env ASSAY_TOKEN). "
        "Without it anyone who can reach the port can query.",
    ),
    max_body_bytes: int = typer.Option(
        8 * 1024 * 1024, "--max-body-bytes", help="Larger request bodies get 413, unparsed."
    ),
    threads: int | None = ThreadsOpt,
) -> None:  # pragma: no cover - blocking; the app is tested with a real server in tests
    """Serve values and payouts over HTTP (POST /attribute; needs assay[serve])."""
    from assay.serve import serve as run

    setup(threads=threads)
    if not 0 < port < 65536:
        raise InvalidParameterError(f"--port must lie in 1..65535, got {port}")
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: no --token; anyone who can reach {host}:{port} can query", err=True)
    run(
        explainer,
        host=host,
        port=port,
        max_batch=max_batch,
        token=token,
        max_body_bytes=max_body_bytes,
    )


COMMANDS = {"attribute": attribute, "serve": serve}
