"""Inputs to attribute: the feature rows (and optional labels and ids) of new predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.data.encode import TableEncoder
from assay.errors import InvalidDataError, InvalidParameterError


def read_inputs(
    path: Path,
    label_column: str | None,
    id_column: str | None,
    feature_names: list[str] | None = None,
    encoder: TableEncoder | None = None,
) -> tuple[Any, Any, Any]:
    """Features (m, d), optional labels and optional prediction ids from CSV / Parquet / .npy.

    Tables: with ``feature_names`` those columns, in that order, are the features (other
    columns are ignored); otherwise every column except ``label_column`` and ``id_column`` is a
    feature. Features must be numeric. ``.npy``: a 2-D array of features; ``.npz``: arrays
    ``X`` and optionally ``y``.

    Parameters
    ----------
    path : Path
        The inputs file.
    label_column, id_column : str, optional
        Columns of labels paid for and of prediction ids (tables only).
    feature_names : list of str, optional
        The explainer's feature columns, matched by name.
    encoder : TableEncoder, optional
        The training table's encoder: a table's columns are matched to it by name and
        encoded (strings, gaps) as in training (takes precedence over ``feature_names``).

    Returns
    -------
    tuple
        ``(X, labels or None, ids or None)``; ``X`` is a float64 array of shape (m, d).

    Raises
    ------
    InvalidDataError
        If the file is missing, of an unknown kind, lacks a named column or has non-numeric
        features.
    InvalidParameterError
        If label / id columns are given for an array file.
    """
    if not path.exists():
        raise InvalidDataError(f"inputs file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        if label_column or id_column:
            raise InvalidParameterError("--label-column / --id-column apply to CSV or Parquet")
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None, None
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z:
                raise InvalidDataError(f"{str(path)!r} has no array 'X' (found {sorted(z)})")
            return z["X"], z.get("y"), None
    if suffix == ".parquet":
        df = pd.read_parquet(path)
    elif suffix in (".csv", ".txt"):
        df = pd.read_csv(path)
    else:
        raise InvalidDataError(f"inputs must be .csv, .parquet, .npy or .npz, got {str(path)!r}")
    for col in (label_column, id_column):
        if col is not None and col not in df.columns:
            raise InvalidDataError(f"column {col!r} not in {str(path)!r}: {list(df.columns)[:20]}")
    labels = None if label_column is None else df[label_column].to_numpy()
    ids = None if id_column is None else df[id_column].to_numpy()
    rows = df.drop(columns=[c for c in (label_column, id_column) if c is not None])
    return table_features(rows, f"inputs {str(path)!r}", feature_names, encoder), labels, ids


def table_features(
    rows: pd.DataFrame,
    what: str,
    feature_names: list[str] | None = None,
    encoder: TableEncoder | None = None,
) -> NDArray[np.float64]:
    """The (m, d) features of table rows, columns matched by name.

    With the training table's ``encoder``, its feature columns are required and encoded as in
    training (strings, gaps); else ``feature_names`` are taken, in order, as numbers; else
    every column of ``rows``.

    Raises
    ------
    InvalidDataError
        If a feature column is missing (named) or, without an encoder, not numeric.
    """
    if encoder is not None:
        return encoder.transform(rows, what, new_rows=True)
    if feature_names is not None:
        missing = [c for c in feature_names if c not in rows.columns]
        if missing:
            raise InvalidDataError(
                f"{what} lacks {len(missing)} feature columns the explainer was "
                f"trained on: {missing[:10]}"
            )
        rows = rows[feature_names]
    bad = [c for c in rows.columns if not pd.api.types.is_numeric_dtype(rows[c])]
    if bad:
        raise InvalidDataError(f"non-numeric feature columns in {what}: {bad[:10]}")
    return rows.to_numpy(np.float64)
