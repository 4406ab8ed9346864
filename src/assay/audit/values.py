"""Data values as label-noise detectors of :func:`assay.audit.audit` (``--methods``).

Both value every row with no held-out rows, each by its own out-of-sample definition:

- ``data-oob``: :class:`~assay.valuation.data_oob.DataOOB` (Kwon & Zou) with assay's batched
  logistic regression, :data:`OOB_MODELS` bootstrap models in one fit: a row's share of the
  models that never saw it and predict its label;
- ``knn-shapley``: leave-one-out KNN-Shapley (every row a validation point for the others) from
  the audit's k-NN graph widened to :data:`SHAPLEY_NEIGHBOURS` neighbours
  (:func:`~assay.valuation.knn_truncated.knn_shapley_from_graph`, error < 1 / M).

Measured by ``benchmarks/audit_rule.py`` (7 tables x 3 seeds, 10% flipped labels), mixed in by
rank after the stacked probabilities: KNN-Shapley at weight 0.1 was the rule with the best mean
ROC-AUC (0.8951 on the pick seeds, 0.8954 held out, against 0.8945 / 0.8945 without it), better on
every table under 20,000 rows and worse on Adult, so the default takes it below
:data:`~assay.audit.core.SHAPLEY_ROWS` rows (:func:`~assay.audit.core.default_methods`).
Data-OOB at weight 0.1 moved the mean by -0.0003 / +0.0002 and its 50 models cost about 4 s on Adult
(a third of the audit), so it is only there on request. Alone both rank the flipped rows below the
stacked models (mean AUC 0.86-0.87 for KNN-Shapley, 0.83-0.84 for Data-OOB).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: bootstrap models of the ``data-oob`` detector
OOB_MODELS = 50
#: neighbours of each validation row in the ``knn-shapley`` detector's recursion
SHAPLEY_NEIGHBOURS = 100
#: K of the ``knn-shapley`` detector's K-NN utility
SHAPLEY_K = 10


def data_oob_scores(
    X: NDArray[np.floating[Any]],
    y: NDArray[np.int64],
    seed: int,
    n_models: int = OOB_MODELS,
    *,
    progress: bool = False,
) -> NDArray[np.float64]:
    """Data-OOB values of every row (logistic regression, float32); a row never out of bag
    gets the mean of the others (a neutral rank, so the mix stays finite).

    Above :data:`~assay.audit.core.LARGE_CELLS` rows x features the models are drawn and
    fitted in rounds sized from the available memory
    (:func:`~assay.learners.base.models_per_chunk`: each model's bootstrap counts, out-of-bag
    scores and probabilities over all n rows), not all ``n_models`` at once; below it in one
    round, as the benchmarks measured.
    """
    from assay.audit.core import LARGE_CELLS
    from assay.data.dataset import Dataset
    from assay.learners.base import models_per_chunk
    from assay.learners.logistic import LogisticRegression
    from assay.utility.utility import Utility
    from assay.valuation.data_oob import DataOOB

    n = len(y)
    batch = n_models
    # counts and scores (float64) + probabilities and fit tensors (float32)
    if n * X.shape[1] > LARGE_CELLS:
        batch = models_per_chunk(n * (2 * 8 + 12 * 4), lo=1, hi=n_models)
    data = Dataset.from_arrays(X, y, dtype=X.dtype, copy=False)
    utility = Utility(LogisticRegression(dtype="float32", tol=1e-4), data, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # never-out-of-bag rows: filled below
        oob = DataOOB(n_models, batch_size=batch, seed=seed, progress=progress)
        values = oob.fit(utility).values
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), np.nanmean(values), values)


def knn_shapley_scores(
    neighbours: NDArray[np.integer[Any]], y: NDArray[np.int64], k: int = SHAPLEY_K
) -> NDArray[np.float64]:
    """Leave-one-out KNN-Shapley values of every row from its nearest rows ``neighbours``
    (n, M), e.g. the first :data:`SHAPLEY_NEIGHBOURS` of :func:`assay.audit.graph.knn_graph`."""
    from assay.valuation.knn_truncated import knn_shapley_from_graph

    return knn_shapley_from_graph(neighbours, y, min(k, neighbours.shape[1]))
