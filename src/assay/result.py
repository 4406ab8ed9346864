"""``ValuationResult``: one frozen result type for every valuation method.

Every result stores its method's *natural* score and declares which end of it is which
(``direction``): ``"higher-is-better"`` (Shapley values, influence, Data-OOB: low values are the
suspect end) or ``"higher-is-suspect"`` (loss, EL2N, GraNd, entropy: high scores mark the hard,
likely mislabelled points). :meth:`ValuationResult.lowest` / :meth:`~ValuationResult.highest` are
literal; :meth:`~ValuationResult.suspects` / :meth:`~ValuationResult.keepers` read the declaration,
and every command that drops, flags or keeps points uses them. NaN values (e.g. a Data-OOB point
that was never out of bag) have no rank: they come last in every ordering, literal or declared.
Saved as Parquet (``id, value, stderr, count``) plus a JSON sidecar with the method, its
parameters and the direction (a sidecar without one reads as higher-is-better); never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError, corrupt
from assay.runs import pair_outputs, read_pair, write_pair

HIGHER_IS_BETTER = "higher-is-better"
HIGHER_IS_SUSPECT = "higher-is-suspect"
DIRECTIONS = (HIGHER_IS_BETTER, HIGHER_IS_SUSPECT)
"""The two declared directions of a result's values."""


def _frozen(a: ArrayLike, dtype: Any = None) -> NDArray[Any]:
    arr = np.array(a, dtype=dtype, copy=True)
    arr.flags.writeable = False
    return arr


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return repr(obj)


