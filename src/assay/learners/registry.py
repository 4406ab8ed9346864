"""Learners by name: ``logistic``, ``mlp``, ``cnn``, ``ridge`` (regression), ``sklearn:<path>``."""

from __future__ import annotations

import importlib
from typing import Any

from assay.errors import InvalidParameterError, check_params, unknown_name
from assay.learners.base import BatchLearner
from assay.learners.logistic import LogisticRegression
from assay.learners.networks import CNNClassifier, MLPClassifier
from assay.learners.ridge import RidgeRegression
from assay.learners.sklearn import SklearnLearner

_BUILTIN: dict[str, type[BatchLearner]] = {
    "logistic": LogisticRegression,
    "mlp": MLPClassifier,
    "cnn": CNNClassifier,
    "ridge": RidgeRegression,
}


def learner_names() -> list[str]:
    """Built-in learner names (plus ``sklearn:<path>`` for any scikit-learn classifier)."""
    return [*sorted(_BUILTIN), "sklearn:<module.Class>"]


#: top-level packages whose estimators ``sklearn:<module.Class>`` may name
ALLOWED_ESTIMATOR_PACKAGES = ("sklearn", "lightgbm", "xgboost", "catboost")


def estimator_class(path: str) -> type:
    """The scikit-learn-compatible estimator class named by ``module.Class``.

    The module path is checked against :data:`ALLOWED_ESTIMATOR_PACKAGES` *before* anything is
    imported, so a learner name read from a sidecar can never make assay import an arbitrary
    module; the class found must be a scikit-learn ``BaseEstimator`` subclass.

    Raises
    ------
    InvalidParameterError
        The path is malformed, outside the allowed packages, cannot be imported, or is not an
        estimator class.
    """
    module_name, _, cls_name = path.rpartition(".")
    parts = module_name.split(".")
    if not module_name or not cls_name.isidentifier() or not all(p.isidentifier() for p in parts):
        raise InvalidParameterError(
            f"sklearn learner must be 'sklearn:<module>.<Class>', got {path!r}"
        )
    if parts[0] not in ALLOWED_ESTIMATOR_PACKAGES:
        allowed = ", ".join(ALLOWED_ESTIMATOR_PACKAGES)
        raise InvalidParameterError(
            f"refusing to import {module_name!r}: sklearn: learners must come from one of {allowed}"
        )
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise InvalidParameterError(
            f"cannot import scikit-learn estimator {path!r}: {exc}"
        ) from exc
    from sklearn.base import BaseEstimator

    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise InvalidParameterError(f"{path!r} is not a scikit-learn estimator class")
    return cls


def make_learner(name: str | BatchLearner, **params: Any) -> BatchLearner:
    """Build a learner from its name and parameters.

    ``sklearn:sklearn.neighbors.KNeighborsClassifier`` imports the class and passes ``params`` to
    its constructor. ``sklearn:A+B+C`` (classes joined by ``+``) is the scikit-learn
    ``make_pipeline(A(), B(), C())``; its ``params`` use the pipeline's ``<step>__<param>`` names
    (steps are the lower-cased class names), and a plain name goes to the final step, e.g.
    ``sklearn:sklearn.preprocessing.StandardScaler+sklearn.svm.SVC`` with ``probability=True``.
    """
    if isinstance(name, BatchLearner):
        return name
    check_params(params, f"learner {name!r}")
    if name.startswith("sklearn:"):
        classes = [estimator_class(p) for p in name.split(":", 1)[1].split("+")]
        try:
            if len(classes) == 1:
                return SklearnLearner(classes[0](**params))
            from sklearn.pipeline import make_pipeline

            pipe = make_pipeline(*(cls() for cls in classes))
            final = pipe.steps[-1][0]
            return SklearnLearner(
                pipe.set_params(
                    **{k if "__" in k else f"{final}__{k}": v for k, v in params.items()}
                )
            )
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"bad parameters for learner {name!r}: {exc}") from exc
    if name not in _BUILTIN:
        raise unknown_name("learner", name, learner_names())
    try:
        return _BUILTIN[name](**params)
    except TypeError as exc:
        raise InvalidParameterError(f"bad parameters for learner {name!r}: {exc}") from exc
