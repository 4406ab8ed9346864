"""The per-prediction game v_{x,y}(S) of Fast-DataShapley, for many inputs and labels at once.

Eq. 2 of the paper: v_{x,y}(s) = softmax(f_{D_s}(x))_y, the probability that the model trained on
the subset D_s of the training data gives label y at x. Everything retrains through
:class:`assay.utility.Utility`:

- :class:`PredictionUtility` trains the models of a batch of subsets once (``Utility.fit``) and
  evaluates each of them at *every* input and for *every* label, giving a (B, m, K) tensor; this
  is how the explainer's training targets are computed (one sub-model serves all inputs).
- :meth:`PredictionUtility.point_game` is v_{x,y} for one prediction as a scalar
  :class:`~assay.utility.Utility` (valid set = the single point (x, y), scorer
  :class:`MeanConfidence`), which every valuation method of :mod:`assay.valuation` accepts,
  including TMC's warm-started prefix training.
- :meth:`PredictionUtility.column_games` gives one :class:`ColumnGame` per prediction over a
  shared per-point Utility (scorer ``"confidence"``): methods run for many predictions then
  reuse each trained subset model for all of them (the utility memoises by subset).

Conventions (the paper's definitions, with the authors' code where the paper is silent):

- v(0): the model trained on no data is the learner's untrained, seeded initialisation; its
  softmax at x (near uniform for networks, exactly 1/K for logistic regression). The authors'
  code does the same ("null model").
- A subset with a single class trains no model; it predicts its class with probability 1
  (``single_class="constant"``), which is what a network trained on one class converges to.
- Networks: :meth:`PredictionUtility.proba` is the softmax of all K outputs (Eq. 2), so a label
  absent from S keeps the small probability the network gives it. assay's ``Utility`` masks
  classes absent from S to probability 0 (scikit-learn's semantics); the baselines' games
  (:class:`PointGame`, :class:`ColumnGame`) go through it, which changes v only on subsets
  without a single point of label y.
- AFDS (Eq. 4): v_{x,y,K}(s) is the prediction after K epochs with the learning rate scaled by
  beta (:func:`k_epoch_learner`). The paper takes the K-th epoch's model; the authors' code
  averages the predictions of epochs 1..K. We follow the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.explain.snapshot import ModelSnapshot, learner_spec, rebuild_learner
from assay.learners.base import BatchLearner
from assay.learners.networks import FittedNetworks, NetworkClassifier
from assay.learners.registry import make_learner
from assay.parallel import chunked
from assay.runs import run_identity
from assay.utility import Utility
from assay.utility.scorers import Scorer

Tensor = torch.Tensor


@dataclass(frozen=True)
class MeanConfidence(Scorer):
    """Mean probability of the true label over the validation points: a scalar score.

    With a single validation point (x, y) this is v_{x,y}(S) of Eq. 2. Untrainable subsets
    score 1/K unless the utility's ``default_score`` says otherwise.
    """

    name: str = "mean_confidence"

    def __call__(self, proba: Tensor, y: Tensor) -> Tensor:
        p = proba.gather(-1, y.expand(proba.shape[0], -1)[..., None])[..., 0]
        return p.mean(-1)

    def empty_value(self, n_classes: int) -> float:
        return 1.0 / n_classes


def k_epoch_learner(learner: BatchLearner, epochs: int, lr_scale: float = 10.0) -> BatchLearner:
    """AFDS's sub-model learner: ``epochs`` (K) epochs at learning rate ``lr_scale * lr`` (beta).

    Only network learners train by epochs; logistic regression is refused.
    """
    if not isinstance(learner, NetworkClassifier):
        raise InvalidParameterError(
            "AFDS needs a network learner trained by epochs (mlp, cnn), "
            f"got {type(learner).__name__}"
        )
    if epochs < 1 or lr_scale <= 0:
        raise InvalidParameterError(
            f"AFDS needs epochs >= 1 and lr_scale > 0, got {epochs}, {lr_scale}"
        )
    spec = learner_spec(learner)
    params = dict(spec["params"])
    params.update(epochs=int(epochs), lr=float(params["lr"]) * float(lr_scale))
    return rebuild_learner({"name": spec["name"], "params": params})


def as_features(
    X: ArrayLike | Dataset, n_features: int, what: str = "inputs"
) -> NDArray[np.float64]:
    """Inputs as a finite (m, d) float array with the training set's d, or a clear error."""
    from assay.data.dataset import check_features

    arr = X.X if isinstance(X, Dataset) else X
    a = check_features(np.atleast_2d(np.asarray(arr, dtype=np.float64)), what)
    if a.shape[1] != n_features:
        raise InvalidDataError(f"{what} have {a.shape[1]} features, the training data {n_features}")
    return a