@dataclass(frozen=True, eq=False)
class ValuationResult:
    """Values of training points, with their uncertainty and provenance.

    Parameters
    ----------
    ids : ndarray of shape (n,)
        Identifier of each valued point (the dataset's ``ids``).
    values : ndarray of shape (n,)
        Higher = more valuable.
    stderr : ndarray of shape (n,)
        Standard error of each value (0 for exact methods, NaN where undefined).
    counts : ndarray of shape (n,)
        Number of samples (marginals, models) behind each value.
    method : str
        Method name, e.g. ``"tmc-shapley"``.
    params : dict
        The method's parameters and run facts (seed, samples, seconds); JSON-serialisable.
    direction : {"higher-is-better", "higher-is-suspect"}
        Which end of ``values`` is suspect (likely mislabelled / harmful): the low end for
        ``higher-is-better``, the high end for ``higher-is-suspect``.
    """

    ids: NDArray[Any]
    values: NDArray[np.float64]
    stderr: NDArray[np.float64]
    counts: NDArray[np.int64]
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    direction: str = HIGHER_IS_BETTER

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InvalidParameterError(
                f"direction must be one of {DIRECTIONS}, got {self.direction!r}"
            )
        n = len(self.ids)
        for name in ("values", "stderr", "counts"):
            if len(getattr(self, name)) != n:
                raise InvalidDataError(
                    f"ValuationResult: {name} has {len(getattr(self, name))} entries, ids has {n}"
                )
        object.__setattr__(self, "ids", _frozen(self.ids))
        object.__setattr__(self, "values", _frozen(self.values, np.float64))
        object.__setattr__(self, "stderr", _frozen(self.stderr, np.float64))
        object.__setattr__(self, "counts", _frozen(self.counts, np.int64))
        object.__setattr__(self, "params", _json_safe(dict(self.params)))

    @classmethod
    def exact(
        cls,
        ids: ArrayLike,
        values: ArrayLike,
        method: str,
        *,
        direction: str = HIGHER_IS_BETTER,
        **params: Any,
    ) -> ValuationResult:
        """A result with zero standard error and one count per value."""
        v = np.asarray(values, dtype=np.float64)
        return cls(
            np.asarray(ids),
            v,
            np.zeros_like(v),
            np.ones(len(v), np.int64),
            method,
            params,
            direction,
        )

    # ----------------------------------------------------------------- views
    def __len__(self) -> int:
        return len(self.ids)

    def ranking(self, descending: bool = True) -> NDArray[np.int64]:
        """Positions ordered by value (stable, so ties keep data order; NaN values last)."""
        order = np.argsort(-self.values if descending else self.values, kind="stable")
        return order.astype(np.int64)

    @property
    def suspicion(self) -> NDArray[np.float64]:
        """The values oriented so that higher = more suspect (``-values`` if higher-is-better)."""
        return np.asarray(-self.values if self.direction == HIGHER_IS_BETTER else self.values)

    def suspect_order(self) -> NDArray[np.int64]:
        """Positions from the most suspect to the most worth keeping (stable; NaN last)."""
        return np.argsort(-self.suspicion, kind="stable").astype(np.int64)

    def keep_order(self) -> NDArray[np.int64]:
        """Positions from the most worth keeping to the most suspect (stable; NaN last)."""
        return np.argsort(self.suspicion, kind="stable").astype(np.int64)

    def take(self, positions: ArrayLike) -> ValuationResult:
        """The entries at ``positions``, in that order."""
        p = np.asarray(positions)
        return ValuationResult(
            self.ids[p],
            self.values[p],
            self.stderr[p],
            self.counts[p],
            self.method,
            self.params,
            self.direction,
        )

    def sort(self, descending: bool = True) -> ValuationResult:
        """A copy sorted by value, highest first unless ``descending=False``."""
        return self.take(self.ranking(descending))

    def highest(self, k: int) -> ValuationResult:
        """The ``k`` most valuable points, highest first."""
        return self.take(self.ranking(True)[: self._check_k(k)])

    def lowest(self, k: int) -> ValuationResult:
        """The ``k`` lowest values, lowest first (literal: see :meth:`suspects`)."""
        return self.take(self.ranking(False)[: self._check_k(k)])

    def suspects(self, k: int) -> ValuationResult:
        """The ``k`` most suspect points by the declared direction, most suspect first.

        The lowest values of a higher-is-better result, the highest of a higher-is-suspect one;
        NaN values come last (a point without an estimate is never flagged before one with).
        """
        return self.take(self.suspect_order()[: self._check_k(k)])

    def keepers(self, k: int) -> ValuationResult:
        """The ``k`` points most worth keeping by the declared direction, best first."""
        return self.take(self.keep_order()[: self._check_k(k)])

    def _check_k(self, k: int) -> int:
        if not 0 <= k <= len(self):
            raise InvalidParameterError(f"k must lie in [0, {len(self)}], got {k}")
        return int(k)

    def positions_of(self, ids: ArrayLike) -> NDArray[np.int64]:
        """Positions of the given ids in this result."""
        lookup = {v: i for i, v in enumerate(self.ids.tolist())}
        missing = [v for v in np.asarray(ids).tolist() if v not in lookup]
        if missing:
            raise InvalidDataError(f"ids not in this result: {missing[:10]}")
        return np.array([lookup[v] for v in np.asarray(ids).tolist()], dtype=np.int64)

    def to_pandas(self) -> Any:
        """A tidy DataFrame, one row per point: ``id, value, stderr, count`` (data order)."""
        import pandas as pd

        return pd.DataFrame(
            {"id": self.ids, "value": self.values, "stderr": self.stderr, "count": self.counts}
        )

    def __repr__(self) -> str:
        return (
            f"ValuationResult(method={self.method!r}, n={len(self)}, "
            f"mean={float(np.nanmean(self.values)) if len(self) else float('nan'):.4g}, "
            f"direction={self.direction!r})"
        )

    # ----------------------------------------------------------------- disk
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``path`` (Parquet) and its JSON sidecar (method, params) as a pair.

        ``.parquet`` is appended unless ``path`` ends in it (``run.v1`` -> ``run.v1.parquet``,
        sidecar ``run.v1.json``). The sidecar is also embedded in the Parquet file (see
        :func:`assay.runs.write_pair`). An existing file is refused unless ``overwrite``.
        """
        p, _ = pair_outputs(path)
        meta = {
            "method": self.method,
            "params": self.params,
            "direction": self.direction,
            "n": len(self),
            "format": 1,
        }
        return write_pair(p, self.to_pandas(), meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> ValuationResult:
        """Read a result written by :meth:`save` (the metadata is optional: a bare Parquet file
        of ``id, value`` columns loads with the file name as the method)."""
        p = Path(path)
        fresh = "rerun `assay value` to write it afresh"
        df, found = read_pair(p, fresh=fresh)
        missing = {"id", "value"} - set(df.columns)
        if missing:
            raise InvalidDataError(f"{str(p)!r} lacks columns {sorted(missing)}")
        meta: dict[str, Any] = found or {"method": p.stem, "params": {}}
        if not isinstance(meta.get("params", {}), dict):
            raise corrupt("metadata of values file", p, "params is not a JSON object", fresh)
        n = len(df)
        if df["value"].dtype.kind not in "fiub":
            raise corrupt("values file", p, f"column 'value' has dtype {df['value'].dtype}", fresh)
        return cls(
            df["id"].to_numpy(),
            df["value"].to_numpy(np.float64),
            df["stderr"].to_numpy(np.float64) if "stderr" in df else np.full(n, np.nan),
            df["count"].to_numpy(np.int64) if "count" in df else np.ones(n, np.int64),
            str(meta.get("method", p.stem)),
            dict(meta.get("params", {})),
            str(meta.get("direction", HIGHER_IS_BETTER)),
        )
