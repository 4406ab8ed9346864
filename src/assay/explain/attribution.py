"""Attribute a file of inputs with a saved explainer, the way ``assay attribute`` does.

:func:`attribute_file` reads the inputs (:func:`assay.explain.inputs.read_inputs`, columns by
name), values every training point (or provider) for each input with a saved
:class:`~assay.explain.model.DataExplainer`, splits the price (:func:`assay.payouts.payouts`),
keeps the ``top_k`` payees per prediction and writes the table atomically
(:func:`assay.runs.atomic_write_table`), after refusing an output that exists (unless
``overwrite``) before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from assay.errors import InvalidParameterError
from assay.runs import atomic_write_table, check_new


@dataclass(frozen=True)
class Attribution:
    """What :func:`attribute_file` returns.

    Attributes
    ----------
    table : DataFrame
        The payout table written (one row per prediction and payee).
    totals : DataFrame
        The five providers paid most in total (``provider, payout_total``).
    path : Path
        The file written.
    n_inputs, n_train : int
        Predictions attributed and training points valued.
    variant : str
        The explainer's variant (fds, afds, gfds, gfds+).
    """

    table: pd.DataFrame
    totals: pd.DataFrame
    path: Path
    n_inputs: int
    n_train: int
    variant: str


def attribute_file(
    inputs: str | Path,
    explainer: str | Path,
    out: str | Path | None = None,
    *,
    price: float = 1.0,
    level: str = "point",
    negative: str = "clip",
    label_column: str | None = None,
    id_column: str | None = None,
    top_k: int = 10,
    overwrite: bool = False,
) -> Attribution:
    """Value and pay the training points (or providers) behind each input of ``inputs``.

    Parameters
    ----------
    inputs : path
        CSV, Parquet, ``.npy`` or ``.npz`` inputs.
    explainer : path
        Folder of a saved explainer (:meth:`DataExplainer.save`).
    out : path, optional
        The payout table (:func:`assay.payouts.payout_path`; default ``INPUTS.payouts.parquet``).
    price : float
        Amount paid out per prediction.
    level : {"point", "provider"}
        Pay training points or their providers.
    negative : {"clip", "signed"}
        What negative values get (see :mod:`assay.payouts`).
    label_column, id_column : str, optional
        Columns of the label paid for (default: the predicted one) and of the inputs' ids.
    top_k : int
        Payees kept per prediction (the rest summed in one row); 0 keeps them all.
    overwrite : bool
        Replace an existing ``out`` (refused otherwise, before any work).

    Raises
    ------
    InvalidParameterError
        ``top_k < 0`` or ``level="provider"`` for an explainer without providers.
    """
    from assay.explain.inputs import read_inputs
    from assay.explain.model import DataExplainer
    from assay.payouts import aggregate_payouts, payout_path, payouts, top_payees

    if top_k < 0:
        raise InvalidParameterError(f"--top-k must be >= 0 (0 keeps every payee), got {top_k}")
    path = payout_path(inputs, out)
    check_new(path, overwrite=overwrite, what="payout table")
    ex = DataExplainer.load(explainer)
    X, labels, ids = read_inputs(
        Path(inputs), label_column, id_column, ex.feature_names, ex.encoder
    )
    ex.check_inputs(X)  # a clear error before any work; values() standardises if it must
    y = ex.predict(X) if labels is None else ex.encode_labels(labels)
    if level == "provider" and ex.providers is None:
        raise InvalidParameterError("this explainer has no provider ids; use --level point")
    values = ex.values(X, y)
    table = payouts(
        values, price, ids=ex.ids, providers=ex.providers, negative=negative, level=level
    )
    totals = aggregate_payouts(table, by="provider").head(5)
    if top_k:
        table = top_payees(table, top_k)
    table.insert(1, "label", np.asarray(ex.classes)[y][table["prediction"].to_numpy()])
    if ids is not None:
        table["prediction"] = np.asarray(ids)[table["prediction"].to_numpy()]
    atomic_write_table(path, table, overwrite=overwrite)
    return Attribution(table, totals, path, len(X), int(values.shape[1]), ex.variant)
