"""Model-independent values from the geometry of the embeddings (seed 000).

- :class:`KCenter`: distance-based diversity, greedy k-center (farthest-point traversal, Gonzalez
  1985; the core-set of Sener & Savarese 2018). The t-th pick's value is its distance to the
  points picked before it (non-increasing along the traversal); points never picked get their
  distance to the picked set, which is at most the last pick's. So ``highest(k)`` *is* the greedy
  k-center set and the ranking continues with the points the traversal would reach next.
- :class:`NearestDistance`: diversity as isolation, the mean distance to the ``q`` nearest other
  points (higher = in a sparser region); against a seeded reference sample when n is large.
- :class:`Representativeness`: clustering-based (seed 000: "the centroids of clusters"):
  closeness to the k-means centroid of one's cluster (``by="closeness"``, value ``-||e - c||``,
  optionally in units of the cluster's RMS radius) or the cluster's mass ``|C| / n``
  (``by="mass"``, ties broken by closeness).

Every computation is chunked: memory is O(chunk x n) or O(n d), never an n x n matrix.
``fit`` takes a Utility (its training features), a Dataset, or an embedding matrix; pass
``embeddings=`` to value a utility's players by other embeddings (e.g. MiniLM vectors).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.embed.features import check_embeddings
from assay.errors import InvalidParameterError
from assay.result import ValuationResult
from assay.valuation.base import ValuationMethod


def embeddings_of(game: Any, embeddings: ArrayLike | None = None) -> tuple[NDArray[Any], Any]:
    """(embedding matrix, ids) of a Utility's players, a Dataset's rows, or a matrix's rows."""
    if not (hasattr(game, "train") or hasattr(game, "X") or isinstance(game, np.ndarray | list)):
        raise InvalidParameterError(
            "geometry methods value the training points of a Utility (or a Dataset, or an "
            f"embedding matrix); got {type(game).__name__}"
        )
    train = getattr(game, "train", game)
    ids = getattr(train, "ids", None)
    if embeddings is not None:
        n = len(ids) if ids is not None else None
        E = check_embeddings(embeddings, n_rows=n)
    else:
        E = check_embeddings(getattr(train, "X", game), what="features")
    return E, (np.arange(E.shape[0]) if ids is None else np.asarray(ids))


