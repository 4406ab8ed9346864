"""Readers: pandas DataFrames, CSV and Parquet files into a :class:`Dataset`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from assay.data.dataset import Dataset, looks_continuous
from assay.data.encode import TableEncoder, numeric_target, split_labels
from assay.errors import DataFileError, InvalidDataError

log = logging.getLogger(__name__)


def encode_frame(
    df: Any,
    target: str,
    *,
    id_column: str | None = None,
    group_column: str | None = None,
    classes: ArrayLike | None = None,
    name: str = "",
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    encoder: TableEncoder | None = None,
    what: str = "table",
    task: str = "classification",
    dtype: Any = np.float64,
    progress: bool = False,
) -> tuple[Dataset, TableEncoder, int]:
    """Encode a DataFrame into a :class:`Dataset` with a :class:`TableEncoder`.

    Parameters
    ----------
    df : pandas.DataFrame
        Any mix of numeric, boolean, string, categorical, date and text columns, with gaps.
    target : str
        Label column (strings, integers or booleans); rows without a label are excluded.
    id_column, group_column : str, optional
        Row ids (otherwise an id-like column is detected; else row positions in ``df``) and
        group ids; neither is a feature.
    classes : array-like, optional
        Fix the label coding (pass the training set's ``classes`` for validation / test files).
    drop, categorical : sequence of str
        Override the column guesses (see :class:`TableEncoder`).
    encoder : TableEncoder, optional
        An encoder fitted on the training table: ``df`` is matched to it by column name and
        transformed (validation, test and new rows); otherwise a new one is fitted on ``df``.
    task : {"classification", "regression", "auto"}
        See :meth:`Dataset.from_arrays` (``classes`` of size 0 also means regression).
    dtype : {numpy.float64, numpy.float32}
        The features' dtype (float32 halves a very large table).
    progress : bool
        Show a bar over the columns while fitting and transforming (stderr).

    Returns
    -------
    (Dataset, TableEncoder, int)
        The data, the encoder, and the number of rows dropped for a missing label.
    """
    import pandas as pd

    if len(df) == 0:
        raise InvalidDataError(f"the {what} is empty (0 rows)")
    regression = task != "classification" or (classes is not None and np.asarray(classes).size == 0)
    if regression:
        df = numeric_target(df, target)
    rows, labels, n_unlabelled = split_labels(df, target)
    if classes is None and task == "auto" and looks_continuous(rows[target].to_numpy()):
        task = "regression"
    if len(rows) == 0:
        raise InvalidDataError(f"every row of the {what} has a missing label in {target!r}")
    if encoder is None:
        extra = [group_column] if group_column is not None else []
        if group_column is not None and group_column not in df.columns:
            raise InvalidDataError(f"group column {group_column!r} not found")
        encoder = TableEncoder(
            drop=[*drop, *extra], categorical=categorical, id_column=id_column
        ).fit(rows, target, progress=progress)
    X = encoder.transform(rows, what, dtype=dtype, progress=progress)
    ids = encoder.ids(rows)
    if ids is None:  # the frame's own integer row labels (positions for a default index)
        index = rows.index
        ok = pd.api.types.is_integer_dtype(index.dtype) and df.index.is_unique
        ids = index.to_numpy() if ok else np.flatnonzero(df[target].notna().to_numpy())
    data = Dataset.from_arrays(
        X,
        labels,
        ids=ids,
        feature_names=encoder.feature_names,
        groups=None if group_column is None else rows[group_column].to_numpy(),
        classes=classes,
        name=name,
        task=task,
        dtype=dtype,
        copy=False,  # the transform's fresh array: a second copy of a large table costs memory
    )
    return data, encoder, n_unlabelled


def from_pandas(
    df: Any,
    target: str,
    *,
    id_column: str | None = None,
    group_column: str | None = None,
    classes: ArrayLike | None = None,
    name: str = "",
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    encoder: TableEncoder | None = None,
    task: str = "classification",
) -> Dataset:
    """Build a :class:`Dataset` from a DataFrame: ``target`` holds labels, the rest features.

    Columns of every type are encoded by a :class:`~assay.data.encode.TableEncoder` (see
    :func:`encode_frame`, which also returns the encoder); rows with a missing label are
    excluded (a warning says how many). ``task="regression"`` (or ``"auto"`` on a continuous
    float target) keeps the target as float values.

    Raises
    ------
    InvalidDataError
        Missing columns, an empty frame, no usable feature column, inf values.
    """
    data, _, dropped = encode_frame(
        df,
        target,
        id_column=id_column,
        group_column=group_column,
        classes=classes,
        name=name,
        drop=drop,
        categorical=categorical,
        encoder=encoder,
        task=task,
    )
    if dropped:
        log.warning("excluded %d rows with a missing label in %r", dropped, target)
    return data


def read_frame(path: str | Path) -> Any:
    """Read a CSV or Parquet file into a DataFrame.

    Raises
    ------
    DataFileError
        The file is missing, a directory, empty, header-only, binary, not UTF-8, has ragged rows
        or duplicated column names, or is not valid Parquet; the message names the file and,
        where known, the line.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise DataFileError(f"file not found: {str(p)!r}")
    if p.is_dir():
        raise DataFileError(f"{str(p)!r} is a directory, not a data file")
    suffix = "".join(p.suffixes[-2:]).lower()
    if p.stat().st_size == 0:
        raise DataFileError(f"data file {str(p)!r} is empty (0 bytes)")
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        try:
            df = _read_parquet(p)
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise DataFileError(f"{str(p)!r} is not a readable Parquet file: {exc}") from exc
        dupes = sorted({str(c) for c in df.columns if list(df.columns).count(c) > 1})
        if dupes:
            raise DataFileError(f"{str(p)!r} has duplicated column names: {dupes[:10]}")
    elif any(suffix.endswith(s) for s in (".csv", ".csv.gz", ".tsv", ".txt")):
        sep = "\t" if ".tsv" in suffix else ","
        if not suffix.endswith(".gz"):
            _check_text(p, sep)
        try:
            df = pd.read_csv(p, sep=sep)
        except pd.errors.EmptyDataError as exc:
            raise DataFileError(f"data file {str(p)!r} has no columns (blank file)") from exc
        except pd.errors.ParserError as exc:
            raise DataFileError(f"cannot parse {str(p)!r}: {str(exc).strip()}") from exc
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise DataFileError(f"cannot read {str(p)!r}: {exc}") from exc
    else:
        raise DataFileError(
            f"unsupported file type {p.suffix!r} for {str(p)!r}; use .csv, .tsv or .parquet"
        )
    if len(df) == 0:
        raise DataFileError(f"data file {str(p)!r} has a header but no data rows")
    return df


def _check_text(p: Path, sep: str) -> None:
    """Refuse binary, non-UTF-8 and duplicated-header CSV files, saying where the problem is."""
    import csv

    raw = p.read_bytes()
    nul = raw.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise DataFileError(
            f"{str(p)!r} looks binary (NUL byte at offset {nul}), not a CSV text file"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"{str(p)!r} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
            f"(line {line}); re-save it as UTF-8"
        ) from exc
    first = next(iter(text.splitlines()), "")
    header = next(csv.reader([first], delimiter=sep), [])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataFileError(f"{str(p)!r} has duplicated column names in its header: {dupes[:10]}")


def read_table(
    path: str | Path,
    target: str,
    *,
    id_column: str | None = None,
    group_column: str | None = None,
    classes: ArrayLike | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
    encoder: TableEncoder | None = None,
    task: str = "classification",
) -> Dataset:
    """Read a CSV, TSV or Parquet file (see :func:`from_pandas` for the columns and ``task``)."""
    return from_pandas(
        read_frame(path),
        target,
        id_column=id_column,
        group_column=group_column,
        classes=classes,
        name=Path(path).stem,
        drop=drop,
        categorical=categorical,
        encoder=encoder,
        task=task,
    )


def _read_parquet(path: Path) -> Any:
    """A Parquet file as pandas would read it, one column at a time, with Arrow's system pool.

    Read whole, Arrow holds the file's decoded columns while pandas builds its copy, and its
    default allocator keeps what it freed: on a 1,000,000 x 51 float table the process peaked at
    about 3x the table's size. A column at a time from the system allocator (which returns freed
    memory) it peaks at about 1.3x, with the same frame (dtypes, index). A file that stores its
    index as columns, or has repeated or nested column names, is read whole.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    convert = {"self_destruct": True, "split_blocks": True}
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        file = pq.ParquetFile(path)
        schema = file.schema_arrow
        meta = schema.pandas_metadata or {}
        plain_index = all(isinstance(i, dict) for i in meta.get("index_columns", []))
        one_level = len(meta.get("column_indexes", [])) <= 1
        if not (plain_index and one_level and len(set(schema.names)) == len(schema.names)):
            return pd.read_parquet(path, engine="pyarrow", to_pandas_kwargs=convert)
        parts = [file.read(columns=[name]).to_pandas(**convert) for name in schema.names]
        return pd.concat(parts, axis=1)
    finally:
        pa.set_memory_pool(previous)
