"""Text corpora for language-model data selection: JSONL, Parquet or CSV.

A corpus is a table of examples with either ``prompt`` and ``response`` columns (instruction data:
only the response is scored, given the prompt) or one ``text`` column (plain text: the whole text is
the response, the prompt is empty). Any other columns (``id``, ``source``, ``domain`` ...) are kept
and written back with the chosen rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.errors import InvalidDataError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class Corpus:
    """Examples of a corpus.

    Parameters
    ----------
    prompts, responses : list of str
        The conditioning text (empty for plain text) and the scored text of each example.
    ids : ndarray of shape (n,)
        The ``id`` column when present, else positions 0..n-1.
    table : pandas.DataFrame
        Every column as read (used to write selected rows back in the same shape).
    kind : {"instruction", "text"}
        Which field layout the corpus has.
    """

    prompts: list[str]
    responses: list[str]
    ids: NDArray[Any]
    table: pd.DataFrame
    kind: str

    def __len__(self) -> int:
        return len(self.responses)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Corpus:
        """A corpus from a list of dicts (``prompt``/``response`` or ``text`` keys)."""
        return cls.from_frame(pd.DataFrame.from_records(records), "records")

    @classmethod
    def from_frame(cls, table: pd.DataFrame, origin: str = "table") -> Corpus:
        """A corpus from a DataFrame; ``origin`` names it in error messages."""
        if len(table) == 0:
            raise InvalidDataError(f"corpus {origin} has no examples")
        cols = set(table.columns)
        if {"prompt", "response"} <= cols:
            kind, prompts, responses = "instruction", table["prompt"], table["response"]
        elif "text" in cols:
            kind, responses = "text", table["text"]
            prompts = pd.Series([""] * len(table), index=table.index)
        else:
            raise InvalidDataError(
                f"corpus {origin} needs 'prompt' and 'response' fields or a 'text' field; "
                f"it has {sorted(map(str, cols))}"
            )
        for name, col in (("prompt", prompts), ("response", responses)):
            bad = [i for i, v in enumerate(col) if not isinstance(v, str)]
            if bad:
                raise InvalidDataError(
                    f"corpus {origin}: field {name if kind == 'instruction' else 'text'!r} of "
                    f"example {bad[0]} is {col.iloc[bad[0]]!r}, not a string"
                )
        empty = [i for i, v in enumerate(responses) if not v]
        if empty:
            raise InvalidDataError(f"corpus {origin}: example {empty[0]} has an empty response")
        ids = np.asarray(table["id"]) if "id" in cols else np.arange(len(table))
        return cls(list(prompts), list(responses), ids, table.reset_index(drop=True), kind)

    def subset(self, rows: NDArray[np.int64]) -> Corpus:
        """The examples at positions ``rows`` (in that order)."""
        return Corpus.from_frame(self.table.iloc[np.asarray(rows)], "subset")


def corpus_format(path: str | Path) -> str:
    """``"jsonl"``, ``"parquet"`` or ``"csv"`` from the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidDataError(
            f"corpus file {str(path)!r}: unknown format {suffix!r}; use .jsonl, .parquet or .csv"
        )
    return FORMATS[suffix]


def load_corpus(path: str | Path) -> Corpus:
    """Read a corpus from JSONL (one object a line), Parquet or CSV."""
    p = Path(path)
    fmt = corpus_format(p)
    if not p.is_file():
        raise InvalidDataError(f"corpus file {str(p)!r} does not exist")
    if fmt == "jsonl":
        records = []
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidDataError(f"{str(p)!r} line {lineno} is not JSON: {exc}") from exc
            if not isinstance(rec, dict):
                raise InvalidDataError(f"{str(p)!r} line {lineno} is not a JSON object: {rec!r}")
            records.append(rec)
        table = pd.DataFrame.from_records(records)
    elif fmt == "parquet":
        try:
            table = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise InvalidDataError(f"{str(p)!r} is not a readable Parquet file: {exc}") from exc
    else:
        try:
            table = pd.read_csv(p, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InvalidDataError(f"{str(p)!r} is not a readable CSV file: {exc}") from exc
    return Corpus.from_frame(table, repr(str(p)))


def write_corpus(
    corpus: Corpus,
    path: str | Path,
    scores: dict[str, NDArray[Any]] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``corpus`` (with extra score columns) to ``path`` in the format of its suffix,
    atomically (:mod:`assay.runs`); an existing file is refused unless ``overwrite``."""
    from assay.runs import atomic_write_table, atomic_write_text

    p = Path(path)
    fmt = corpus_format(p)
    table = corpus.table.copy()
    for name, col in (scores or {}).items():
        table[name] = np.asarray(col)
    if fmt == "jsonl":
        atomic_write_text(p, table.to_json(orient="records", lines=True), overwrite=overwrite)
    elif fmt == "parquet":
        atomic_write_table(p, table, overwrite=overwrite)
    else:
        atomic_write_text(p, table.to_csv(index=False), overwrite=overwrite)
    return p
