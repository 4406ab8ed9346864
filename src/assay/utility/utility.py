"""``Utility``: U(S) = score on held-out data of a model trained on subset S, for many S at once.

The one place where assay retrains. A batch of subsets (a (B, n) 0/1 matrix, or non-negative
sample weights) is deduplicated, looked up in the cache, cut into chunks the learner trains as one
tensor program each, spread with joblib when a backend is configured, and scored.

Untrainable subsets (empty, or fewer than two classes) are never passed to the learner: they get
``default_score`` (the scorer's ``empty_value`` unless given), or with ``single_class="constant"``
a one-class subset predicts its class everywhere and is scored like any model.

Regression (a :attr:`~assay.data.Dataset.is_regression` training set, a regressor such as
``ridge`` and a regression scorer, ``r2`` by default): models ``predict`` values, and an empty
subset scores as the constant prediction of the training targets' mean unless ``default_score``
is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset, regression_hint
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners.base import BatchLearner, FittedModels, State, TrainingData
from assay.learners.registry import make_learner
from assay.parallel import chunked, map_tasks
from assay.runs import digest, run_identity
from assay.utility.cache import UtilityCache, subset_keys
from assay.utility.scorers import Scorer, default_scorer, make_scorer

Tensor = torch.Tensor
Truncation = Callable[[int, NDArray[np.float64]], NDArray[np.bool_]]


def check_train_valid(train: Dataset, valid: Dataset) -> None:
    """Raise a clear error unless ``train`` and ``valid`` can be used together."""
    for what, d in (("training data", train), ("validation data", valid)):
        if not isinstance(d, Dataset):
            raise InvalidDataError(
                f"{what} must be an assay Dataset (Dataset.from_arrays / read_table), "
                f"got {type(d).__name__}"
            )
    if train.n == 0 or valid.n == 0:
        raise InvalidDataError(f"empty data: train has {train.n} rows, validation {valid.n}")
    if train.n_features != valid.n_features:
        raise InvalidDataError(
            f"shape mismatch: train has {train.n_features} features, validation {valid.n_features}"
        )
    if train.is_regression or valid.is_regression:
        if train.task != valid.task:
            raise InvalidDataError(
                f"train is a {train.task} set but validation a {valid.task} set; build both "
                "with the same task"
            )
        return
    if not np.array_equal(np.asarray(train.classes), np.asarray(valid.classes)):
        raise InvalidDataError(
            "train and validation use different label codings "
            f"({train.classes.tolist()[:10]} vs {valid.classes.tolist()[:10]}); build the "
            "validation set with classes=train.classes"
        )
    present = np.flatnonzero(train.class_counts() > 0)
    if len(present) < 2:
        raise InvalidDataError(
            f"training data has a single class ({train.classes[present].tolist()}); "
            "valuation needs at least two"
        )
    unseen = sorted(set(np.unique(valid.y).tolist()) - set(present.tolist()))
    if unseen:
        raise InvalidDataError(
            "validation has labels the training data never has: "
            f"{train.classes[unseen].tolist()[:20]}{regression_hint(train.classes)}"
        )


def check_task_parts(learner: BatchLearner, scorer: Scorer, train: Dataset, valid: Dataset) -> None:
    """Raise a clear error unless learner, scorer and data are all classification or regression."""
    task = train.task
    if learner.task != task:
        if task == "regression":
            raise InvalidDataError(
                f"the target is continuous (regression) but learner {learner.name!r} is a "
                "classifier: use a regressor (--learner ridge)"
            )
        raise InvalidDataError(
            f"learner {learner.name!r} is a regressor but the target has classes "
            f"({train.classes.tolist()[:10]}); build the data with task='regression' "
            "(a numeric target) or use a classifier"
        )
    if scorer.task != task:
        wanted = (
            "r2 or neg_mse" if task == "regression" else "accuracy, log_likelihood or confidence"
        )
        raise InvalidParameterError(
            f"scorer {scorer.name!r} is for {scorer.task} but the task is {task}: use {wanted}"
        )
    if task == "regression" and scorer.name == "r2" and np.ptp(valid.y) == 0:
        raise InvalidDataError(
            f"r2 needs validation targets that vary; all {valid.n} equal {valid.y[0]!r} "
            "(use neg_mse)"
        )


class Utility:
    """Score of a model trained on a subset of ``train``, evaluated on ``valid``.

    Parameters
    ----------
    learner : BatchLearner or str
        What to train (a name is passed to :func:`assay.learners.make_learner`).
    train, valid : Dataset
        The players are the rows of ``train``; scores are computed on ``valid``.
    scorer : str or Scorer, optional
        ``accuracy`` (the default), ``log_likelihood`` or ``confidence`` (per validation point);
        for regression ``r2`` (the default) or ``neg_mse``.
    default_score : float, optional
        Score of untrainable subsets; defaults to the scorer's ``empty_value``.
    single_class : {"default", "constant"}
        One-class subsets get ``default_score``, or predict their class everywhere.
    cache_dir : path, optional
        Persist every evaluated subset's score under ``cache_dir/<key>``; a rerun (after a crash)
        reads them back instead of retraining.
    batch_size : int, optional
        Models per tensor program (defaults to the learner's hint).
    n_jobs : int, optional
        Chunks run through joblib under the active ``parallel_config`` when set.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.data import load_dataset
    >>> train, valid, _ = load_dataset("breast_cancer")
    >>> u = Utility("logistic", train, valid)
    >>> u(np.ones((1, train.n), bool)).round(3)
    array([0.982])
    """

    def __init__(
        self,
        learner: BatchLearner | str,
        train: Dataset,
        valid: Dataset,
        scorer: str | Scorer | None = None,
        *,
        default_score: float | None = None,
        single_class: str = "default",
        cache_dir: str | None = None,
        batch_size: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        check_train_valid(train, valid)
        if single_class not in ("default", "constant"):
            raise InvalidParameterError(
                f"single_class must be 'default' or 'constant', got {single_class!r}"
            )
        if batch_size is not None and batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
        self.learner = make_learner(learner)
        self.train, self.valid = train, valid
        self.scorer = make_scorer(default_scorer(train.task) if scorer is None else scorer)
        check_task_parts(self.learner, self.scorer, train, valid)
        self.default_score = (
            float(default_score)
            if default_score is not None
            else self._mean_score()
            if train.is_regression
            else self.scorer.empty_value(train.n_classes)
        )
        self.single_class = single_class
        self.n_jobs = n_jobs
        self._train = self.learner.prepare(train)
        self._valid = self.learner.prepare(valid)
        self.batch_size = batch_size or self.learner.batch_size_hint(self._train)
        self.cache = UtilityCache(None if cache_dir is None else f"{cache_dir}/{self.key}")
        # warm-started prefix scores depend on the order of the prefix (and the truncation), not
        # only on the subset: they get their own keys, by permutation, in a folder of their own
        self.prefix_cache = (
            None if cache_dir is None else UtilityCache(f"{cache_dir}/{self.key}/prefix")
        )

    def _mean_score(self) -> float:
        """Score of predicting the training targets' mean everywhere (regression's empty set)."""
        y = torch.tensor(np.array(self.valid.y), dtype=torch.float64)
        pred = torch.full((1, self.valid.n), float(np.mean(self.train.y)), dtype=torch.float64)
        return float(self.scorer(pred, y).reshape(-1)[0]) if not self.scorer.per_point else 0.0

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"`` (the training data's)."""
        return self.train.task

    # ----------------------------------------------------------------- identity
    @property
    def n_players(self) -> int:
        return self.train.n

    @property
    def key(self) -> str:
        """Hash of data, learner (class and parameters), scorer and untrainable-subset policy."""
        spec = {
            "train": self.train.fingerprint(),
            "valid": self.valid.fingerprint(),
            "learner": type(self.learner).__qualname__,
            "params": self.learner.get_params(),
            "scorer": self.scorer.name,
            "default": self.default_score,
            "single": self.single_class,
        }
        return run_identity(spec)

    @property
    def score_shape(self) -> tuple[int, ...]:
        return (self.valid.n,) if self.scorer.per_point else ()

    def describe(self) -> dict[str, Any]:
        """Learner, scorer and data facts for run metadata."""
        return {
            "learner": type(self.learner).__name__,
            "learner_params": self.learner.get_params(),
            "scorer": self.scorer.name,
            "default_score": self.default_score,
            "n_train": self.train.n,
            "n_valid": self.valid.n,
        }

    # ----------------------------------------------------------------- evaluation
    def __call__(self, subsets: ArrayLike) -> NDArray[np.float64]:
        """Scores of subsets: (B, n) masks or weights -> (B,) (or (B, m) for per-point scorers).

        A single (n,) mask gives a single score.
        """
        W = self._check_weights(subsets)
        single = W.ndim == 1
        W = np.atleast_2d(W)
        keys = subset_keys(W)
        out = np.empty((W.shape[0], *self.score_shape))
        todo: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            hit = self.cache.get(k)
            if hit is not None:
                out[i] = hit
            elif k not in todo:
                todo[k] = i
        if todo:
            rows = np.fromiter(todo.values(), np.int64, len(todo))
            fresh = self._evaluate_new(W[rows], [keys[r] for r in rows])
            for k, s in zip(todo, fresh, strict=True):
                self.cache.memory[k] = s
            for i, k in enumerate(keys):
                if k in todo:
                    out[i] = self.cache.memory[k]
        return out[0] if single else out

    def _check_weights(self, subsets: ArrayLike) -> NDArray[np.float64]:
        W = np.asarray(subsets)
        if W.shape[-1:] != (self.n_players,) or W.ndim > 2:
            raise InvalidDataError(
                f"subsets must have shape (B, {self.n_players}) or ({self.n_players},), "
                f"got {W.shape}"
            )
        W = W.astype(np.float64)
        if not np.isfinite(W).all() or (W < 0).any():
            raise InvalidDataError("subset weights must be finite and non-negative")
        return W

    def _evaluate_new(self, W: NDArray[np.float64], keys: list[bytes]) -> NDArray[np.float64]:
        pieces = chunked(W.shape[0], self.batch_size)
        results = map_tasks(self._evaluate_chunk, [W[s] for s in pieces], n_jobs=self.n_jobs)
        for s, res in zip(pieces, results, strict=True):
            self.cache.put_many(keys[s], res)
        return np.concatenate(results) if results else np.empty((0, *self.score_shape))

    def _evaluate_chunk(self, W: NDArray[np.float64]) -> NDArray[np.float64]:
        weights = torch.as_tensor(W, dtype=self._train.X.dtype, device=self._train.X.device)
        fitted = self.learner.fit(self._train, weights)
        return self.score_models(fitted)

    # ----------------------------------------------------------------- models
    def fit(self, weights: ArrayLike, init: State | None = None) -> FittedModels:
        """Train one model per row of ``weights`` (no caching); for methods that need the models."""
        W = np.atleast_2d(self._check_weights(weights))
        t = torch.as_tensor(W, dtype=self._train.X.dtype, device=self._train.X.device)
        return self.learner.fit(self._train, t, init)

    @property
    def train_data(self) -> TrainingData:
        """The training set as the learner's tensors."""
        return self._train

    def score_models(
        self, fitted: FittedModels, X: Tensor | None = None, y: Tensor | None = None
    ) -> NDArray[np.float64]:
        """Scores of fitted models on ``valid`` (or ``X``, ``y``), with the untrainable policy."""
        X = self._valid.X if X is None else X
        y = self._valid.y if y is None else y
        if self.train.is_regression:
            pred = fitted.predict(X)
            scores = self.scorer(pred, y).to(torch.float64)
            done = fitted.trained.to(scores.device).view(-1, *([1] * (scores.dim() - 1)))
            return torch.where(done, scores, self.default_score).cpu().numpy()
        proba = fitted.predict_proba(X)
        trained = fitted.trained.to(proba.device)
        n_present = fitted.present.sum(1).to(proba.device)
        if self.single_class == "constant":
            one = (~trained) & (n_present == 1)
            if bool(one.any()):
                proba = proba.clone()
                proba[one] = (
                    fitted.present[one].to(proba.dtype)[:, None, :].expand(-1, X.shape[0], -1)
                )
                trained = trained | one
        scores = self.scorer(proba, y).to(torch.float64)
        fill = torch.full_like(scores, self.default_score)
        mask = trained.view(-1, *([1] * (scores.dim() - 1)))
        return torch.where(mask, scores, fill).cpu().numpy()

    # ----------------------------------------------------------------- permutations
    def permutation_scores(
        self,
        permutations: NDArray[np.int64],
        *,
        truncation: Truncation | None = None,
        warm_start: bool = True,
    ) -> NDArray[np.float64]:
        """U of every prefix of every permutation: (B, n) -> (B, n + 1), column 0 the empty set.

        All B permutations advance together: step t trains the B models on the first t points,
        each warm-started from its own model of step t - 1 (when that one was trainable).
        ``truncation(t, scores)`` may stop permutations; a stopped permutation keeps its last score
        for the remaining prefixes (its remaining marginal contributions are zero).
        With ``cache_dir``, each permutation's row of scores is stored under a key of the
        permutation, the truncation rule (its ``describe()``) and ``warm_start``, so a rerun
        reads the permutations it already trained instead of training them again.
        """
        if self.scorer.per_point:
            raise InvalidParameterError("permutation_scores needs a scalar scorer")
        perms = np.asarray(permutations, dtype=np.int64)
        B, n = perms.shape
        if n != self.n_players:
            raise InvalidDataError(f"permutations must have {self.n_players} columns, got {n}")
        keys = self._permutation_keys(perms, truncation, warm_start)
        if keys is None or self.prefix_cache is None:
            return self._train_prefixes(perms, truncation, warm_start)
        scores = np.empty((B, n + 1))
        todo = []
        for i, k in enumerate(keys):
            hit = self.prefix_cache.get(k)
            if hit is None:
                todo.append(i)
            else:
                scores[i] = hit
        if todo:
            fresh = self._train_prefixes(perms[todo], truncation, warm_start)
            scores[todo] = fresh
            self.prefix_cache.put_many([keys[i] for i in todo], fresh)
        return scores

    def _permutation_keys(
        self, perms: NDArray[np.int64], truncation: Truncation | None, warm_start: bool
    ) -> list[bytes] | None:
        """One cache key per permutation, or None when the truncation rule cannot be described."""
        rule = None
        if truncation is not None:
            describe = getattr(truncation, "describe", None)
            if describe is None:
                return None
            rule = describe()
        head = json.dumps({"rule": rule, "warm": warm_start}, sort_keys=True).encode()
        return [digest(b"p" + head + row.tobytes()) for row in np.ascontiguousarray(perms)]

    def _train_prefixes(
        self, perms: NDArray[np.int64], truncation: Truncation | None, warm_start: bool
    ) -> NDArray[np.float64]:
        """:meth:`permutation_scores` without the cache: train every prefix in lock-step."""
        B, n = perms.shape
        scores = np.empty((B, n + 1))
        scores[:, 0] = self.default_score
        dev, dt = self._train.X.device, self._train.X.dtype
        W = torch.zeros((B, n), dtype=dt, device=dev)
        perms_t = torch.as_tensor(perms, device=dev)
        active = torch.arange(B, device=dev)
        state: State | None = None
        warm_ok = torch.zeros(B, dtype=torch.bool, device=dev)
        use_warm = warm_start and self.learner.supports_warm_start
        for t in range(1, n + 1):
            W[active, perms_t[active, t - 1]] = 1.0
            init = None
            if use_warm and state is not None:
                init = self.learner.initial_state(self._train, len(active))
                assert init is not None
                for k in init:  # warm rows continue, the others start cold
                    rows = warm_ok.view(-1, *([1] * (init[k].dim() - 1)))
                    init[k] = torch.where(rows, state[k], init[k])
            fitted = self.learner.fit(self._train, W[active], init)
            s = self.score_models(fitted)
            act = active.cpu().numpy()
            scores[act, t] = s
            state, warm_ok = fitted.state(), fitted.trained.to(dev)
            if truncation is not None and t < n:
                stop = torch.as_tensor(truncation(t, s), device=dev)
                if bool(stop.any()):
                    stopped = act[stop.cpu().numpy()]
                    scores[stopped, t + 1 :] = scores[stopped, t][:, None]
                    keep = ~stop
                    active, warm_ok = active[keep], warm_ok[keep]
                    if state is not None:
                        state = {k: v[keep] for k, v in state.items()}
            if active.numel() == 0:
                break
        return scores
