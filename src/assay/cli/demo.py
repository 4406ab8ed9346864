"""``assay demo``: the whole pipeline on a bundled noisy dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.common import OverwriteOpt, ThreadsOpt, out_option, setup


def demo(
    out: Path = out_option("Output directory.", Path("demo-output")),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the flips and sampling."),
    threads: int | None = ThreadsOpt,
    overwrite: bool = OverwriteOpt,
) -> None:
    """Value noisy breast cancer with five methods; write DIR/report.html."""
    setup(threads=threads)
    import time

    from assay.demo import run_demo

    start = time.perf_counter()
    path = run_demo(out, seed=seed, progress=True, overwrite=overwrite)
    typer.echo(f"demo finished in {time.perf_counter() - start:.1f} s; report: {path}")


COMMANDS = {"demo": demo}
