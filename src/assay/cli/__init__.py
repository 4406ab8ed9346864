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
    """Register every command module of this package: each defines ``COMMANDS = {name: func}``."""
    import importlib
    import pkgutil

    import assay.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"assay.cli.{info.name}")
        for name, func in getattr(module, "COMMANDS", {}).items():
            app.command(name)(func)


_register()


@app.callback()
def _configure_process() -> None:
    # process-wide numerical state is set here, once, never inside a fit (after --help exits)
    from assay.learners.base import configure_process

    configure_process()


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
