"""Selection recipes: a training subset for a budget, by name, as ``assay select`` chooses it.

:func:`load_selection_data` builds the pool, the validation set and the pool's embeddings (from
a ``.npy`` file aligned by row id, a text column, or the features); :func:`subset_by_method`
turns a :class:`SelectionTask` and a method name into a :class:`~assay.select.budget.Subset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.select.budget import Subset

#: selectors that are not valuation methods
SELECTORS = ("sensitivity", "uniform")


@dataclass
class SelectionTask:
    """What every selector needs: the pool (train), held-out data, embeddings of the pool.

    Attributes
    ----------
    train, valid : Dataset
        The pool to choose from and the validation set of valuation-based methods.
    embeddings : ndarray of shape (train.n, e)
        One row per pool row (geometry scores, clustering).
    learner : BatchLearner
        The model the subset trains (and the loss oracle of sensitivity sampling).
    seed : int
        Seed of every random choice.
    """

    train: Any
    valid: Any
    embeddings: NDArray[Any]
    learner: Any
    seed: int = 0


@dataclass(frozen=True)
class WarmStart:
    """The loss oracle of sensitivity sampling: a model trained on a uniform sample.

    Attributes
    ----------
    positions : ndarray of int
        The training positions the model was trained on.
    model : FittedModels
        The fitted model (one of the learner's batch).
    data : TrainingData
        The training set as the learner's tensors (the oracle scores its rows).
    train : Dataset
        The training set.
    """

    positions: NDArray[np.int64]
    model: Any
    data: Any
    train: Any

    def oracle(self) -> Any:
        """The loss oracle: the model's loss at given training positions."""
        from assay.valuation.inference import loss_oracle

        return loss_oracle(self.model, self.data.X, self.data.y)


def oracle_warm_start(learner: Any, train: Any, size: int, *, seed: int = 0) -> WarmStart:
    """Train the loss oracle on ``size`` uniformly drawn points of ``train`` (the paper's
    protocol, §5.2.2: 20% of the budget; ``size = n`` trains on everything).

    Raises
    ------
    InvalidParameterError
        ``size`` outside ``[1, n]`` or a sample of one class.
    """
    from assay.valuation.inference import warm_start

    data = learner.prepare(train)
    pos, fitted = warm_start(learner, data, max(size, 2), seed=seed)
    return WarmStart(pos, fitted, data, train)


def sensitivity_sample(
    warm: WarmStart,
    embeddings: NDArray[Any],
    budget: int,
    *,
    clusters: int | None = None,
    lam: float | str = "auto",
    keep: bool = True,
    by_label: bool = True,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> Any:
    """Sensitivity sampling (Algorithm 1) of ``budget`` points with ``warm``'s loss oracle.

    Parameters
    ----------
    warm : WarmStart
        The oracle (:func:`oracle_warm_start`).
    embeddings : ndarray of shape (n, d)
        One row per training point.
    budget : int
        Points to draw.
    clusters : int, optional
        Representatives (default 20% of the budget, the paper's k'').
    lam : float or {"auto", "estimate"}
        The sensitivity lambda.
    keep : bool
        Keep the warm-start points in the sample with weight 1.
    by_label : bool
        Cluster within each label (the loss depends on the label).
    seed : int
        Seed of the clustering and the draws.
    params : dict, optional
        Other :class:`~assay.select.sensitivity.SensitivitySampler` parameters.

    Returns
    -------
    SensitiveSample
        Positions, ids, weights and probabilities (``to_subset()`` gives a :class:`Subset`).
    """
    from assay.select.sensitivity import SensitivitySampler

    k = clusters or max(1, round(0.2 * budget))
    sampler = SensitivitySampler(k, budget=budget, lam=lam, seed=seed, **(params or {}))
    return sampler.fit(
        embeddings,
        warm.oracle(),
        ids=warm.train.ids,
        keep=warm.positions if keep else None,
        groups=warm.train.y if by_label else None,
    )


def subset_by_method(
    task: SelectionTask,
    method: str,
    budget: float,
    *,
    clusters: int | None = None,
    lam: float | str = "auto",
    warm_start: float = 0.2,
    strategy: str = "top",
    balance: str | None = None,
    by_label: bool = True,
    params: dict[str, Any] | None = None,
) -> Subset:
    """The subset chosen by ``method`` for ``budget`` points of ``task.train``.

    ``uniform`` draws ``budget`` points uniformly; ``sensitivity`` trains the loss oracle on a
    uniform warm-start sample of ``warm_start`` x budget points (kept in the subset with weight
    1; 0 trains it on the whole pool) and uses ``clusters`` clusters (default 20% of the budget,
    the paper's k''), formed within each label when ``by_label`` (the loss depends on the
    label). Other names are
    valuation methods: their values become a subset by ``strategy`` (top / bottom / sample),
    optionally ``balance``-d by class or by k-means cluster.

    Parameters
    ----------
    task : SelectionTask
        Pool, validation set, embeddings, learner and seed.
    method : str
        ``sensitivity``, ``uniform`` or a registered valuation method name.
    budget : float
        Points to choose, or a fraction of the pool in (0, 1).
    clusters, lam, warm_start, by_label
        Sensitivity sampling's clusters, lambda, warm-start share and per-label clustering.
    strategy, balance
        How a valuation method's values become a subset (:func:`select_subset`).
    params : dict, optional
        Extra parameters of the sampler or the valuation method.

    Returns
    -------
    Subset
        Positions, ids and weights of the chosen points.
    """
    from assay.clustering import kmeans
    from assay.select.budget import budget_count, select_subset, uniform_subset
    from assay.utility import Utility
    from assay.valuation import make_method

    train = task.train
    m = budget_count(budget, train.n)
    if clusters is not None and clusters < 1:
        raise InvalidParameterError(f"clusters must be a positive integer, got {clusters}")
    k = clusters or max(1, round(0.2 * m))
    if method == "uniform":
        return uniform_subset(train.n, m, seed=task.seed, ids=train.ids)
    if method == "sensitivity":
        if not 0 <= warm_start < 1:
            raise InvalidParameterError(f"--warm-start must lie in [0, 1), got {warm_start}")
        size = round(warm_start * m) if warm_start > 0 else 0
        if k + size > m:
            raise InvalidParameterError(
                f"budget {m} is smaller than the {k} cluster representatives plus the "
                f"{size} warm-start points it keeps; use fewer clusters"
            )
        whole = warm_start == 0  # 0 trains the oracle on the whole pool and keeps none of it
        warm = oracle_warm_start(task.learner, train, train.n if whole else size, seed=task.seed)
        sample = sensitivity_sample(
            warm,
            task.embeddings,
            m,
            clusters=k,
            lam=lam,
            keep=not whole,
            by_label=by_label,
            seed=task.seed,
            params=params,
        )
        subset = sample.to_subset()
        subset.params.update({"warm_start": 0 if whole else len(warm.positions), "clusters": k})
        return subset
    extra = dict(params or {})
    if method in ("kcenter", "representative", "nearest-distance"):
        extra.setdefault("embeddings", task.embeddings)
        extra.setdefault("seed", task.seed)
        if method == "kcenter":
            extra.setdefault("k", m)
    valuation = make_method(method, **extra)
    result = valuation.fit(Utility(task.learner, train, task.valid))
    groups = None
    if balance == "class":
        groups = np.asarray(train.y)
    elif balance == "cluster":
        groups = kmeans(task.embeddings, min(k, train.n), seed=task.seed).labels
    return select_subset(
        result, m, strategy=strategy, balance=balance, groups=groups, seed=task.seed
    )


def load_selection_data(
    data: str,
    target: str | None,
    valid: str | None,
    valid_fraction: float,
    seed: int,
    id_column: str | None,
    embeddings: Path | None,
    text_column: str | None,
    cache_dir: str | None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> tuple[Any, Any, NDArray[Any]]:
    """The pool, validation set and one embedding row per pool row, aligned by row id.

    Parameters
    ----------
    data : str
        A CSV / Parquet file or a bundled dataset name.
    target : str, optional
        Label column.
    valid : str, optional
        Validation file (default: a seeded ``valid_fraction`` split of ``data``).
    valid_fraction : float
        Share of ``data`` held out for validation.
    seed : int
        Seed of the split.
    id_column : str, optional
        Column of row ids (embedding rows are matched to pool rows through it).
    embeddings : Path, optional
        ``.npy`` embeddings, one row per row of ``data`` in file order; default: the features.
    text_column : str, optional
        Embed this text column with all-MiniLM-L6-v2 instead (needs a file and ``target``).
    cache_dir : str, optional
        Embedding cache directory.
    drop, categorical : sequence of str
        Columns never used as features / one-hot encoded whatever their type (data files).

    Returns
    -------
    tuple
        ``(train, valid, E)``: the pool and validation :class:`~assay.data.Dataset` and the
        float32 embeddings of the pool's rows, in the pool's order.

    Raises
    ------
    InvalidParameterError
        If both ``embeddings`` and ``text_column`` are given, or ``text_column`` lacks a file
        or ``target``.
    InvalidDataError
        If a column or the embeddings file is missing or the embeddings have the wrong rows.
    """
    from assay.data import Dataset, read_frame, split_dataset
    from assay.data.task import TaskSpec, build_task
    from assay.embed import check_embeddings, embed_text

    if embeddings is not None and text_column is not None:
        raise InvalidParameterError("give --embeddings or --text-column, not both")
    if text_column is not None:
        if target is None or not Path(data).exists():
            raise InvalidParameterError("--text-column needs a data file and --target")
        df = read_frame(data)
        for col in (text_column, target):
            if col not in df.columns:
                raise InvalidDataError(f"column {col!r} not found; columns: {list(df.columns)}")
        E_all = embed_text(df[text_column].tolist(), cache_dir=cache_dir, progress=True)
        ids = df[id_column].to_numpy() if id_column else None
        full = Dataset.from_arrays(E_all, df[target].to_numpy(), ids=ids, name=Path(data).stem)
        split = split_dataset(
            full, (1 - valid_fraction, valid_fraction, 0.0), seed=seed, scale=False
        )
        return split.train, split.valid, split.train.X.astype(np.float32)
    task = build_task(
        TaskSpec(
            data,
            target,
            valid,
            None,
            valid_fraction,
            0.0,
            seed,
            id_column=id_column,
            drop=tuple(drop),
            categorical=tuple(categorical),
        )
    )
    train = task.train
    if embeddings is None:
        return train, task.valid, train.X.astype(np.float32)
    if not embeddings.exists():
        raise InvalidDataError(f"embeddings file not found: {str(embeddings)!r}")
    E_all = np.load(embeddings, allow_pickle=False)
    if id_column is not None:
        order = read_frame(data)[id_column].tolist()
    elif Path(data).exists():
        order = list(range(len(read_frame(data))))
    else:  # a bundled dataset: ids are row positions of the whole set
        order = list(range(train.n + task.valid.n + (task.test.n if task.test else 0)))
    E_all = check_embeddings(E_all, n_rows=len(order))
    lookup = {v: i for i, v in enumerate(order)}
    rows = np.array([lookup[v] for v in train.ids.tolist()], np.int64)
    return train, task.valid, E_all[rows]


def selection_task(
    data: str,
    target: str | None,
    *,
    learner: str = "logistic",
    learner_params: dict[str, Any] | None = None,
    valid: str | None = None,
    valid_fraction: float = 0.2,
    seed: int = 0,
    id_column: str | None = None,
    embeddings: Path | None = None,
    text_column: str | None = None,
    cache_dir: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> SelectionTask:
    """The :class:`SelectionTask` of ``assay select``: :func:`load_selection_data` plus the
    learner built from its name and parameters (:func:`assay.learners.make_learner`)."""
    from assay.learners import make_learner

    train, valid_ds, E = load_selection_data(
        data,
        target,
        valid,
        valid_fraction,
        seed,
        id_column,
        embeddings,
        text_column,
        cache_dir,
        drop,
        categorical,
    )
    return SelectionTask(train, valid_ds, E, make_learner(learner, **(learner_params or {})), seed)
