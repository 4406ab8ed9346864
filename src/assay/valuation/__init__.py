"""Valuation methods: one small class per method, each ``fit(game) -> ValuationResult``."""

from assay.valuation.banzhaf import MSRBanzhaf
from assay.valuation.base import Game, RunningMoments, SamplingValuation, ValuationMethod
from assay.valuation.data_oob import DataOOB
from assay.valuation.exact import ExactSemivalue, ExactShapley, all_subsets, exact_semivalue
from assay.valuation.games import AdditiveGame, GloveGame, MajorityGame
from assay.valuation.knn_shapley import KNNGame, KNNShapley, knn_shapley_values
from assay.valuation.loo import LeaveOneOut
from assay.valuation.permutation import BetaShapley, PermutationSemivalue, TMCShapley
from assay.valuation.registry import METHODS, make_method, method_names
from assay.valuation.stopping import MaxSamples, MaxSeconds, RankStability, StoppingRule

__all__ = [
    "METHODS",
    "AdditiveGame",
    "BetaShapley",
    "DataOOB",
    "ExactSemivalue",
    "ExactShapley",
    "Game",
    "GloveGame",
    "KNNGame",
    "KNNShapley",
    "LeaveOneOut",
    "MSRBanzhaf",
    "MajorityGame",
    "MaxSamples",
    "MaxSeconds",
    "PermutationSemivalue",
    "RankStability",
    "RunningMoments",
    "SamplingValuation",
    "StoppingRule",
    "TMCShapley",
    "ValuationMethod",
    "all_subsets",
    "exact_semivalue",
    "knn_shapley_values",
    "make_method",
    "method_names",
]
