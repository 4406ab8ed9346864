"""Active learning with a person as the oracle: :class:`ActiveLearner` (``query`` / ``teach``).

Like modAL's ``ActiveLearner``: :meth:`ActiveLearner.query` trains the learner on the labelled
rows and returns the next batch of pool rows to label, with the acquisition score and the model's
guess for each; :meth:`ActiveLearner.teach` adds the labels a person gave and moves those rows out
of the pool. Query ``r`` (counting from 0) draws its randomness from ``task_rng(seed, r)`` exactly
as round ``r`` of :class:`assay.select.active.ActiveLearning` does, so teaching the labels the
simulated loop's oracle would give reproduces that loop's batches.

The state (labelled ids and labels, the round, the pending batch) round-trips through
:meth:`ActiveLearner.state` / :meth:`ActiveLearner.restore`, which ``assay active`` keeps in its
output directory between rounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset, encode_labels
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners.base import BatchLearner
from assay.learners.registry import make_learner
from assay.parallel import task_rng
from assay.select.acquisition import Acquisition, PoolState, make_acquisition


def _plain(v: Any) -> Any:
    """A NumPy scalar as a Python one (JSON-safe; ``3.0`` read from a CSV becomes ``3``)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


class ActiveLearner:
    """Pool-based active learning driven by :meth:`query` and :meth:`teach`.

    Parameters
    ----------
    learner : BatchLearner or name
        Retrained from scratch on the labelled rows at every :meth:`query`.
    acquisition : Acquisition or name
        See :func:`assay.select.acquisition.make_acquisition`.
    labelled : Dataset
        The rows labelled so far (at least two classes); its ``classes`` fix the label set.
    pool_X : array of shape (m, d)
        Features of the unlabelled rows (same scaling as ``labelled``).
    pool_ids : array of shape (m,)
        Their ids, unique and distinct from ``labelled.ids``.
    seed : int
    valid : Dataset, optional
        Validation set for the ``iv`` and valuation-based acquisitions.

    Examples
    --------
    >>> learner = ActiveLearner("logistic", "entropy", labelled, pool_X, pool_ids)  # doctest: +SKIP
    >>> batch = learner.query(5)  # doctest: +SKIP
    >>> learner.teach(batch["id"], ["cat", "dog", "dog", "cat", "cat"])  # doctest: +SKIP
    """

    def __init__(
        self,
        learner: BatchLearner | str,
        acquisition: Acquisition | str,
        labelled: Dataset,
        pool_X: ArrayLike,
        pool_ids: ArrayLike,
        *,
        seed: int = 0,
        valid: Dataset | None = None,
    ) -> None:
        self.learner = make_learner(learner)
        self.acquisition = make_acquisition(acquisition)
        self.seed, self.valid = seed, valid
        X = np.asarray(pool_X, dtype=np.float64)
        ids = np.asarray(pool_ids)
        if X.ndim != 2 or X.shape[0] != len(ids):
            raise InvalidDataError(
                f"pool_X must be (m, d) with one id per row, got shape {X.shape} and {len(ids)} ids"
            )
        if X.shape[1] != labelled.n_features:
            raise InvalidDataError(
                f"the pool has {X.shape[1]} features, the labelled set {labelled.n_features}"
            )
        if len(set(ids.tolist())) != len(ids):
            raise InvalidDataError("pool ids must be unique; found duplicates")
        clash = set(labelled.ids.tolist()) & set(ids.tolist())
        if clash:
            raise InvalidDataError(
                f"pool ids must be distinct from the labelled ids (shared: "
                f"{sorted(clash, key=str)[:5]})"
            )
        self.pool_X, self.pool_ids = X, ids
        self._lookup = {v: i for i, v in enumerate(ids.tolist())}
        self._initial = labelled
        self.labelled = labelled
        self._remaining = np.arange(len(ids))
        self.round = 0
        self._taught: list[tuple[list[Any], list[Any]]] = []
        self.pending: pd.DataFrame | None = None

    # ------------------------------------------------------------------ properties
    @property
    def classes(self) -> NDArray[Any]:
        """The label values a person may give."""
        return self.labelled.classes

    @property
    def remaining_ids(self) -> NDArray[Any]:
        """Ids of the pool rows still unlabelled, in pool order."""
        return self.pool_ids[self._remaining]

    # ------------------------------------------------------------------ the two calls
    def fit(self) -> Any:
        """Train the learner on the labelled rows (the model :meth:`query` scores with)."""
        present = np.flatnonzero(self.labelled.class_counts() > 0)
        if len(present) < 2:
            raise InvalidDataError(
                f"the labelled rows have a single class ({self.classes[present].tolist()}); "
                "label at least one row of a second class before querying"
            )
        data = self.learner.prepare(self.labelled)
        ones = torch.ones(1, self.labelled.n, dtype=self.learner.dtype, device=data.X.device)
        return self.learner.fit(data, ones)

    def query(self, n: int) -> pd.DataFrame:
        """The next ``n`` pool rows to label, best first.

        Returns
        -------
        DataFrame
            Columns ``id``, ``rank``, ``score`` (the acquisition score; higher = more worth
            labelling), ``predicted`` (the model's current guess), ``confidence`` (its probability)
            and ``reason`` (a sentence saying why the row was chosen). Also kept as
            :attr:`pending`.
        """
        if n < 1:
            raise InvalidParameterError(f"n must be >= 1, got {n}")
        if len(self._remaining) == 0:
            raise InvalidDataError("the pool is exhausted: every row is labelled")
        n = min(n, len(self._remaining))
        fitted = self.fit()
        ctx = PoolState(
            self.learner,
            fitted,
            self.labelled,
            self.pool_X[self._remaining],
            self.valid,
            task_rng(self.seed, self.round),
        )
        scores = np.asarray(self.acquisition.scores(ctx), dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[:n]
        proba = ctx.pool_proba()[order]
        guess = proba.argmax(1)
        m = len(self._remaining)
        name = self.acquisition.name
        reasons = [
            f"rank {k + 1} of {m} unlabelled by {name} (score {scores[i]:.4g}); the model "
            f"guesses {_plain(self.classes[g])!s} with p={p[g]:.2f}"
            for k, (i, g, p) in enumerate(zip(order, guess, proba, strict=True))
        ]
        self.pending = pd.DataFrame(
            {
                "id": self.pool_ids[self._remaining[order]],
                "rank": np.arange(1, n + 1),
                "score": scores[order],
                "predicted": [_plain(self.classes[g]) for g in guess],
                "confidence": proba[np.arange(n), guess],
                "reason": reasons,
            }
        )
        return self.pending

    def teach(self, ids: ArrayLike, labels: ArrayLike) -> None:
        """Add labels for pool rows (any of them, not only the last query's) and advance a round.

        Raises
        ------
        InvalidDataError
            Empty input, ids not in the unlabelled pool (named), repeated ids, or labels outside
            :attr:`classes` (named, with the known classes).
        """
        numeric_ids = self.pool_ids.dtype.kind in "iuf"
        id_list = [_label_value(v, numeric_ids) for v in np.asarray(ids, dtype=object).tolist()]
        numeric = np.asarray(self.classes).dtype.kind in "iuf"
        lab = np.asarray(
            [_label_value(v, numeric) for v in np.asarray(labels, dtype=object).tolist()], object
        )
        if len(id_list) == 0:
            raise InvalidDataError("no labels to teach (0 rows)")
        if len(id_list) != len(lab):
            raise InvalidDataError(f"{len(id_list)} ids but {len(lab)} labels")
        if len(set(id_list)) != len(id_list):
            dup = sorted({v for v in id_list if id_list.count(v) > 1}, key=str)
            raise InvalidDataError(f"ids labelled twice: {dup[:10]}")
        done = set(self.labelled.ids.tolist())
        unknown = [v for v in id_list if v not in self._lookup and v not in done]
        if unknown:
            raise InvalidDataError(
                f"{len(unknown)} id(s) are not rows of the pool: {unknown[:10]} "
                f"(pool ids look like {self.pool_ids[:3].tolist()})"
            )
        again = [v for v in id_list if v in done]
        if again:
            raise InvalidDataError(f"{len(again)} id(s) are labelled already: {again[:10]}")
        missing = [v for v, x in zip(id_list, lab.tolist(), strict=True) if _is_missing(x)]
        if missing:
            raise InvalidDataError(f"{len(missing)} id(s) have an empty label: {missing[:10]}")
        codes, _ = encode_labels(lab, self.classes, what="the given labels")
        pos = np.asarray([self._lookup[v] for v in id_list], np.int64)
        old = self.labelled
        self.labelled = Dataset(
            np.vstack([old.X, self.pool_X[pos]]),
            np.concatenate([old.y, codes]),
            old.classes,
            np.concatenate([old.ids, self.pool_ids[pos]]),
            old.feature_names,
            None,
            old.name,
        )
        self._remaining = np.setdiff1d(self._remaining, pos)
        self._taught.append((id_list, [_plain(v) for v in self.classes[codes].tolist()]))
        self.round += 1
        self.pending = None

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """JSON-safe state: the labels taught per round and the pending batch."""
        return {
            "round": self.round,
            "taught": [{"ids": i, "labels": lab} for i, lab in self._taught],
            "pending": None if self.pending is None else self.pending.to_dict(orient="list"),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Replay a :meth:`state` on a learner built with the same initial data."""
        if self.round or self._taught:
            raise InvalidParameterError("restore() needs a fresh ActiveLearner")
        for step in state.get("taught", []):
            self.teach(step["ids"], step["labels"])
        pending = state.get("pending")
        self.pending = None if pending is None else pd.DataFrame(pending)


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v)


def _label_value(v: Any, numeric: bool) -> Any:
    """A label as given (``"3"`` or ``3.0`` from a CSV is ``3`` when the classes are numbers)."""
    v = _plain(v)
    if numeric and isinstance(v, str) and v.strip():
        try:
            return _plain(float(v))
        except ValueError:
            return v
    return v
