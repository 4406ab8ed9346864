"""The ``assay`` command line (Typer). Heavy imports happen inside commands, so ``--help`` is fast.

Every :class:`assay.errors.AssayError` is printed as one line ``error: ...`` with exit status 2;
no stack trace reaches the user.
"""

from __future__ import annotations

import sys

import typer

from assay.errors import AssayError

app = typer.Typer(
    name="assay",
    help="What each training example is worth: value, evaluate, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from assay.cli import demo, evaluate, value

    app.command("value")(value.value)
    app.command("flip")(value.flip)
    app.command("evaluate")(evaluate.evaluate)
    app.command("report")(evaluate.report)
    app.command("demo")(demo.demo)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``assay`` script."""
    try:
        app(args=argv, standalone_mode=True)
    except AssayError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