class PredictionUtility:
    """v_{x,y}(S) of many subsets, at many inputs, for every label.

    Parameters
    ----------
    learner : BatchLearner or str
        The model retrained on subsets (``logistic``, ``mlp`` or ``cnn``).
    train : Dataset
        The players (the service model's training points).
    batch_size : int, optional
        Models per tensor program (defaults to the learner's hint).
    n_jobs : int, optional
        Parallel chunks under the active joblib configuration.
    """

    def __init__(
        self,
        learner: BatchLearner | str,
        train: Dataset,
        *,
        batch_size: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.learner = make_learner(learner)
        learner_spec(self.learner)  # refuses unsupported learners early
        self.train = train
        self.batch_size, self.n_jobs = batch_size, n_jobs
        self.utility = Utility(
            self.learner,
            train,
            train,
            "confidence",
            single_class="constant",
            batch_size=batch_size,
            n_jobs=n_jobs,
        )
        self._null: ModelSnapshot | None = None
        self._grand: ModelSnapshot | None = None

    @property
    def n_players(self) -> int:
        return self.train.n

    @property
    def n_classes(self) -> int:
        return self.train.n_classes

    @property
    def key(self) -> str:
        """Hash of the learner spec and the training data (for caches and checkpoints)."""
        return run_identity(learner_spec(self.learner), self.train.fingerprint())

    def describe(self) -> dict[str, Any]:
        return {"learner": learner_spec(self.learner), "n_train": self.train.n}

    def _inputs(self, X: ArrayLike | Dataset) -> Tensor:
        data = self.utility.train_data
        a = as_features(X, self.train.n_features)
        return torch.tensor(a, dtype=data.X.dtype, device=data.X.device)

    # ----------------------------------------------------------------- v(0), v(1)
    def null_model(self) -> ModelSnapshot:
        """The untrained model whose prediction is v(0)."""
        if self._null is None:
            self._null = ModelSnapshot.initial(self.learner, self.utility.train_data)
        return self._null

    def grand_model(self) -> ModelSnapshot:
        """The model trained on all points, whose prediction is v(1)."""
        if self._grand is None:
            data = self.utility.train_data
            fitted = self.utility.fit(np.ones((1, self.n_players)))
            self._grand = ModelSnapshot.from_fitted(self.learner, fitted, data, 0)
        return self._grand

    # ----------------------------------------------------------------- v(S)
    def proba(self, masks: ArrayLike, X: ArrayLike | Dataset) -> NDArray[np.float32]:
        """softmax(f_{D_s}(x)) of every subset at every input: (B, n) x (m, d) -> (B, m, K).

        Each subset's model is trained once and evaluated at all inputs; empty subsets give the
        null model's prediction, one-class subsets predict their class with probability 1.
        A network's probabilities are the softmax of all its K outputs, as in Eq. 2 (a class
        absent from the subset keeps a small probability); ``Utility`` scores, which the
        per-prediction games of the baselines use, give absent classes probability 0.
        """
        W = np.atleast_2d(np.asarray(masks, dtype=np.float64))
        if W.ndim != 2 or W.shape[1] != self.n_players:
            raise InvalidDataError(
                f"subsets must have shape (B, {self.n_players}), got {np.shape(masks)}"
            )
        Xt = self._inputs(X)
        out = np.empty((W.shape[0], Xt.shape[0], self.n_classes), dtype=np.float32)
        size = self.utility.batch_size
        null = None
        for piece in chunked(W.shape[0], size):
            fitted = self.utility.fit(W[piece])
            if isinstance(fitted, FittedNetworks):  # the network's own softmax over K outputs
                P = torch.softmax(fitted.logits(Xt), dim=-1)
            else:
                P = fitted.predict_proba(Xt)
            one = (~fitted.trained) & (fitted.present.sum(1) == 1)
            if bool(one.any()):
                P[one] = fitted.present[one].to(P.dtype)[:, None, :].expand(-1, Xt.shape[0], -1)
            empty = fitted.present.sum(1) == 0
            if bool(empty.any()):
                null = self.null_model().proba(Xt) if null is None else null
                P[empty] = null.to(P.dtype)
            out[piece] = P.cpu().numpy()
        return out

    def proba_paired(self, masks: ArrayLike, X: ArrayLike | Dataset) -> NDArray[np.float64]:
        """softmax(f_{D_{s_b}}(x_b)): subset b's model at input b only, (B, n) x (B, d) -> (B, K).

        For evaluations that pair each retrained model with its own prediction (value loss).
        """
        W = np.atleast_2d(np.asarray(masks, dtype=np.float64))
        Xt = self._inputs(X)
        if W.shape != (Xt.shape[0], self.n_players):
            raise InvalidDataError(
                f"need one subset per input: masks {W.shape}, inputs {tuple(Xt.shape)}"
            )
        out = np.empty((W.shape[0], self.n_classes))
        for piece in chunked(W.shape[0], self.utility.batch_size):
            P = self.proba(W[piece], Xt[piece].cpu().numpy())  # (b, b, K)
            out[piece] = np.diagonal(P, axis1=0, axis2=1).T
        return out

    def confidence(
        self, masks: ArrayLike, X: ArrayLike | Dataset, y: ArrayLike
    ) -> NDArray[np.float64]:
        """v_{x_j, y_j}(s) for every subset and input: (B, m)."""
        yy = np.asarray(y, dtype=np.int64)
        P = self.proba(masks, X)
        if yy.shape != (P.shape[1],):
            raise InvalidDataError(f"y must have shape ({P.shape[1]},), got {yy.shape}")
        return P[:, np.arange(P.shape[1]), yy].astype(np.float64)

    # ----------------------------------------------------------------- games
    def _points(self, X: ArrayLike | Dataset, y: ArrayLike) -> Dataset:
        a = as_features(X, self.train.n_features)
        yy = np.atleast_1d(np.asarray(y, dtype=np.int64))
        if yy.shape != (a.shape[0],):
            raise InvalidDataError(f"y must have shape ({a.shape[0]},), got {yy.shape}")
        if (yy < 0).any() or (yy >= self.n_classes).any():
            raise InvalidDataError(
                f"label codes must lie in [0, {self.n_classes}), got {yy.tolist()[:10]}"
            )
        return Dataset.from_arrays(a, self.train.classes[yy], classes=self.train.classes)

    def point_game(self, x: ArrayLike, y: int) -> PointGame:
        """v_{x,y} for one prediction over a scalar :class:`Utility` (any valuation method,
        including TMC's warm-started prefix training)."""
        point = self._points(np.atleast_2d(x), [y])
        v0 = float(self.null_model().proba(self._inputs(point.X))[0, int(y)])
        utility = Utility(
            self.learner,
            self.train,
            point,
            MeanConfidence(),
            default_score=v0,
            single_class="constant",
            batch_size=self.batch_size,
            n_jobs=self.n_jobs,
        )
        return PointGame(utility, run_identity(self.key, point.fingerprint(), v0))

    def column_games(self, X: ArrayLike | Dataset, y: ArrayLike) -> list[ColumnGame]:
        """One game per prediction (x_j, y_j), all sharing one memoised per-point utility."""
        points = self._points(X, y)
        shared = Utility(
            self.learner,
            self.train,
            points,
            "confidence",
            single_class="constant",
            batch_size=self.batch_size,
            n_jobs=self.n_jobs,
        )
        null = self.null_model().proba(self._inputs(points.X)).cpu().numpy()
        v0 = null[np.arange(points.n), points.y]
        base = run_identity(self.key, points.fingerprint())
        return [ColumnGame(shared, j, float(v0[j]), f"{base}/{j}") for j in range(points.n)]


class _PredictionGame:
    """A scalar game over a :class:`Utility`'s training points, with a stable cache key."""

    def __init__(self, utility: Utility, key: str, valid: Dataset) -> None:
        self.utility, self._key = utility, key
        self.train, self.valid = utility.train, valid
        self.scorer, self.learner = utility.scorer, utility.learner
        self.single_class = utility.single_class

    @property
    def n_players(self) -> int:
        return self.utility.n_players

    @property
    def key(self) -> str:
        return self._key


class PointGame(_PredictionGame):
    """v_{x,y} of one prediction: a scalar utility (valid set = the point) with a stable key.

    Delegates to the :class:`Utility`; ``permutation_scores`` lets TMC train prefixes warm-started.
    """

    def __init__(self, utility: Utility, key: str) -> None:
        super().__init__(utility, key, utility.valid)

    def __call__(self, subsets: Any) -> NDArray[np.float64]:
        return self.utility(subsets)

    def permutation_scores(
        self, permutations: NDArray[np.int64], **kwargs: Any
    ) -> NDArray[np.float64]:
        return self.utility.permutation_scores(permutations, **kwargs)


class ColumnGame(_PredictionGame):
    """The scalar game of prediction ``j`` of a per-point utility: v_{x_j, y_j}(S).

    The empty subset scores ``v0`` (the null model's prediction). ``valid`` is the single point,
    so class-wise methods (CS-Shapley) see the prediction as their development set.
    """

    def __init__(self, utility: Utility, j: int, v0: float, key: str) -> None:
        if not utility.scorer.per_point:
            raise InvalidParameterError("ColumnGame needs a per-point scorer such as 'confidence'")
        super().__init__(utility, key, utility.valid.subset([int(j)]))
        self.j, self.v0 = int(j), float(v0)

    def __call__(self, subsets: Any) -> NDArray[np.float64]:
        S = np.asarray(subsets)
        single = S.ndim == 1
        S2 = np.atleast_2d(S)
        scores = np.asarray(self.utility(S2))[:, self.j].copy()
        scores[S2.sum(1) == 0] = self.v0
        return scores[0] if single else scores


def games_for(
    putil: PredictionUtility, X: ArrayLike, y: Sequence[int] | NDArray[np.int64], *, shared: bool
) -> list[Any]:
    """Per-prediction games: shared-model column games, or independent point games."""
    if shared:
        return list(putil.column_games(X, y))
    a = np.atleast_2d(np.asarray(X, dtype=np.float64))
    return [putil.point_game(a[j], int(y[j])) for j in range(len(a))]
