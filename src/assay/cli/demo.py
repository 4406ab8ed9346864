"""``assay demo``: the whole pipeline on a bundled noisy dataset."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output directory."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the flips and sampling."),
) -> None:
    """Value noisy breast cancer with five methods; write DIR/report.html."""
    import time

    from assay.demo import run_demo

    start = time.perf_counter()
    path = run_demo(out, seed=seed, progress=True)
    typer.echo(f"demo finished in {time.perf_counter() - start:.1f} s; report: {path}")


COMMANDS = {"demo": demo}
