"""The command line's one error boundary: AssayError -> one line, exit 2; bugs -> line + log."""

from __future__ import annotations

from pathlib import Path

import pytest

import assay.cli as cli
from assay.errors import InvalidParameterError
from tests.cli_support import run


def _boom(kind: str) -> None:
    if kind == "assay":
        raise InvalidParameterError("k must be a positive int,\n  got -3")
    raise ZeroDivisionError("division by zero in a helper")


@pytest.fixture
def failing_command(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Register a hidden command ``boom KIND`` on the app for the duration of a test."""
    registered = list(cli.app.registered_commands)

    def boom(kind: str) -> None:
        _boom(kind)

    cli.app.command("boom", hidden=True)(boom)
    yield
    cli.app.registered_commands[:] = registered


def test_assay_error_is_one_line_with_exit_2(failing_command, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(["boom", "assay"], capsys)
    assert code == 2
    assert err == "error: k must be a positive int, got -3\n"
    assert "Traceback" not in out + err


def test_other_exception_is_one_line_and_a_log_file(
    failing_command, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASSAY_LOG_DIR", str(tmp_path / "logs"))
    code, out, err = run(["boom", "bug"], capsys)
    assert code == cli.INTERNAL_ERROR != 0
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err + out
    head, _, where = lines[0].partition("; traceback in ")
    assert head == "internal error: ZeroDivisionError: division by zero in a helper"
    log = Path(where)
    assert log.parent == tmp_path / "logs"
    text = log.read_text()
    assert text.startswith("assay boom bug\n")
    assert "Traceback (most recent call last)" in text and "_boom" in text


def test_usage_error_keeps_clicks_short_message(capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(["value", "--no-such-option"], capsys)
    assert code == 2
    assert "No such option" in err and "Traceback" not in err


def test_log_dir_defaults_to_the_temp_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.delenv("ASSAY_LOG_DIR", raising=False)
    assert cli.log_dir() == Path(tempfile.gettempdir()) / "assay-logs"
