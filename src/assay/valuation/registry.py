"""Valuation methods by name, as the command line and reports refer to them."""

from __future__ import annotations

from typing import Any

from assay.errors import InvalidParameterError, check_params, unknown_name
from assay.valuation.banzhaf import MSRBanzhaf
from assay.valuation.base import SamplingValuation, ValuationMethod
from assay.valuation.cs_shapley import CSShapley
from assay.valuation.data_oob import DataOOB
from assay.valuation.exact import ExactSemivalue
from assay.valuation.fi_approx import KFSVDInfluence, SubsampledLocalInfluence
from assay.valuation.geometry import KCenter, NearestDistance, Representativeness
from assay.valuation.gradient import GradientMatching, GraNd
from assay.valuation.group_testing import GroupTestingShapley
from assay.valuation.inference import EL2N, ConfidenceScore, EntropyScore, LossScore, MarginScore
from assay.valuation.influence import InfluenceFunction, InfluenceValue
from assay.valuation.knn_shapley import KNNShapley
from assay.valuation.local_influence import LocalInfluence
from assay.valuation.loo import LeaveOneOut
from assay.valuation.permutation import BetaShapley, TMCShapley

METHODS: dict[str, tuple[type[ValuationMethod], str]] = {
    "loo": (LeaveOneOut, "leave-one-out (Cook 1977; Koh & Liang 2017 as a baseline)"),
    "exact-shapley": (ExactSemivalue, "Shapley value by enumeration (Shapley 1953), n <= 16"),
    "tmc-shapley": (TMCShapley, "Truncated Monte Carlo Data Shapley (Ghorbani & Zou, ICML 2019)"),
    "beta-shapley": (BetaShapley, "Beta Shapley (Kwon & Zou, AISTATS 2022)"),
    "banzhaf": (MSRBanzhaf, "Data Banzhaf, maximum sample reuse (Wang & Jia, AISTATS 2023)"),
    "data-oob": (DataOOB, "Data-OOB (Kwon & Zou, ICML 2023)"),
    "knn-shapley": (
        KNNShapley,
        "KNN-Shapley (Jia et al., VLDB 2019): exact to 20,000 training rows, within 1/M above",
    ),
    "influence": (InfluenceFunction, "influence functions, validation loss (Koh & Liang 2017)"),
    "iv": (InfluenceValue, "influence value IV (Chhabra et al., ICLR 2024)"),
    "fi-util": (LocalInfluence, "local influence FI^util, exact (seed 003, Eq. 3.1)"),
    "fi-kfsvd": (KFSVDInfluence, "FI^util by K-FAC + truncated SVD (seed 003, Alg. 5)"),
    "fi-subsample": (SubsampledLocalInfluence, "FI^util on a subsample + random forest (Alg. 6)"),
    "group-testing-shapley": (GroupTestingShapley, "group-testing Shapley (Jia et al. 2019)"),
    "cs-shapley": (CSShapley, "class-wise Shapley (Schoch et al., NeurIPS 2022)"),
    "kcenter": (KCenter, "greedy k-center diversity (Sener & Savarese, ICLR 2018)"),
    "nearest-distance": (NearestDistance, "mean distance to the nearest neighbours (diversity)"),
    "representative": (Representativeness, "closeness to the k-means centroid"),
    "loss": (LossScore, "per-point cross-entropy loss (higher = harder)"),
    "margin": (MarginScore, "negated top-two probability margin (uncertainty)"),
    "entropy": (EntropyScore, "predictive entropy (uncertainty)"),
    "confidence": (ConfidenceScore, "negated probability of the true class"),
    "el2n": (EL2N, "EL2N over early-trained models (Paul et al., NeurIPS 2021)"),
    "grand": (GraNd, "GraNd gradient norm (Paul et al., NeurIPS 2021)"),
    "gradmatch": (GradientMatching, "gradient matching to a target set, LESS-style projection"),
}


#: samples beyond this cannot finish (each needs at least one model or utility evaluation)
MAX_BUDGET = 10**9


def method_names() -> list[str]:
    """Names accepted by :func:`make_method`."""
    return list(METHODS)


def make_method(name: str, *, budget: int | None = None, **params: Any) -> ValuationMethod:
    """Build a valuation method by name.

    ``budget`` is the number of samples of a sampling method (permutations, subsets, bootstrap
    models); methods without sampling ignore it.
    """
    if name not in METHODS:
        raise unknown_name("method", name, list(METHODS))
    cls = METHODS[name][0]
    check_params(params, f"method {name!r}")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
            raise InvalidParameterError(f"budget must be > 0 (an integer), got {budget!r}")
        if budget > MAX_BUDGET:
            raise InvalidParameterError(
                f"budget {budget} is beyond what a run could finish (at most {MAX_BUDGET:.0e} "
                "samples); lower it"
            )
        if issubclass(cls, SamplingValuation):
            params["stop"] = budget
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidParameterError(f"bad parameters for method {name!r}: {exc}") from exc
