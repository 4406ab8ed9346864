"""assay: what each training example is worth, and which data to keep, drop or label next.

>>> from assay import load_dataset, Utility, TMCShapley
>>> train, valid, test = load_dataset("breast_cancer")
>>> values = TMCShapley(100).fit(Utility("logistic", train, valid))
"""

from assay.data import Dataset, flip_labels, load_dataset, read_table
from assay.errors import AssayError
from assay.learners import LogisticRegression, MLPClassifier, SklearnLearner, make_learner
from assay.learners.base import configure_process
from assay.result import ValuationResult
from assay.utility import Utility
from assay.valuation import (
    BetaShapley,
    DataOOB,
    ExactShapley,
    KNNShapley,
    LeaveOneOut,
    MaxSamples,
    MaxSeconds,
    MSRBanzhaf,
    RankStability,
    TMCShapley,
    make_method,
)
from assay.version import __version__ as __version__

__all__ = [
    "AssayError",
    "BetaShapley",
    "DataOOB",
    "Dataset",
    "ExactShapley",
    "KNNShapley",
    "LeaveOneOut",
    "LogisticRegression",
    "MLPClassifier",
    "MSRBanzhaf",
    "MaxSamples",
    "MaxSeconds",
    "RankStability",
    "SklearnLearner",
    "TMCShapley",
    "Utility",
    "ValuationResult",
    "configure_process",
    "flip_labels",
    "load_dataset",
    "make_learner",
    "make_method",
    "read_table",
]