def _sq_to(E: torch.Tensor, norms: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Squared distances of all rows of E to one point c (one matrix-vector product)."""
    return (norms - 2 * (E @ c) + c @ c).clamp_min_(0)


def kcenter_greedy(
    E: ArrayLike, k: int, *, start: ArrayLike | None = None, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Farthest-point traversal: ``k`` picks, their pick-time distances, and final distances.

    Parameters
    ----------
    E : array-like (n, d)
    k : int
        Points to pick (1 <= k <= n minus the starting set).
    start : array-like of positions, optional
        An already selected set (e.g. labelled points); the first pick is then the point farthest
        from it. Without it the first pick is a seeded random point.
    seed : int

    Returns
    -------
    picks : (k,) positions in pick order
    radii : (k,) distance of each pick to the points picked (or given) before it; ``inf`` for a
        first pick without ``start``
    dist : (n,) distance of every point to the final set
    """
    X = torch.from_numpy(np.require(check_embeddings(E), requirements=["C", "W"]))
    n = X.shape[0]
    given = np.asarray([] if start is None else start, np.int64)
    if not 1 <= k <= n - len(np.unique(given)):
        raise InvalidParameterError(f"k must lie in [1, {n - len(np.unique(given))}], got {k}")
    norms = (X * X).sum(1)
    best = torch.full((n,), float("inf"), dtype=X.dtype)
    for g in given.tolist():
        best = torch.minimum(best, _sq_to(X, norms, X[g]))
    if len(given):
        best[given] = 0.0
    picks = np.empty(k, np.int64)
    radii = np.empty(k)
    for t in range(k):
        if t == 0 and not len(given):
            i = int(np.random.default_rng(seed).integers(n))
        else:
            i = int(torch.argmax(best))
        picks[t], radii[t] = i, float(best[i].sqrt())
        best = torch.minimum(best, _sq_to(X, norms, X[i]))
        best[i] = 0.0
    return picks, radii, best.sqrt().numpy().astype(np.float64)


class KCenter(ValuationMethod):
    """Greedy k-center diversity: the traversal order as values (see the module docstring).

    Parameters
    ----------
    k : int, optional
        Picks to make (default ``min(n, 1000)``; the cost is O(k n d)).
    embeddings : array-like (n, d), optional
        Embeddings of the players (default: the features).
    seed : int
        Seeds the first pick.
    """

    name = "kcenter"

    def __init__(self, k: int | None = None, *, embeddings: ArrayLike | None = None, seed: int = 0):
        self.k = k
        self.embeddings = embeddings
        self.seed = seed

    def fit(self, game: Any) -> ValuationResult:
        t0 = time.perf_counter()
        E, ids = embeddings_of(game, self.embeddings)
        k = min(E.shape[0], 1000) if self.k is None else int(self.k)
        picks, radii, dist = kcenter_greedy(E, k, seed=self.seed)
        if not np.isfinite(radii[0]):  # the random first pick: just above the second's radius
            radii[0] = np.nextafter(radii[1], np.inf) if k > 1 else float(dist.max()) + 1.0
        values = dist.copy()
        values[picks] = radii
        return ValuationResult.exact(
            ids,
            values,
            self.name,
            k=k,
            seed=self.seed,
            picks=int(k),
            seconds=time.perf_counter() - t0,
        )


class NearestDistance(ValuationMethod):
    """Mean distance to the ``q`` nearest other points (higher = more isolated = more diverse).

    Parameters
    ----------
    q : int
        Neighbours averaged.
    max_reference : int
        Compare against at most this many points (a seeded sample) when n is larger: O(n R d).
    chunk : int
        Rows per block of distances (memory ``chunk x R``).
    embeddings, seed
        As for :class:`KCenter`.
    """

    name = "nearest-distance"

    def __init__(
        self,
        q: int = 10,
        *,
        max_reference: int = 20_000,
        chunk: int = 2048,
        embeddings: ArrayLike | None = None,
        seed: int = 0,
    ) -> None:
        if q < 1 or max_reference < 2 or chunk < 1:
            raise InvalidParameterError(f"need q >= 1, max_reference >= 2, chunk >= 1; got {q}")
        self.q, self.max_reference, self.chunk = q, max_reference, chunk
        self.embeddings = embeddings
        self.seed = seed

    def fit(self, game: Any) -> ValuationResult:
        E, ids = embeddings_of(game, self.embeddings)
        n = E.shape[0]
        ref = np.arange(n)
        if n > self.max_reference:
            rng = np.random.default_rng(self.seed)
            ref = np.sort(rng.choice(n, self.max_reference, replace=False))
        q = min(self.q, len(ref) - 1)
        if q < 1:
            raise InvalidParameterError(f"need at least 2 points, got {n}")
        X = torch.as_tensor(E, dtype=torch.float64)
        R = X[torch.as_tensor(ref)]
        is_ref = np.full(n, -1)
        is_ref[ref] = np.arange(len(ref))
        out = np.empty(n)
        for lo in range(0, n, self.chunk):
            xb = X[lo : lo + self.chunk]
            d = torch.cdist(xb, R)
            rows = torch.arange(len(xb))
            own = torch.as_tensor(is_ref[lo : lo + len(xb)])
            inside = own >= 0
            d[rows[inside], own[inside]] = float("inf")  # a point is not its own neighbour
            out[lo : lo + len(xb)] = d.topk(q, dim=1, largest=False).values.mean(1).numpy()
        return ValuationResult.exact(ids, out, self.name, q=q, reference=len(ref), seed=self.seed)


class Representativeness(ValuationMethod):
    """Clustering-based representativeness: closeness to one's centroid, or the cluster's mass.

    Parameters
    ----------
    n_clusters : int
        k of k-means (default ``ceil(sqrt(n))``).
    by : {"closeness", "mass"}
    normalise : bool
        ``closeness`` in units of the cluster's RMS radius (comparable across clusters).
    backend : {"auto", "faiss", "sklearn"}
    embeddings, seed
        As for :class:`KCenter`.

    Attributes
    ----------
    clustering_ : Clustering
        The clusters (their labels feed cluster-balanced selection).
    """

    name = "representative"

    def __init__(
        self,
        n_clusters: int | None = None,
        *,
        by: str = "closeness",
        normalise: bool = False,
        backend: str = "auto",
        embeddings: ArrayLike | None = None,
        seed: int = 0,
    ) -> None:
        if by not in ("closeness", "mass"):
            raise InvalidParameterError(f"by must be 'closeness' or 'mass', got {by!r}")
        self.n_clusters, self.by, self.normalise = n_clusters, by, normalise
        self.backend, self.embeddings, self.seed = backend, embeddings, seed

    def fit(self, game: Any) -> ValuationResult:
        from assay.clustering import kmeans

        E, ids = embeddings_of(game, self.embeddings)
        n = E.shape[0]
        k = int(np.ceil(np.sqrt(n))) if self.n_clusters is None else int(self.n_clusters)
        c = kmeans(E, k, backend=self.backend, seed=self.seed)
        self.clustering_ = c
        cent = torch.as_tensor(c.centroids, dtype=torch.float64)
        lab = torch.as_tensor(c.labels)
        d = np.empty(n)
        for lo in range(0, n, 65_536):
            xb = torch.as_tensor(E[lo : lo + 65_536], dtype=torch.float64)
            d[lo : lo + len(xb)] = (xb - cent[lab[lo : lo + len(xb)]]).norm(dim=1).numpy()
        if self.normalise:
            rms = np.sqrt(np.bincount(c.labels, d**2, c.k) / c.sizes)
            d = d / np.where(rms > 0, rms, 1.0)[c.labels]
        values = -d
        if self.by == "mass":  # cluster mass first; closeness (scaled into [0, 1/n)) breaks ties
            values = c.sizes[c.labels] / n + (1 / n) * (1 / (1 + d)) * 0.999
        return ValuationResult.exact(
            ids,
            values,
            self.name,
            k=c.k,
            by=self.by,
            normalise=self.normalise,
            backend=c.backend,
            seed=self.seed,
        )
