"""assay: what each training example is worth, and which data to keep, drop or label next.

>>> from assay import load_dataset, Utility, TMCShapley
>>> train, valid, test = load_dataset("breast_cancer")
>>> values = TMCShapley(100).fit(Utility("logistic", train, valid))

The names below are imported on first use (PEP 562), so ``import assay`` and ``assay --help``
do not load torch, pandas or scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.lazy import lazy_exports
from assay.version import __version__ as __version__

if TYPE_CHECKING:
    from assay.data import Dataset, flip_labels, load_dataset, read_table
    from assay.errors import AssayError
    from assay.learners import LogisticRegression, MLPClassifier, SklearnLearner, make_learner
    from assay.learners.base import configure_process
    from assay.parallel import set_threads
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

#: public name -> the module that defines it
_LAZY = {
    "AssayError": "assay.errors",
    "BetaShapley": "assay.valuation",
    "DataOOB": "assay.valuation",
    "Dataset": "assay.data",
    "ExactShapley": "assay.valuation",
    "KNNShapley": "assay.valuation",
    "LeaveOneOut": "assay.valuation",
    "LogisticRegression": "assay.learners",
    "MLPClassifier": "assay.learners",
    "MSRBanzhaf": "assay.valuation",
    "MaxSamples": "assay.valuation",
    "MaxSeconds": "assay.valuation",
    "RankStability": "assay.valuation",
    "SklearnLearner": "assay.learners",
    "TMCShapley": "assay.valuation",
    "Utility": "assay.utility",
    "ValuationResult": "assay.result",
    "configure_process": "assay.learners.base",
    "flip_labels": "assay.data",
    "load_dataset": "assay.data",
    "make_learner": "assay.learners",
    "make_method": "assay.valuation",
    "read_table": "assay.data",
    "set_threads": "assay.parallel",
}

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
    "set_threads",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
