"""Paying data providers for predictions: split each price by the training points' values.

The paper (Section 2.1) pays provider i the amount c_i = phi_i / sum_j phi_j * c of a prediction
with price c. Values can be negative (a point that hurts the prediction) and their sum can be zero
or negative, where that formula breaks down. Two documented rules, both of which always pay out
exactly the price:

``negative="clip"`` (default)
    Harmful points earn nothing and cost nothing: c_i = max(phi_i, 0) / sum_j max(phi_j, 0) * c.
    Every payout is in [0, c].
``negative="signed"``
    The paper's formula as is: harmful points get negative payouts (charged), and the others get
    correspondingly more; payouts may exceed c. Needs sum_j phi_j > 0.

When nothing is left to split by (no positive value under ``clip``, a non-positive sum under
``signed``), the price is split equally and the row's ``rule`` says ``equal``.

``level="point"`` splits among training points, and a provider's payout is the sum of its points'
payouts; ``level="provider"`` first sums the values of each provider's points (a provider's
harmful points then offset its helpful ones) and splits among providers.

:func:`payouts` returns a tidy table (one row per prediction and payee), :func:`top_payees` keeps
each prediction's largest payees and sums the rest, :func:`aggregate_payouts` totals a table over
many predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError

RULES = ("clip", "signed")
LEVELS = ("point", "provider")
COLUMNS = ["prediction", "payee", "provider", "value", "share", "payout", "rule"]


def split_price(
    values: ArrayLike, price: float, negative: str = "clip"
) -> tuple[NDArray[np.float64], str]:
    """Payouts of one prediction, shape (n,), summing to ``price``, and the rule used.

    Examples
    --------
    >>> split_price([0.3, 0.1, -0.2], 10.0)[0].tolist()
    [7.5, 2.5, 0.0]
    >>> split_price([0.3, 0.1, -0.2], 10.0, "signed")[0].tolist()
    [15.0, 5.0, -10.0]
    """
    if negative not in RULES:
        raise InvalidParameterError(f"negative must be 'clip' or 'signed', got {negative!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise InvalidDataError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise InvalidDataError(f"values have {int((~np.isfinite(v)).sum())} non-finite entries")
    if not np.isfinite(price) or price < 0:
        raise InvalidParameterError(f"the price must be finite and >= 0, got {price}")
    weights = np.clip(v, 0.0, None) if negative == "clip" else v
    total = weights.sum()
    if total <= 0:
        return np.full(v.shape, price / v.size), "equal"
    return weights / total * price, negative


def _prices(price: float | ArrayLike, m: int) -> NDArray[np.float64]:
    p = np.asarray(price, dtype=np.float64)
    if p.ndim == 0:
        return np.full(m, float(p))
    if p.shape != (m,):
        raise InvalidDataError(f"prices must be a scalar or have shape ({m},), got {p.shape}")
    return p


def payouts(
    values: ArrayLike,
    price: float | ArrayLike,
    *,
    ids: ArrayLike | None = None,
    providers: ArrayLike | None = None,
    negative: str = "clip",
    level: str = "point",
) -> pd.DataFrame:
    """Tidy payout table of one or many predictions.

    Parameters
    ----------
    values : array (n,) or (m, n)
        Values of the n training points for each of m predictions.
    price : float or array (m,)
        Amount paid out for each prediction.
    ids : array (n,), optional
        Ids of the training points (default 0..n-1).
    providers : array (n,), optional
        Provider of each point (default: each point is its own provider).
    negative : {"clip", "signed"}
    level : {"point", "provider"}

    Returns
    -------
    DataFrame
        ``prediction, payee, provider, value, share, payout, rule``: one row per prediction and
        point (``payee`` = point id) or provider (``payee`` = provider); ``share`` = payout /
        price. Payouts of each prediction sum to its price.
    """
    if level not in LEVELS:
        raise InvalidParameterError(f"level must be 'point' or 'provider', got {level!r}")
    V = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if V.ndim != 2:
        raise InvalidDataError(f"values must have shape (n,) or (m, n), got {np.shape(values)}")
    m, n = V.shape
    point_ids = np.arange(n) if ids is None else np.asarray(ids)
    owners = point_ids if providers is None else np.asarray(providers)
    if point_ids.shape != (n,) or owners.shape != (n,):
        raise InvalidDataError(
            f"ids and providers must have shape ({n},), got {point_ids.shape}, {owners.shape}"
        )
    prices = _prices(price, m)
    if level == "provider":
        names, codes = np.unique(owners, return_inverse=True)
        summed = np.zeros((m, len(names)))
        np.add.at(summed.T, codes, V.T)
        V, point_ids, owners = summed, names, names
    frames = []
    for j in range(m):
        paid, rule = split_price(V[j], float(prices[j]), negative)
        share = paid / prices[j] if prices[j] > 0 else np.zeros_like(paid)
        frames.append(
            pd.DataFrame(
                {
                    "prediction": j,
                    "payee": point_ids,
                    "provider": owners,
                    "value": V[j],
                    "share": share,
                    "payout": paid,
                    "rule": rule,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def provider_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per prediction and provider: summed value and payout of a point-level table."""
    _check_table(table)
    return (
        table.groupby(["prediction", "provider"], sort=True)[["value", "payout"]]
        .sum()
        .reset_index()
    )


