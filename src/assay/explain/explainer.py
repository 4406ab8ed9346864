"""``FastDataShapley``: train an explainer that values every training point for any new prediction.

Four variants of Sun et al. (2025), one class:

====== ============================================= ==========================================
variant utility                                      players of the kernel sampler
====== ============================================= ==========================================
fds     v_{x,y}: sub-models trained like the service  the n training points
afds    v_{x,y,K}: K epochs at beta x the service lr  the n training points
gfds    v_{x,y,K}                                      points of a focus group + the other groups
gfds+   v_{x,y,K}                                      the N groups (values shared evenly)
====== ============================================= ==========================================

The paper uses the K-epoch utility for GFDS (Algorithm 1) and GFDS+ (Eq. 6), with K = 10 and
beta = 10, and groups by label (N = |Y| = 10) in its experiments.

Where the paper and the authors' code (``shf2020/Fast_DataShapley``) differ, we follow the paper:

- the utility is the probability of label y (Eq. 2); the code regresses the whole softmax vector.
  We regress every label's column at once, which is Eq. 3's expectation over the uniform y;
- AFDS takes the model after the K-th epoch (Eq. 4); the code averages epochs 1..K;
- subsets are paired (s and its complement, FastSHAP); the code draws one coalition per
  mini-batch, so its pairing has no effect;
- one optimiser step per mini-batch (FastSHAP, and the code's GFDS); the code's FDS and GFDS+
  take one step per epoch;
- GFDS+ values are shared evenly within groups exactly (the limit gamma -> inf of Eq. 6's
  penalty): the network outputs one value per group, so its head is N x K wide, not n x K, and
  GFDS+ scales to tens of thousands of points (see :mod:`assay.explain.training`).

Where both are silent: v(0) is the untrained, seeded network (the code's null model); one-class
subsets predict their class; the explainer's inputs and the evaluated predictions are disjoint
(the code's overlap). Sub-model utilities come from a fixed, reused pool of subsets (see
:mod:`assay.explain.pool`) rather than fresh subsets per step.

Pipeline of :meth:`FastDataShapley.fit`: train the service model; draw the subset pool from the
variant's sampler (:mod:`assay.explain.sampling`); train every pool sub-model once and evaluate it
at all explainer inputs (:mod:`assay.explain.pool`, cached on disk and resumable); fit the
network on Eq. 3 (Eq. 6 for GFDS+) with additive efficient normalisation
(:mod:`assay.explain.training`, checkpointed and resumable); return a :class:`DataExplainer`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.explain.game import PredictionUtility, as_features, k_epoch_learner
from assay.explain.grouping import make_grouping
from assay.explain.model import DataExplainer
from assay.explain.networks import build_explainer, explainer_config
from assay.explain.pool import distinct_rows, make_pool, pool_targets
from assay.explain.sampling import SubsetSampler
from assay.explain.training import Objective, Targets, TrainingConfig, train_explainer
from assay.learners.base import BatchLearner
from assay.learners.registry import make_learner
from assay.parallel import task_rng
from assay.runs import digest, run_identity

VARIANTS = ("fds", "afds", "gfds", "gfds+")
SAMPLER_MODE = {"fds": "points", "afds": "points", "gfds": "owen", "gfds+": "groups"}


class FastDataShapley:
    """Trains a Fast-DataShapley explainer (FDS, AFDS, GFDS or GFDS+).

    Parameters
    ----------
    learner : BatchLearner or str
        The service model's learner (``logistic``, ``mlp``, ``cnn``); sub-models use it too.
    variant : {"fds", "afds", "gfds", "gfds+"}
    utility_epochs : int, None or "auto"
        K of the K-epoch utility; None trains sub-models like the service model (the exact
        utility); ``auto`` is None for ``fds`` and 10 (the paper's K) for the other variants.
    lr_scale : float
        beta: sub-models of the K-epoch utility train at ``lr_scale`` times the service lr.
    grouping : {"label", "kmeans", "clusters", "provider"} or array (n,)
        Grouping function of GFDS / GFDS+ (``kmeans`` clusters the service model's
        probabilities, ``clusters`` the features within each label; see
        :mod:`assay.explain.grouping`).
    n_groups : int
        Clusters of ``kmeans`` and ``clusters``.
    n_subsets : int
        Pool size: sub-models trained (when the player space has at most this many subsets,
        all of them are used, weighted exactly).
    exhaustive : {"auto", "always", "never"}
    explainer : {"auto", "mlp", "cnn"}
        ``auto`` is ``cnn`` when ``image_shape`` is given.
    hidden, channels, image_shape
        Explainer network layers (see :mod:`assay.explain.networks`).
    epochs, lr, batch_size, patience, subsets_per_input
        Optimisation (see :class:`~assay.explain.training.TrainingConfig`).
    valid_fraction : float
        Share of the inputs held out for early stopping when ``valid_inputs`` is not given.
    seed : int
    work_dir : path, optional
        Keeps the pool's utilities (``pool/``) and the training checkpoint
        (``checkpoint.npz``, :func:`assay.runs.write_checkpoint`): a killed ``fit`` rerun with
        the same arguments resumes.
    restart : bool
        Discard a training checkpoint in ``work_dir`` that belongs to another run.
    progress : bool
    num_threads : int, optional
        Torch threads during ``fit`` (restored afterwards); one thread is much faster for small
        explainers on a busy machine. None leaves torch's setting.

    Examples
    --------
    >>> from assay.data import load_dataset
    >>> train, valid, test = load_dataset("breast_cancer", seed=0)
    >>> fds = FastDataShapley("logistic", n_subsets=64, epochs=2)
    >>> explainer = fds.fit(train.subset(range(20)), valid.X)
    >>> explainer.values(test.X[:3]).shape
    (3, 20)
    """

    def __init__(
        self,
        learner: BatchLearner | str = "mlp",
        *,
        variant: str = "fds",
        utility_epochs: int | str | None = "auto",
        lr_scale: float = 10.0,
        grouping: str | ArrayLike = "label",
        n_groups: int = 10,
        n_subsets: int = 2048,
        exhaustive: str = "auto",
        explainer: str = "auto",
        hidden: tuple[int, ...] = (256, 256),
        channels: tuple[int, ...] = (32, 64),
        image_shape: tuple[int, int, int] | None = None,
        epochs: int = 200,
        lr: float = 2e-4,
        batch_size: int = 32,
        patience: int = 20,
        subsets_per_input: int | None = None,
        valid_fraction: float = 0.1,
        seed: int = 0,
        work_dir: str | Path | None = None,
        restart: bool = False,
        progress: bool = False,
        num_threads: int | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise InvalidParameterError(
                f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}"
            )
        if explainer not in ("auto", "mlp", "cnn"):
            raise InvalidParameterError(f"explainer must be auto, mlp or cnn, got {explainer!r}")
        if n_subsets < 2:
            raise InvalidParameterError(f"the subset pool needs >= 2 subsets, got {n_subsets}")
        if not 0 < valid_fraction < 1:
            raise InvalidParameterError(f"valid_fraction must lie in (0, 1), got {valid_fraction}")
        self.learner = learner
        self.variant = variant
        self.utility_epochs = utility_epochs
        self.lr_scale = lr_scale
        self.grouping = grouping
        self.n_groups = n_groups
        self.n_subsets = n_subsets
        self.exhaustive = exhaustive
        self.explainer = explainer
        self.hidden = tuple(hidden)
        self.channels = tuple(channels)
        self.image_shape = image_shape
        self.training = TrainingConfig(
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            patience=patience,
            subsets_per_input=subsets_per_input,
            seed=seed,
        )
        self.valid_fraction = valid_fraction
        self.seed = seed
        self.work_dir = None if work_dir is None else Path(work_dir)
        self.restart = restart
        self.progress = progress
        if num_threads is not None and num_threads < 1:
            raise InvalidParameterError(f"num_threads must be >= 1, got {num_threads}")
        self.num_threads = num_threads

    # ----------------------------------------------------------------- pieces
    def _epochs(self) -> int | None:
        if self.utility_epochs == "auto":
            return None if self.variant == "fds" else 10
        if self.utility_epochs is None or isinstance(self.utility_epochs, int):
            return self.utility_epochs
        raise InvalidParameterError(
            f"utility_epochs must be an int, None or 'auto', got {self.utility_epochs!r}"
        )

    def _split(self, inputs: Any, valid_inputs: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
        X = as_features(inputs, d, "explainer inputs")
        if valid_inputs is not None:
            return X, as_features(valid_inputs, d, "validation inputs")
        if len(X) < 2:
            raise InvalidDataError(f"need at least 2 explainer inputs, got {len(X)}")
        k = max(1, round(self.valid_fraction * len(X)))
        perm = np.random.default_rng(self.seed).permutation(len(X))
        return X[perm[k:]], X[perm[:k]]

    def _groups(self, train: Dataset, service: PredictionUtility) -> np.ndarray | None:
        if self.variant not in ("gfds", "gfds+"):
            return None
        rep = None
        if isinstance(self.grouping, str) and self.grouping == "kmeans":
            rep = service.grand_model().proba(torch.tensor(train.X)).numpy()
        return make_grouping(
            self.grouping, train, n_groups=self.n_groups, representation=rep, seed=self.seed
        )

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        train: Dataset,
        inputs: ArrayLike | Dataset,
        valid_inputs: ArrayLike | Dataset | None = None,
    ) -> DataExplainer:
        """Train the explainer for the service model trained on ``train``.

        Parameters
        ----------
        train : Dataset
            The players: the service model's training points (``groups`` = provider ids).
        inputs : array (m, d) or Dataset
            Inputs x the explainer learns on, from the same distribution as future predictions
            (labels are not needed: every label is regressed).
        valid_inputs : array or Dataset, optional
            Inputs for early stopping (default: ``valid_fraction`` of ``inputs``).
        """
        previous = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            return self._fit(train, inputs, valid_inputs)
        finally:
            torch.set_num_threads(previous)

    def _fit(self, train: Dataset, inputs: Any, valid_inputs: Any) -> DataExplainer:
        start = time.perf_counter()
        service_learner = make_learner(self.learner)
        service = PredictionUtility(service_learner, train)
        K = self._epochs()
        putil = (
            service
            if K is None
            else PredictionUtility(k_epoch_learner(service_learner, K, self.lr_scale), train)
        )
        groups = self._groups(train, service)
        sampler = SubsetSampler(train.n, groups, SAMPLER_MODE[self.variant])
        pool = make_pool(
            sampler, self.n_subsets, task_rng(self.seed, 0), exhaustive=self.exhaustive
        )
        X_in, X_val = self._split(inputs, valid_inputs, train.n_features)
        X_all = np.concatenate([X_in, X_val])
        work = self.work_dir
        proba = pool_targets(
            putil,
            pool,
            X_all,
            cache_dir=None if work is None else work / "pool",
            progress=self.progress,
        )
        Xt = torch.as_tensor(X_all, dtype=torch.float32)
        null, grand = putil.null_model(), putil.grand_model()
        v0 = null.proba(Xt).to(torch.float32)
        v1 = grand.proba(Xt).to(torch.float32)
        gaps = torch.from_numpy(proba).permute(1, 0, 2) - v0[:, None, :]
        m = len(X_in)
        data = Targets(Xt[:m], gaps[:m].contiguous(), (v1 - v0)[:m])
        valid = Targets(Xt[m:], gaps[m:].contiguous(), (v1 - v0)[m:])
        service_model = service.grand_model()
        seconds_utility = time.perf_counter() - start

        kind = (
            self.explainer if self.explainer != "auto" else ("cnn" if self.image_shape else "mlp")
        )
        share = self.variant == "gfds+" and groups is not None
        masks = torch.as_tensor(pool.masks, dtype=torch.float32)
        sizes = None
        if share:
            assert groups is not None
            first = np.unique(groups, return_index=True)[1]  # a member of each group, in order
            masks = masks[:, torch.as_tensor(first)]
            sizes = torch.as_tensor(np.bincount(groups), dtype=torch.float32)
        config = explainer_config(
            kind,
            n_features=train.n_features,
            n_players=masks.shape[1],
            n_classes=train.n_classes,
            hidden=self.hidden,
            channels=self.channels,
            image_shape=self.image_shape,
        )
        net = build_explainer(config, self.seed)
        obj = Objective(
            masks,
            torch.as_tensor(pool.weights, dtype=torch.float32),
            paired=pool.paired,
            sizes=sizes,
        )
        identity = run_identity(
            config,
            self.training.__dict__,
            pool.fingerprint(),
            putil.key,
            list(X_all.shape),
            digest(np.ascontiguousarray(X_all).tobytes()).hex(),
            self.variant,
        )
        history = train_explainer(
            net,
            obj,
            data,
            valid,
            self.training,
            checkpoint=None if work is None else work / "checkpoint.npz",
            identity=identity,
            restart=self.restart,
            progress=self.progress,
        )
        seconds_total = time.perf_counter() - start
        info = {
            "variant": self.variant,
            "utility_epochs": K,
            "lr_scale": self.lr_scale if K is not None else None,
            "grouping": self.grouping if isinstance(self.grouping, str) else "array",
            "n_groups": None if groups is None else int(groups.max()) + 1,
            "pool_size": pool.size,
            "pool_exhaustive": pool.exhaustive,
            "sub_models": len(distinct_rows(pool.masks)[0]) + 1,
            "n_inputs": int(m),
            "n_valid_inputs": len(X_val),
            "seconds_utility": round(seconds_utility, 3),
            "seconds_explainer": round(seconds_total - seconds_utility, 3),
            "seconds_total": round(seconds_total, 3),
            "best_epoch": history["best_epoch"],
            "epochs_run": history["epoch"],
            "stopped": history["stopped"],
            "best_val_loss": history["best_val"],
            "training": history["config"],
        }
        self.history_ = history
        self.explainer_ = DataExplainer(
            net,
            config,
            service_model,
            grand,
            null,
            np.asarray(train.ids),
            np.asarray(train.classes),
            None if train.groups is None else np.asarray(train.groups),
            groups if share else None,
            share,
            info,
        )
        return self.explainer_
