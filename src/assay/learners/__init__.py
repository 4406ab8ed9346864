"""Learners that train many subset models at once (torch) or one by one (scikit-learn adapter)."""

from assay.learners.base import BatchLearner, FittedModels, TrainingData
from assay.learners.logistic import LogisticRegression
from assay.learners.mlp import MLPClassifier, make_mlp
from assay.learners.registry import learner_names, make_learner
from assay.learners.sklearn import SklearnLearner

__all__ = [
    "BatchLearner",
    "FittedModels",
    "LogisticRegression",
    "MLPClassifier",
    "SklearnLearner",
    "TrainingData",
    "learner_names",
    "make_learner",
    "make_mlp",
]
