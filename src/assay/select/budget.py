"""Selection for a budget: any :class:`ValuationResult` -> a (weighted) training subset.

:func:`select_subset` is the one function that turns values into data:

- ``strategy="top"`` (alias ``"keep"``) / ``"bottom"`` (alias ``"suspect"``): the ``budget``
  points most worth keeping / most suspect by the result's declared direction (the highest /
  lowest values of a higher-is-better result, the lowest / highest scores of a higher-is-suspect
  one such as loss or EL2N; see :mod:`assay.result`). A fraction in (0, 1) means that share of the
  points. NaN values (points without an estimate) are chosen last by either end;
- ``strategy="sample"``: ``budget`` i.i.d. draws with probability proportional to the
  (non-negative) values, each weighted ``1 / (budget p)`` (importance sampling; duplicates merged,
  their weights summed), so the weighted subset's sums estimate the full data's without bias
  (literal values, whatever the direction; NaN values get probability 0);
- ``balance="class"`` / ``"cluster"`` with ``groups``: the budget is split across groups first
  (proportionally to group size, by largest remainders, or equally), then each group's share is
  chosen by the strategy; ``reweight=True`` weights each chosen point by (group size / chosen in
  group) so every group keeps its full-data mass.

A :class:`Subset` is written as Parquet ``id, weight`` (+ JSON sidecar). :func:`evaluate_subsets`
is the selection loop's last step: train one model per subset (one batched fit) and score it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from assay.clustering import group_quotas
from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import ValuationResult, _json_safe
from assay.runs import pair_outputs, read_pair, write_pair

STRATEGIES = ("top", "bottom", "sample", "keep", "suspect")
_ALIASES = {"keep": "top", "suspect": "bottom"}


@dataclass(frozen=True, eq=False)
class Subset:
    """A selected training subset: ids, positions in the source data, and weights."""

    ids: NDArray[Any]
    positions: NDArray[np.int64]
    weights: NDArray[np.float64]
    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.positions) == len(self.weights):
            raise InvalidDataError(
                f"Subset: {len(self.ids)} ids, {len(self.positions)} positions, "
                f"{len(self.weights)} weights"
            )
        object.__setattr__(self, "positions", np.asarray(self.positions, np.int64))
        object.__setattr__(self, "weights", np.asarray(self.weights, np.float64))
        object.__setattr__(self, "params", _json_safe(dict(self.params)))

    def __len__(self) -> int:
        return len(self.ids)

    def weight_vector(self, n: int) -> NDArray[np.float64]:
        """Dense (n,) sample weights: the subset's weights at its positions, 0 elsewhere."""
        if len(self) and self.positions.max() >= n:
            raise InvalidDataError(f"subset position {self.positions.max()} out of range for {n}")
        w = np.zeros(n)
        np.add.at(w, self.positions, self.weights)
        return w

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame({"id": self.ids, "weight": self.weights})

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``path`` (Parquet ``id, weight``; ``.parquet`` appended unless present) and its
        JSON sidecar as a pair (:func:`assay.runs.write_pair`); refuses an existing file unless
        ``overwrite``."""
        meta = {"method": self.method, "params": self.params, "n": len(self), "format": 1}
        p, _ = pair_outputs(path, "subset file")
        return write_pair(p, self.to_pandas(), meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, ids: ArrayLike) -> Subset:
        """Read a subset written by :meth:`save`; ``ids`` (the data's ids) give back positions."""
        p = Path(path)
        df, found = read_pair(p, "subset file")
        if not {"id", "weight"} <= set(df.columns):
            raise InvalidDataError(f"{str(p)!r} must have columns id, weight")
        lookup = {v: i for i, v in enumerate(np.asarray(ids).tolist())}
        missing = [v for v in df["id"].tolist() if v not in lookup]
        if missing:
            raise InvalidDataError(f"subset ids not in the data: {missing[:10]}")
        meta = found or {}
        pos = np.array([lookup[v] for v in df["id"].tolist()], np.int64)
        return cls(
            df["id"].to_numpy(),
            pos,
            df["weight"].to_numpy(np.float64),
            str(meta.get("method", p.stem)),
            dict(meta.get("params", {})),
        )


def budget_count(budget: float, n: int) -> int:
    """A budget as a count: an int in [1, n], or a fraction in (0, 1) of n (at least 1)."""
    if isinstance(budget, bool) or not np.isfinite(budget) or budget <= 0:
        raise InvalidParameterError(
            f"budget must be a count >= 1 or a fraction in (0, 1), got {budget}"
        )
    if budget < 1:
        return max(1, round(budget * n))
    if budget != int(budget):
        raise InvalidParameterError(f"a budget >= 1 must be a whole count, got {budget}")
    if budget > n:
        raise InvalidParameterError(f"budget {int(budget)} exceeds the {n} points available")
    return int(budget)


def _choose(
    values: NDArray[np.float64],
    m: int,
    strategy: str,
    rng: np.random.Generator,
    suspicion: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Positions (within ``values``) and weights of ``m`` chosen by ``strategy``.

    ``suspicion`` (higher = more suspect; default ``-values``) orders ``top`` and ``bottom``.
    """
    susp = -values if suspicion is None else suspicion
    if strategy == "top":
        return np.argsort(susp, kind="stable")[:m], np.ones(m)
    if strategy == "bottom":
        return np.argsort(-susp, kind="stable")[:m], np.ones(m)
    values = np.where(np.isnan(values), 0.0, values)
    if (values < 0).any():
        raise InvalidDataError(
            f"strategy='sample' needs non-negative values, got {values.min():.4g}; "
            "shift them or use top / bottom"
        )
    total = values.sum()
    p = values / total if total > 0 else np.full(len(values), 1 / len(values))
    draws = rng.choice(len(values), size=m, p=p)
    uniq, counts = np.unique(draws, return_counts=True)
    return uniq.astype(np.int64), counts / (m * p[uniq])


def select_subset(
    values: ValuationResult,
    budget: float,
    *,
    strategy: str = "top",
    balance: str | None = None,
    groups: ArrayLike | None = None,
    quota: str = "proportional",
    reweight: bool = False,
    seed: int = 0,
) -> Subset:
    """Turn any valuation result into a training subset.

    Parameters
    ----------
    values : ValuationResult
        Its declared direction says which end ``top`` (keep) and ``bottom`` (suspect) take.
    budget : int or float
        Points to select (or, in (0, 1), the fraction of points); draws for ``"sample"``.
    strategy : {"top", "bottom", "sample", "keep", "suspect"}
        ``top`` / ``keep``: the points most worth keeping; ``bottom`` / ``suspect``: the most
        suspect; ``sample``: proportional to the (non-negative) values. NaN values come last.
    balance : {None, "class", "cluster"}
        Split the budget across ``groups`` (class labels or cluster ids, aligned with ``values``).
    groups : array-like (n,), optional
    quota : {"proportional", "equal"}
        How the budget is split across groups.
    reweight : bool
        With ``balance``: weight each chosen point by its group's size over the points chosen
        from it (the weighted subset then keeps every group's full-data mass).
    seed : int
        Seeds ``"sample"``.

    Returns
    -------
    Subset
        Positions index ``values`` (its data order).

    Raises
    ------
    InvalidParameterError
        Budget out of range, unknown strategy / balance, ``balance`` without ``groups``.
    """
    n = len(values)
    m = budget_count(budget, n)
    if strategy not in STRATEGIES:
        raise InvalidParameterError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if balance not in (None, "class", "cluster"):
        raise InvalidParameterError(f"balance must be None, 'class' or 'cluster', got {balance!r}")
    requested, strategy = strategy, _ALIASES.get(strategy, strategy)
    v = np.asarray(values.values, np.float64)
    if np.isinf(v).any():
        raise InvalidDataError(f"values has {int(np.isinf(v).sum())} infinite entries")
    susp = values.suspicion
    rng = np.random.default_rng(seed)
    if balance is None:
        pos, w = _choose(v, m, strategy, rng, susp)
    else:
        if groups is None:
            raise InvalidParameterError(f"balance={balance!r} needs groups (labels or clusters)")
        g = np.asarray(groups)
        if len(g) != n:
            raise InvalidDataError(f"shape mismatch: {len(g)} groups for {n} values")
        parts_p, parts_w = [], []
        for label, share in group_quotas(g, m, quota=quota).items():
            if share == 0:
                continue
            members = np.flatnonzero(g == label)
            p, w = _choose(v[members], share, strategy, rng, susp[members])
            if reweight:
                w = w * (len(members) / (w.sum() if strategy == "sample" else share))
            parts_p.append(members[p])
            parts_w.append(w)
        pos, w = np.concatenate(parts_p), np.concatenate(parts_w)
    params = {
        "source": values.method,
        "budget": m,
        "strategy": requested,
        "direction": values.direction,
        "balance": balance,
        "quota": quota if balance else None,
        "reweight": reweight,
        "seed": seed,
    }
    return Subset(values.ids[pos], pos, w, values.method, params)


#: spawn key of uniform_subset's random stream
UNIFORM_STREAM = 0x756E69


def uniform_subset(
    n: int, budget: float, *, seed: int = 0, ids: ArrayLike | None = None, weighted: bool = False
) -> Subset:
    """``budget`` points uniformly without replacement (weights ``n / m`` if ``weighted``).

    The draw is its own random stream of ``seed`` (not ``default_rng(seed)``, whose first draw
    of the same size is exactly the rows :func:`~assay.data.noise.flip_labels` flips with that
    seed: a uniform baseline must not pick the noise).
    """
    m = budget_count(budget, n)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(UNIFORM_STREAM,)))
    pos = np.sort(rng.choice(n, m, replace=False)).astype(np.int64)
    id_arr = np.arange(n) if ids is None else np.asarray(ids)
    w = np.full(m, n / m if weighted else 1.0)
    return Subset(id_arr[pos], pos, w, "uniform", {"budget": m, "seed": seed})


def evaluate_subsets(
    learner: Any,
    train: Any,
    test: Any,
    subsets: Mapping[str, Subset],
    *,
    scorer: str = "accuracy",
    weighting: str = "as-is",
) -> pd.DataFrame:
    """Train one model per subset and score each on ``test``.

    Every subset trains in one batched fit over weighted rows (mini-batch networks step through
    each subset's own rows, see :mod:`assay.learners.networks`).

    ``weighting``: ``"as-is"`` trains with the subsets' weights, ``"unit"`` with weight 1 per
    selected point, ``"normalised"`` with the weights rescaled to sum to the subset's size (so a
    regularised learner sees the same data mass whatever the weights' scale). A full-data row is
    added for reference.
    """
    from assay.utility import Utility

    if weighting not in ("as-is", "unit", "normalised"):
        raise InvalidParameterError(f"weighting must be as-is, unit or normalised, got {weighting}")
    u = Utility(learner, train, test, scorer)
    rows, W = [], []
    for name, s in subsets.items():
        w = s.weight_vector(train.n)
        if weighting == "unit":
            w = (w > 0).astype(np.float64)
        elif weighting == "normalised" and w.sum() > 0:
            w = w * (np.count_nonzero(w) / w.sum())
        W.append(w)
        rows.append({"method": name, "size": int(np.count_nonzero(w)), "weight_sum": w.sum()})
    W.append(np.ones(train.n))
    rows.append({"method": "full data", "size": train.n, "weight_sum": float(train.n)})
    scores = u(np.stack(W))  # one batched fit; mini-batch networks step through own rows
    df = pd.DataFrame(rows)
    df[scorer] = scores
    return df
