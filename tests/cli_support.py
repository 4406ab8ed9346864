"""Run the ``assay`` command line in-process and capture its exit status and output."""

from __future__ import annotations

from assay.cli import main


def run(argv: list[str], capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """``(exit status, stdout, stderr)`` of ``assay ARGV``."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
