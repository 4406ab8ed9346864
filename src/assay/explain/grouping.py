"""Grouping functions for GFDS and GFDS+: which training points play as one coalition.

The paper groups the n training points into N disjoint sets with a model-dependent function
Psi_N (Section 3.3): clustering the service model's outputs, or, in its experiments, the labels
(N = |Y| = 10; Section 4.2.3 and Table 4). The authors' code clusters the grand model's softmax
outputs with k-means (N = 10). Three functions are offered; each returns an ``(n,)`` array of group
codes ``0..N-1``:

- :func:`group_by_label`: the training label (the paper's best-performing choice),
- :func:`group_by_kmeans`: k-means on a representation of the points, by default the service
  model's class probabilities (the authors' code),
- :func:`group_by_provider`: the data providers given with the data (``Dataset.groups``), so
  that GFDS+ values whole providers;
- :func:`group_by_clusters`: k-means on the (standardised) features within each label, so every
  group holds similar points of one label (label and k-means at once: what ``assay explain``
  chooses on large tables, where label groups are too few to tell points apart).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError


def group_by_label(train: Dataset) -> NDArray[np.int64]:
    """One group per label present in ``train`` (codes renumbered 0..N-1)."""
    _, codes = np.unique(train.y, return_inverse=True)
    return codes.astype(np.int64)


def group_by_provider(train: Dataset) -> NDArray[np.int64]:
    """One group per data provider (``train.groups``)."""
    if train.groups is None:
        raise InvalidDataError(
            "grouping by provider needs provider ids: build the dataset with groups=... "
            "(Dataset.from_arrays(X, y, groups=provider_ids))"
        )
    _, codes = np.unique(np.asarray(train.groups).astype(str), return_inverse=True)
    return codes.astype(np.int64)


def group_by_kmeans(
    representation: ArrayLike, n_groups: int, *, seed: int = 0
) -> NDArray[np.int64]:
    """k-means (scikit-learn, 10 restarts) on a representation of the points, shape (n, p).

    Pass the service model's class probabilities of the training points (the authors' choice),
    or any embedding. Empty clusters cannot occur with k-means++; codes are renumbered 0..N-1.
    """
    from sklearn.cluster import KMeans

    Z = np.asarray(representation, dtype=np.float64)
    if Z.ndim != 2:
        raise InvalidDataError(f"representation must be 2-D (n, p), got shape {Z.shape}")
    if not 2 <= n_groups <= len(Z):
        raise InvalidParameterError(f"n_groups must lie in [2, {len(Z)}], got {n_groups}")
    labels = KMeans(n_clusters=n_groups, n_init=10, random_state=seed).fit_predict(Z)
    _, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64)


def group_by_clusters(train: Dataset, n_groups: int, *, seed: int = 0) -> NDArray[np.int64]:
    """About ``n_groups`` groups: k-means on the features of each label's points.

    Each label gets clusters in proportion to its points (at least one, at most its points);
    codes are renumbered 0..N-1 (k-means may merge clusters, so N can fall below ``n_groups``).
    """
    from assay.valuation.groups import cluster_groups

    labels, codes, counts = np.unique(train.y, return_inverse=True, return_counts=True)
    if not len(labels) <= n_groups <= train.n:
        raise InvalidParameterError(
            f"n_groups must lie in [{len(labels)} (the labels), {train.n}], got {n_groups}"
        )
    share = np.maximum(1, np.floor(n_groups * counts / counts.sum())).astype(int)
    out = np.empty(train.n, dtype=np.int64)
    offset = 0
    for j, k in enumerate(np.minimum(share, counts)):
        rows = np.flatnonzero(codes == j)
        local = cluster_groups(train.X[rows], int(k), seed=seed) if k > 1 else np.zeros(len(rows))
        out[rows] = offset + local
        offset += int(k)
    _, renumbered = np.unique(out, return_inverse=True)
    return renumbered.astype(np.int64)


GROUPINGS = ("label", "kmeans", "clusters", "provider")


def make_grouping(
    how: str | ArrayLike,
    train: Dataset,
    *,
    n_groups: int = 10,
    representation: Any = None,
    seed: int = 0,
) -> NDArray[np.int64]:
    """Group codes from a name (``label``, ``kmeans``, ``provider``) or an explicit array."""
    if isinstance(how, str):
        if how == "label":
            return group_by_label(train)
        if how == "provider":
            return group_by_provider(train)
        if how == "clusters":
            return group_by_clusters(train, n_groups, seed=seed)
        if how == "kmeans":
            if representation is None:
                raise InvalidParameterError("k-means grouping needs a representation (n, p)")
            return group_by_kmeans(representation, n_groups, seed=seed)
        raise InvalidParameterError(
            f"unknown grouping {how!r}; valid groupings: {', '.join(GROUPINGS)} or an array"
        )
    g = np.asarray(how)
    if g.shape != (train.n,):
        raise InvalidDataError(f"groups must have shape ({train.n},), got {g.shape}")
    _, codes = np.unique(g, return_inverse=True)
    return codes.astype(np.int64)
