"""Readers: pandas DataFrames, CSV and Parquet files into a :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError


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
    """Read a CSV or Parquet file into a DataFrame, with a clear error if it is missing."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InvalidDataError(f"file not found: {str(p)!r}")
    suffix = "".join(p.suffixes[-2:]).lower()
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        return pd.read_parquet(p)
    if any(suffix.endswith(s) for s in (".csv", ".csv.gz", ".tsv", ".txt")):
        return pd.read_csv(p, sep="\t" if ".tsv" in suffix else ",")
    raise InvalidDataError(
        f"unsupported file type {p.suffix!r} for {str(p)!r}; use .csv or .parquet"
    )


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
