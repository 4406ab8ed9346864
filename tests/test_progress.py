"""Progress bars: tqdm when asked for, a silent bar that never imports tqdm when not."""

from __future__ import annotations

import subprocess
import sys

from assay.progress import progress_bar


def test_a_silent_bar_answers_what_callers_ask_without_importing_tqdm() -> None:
    code = (
        "import sys\n"
        "from assay.progress import progress_bar\n"
        "with progress_bar(3, 'x', False) as bar:\n"
        "    bar.update(2); bar.set_postfix(loss=1.0)\n"
        "bar.close()\n"
        "assert 'tqdm' not in sys.modules, 'a silent bar imported tqdm'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_enabled_bar_is_tqdm_counting_from_its_initial_steps(capsys) -> None:
    from tqdm.auto import tqdm

    with progress_bar(10, "values", True, "sample", initial=4) as bar:
        assert isinstance(bar, tqdm)
        bar.update(3)
        assert bar.n == 7 and bar.total == 10
    assert "values" in capsys.readouterr().err
