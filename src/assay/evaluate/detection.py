"""Noisy-label detection: do a result's suspects fall on the points whose labels were flipped?

A valuation is scored as a detector of the flipped points: the most suspect fraction of points (by
the result's declared direction: the lowest values of a higher-is-better result, the highest of a
higher-is-suspect one, see :mod:`assay.result`) is flagged (by default as many as were flipped),
giving precision, recall and F1, and ``result.suspicion`` is the continuous noise score for ROC-AUC
and average precision, which need no threshold. A NaN value (a point without an estimate) counts
as the least suspect: it is never flagged and ranks below every scored point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import ValuationResult

Results = Sequence[ValuationResult] | Mapping[str, ValuationResult]
"""Several results: a sequence (labelled by ``result.method``) or a mapping label -> result."""


@dataclass(frozen=True)
class Detection:
    """How well one valuation finds the flipped points.

    Attributes
    ----------
    method : str
        Label of the valuation (its ``method`` unless another label was given).
    n : int
        Number of valued points.
    n_noisy : int
        Number of flipped points.
    n_flagged : int
        Number of most suspect points flagged as noisy.
    fraction : float
        ``n_flagged / n``.
    precision, recall, f1 : float
        Of the flagged set against the flipped set.
    roc_auc, average_precision : float
        Of the suspicion score (threshold-free; 0.5 and ``n_noisy / n`` are chance).
    """

    method: str
    n: int
    n_noisy: int
    n_flagged: int
    fraction: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    average_precision: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-serialisable)."""
        return asdict(self)


def noisy_mask(
    result: ValuationResult,
    flipped: ArrayLike | None = None,
    *,
    flipped_ids: ArrayLike | None = None,
) -> NDArray[np.bool_]:
    """Boolean mask over the entries of ``result``: True where the point was flipped.

    Parameters
    ----------
    result : ValuationResult
    flipped : array of int, optional
        Positions of the flipped points in ``result`` (the positions :func:`assay.data.flip_labels`
        returns; every method returns its result in data order, so they agree).
    flipped_ids : array, optional
        Ids of the flipped points instead of positions (robust to sorted results).

    Raises
    ------
    InvalidParameterError
        Unless exactly one of ``flipped`` and ``flipped_ids`` is given.
    InvalidDataError
        For an empty or duplicated flipped set, positions out of range, or unknown ids.
    """
    if (flipped is None) == (flipped_ids is None):
        raise InvalidParameterError("give exactly one of flipped (positions) and flipped_ids")
    n = len(result)
    if flipped_ids is not None:
        ids = np.asarray(flipped_ids).ravel()
        _check_nonempty_unique(ids, "flipped_ids")
        pos = result.positions_of(ids)
    else:
        pos = np.asarray(flipped).ravel()
        _check_nonempty_unique(pos, "flipped")
        if not np.issubdtype(pos.dtype, np.integer):
            raise InvalidDataError(
                f"flipped must hold integer positions, got dtype {pos.dtype}; "
                "pass ids as flipped_ids="
            )
        if pos.min() < 0 or pos.max() >= n:
            raise InvalidDataError(
                f"flipped positions must lie in [0, {n}) for a result of {n} points, got range "
                f"[{pos.min()}, {pos.max()}]"
            )
    mask = np.zeros(n, dtype=bool)
    mask[pos] = True
    return mask


def _check_nonempty_unique(a: NDArray[Any], what: str) -> None:
    if a.size == 0:
        raise InvalidDataError(f"{what} is empty: detection needs at least one flipped point")
    if len(np.unique(a)) != len(a):
        raise InvalidDataError(f"{what} has duplicates ({len(a) - len(np.unique(a))} repeated)")


