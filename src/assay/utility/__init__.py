"""U(S): train on subsets, score on held-out data, many subsets at once, cached."""

from assay.utility.cache import UtilityCache, subset_keys
from assay.utility.scorers import SCORERS, Accuracy, Confidence, LogLikelihood, Scorer, make_scorer
from assay.utility.utility import Utility, check_train_valid

__all__ = [
    "SCORERS",
    "Accuracy",
    "Confidence",
    "LogLikelihood",
    "Scorer",
    "Utility",
    "UtilityCache",
    "check_train_valid",
    "make_scorer",
    "subset_keys",
]
