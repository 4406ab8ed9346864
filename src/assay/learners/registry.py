"""Learners by name: ``logistic``, ``mlp``, ``sklearn:<dotted.path.to.Class>``."""

from __future__ import annotations

import importlib
from typing import Any

from assay.errors import InvalidParameterError, unknown_name
from assay.learners.base import BatchLearner
from assay.learners.logistic import LogisticRegression
from assay.learners.networks import CNNClassifier, MLPClassifier
from assay.learners.sklearn import SklearnLearner

_BUILTIN: dict[str, type[BatchLearner]] = {
    "logistic": LogisticRegression,
    "mlp": MLPClassifier,
    "cnn": CNNClassifier,
}


def learner_names() -> list[str]:
    """Built-in learner names (plus ``sklearn:<path>`` for any scikit-learn classifier)."""
    return [*sorted(_BUILTIN), "sklearn:<module.Class>"]


def make_learner(name: str | BatchLearner, **params: Any) -> BatchLearner:
    """Build a learner from its name and parameters.

    ``sklearn:sklearn.neighbors.KNeighborsClassifier`` imports the class and passes ``params`` to
    its constructor.
    """
    if isinstance(name, BatchLearner):
        return name
    if name.startswith("sklearn:"):
        path = name.split(":", 1)[1]
        module_name, _, cls_name = path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise InvalidParameterError(
                f"cannot import scikit-learn estimator {path!r}: {exc}"
            ) from exc
        return SklearnLearner(cls(**params))
    if name not in _BUILTIN:
        raise unknown_name("learner", name, learner_names())
    try:
        return _BUILTIN[name](**params)
    except TypeError as exc:
        raise InvalidParameterError(f"bad parameters for learner {name!r}: {exc}") from exc
