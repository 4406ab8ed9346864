"""Valuation methods: one small class per method, each ``fit(game) -> ValuationResult``.

Names are imported on first use (PEP 562): ``import assay.valuation.catalog`` (the method names
the command line lists) loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.lazy import lazy_exports

if TYPE_CHECKING:
    from assay.valuation.banzhaf import MSRBanzhaf
    from assay.valuation.base import Game, RunningMoments, SamplingValuation, ValuationMethod
    from assay.valuation.crossfit import cross_fit, cross_fit_mode
    from assay.valuation.data_oob import DataOOB
    from assay.valuation.exact import ExactSemivalue, ExactShapley, all_subsets, exact_semivalue
    from assay.valuation.games import AdditiveGame, GloveGame, MajorityGame
    from assay.valuation.knn_shapley import (
        KNNGame,
        KNNShapley,
        knn_shapley_loo_values,
        knn_shapley_values,
    )
    from assay.valuation.loo import LeaveOneOut
    from assay.valuation.permutation import BetaShapley, PermutationSemivalue, TMCShapley
    from assay.valuation.registry import METHODS, make_method, method_names
    from assay.valuation.stopping import MaxSamples, MaxSeconds, RankStability, StoppingRule

#: public name -> the module that defines it
_LAZY = {
    "AdditiveGame": "assay.valuation.games",
    "BetaShapley": "assay.valuation.permutation",
    "DataOOB": "assay.valuation.data_oob",
    "ExactSemivalue": "assay.valuation.exact",
    "ExactShapley": "assay.valuation.exact",
    "Game": "assay.valuation.base",
    "GloveGame": "assay.valuation.games",
    "KNNGame": "assay.valuation.knn_shapley",
    "KNNShapley": "assay.valuation.knn_shapley",
    "LeaveOneOut": "assay.valuation.loo",
    "METHODS": "assay.valuation.registry",
    "MSRBanzhaf": "assay.valuation.banzhaf",
    "MajorityGame": "assay.valuation.games",
    "MaxSamples": "assay.valuation.stopping",
    "MaxSeconds": "assay.valuation.stopping",
    "PermutationSemivalue": "assay.valuation.permutation",
    "RankStability": "assay.valuation.stopping",
    "RunningMoments": "assay.valuation.base",
    "SamplingValuation": "assay.valuation.base",
    "StoppingRule": "assay.valuation.stopping",
    "TMCShapley": "assay.valuation.permutation",
    "ValuationMethod": "assay.valuation.base",
    "all_subsets": "assay.valuation.exact",
    "cross_fit": "assay.valuation.crossfit",
    "cross_fit_mode": "assay.valuation.crossfit",
    "exact_semivalue": "assay.valuation.exact",
    "knn_shapley_loo_values": "assay.valuation.knn_shapley",
    "knn_shapley_values": "assay.valuation.knn_shapley",
    "make_method": "assay.valuation.registry",
    "method_names": "assay.valuation.registry",
}

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
    "cross_fit",
    "cross_fit_mode",
    "exact_semivalue",
    "knn_shapley_loo_values",
    "knn_shapley_values",
    "make_method",
    "method_names",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
