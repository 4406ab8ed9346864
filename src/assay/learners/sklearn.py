"""Any scikit-learn classifier as a :class:`BatchLearner`: clone, fit on each subset, predict_proba.

Models are trained one after another in Python (scikit-learn has no batched fit); use the
utility's ``n_jobs`` / joblib backend to spread them over processes or a Ray cluster.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from assay.errors import InvalidParameterError
from assay.learners.base import BatchLearner, FittedModels, TrainingData, classes_present, to_numpy


class FittedEstimators(FittedModels):
    """B fitted scikit-learn estimators (None where the subset had fewer than two classes)."""

    def __init__(
        self, estimators: list[Any], n_classes: int, present: torch.Tensor, dtype: torch.dtype
    ) -> None:
        self.estimators, self.n_classes, self.present, self.dtype = (
            estimators,
            n_classes,
            present,
            dtype,
        )
        self.trained = torch.tensor([e is not None for e in estimators], dtype=torch.bool)

    @property
    def n_models(self) -> int:
        return len(self.estimators)

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        Xn = to_numpy(X)
        out = np.zeros((self.n_models, Xn.shape[0], self.n_classes))
        for b, est in enumerate(self.estimators):
            if est is None:
                out[b] = 1.0 / self.n_classes
                continue
            if hasattr(est, "predict_proba"):
                out[b][:, est.classes_] = est.predict_proba(Xn)
            else:  # hard predictions as one-hot probabilities
                out[b][np.arange(Xn.shape[0]), est.predict(Xn)] = 1.0
        return torch.as_tensor(out, dtype=self.dtype)


def _takes_weight(estimator: Any) -> bool:
    return "sample_weight" in inspect.signature(estimator.fit).parameters


class SklearnLearner(BatchLearner):
    """Adapter for a scikit-learn classifier (any object with ``fit`` and ``predict_proba``).

    Parameters
    ----------
    estimator : sklearn classifier
        Cloned for every subset; a ``Pipeline`` works too. Sample weights are passed as
        ``sample_weight`` when ``fit`` accepts it (for a ``Pipeline``: when its final step's
        ``fit`` does, routed as ``<step>__sample_weight``); otherwise rows are repeated by their
        integer weight.
    """

    name = "sklearn"

    def __init__(self, estimator: Any) -> None:
        if not hasattr(estimator, "fit"):
            raise InvalidParameterError(f"{estimator!r} has no fit method")
        self.estimator = estimator

    def get_params(self) -> dict[str, Any]:
        est = self.estimator
        params = {k: repr(v) for k, v in sorted(est.get_params(deep=False).items())}
        return {"estimator": f"{type(est).__module__}.{type(est).__qualname__}", "params": params}

    @property
    def _weight_argument(self) -> str | None:
        """The ``fit`` keyword that takes sample weights, or None."""
        est = self.estimator
        steps = getattr(est, "steps", None)
        if steps:  # a Pipeline: fit(X, y, **params) routes "<step>__<param>" to that step
            name, last = steps[-1]
            if last is not None and last != "passthrough" and _takes_weight(last):
                return f"{name}__sample_weight"
            return None
        return "sample_weight" if _takes_weight(est) else None

    def fit(self, data: TrainingData, weights: torch.Tensor, init: Any = None) -> FittedEstimators:
        from sklearn.base import clone

        X, y = to_numpy(data.X), to_numpy(data.y)
        W = to_numpy(weights).astype(np.float64)
        present = classes_present(weights.to(data.onehot.dtype), data.onehot)
        estimators: list[Any] = []
        key = self._weight_argument
        for b in range(W.shape[0]):
            if int(present[b].sum()) < 2:
                estimators.append(None)
                continue
            idx = np.flatnonzero(W[b] > 0)
            est = clone(self.estimator)
            if key is not None:
                est.fit(X[idx], y[idx], **{key: W[b, idx]})
            else:
                rep = np.repeat(idx, np.rint(W[b, idx]).astype(int))
                est.fit(X[rep], y[rep])
            estimators.append(est)
        return FittedEstimators(estimators, data.n_classes, present, data.X.dtype)

    def batch_size_hint(self, data: TrainingData) -> int:
        return 32
