"""``assay select CORPUS --model DIR``: parse, run :func:`assay.llm.recipe.select_for_model`.

Not a command of its own: :func:`assay.cli.select.select` hands over here when ``--model`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from assay.cli.common import parse_params
from assay.errors import InvalidParameterError


def select_llm(
    data: str,
    model: Path,
    method: str,
    budget: float,
    out: Path,
    target: str | None,
    device: str,
    cap_column: str | None,
    cap: float | None,
    replay: Path | None,
    replay_share: float,
    seed: int,
    verbose: bool,
    overwrite: bool,
    param: list[str],
    tabular: dict[str, Any],
) -> None:
    """Run the language-model selection and print one summary line."""
    from assay.llm.recipe import select_for_model

    if tabular:
        raise InvalidParameterError(
            f"{', '.join(tabular)} apply to tables, not to a corpus with --model"
        )
    # an integral budget >= 1 is a token count; a share stays a float
    chosen_budget: float | int = int(budget) if budget >= 1 and budget == int(budget) else budget
    sel = select_for_model(
        data,
        model,
        method=method,
        budget=chosen_budget,
        out=out,
        target=target,
        replay=replay,
        replay_share=replay_share,
        cap_column=cap_column,
        cap=cap,
        device=device,
        seed=seed,
        progress=verbose,
        overwrite=overwrite,
        **parse_params(param),
    )
    replayed = f" + {len(sel.replay_positions)} replayed" if len(sel.replay_positions) else ""
    typer.echo(f"{method}: {len(sel.positions)} examples{replayed}, {sel.tokens} tokens -> {out}")


def refuse_llm_options(
    cap_column: str | None, cap: float | None, replay: Path | None, replay_share: float
) -> None:
    """Refuse the corpus-only options in the tabular mode (without ``--model``)."""
    given = {"--cap-column": cap_column, "--cap": cap, "--replay": replay}
    names = [k for k, v in given.items() if v is not None]
    names += ["--replay-share"] if replay_share else []
    if names:
        raise InvalidParameterError(f"{', '.join(names)} need --model (a language-model corpus)")
