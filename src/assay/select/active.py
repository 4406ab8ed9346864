"""The active-learning loop (the seed's Algorithm 4), resumable between rounds.

Each round trains the learner on the labelled set, scores it on the test set (one point of the
learning curve), asks the acquisition function for ``batch_size`` pool points, asks the oracle for
their labels and moves them to the labelled set. The oracle is any callable ``ids -> labels``; in
experiments it reveals the pool's hidden labels (:func:`hidden_label_oracle`).

With ``state_dir``, the state after every round (acquired pool positions and their labels, the
curve so far) is written atomically as the assay checkpoint ``state.npz``
(:func:`assay.runs.write_checkpoint`); a rerun with the same data, learner,
acquisition and seed continues after the last finished round and ends with the same numbers
(round ``r`` draws its randomness from ``task_rng(seed, r)``). ``rounds`` may be raised on a rerun
to extend a finished run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset, encode_labels
from assay.errors import InvalidDataError, InvalidParameterError, corrupt
from assay.learners.base import BatchLearner
from assay.learners.registry import make_learner
from assay.parallel import task_rng
from assay.progress import progress_bar
from assay.runs import RESTART_HINT, read_checkpoint, run_identity, write_checkpoint
from assay.select.acquisition import Acquisition, PoolState, make_acquisition
from assay.utility.scorers import make_scorer

log = logging.getLogger(__name__)
CHECKPOINT_KIND = "active-learning"
Oracle = Callable[[NDArray[Any]], ArrayLike]
"""``ids of pool points -> their labels`` (original label values)."""


def hidden_label_oracle(pool: Dataset) -> Oracle:
    """An oracle that reveals the labels stored in ``pool`` (for experiments)."""
    lookup = {v: i for i, v in enumerate(pool.ids.tolist())}

    def oracle(ids: NDArray[Any]) -> ArrayLike:
        return pool.labels[[lookup[v] for v in np.asarray(ids).tolist()]]

    return oracle


@dataclass(frozen=True)
class ActiveLearningResult:
    """A finished run: the learning curve, the ids acquired each round, the final labelled set."""

    curve: pd.DataFrame  # round, n_labelled, score, fit_seconds, acquire_seconds
    acquired: list[NDArray[Any]]
    labelled: Dataset

    def to_json(self) -> dict[str, Any]:
        return {
            "curve": self.curve.to_dict(orient="list"),
            "acquired": [a.tolist() for a in self.acquired],
        }


def _concat(a: Dataset, X: NDArray[np.float64], y: NDArray[np.int64], ids: NDArray[Any]) -> Dataset:
    return Dataset(
        np.vstack([a.X, X]),
        np.concatenate([a.y, y]),
        a.classes,
        np.concatenate([a.ids, ids]),
        a.feature_names,
        None,
        a.name,
    )


class ActiveLearning:
    """Pool-based active learning with any acquisition function.

    Parameters
    ----------
    learner : BatchLearner or name
        Retrained from scratch on the labelled set every round.
    acquisition : Acquisition or name
        See :func:`assay.select.acquisition.make_acquisition`.
    batch_size : int
        Points labelled per round (N in Algorithm 4).
    rounds : int
        Acquisition rounds; the curve has ``rounds + 1`` points.
    seed : int
    state_dir : path, optional
        Resume directory (the checkpoint ``state.npz``).
    scorer : str
        Test score of the curve (``accuracy`` or ``log_likelihood``).
    progress : bool
    restart : bool
        Discard a state in ``state_dir`` that belongs to another run instead of refusing it.
    """

    def __init__(
        self,
        learner: BatchLearner | str,
        acquisition: Acquisition | str,
        *,
        batch_size: int,
        rounds: int,
        seed: int = 0,
        state_dir: str | Path | None = None,
        scorer: str = "accuracy",
        progress: bool = False,
        restart: bool = False,
    ) -> None:
        if batch_size < 1 or rounds < 0:
            raise InvalidParameterError(
                f"batch_size must be >= 1 and rounds >= 0, got {batch_size}, {rounds}"
            )
        self.learner = make_learner(learner)
        self.acquisition = make_acquisition(acquisition)
        self.batch_size, self.rounds, self.seed = batch_size, rounds, seed
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.scorer = make_scorer(scorer)
        self.progress = progress
        self.restart = restart

    # ------------------------------------------------------------------ checks and identity
    def _check(self, labelled: Dataset, pool: Dataset, test: Dataset) -> None:
        present = np.flatnonzero(labelled.class_counts() > 0)
        if len(present) < 2:
            raise InvalidDataError(
                f"the labelled set has a single class ({labelled.classes[present].tolist()}); "
                "active learning needs at least two classes to train the first model"
            )
        if pool.n < self.batch_size:
            raise InvalidDataError(
                f"the pool has {pool.n} points, fewer than the acquisition batch of "
                f"{self.batch_size}"
            )
        if self.rounds * self.batch_size > pool.n:
            raise InvalidParameterError(
                f"{self.rounds} rounds of {self.batch_size} need {self.rounds * self.batch_size} "
                f"pool points, the pool has {pool.n}; use at most {pool.n // self.batch_size}"
            )
        for what, d in (("pool", pool), ("test", test)):
            if d.n_features != labelled.n_features:
                raise InvalidDataError(
                    f"the {what} has {d.n_features} features, the labelled set "
                    f"{labelled.n_features}"
                )
            if not np.array_equal(np.asarray(d.classes), np.asarray(labelled.classes)):
                raise InvalidDataError(
                    f"the {what} uses another label coding; build it with classes=labelled.classes"
                )
        clash = set(labelled.ids.tolist()) & set(pool.ids.tolist())
        if clash or len(set(pool.ids.tolist())) != pool.n:
            raise InvalidDataError(
                f"pool ids must be unique and distinct from the labelled ids (shared: "
                f"{sorted(clash, key=str)[:5]})"
            )

    def _identity(self, labelled: Dataset, pool: Dataset, test: Dataset) -> str:
        spec = {
            "labelled": labelled.fingerprint(),
            "pool": Dataset.from_arrays(pool.X, np.zeros(pool.n, int), ids=pool.ids).fingerprint(),
            "test": test.fingerprint(),
            "learner": [type(self.learner).__name__, self.learner.get_params()],
            "acquisition": [self.acquisition.name, self.acquisition.get_params()],
            "batch": self.batch_size,
            "seed": self.seed,
            "scorer": self.scorer.name,
        }
        return run_identity(spec)

    # ------------------------------------------------------------------ state
    @property
    def state_path(self) -> Path | None:
        """The checkpoint file, ``state_dir / "state.npz"`` (None without a state_dir)."""
        return None if self.state_dir is None else self.state_dir / "state.npz"

    def _load(self, ident: str) -> dict[str, Any] | None:
        if self.state_path is None:
            return None
        ckpt = read_checkpoint(
            self.state_path, kind=CHECKPOINT_KIND, identity=ident, restart=self.restart
        )
        if ckpt is None:
            return None
        try:
            return {
                "identity": ident,
                "acquired": ckpt["acquired"].tolist(),
                "labels": ckpt["labels"].tolist(),
                "curve": list(ckpt.header["curve"]),
            }
        except KeyError as exc:
            raise corrupt("checkpoint", self.state_path, f"lacks {exc}", RESTART_HINT) from exc

    def _save(self, state: dict[str, Any]) -> None:
        if self.state_path is not None:
            shape = (len(state["acquired"]), self.batch_size)
            write_checkpoint(
                self.state_path,
                kind=CHECKPOINT_KIND,
                identity=state["identity"],
                arrays={
                    "acquired": np.asarray(state["acquired"], np.int64).reshape(shape),
                    "labels": np.asarray(state["labels"], np.int64).reshape(shape),
                },
                header={"curve": state["curve"]},
            )

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        labelled: Dataset,
        pool: Dataset,
        test: Dataset,
        *,
        oracle: Oracle | None = None,
        valid: Dataset | None = None,
    ) -> ActiveLearningResult:
        """Run (or resume) the loop; ``pool``'s labels are used only by the default oracle."""
        self._check(labelled, pool, test)
        oracle = oracle or hidden_label_oracle(pool)
        ident = self._identity(labelled, pool, test)
        state = self._load(ident) or {"identity": ident, "acquired": [], "labels": [], "curve": []}
        taken = [np.asarray(a, np.int64) for a in state["acquired"]]
        current = labelled
        for pos, codes in zip(taken, state["labels"], strict=True):
            current = _concat(current, pool.X[pos], np.asarray(codes, np.int64), pool.ids[pos])
        remaining = np.setdiff1d(np.arange(pool.n), np.concatenate([np.zeros(0, np.int64), *taken]))
        if state["curve"]:
            log.info("active learning: resumed after round %d", len(state["curve"]) - 1)
        bar = progress_bar(
            self.rounds + 1, self.acquisition.name, self.progress, "round", len(state["curve"])
        )
        test_X = torch.tensor(
            np.asarray(test.X), dtype=self.learner.dtype, device=self.learner.device
        )
        test_y = torch.tensor(np.asarray(test.y), device=self.learner.device)
        for r in range(len(state["curve"]), self.rounds + 1):
            t0 = time.perf_counter()
            data = self.learner.prepare(current)
            ones = torch.ones(1, current.n, dtype=self.learner.dtype, device=data.X.device)
            fitted = self.learner.fit(data, ones)
            score = float(self.scorer(fitted.predict_proba(test_X), test_y)[0])
            t1 = time.perf_counter()
            row = {"round": r, "n_labelled": current.n, "score": score, "fit_seconds": t1 - t0}
            if r < self.rounds:
                ctx = PoolState(
                    self.learner, fitted, current, pool.X[remaining], valid, task_rng(self.seed, r)
                )
                pick = remaining[self.acquisition.select(ctx, self.batch_size)]
                labels = np.asarray(oracle(pool.ids[pick]))
                codes, _ = encode_labels(labels, current.classes, what="oracle labels")
                current = _concat(current, pool.X[pick], codes, pool.ids[pick])
                remaining = np.setdiff1d(remaining, pick)
                state["acquired"].append(pick.tolist())
                state["labels"].append(codes.tolist())
            row["acquire_seconds"] = time.perf_counter() - t1
            state["curve"].append(row)
            self._save(state)
            bar.update(1)
        bar.close()
        curve = pd.DataFrame(state["curve"][: self.rounds + 1])
        acquired = [pool.ids[np.asarray(a, np.int64)] for a in state["acquired"][: self.rounds]]
        return ActiveLearningResult(curve, acquired, current)


def plot_learning_curves(curves: dict[str, pd.DataFrame], title: str | None = None) -> Any:
    """Test score against labelled-set size, one line per acquisition function."""
    from assay.plotting import new_figure

    fig = new_figure()
    ax = fig.add_subplot()
    for name, df in curves.items():
        ax.plot(df["n_labelled"], df["score"], marker="o", label=name)
    ax.set_xlabel("labelled points")
    ax.set_ylabel("test score")
    ax.set_title(title or "Active learning (Algorithm 4)")
    ax.legend()
    return fig
