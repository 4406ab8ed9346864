"""Readers: pandas DataFrames, CSV and Parquet files into a :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from assay.data.dataset import Dataset
from assay.errors import DataFileError, InvalidDataError


def from_pandas(
    df: Any,
    target: str,
    *,
    id_column: str | None = None,
    group_column: str | None = None,
    classes: ArrayLike | None = None,
    name: str = "",
) -> Dataset:
    """Build a :class:`Dataset` from a DataFrame: ``target`` holds labels, the rest features.

    Parameters
    ----------
    df : pandas.DataFrame
    target : str
        Name of the label column.
    id_column, group_column : str, optional
        Columns holding row ids and group (data-provider) ids; not used as features.
    classes : array-like, optional
        Fix the label coding (pass the training set's ``classes`` for validation / test files).

    Raises
    ------
    InvalidDataError
        Missing columns, non-numeric feature columns (named), NaN / inf, empty frame.
    """
    if len(df) == 0:
        raise InvalidDataError("the table is empty (0 rows)")
    for role, col in (("target", target), ("id", id_column), ("group", group_column)):
        if col is not None and col not in df.columns:
            cols = ", ".join(map(str, list(df.columns)[:20]))
            raise InvalidDataError(f"{role} column {col!r} not found; columns are: {cols}")
    features = df.drop(columns=[c for c in (target, id_column, group_column) if c is not None])
    if features.shape[1] == 0:
        raise InvalidDataError(f"no feature columns left besides {target!r}")
    import pandas as pd

    non_numeric = [
        str(c)
        for c, t in features.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))
    ]
    if non_numeric:
        raise InvalidDataError(
            f"non-numeric feature columns: {non_numeric[:10]}; encode them (e.g. one-hot) first"
        )
    nan_cols = [str(c) for c in features.columns if features[c].isna().any()]
    if nan_cols:
        raise InvalidDataError(f"NaN values in feature columns: {nan_cols[:10]}")
    X = features.to_numpy(dtype=np.float64)
    if not np.isfinite(X).all():
        bad = [
            str(c)
            for c, ok in zip(features.columns, np.isfinite(X).all(axis=0), strict=True)
            if not ok
        ]
        raise InvalidDataError(f"inf values in feature columns: {bad[:10]}")
    y = df[target].to_numpy()
    return Dataset.from_arrays(
        X,
        y,
        ids=None if id_column is None else df[id_column].to_numpy(),
        feature_names=[str(c) for c in features.columns],
        groups=None if group_column is None else df[group_column].to_numpy(),
        classes=classes,
        name=name,
    )


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
            df = pd.read_parquet(p)
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
) -> Dataset:
    """Read a CSV or Parquet file (see :func:`from_pandas` for the columns)."""
    return from_pandas(
        read_frame(path),
        target,
        id_column=id_column,
        group_column=group_column,
        classes=classes,
        name=Path(path).stem,
    )