def aggregate_payouts(table: pd.DataFrame, by: str = "provider") -> pd.DataFrame:
    """Totals over many predictions, one row per ``provider`` (or ``payee``).

    Columns: ``predictions`` (number with a nonzero payout), ``value_total``, ``payout_total``,
    ``payout_mean`` (per prediction) and ``revenue_share`` (of all payouts); sorted by payout.
    """
    _check_table(table)
    if by not in ("provider", "payee"):
        raise InvalidParameterError(f"by must be 'provider' or 'payee', got {by!r}")
    per = table.groupby(["prediction", by], sort=False)[["value", "payout"]].sum().reset_index()
    n_pred = max(1, per["prediction"].nunique())
    out: Any = per.groupby(by).agg(
        predictions=("payout", lambda s: int((s != 0).sum())),
        value_total=("value", "sum"),
        payout_total=("payout", "sum"),
    )
    out["payout_mean"] = out["payout_total"] / n_pred
    total = out["payout_total"].sum()
    out["revenue_share"] = out["payout_total"] / total if total != 0 else 0.0
    return out.sort_values("payout_total", ascending=False).reset_index()


def top_payees(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per prediction, the ``k`` payees with the largest payouts plus one row summing the rest.

    Keeps a payout table's size at ``m * (k + 1)`` rows instead of ``m * n``. The rest row has
    an empty ``payee`` and ``provider``, the summed ``value``, ``share`` and ``payout`` of the
    payees it stands for, and their number in ``payees`` (1 on the other rows), so each
    prediction's payouts still sum to its price.

    Examples
    --------
    >>> t = payouts([[0.3, 0.1, 0.2, -0.2]], 6.0)
    >>> top_payees(t, 2)[["payee", "payout", "payees"]].values.tolist()
    [[0, 3.0, 1], [2, 2.0, 1], [None, 1.0, 2]]
    """
    _check_table(table)
    if k < 1:
        raise InvalidParameterError(f"top_k must be >= 1, got {k}")
    ranked = table.sort_values(
        ["prediction", "payout", "value"], ascending=[True, False, False], kind="stable"
    )
    pos = ranked.groupby("prediction", sort=False).cumcount()
    top = ranked[pos < k].assign(payees=1, _rest=False)
    rest = ranked[pos >= k]
    if len(rest) == 0:
        return top.drop(columns="_rest").reset_index(drop=True)
    cols = [c for c in ("value", "share", "payout") if c in rest.columns]
    summed = rest.groupby("prediction", sort=True).agg(
        **{c: (c, "sum") for c in cols}, payees=("payout", "size"), rule=("rule", "first")
    )
    summed = summed.reset_index().assign(payee=None, provider=None, _rest=True)
    out = pd.concat([top.astype({"payee": object, "provider": object}), summed], ignore_index=True)
    out = out.sort_values(["prediction", "_rest"], kind="stable").drop(columns="_rest")
    return out[[*table.columns, "payees"]].reset_index(drop=True)


def _check_table(table: pd.DataFrame) -> None:
    missing = {"prediction", "provider", "payee", "value", "payout"} - set(table.columns)
    if missing:
        raise InvalidDataError(f"not a payout table: missing columns {sorted(missing)}")


def payout_path(inputs: str | Path, out: str | Path | None = None) -> Path:
    """Where ``assay attribute`` writes the payout table of ``inputs``.

    ``out`` ending in ``.csv`` is CSV; otherwise ``.parquet`` is appended unless present
    (``run.v1`` -> ``run.v1.parquet``). Without ``out``: ``INPUTS.payouts.parquet`` next to the
    inputs (``queries.csv`` -> ``queries.payouts.parquet``).

    Raises
    ------
    OutputPathError
        ``out`` is empty, a directory or under a file.
    """
    from assay.errors import check_output_path
    from assay.runs import with_extension

    if out is None:
        p = Path(inputs)
        return p.with_name(p.stem + ".payouts.parquet")
    check_output_path(out, what="payout table")
    p = Path(out)
    return p if p.suffix.lower() == ".csv" else with_extension(p, ".parquet")
