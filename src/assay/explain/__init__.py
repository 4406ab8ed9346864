"""Fast-DataShapley: explainers that value every training point for a new prediction in one pass.

Usage (``train`` a Dataset of the n players, ``inputs`` an (m, d) array)::

    from assay.explain import FastDataShapley, DataExplainer
    explainer = FastDataShapley("mlp", variant="afds").fit(train, inputs)
    explainer.values(new_inputs)    # (m, n): phi(x, y) for the predicted label y
    explainer.save("expl/")
    DataExplainer.load("expl/")

Modules: :mod:`~assay.explain.game` (the per-prediction utility v_{x,y}), :mod:`~.sampling`
(Shapley-kernel subsets, paired), :mod:`~.grouping`, :mod:`~.pool`, :mod:`~.networks`,
:mod:`~.training`, :mod:`~.explainer` (the trainer), :mod:`~.model` (the trained explainer),
:mod:`~.metrics` (value loss H_eta, error against exact values, per-prediction baselines).
"""

from assay.explain.explainer import VARIANTS, FastDataShapley
from assay.explain.game import ColumnGame, MeanConfidence, PredictionUtility, k_epoch_learner
from assay.explain.grouping import group_by_kmeans, group_by_label, group_by_provider
from assay.explain.model import DataExplainer
from assay.explain.sampling import (
    SubsetSampler,
    exhaustive_kernel,
    kernel_size_probabilities,
    sample_kernel,
)
from assay.explain.training import TrainingConfig, efficient_normalise

__all__ = [
    "VARIANTS",
    "ColumnGame",
    "DataExplainer",
    "FastDataShapley",
    "MeanConfidence",
    "PredictionUtility",
    "SubsetSampler",
    "TrainingConfig",
    "efficient_normalise",
    "exhaustive_kernel",
    "group_by_kmeans",
    "group_by_label",
    "group_by_provider",
    "k_epoch_learner",
    "kernel_size_probabilities",
    "sample_kernel",
]