def detect_noisy(
    result: ValuationResult,
    flipped: ArrayLike | None = None,
    *,
    flipped_ids: ArrayLike | None = None,
    fraction: float | None = None,
    label: str | None = None,
) -> Detection:
    """Score ``result`` as a detector of the flipped points.

    Parameters
    ----------
    result : ValuationResult
        Its suspects (by its declared direction) should be the flipped points.
    flipped, flipped_ids : array, optional
        The flipped points as positions in ``result`` or as ids (exactly one); see
        :func:`noisy_mask`.
    fraction : float, optional
        Fraction of points to flag, most suspect first; defaults to the true noise rate
        ``len(flipped) / n``. ``round(fraction * n)`` points are flagged (at least one); ties are
        broken by data order.
    label : str, optional
        Name in the output (defaults to ``result.method``).

    Returns
    -------
    Detection

    Raises
    ------
    InvalidDataError
        For a bad flipped set (see :func:`noisy_mask`), every point flipped, or infinite values.
    InvalidParameterError
        For ``fraction`` outside (0, 1].

    Examples
    --------
    >>> r = ValuationResult.exact([0, 1, 2, 3], [0.1, 0.9, 0.5, 0.7], "toy")
    >>> d = detect_noisy(r, [0])
    >>> d.f1, d.roc_auc
    (1.0, 1.0)
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    noisy = noisy_mask(result, flipped, flipped_ids=flipped_ids)
    n, n_noisy = len(noisy), int(noisy.sum())
    if n_noisy == n:
        raise InvalidDataError(
            f"all {n} points are flipped: detection needs clean points too (ROC-AUC is undefined)"
        )
    suspicion = result.suspicion
    if np.isinf(suspicion).any():
        raise InvalidDataError(
            f"result {result.method!r} has {int(np.isinf(suspicion).sum())} infinite values"
        )
    unscored = np.isnan(suspicion)
    if unscored.all():
        raise InvalidDataError(f"result {result.method!r} has only NaN values")
    score = np.where(unscored, np.nanmin(suspicion) - 1.0, suspicion)  # NaN: least suspect
    frac = n_noisy / n if fraction is None else float(fraction)
    if not 0.0 < frac <= 1.0:
        raise InvalidParameterError(f"fraction must lie in (0, 1], got {fraction}")
    k = max(1, round(frac * n))
    flagged = np.zeros(n, dtype=bool)
    flagged[result.suspect_order()[:k]] = True
    tp = int((flagged & noisy).sum())
    precision, recall = tp / k, tp / n_noisy
    f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
    return Detection(
        method=result.method if label is None else label,
        n=n,
        n_noisy=n_noisy,
        n_flagged=k,
        fraction=k / n,
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=float(roc_auc_score(noisy, score)),
        average_precision=float(average_precision_score(noisy, score)),
    )


def labelled(results: Results | ValuationResult) -> dict[str, ValuationResult]:
    """``{label: result}`` from a result, a sequence (labels = methods) or a mapping.

    Raises
    ------
    InvalidParameterError
        If two results of a sequence share a method name (pass a mapping to label them).
    """
    if isinstance(results, ValuationResult):
        return {results.method: results}
    if isinstance(results, Mapping):
        out = {str(k): v for k, v in results.items()}
    else:
        out = {}
        for r in results:
            if r.method in out:
                raise InvalidParameterError(
                    f"two results are named {r.method!r}; pass a mapping {{label: result}}"
                )
            out[r.method] = r
    if not out:
        raise InvalidParameterError("no results given")
    for k, v in out.items():
        if not isinstance(v, ValuationResult):
            raise InvalidParameterError(f"{k!r} is a {type(v).__name__}, not a ValuationResult")
    return out


def detection_table(
    results: Results | ValuationResult,
    flipped: ArrayLike | None = None,
    *,
    flipped_ids: ArrayLike | None = None,
    fraction: float | None = None,
) -> pd.DataFrame:
    """Detection metrics of several results: one row per method, in the order given.

    Columns are the fields of :class:`Detection`. Arguments as for :func:`detect_noisy`; with
    positions (``flipped``) every result must be in data order, so prefer ``flipped_ids`` when
    results may have been sorted or subset.
    """
    rows = [
        detect_noisy(r, flipped, flipped_ids=flipped_ids, fraction=fraction, label=k).to_dict()
        for k, r in labelled(results).items()
    ]
    return pd.DataFrame(rows, columns=list(Detection.__dataclass_fields__))
