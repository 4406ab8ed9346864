"""Learners that train many subset models at once (torch) or one by one (scikit-learn adapter)."""

from assay.learners.base import BatchLearner, FittedModels, TrainingData
from assay.learners.logistic import LogisticRegression
from assay.learners.networks import (
    CNNClassifier,
    MLPClassifier,
    NetworkClassifier,
    make_cnn,
    make_mlp,
)
from assay.learners.registry import learner_names, make_learner
from assay.learners.ridge import FittedRidge, RidgeRegression
from assay.learners.sklearn import SklearnLearner

__all__ = [
    "BatchLearner",
    "CNNClassifier",
    "FittedModels",
    "FittedRidge",
    "LogisticRegression",
    "MLPClassifier",
    "NetworkClassifier",
    "RidgeRegression",
    "SklearnLearner",
    "TrainingData",
    "learner_names",
    "make_cnn",
    "make_learner",
    "make_mlp",
]
