"""The ``assay`` command line (Typer). Heavy imports happen inside commands, so ``--help`` is fast.

One error boundary, in :func:`main`:

- an :class:`assay.errors.AssayError` (something assay refuses to do: bad data, a bad parameter)
  is printed as one line ``error: ...`` on stderr, exit status 2;
- a usage error (unknown option, missing argument) keeps click's short message, exit status 2;
- anything else is a bug: one line ``internal error: <Type>: <message>; traceback in <path>`` on
  stderr, exit status 1, and the full traceback in a log file under ``$ASSAY_LOG_DIR`` (default:
  ``<temp dir>/assay-logs``). No traceback reaches the screen.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer

from assay.errors import AssayError

app = typer.Typer(
    name="assay",
    help="What each training example is worth: value, evaluate, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: loading rich's formatter doubled --help's time
)

#: exit status of an internal error (AssayError and usage errors exit with 2)
INTERNAL_ERROR = 1


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


def log_dir() -> Path:
    """Where tracebacks of internal errors go: ``$ASSAY_LOG_DIR`` or ``<temp dir>/assay-logs``."""
    return Path(os.environ.get("ASSAY_LOG_DIR") or Path(tempfile.gettempdir()) / "assay-logs")


def write_crash_log(exc: BaseException, argv: list[str]) -> Path:
    """Write the traceback of ``exc`` (and the command line) to a new file in :func:`log_dir`."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"assay-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.write_text(f"assay {' '.join(argv)}\n\n{text}", encoding="utf-8")
    return path


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``assay`` script: run a command behind one error boundary."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, standalone_mode=True)
    except AssayError as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        head = f"internal error: {type(exc).__name__}: {_one_line(str(exc), 200)}"
        try:
            where = f"traceback in {write_crash_log(exc, args)}"
        except OSError as log_exc:
            where = f"the traceback could not be written ({log_exc})"
        typer.echo(f"{head}; {where}", err=True)
        sys.exit(INTERNAL_ERROR)
