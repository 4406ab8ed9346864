"""k-means with FAISS or scikit-learn, centres snapped to real data points ("representatives").

:func:`kmeans` runs Lloyd's algorithm with one of two backends behind one interface:

- ``faiss`` (optional extra ``assay[faiss]``): ``faiss.Kmeans`` trained on at most
  ``max_points_per_centroid * k`` sampled points (FAISS's default 256), started from k-means++
  seeds (:func:`kmeans_plusplus`, torch) drawn on a seeded sample of at most ``8 k`` points
  (``init="random"``: FAISS's own random initial centres);
- ``sklearn``: ``KMeans`` (k-means++ seeding) while ``n * k`` is moderate, ``MiniBatchKMeans``
  (k-means++ seeding, mini-batches of 4,096) beyond.

The same seed gives the same centres for a backend. Then one chunked pass over the data (never an
n x k matrix in memory, only ``chunk`` x k blocks) assigns every point to its nearest centroid and
finds, for each centroid, the nearest data point: the centre is *snapped* to that point, its
*representative*, whose loss the model is asked for (Axiotis et al. 2024, §5.1). The result's
clusters are the centroids' clusters, each represented by its representative; empty clusters are
dropped, clusters whose centroids snap to the same point are merged, and each representative
belongs to its own cluster. ``reassign=True`` spends one more pass to re-assign every point to its
nearest representative instead. ``sq_distances`` are then computed exactly (by differences, not by
the ``|x|^2 - 2 x.c + |c|^2`` expansion) to each point's representative.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.embed.features import check_embeddings
from assay.errors import InvalidDataError, InvalidParameterError, MissingDependencyError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "faiss", "sklearn")
_LLOYD_LIMIT = 50_000_000  # n * k above which scikit-learn switches to MiniBatchKMeans


@dataclass(frozen=True, eq=False)
class Clustering:
    """A clustering of n points with real data points as centres.

    Attributes
    ----------
    labels : ndarray of shape (n,)
        Cluster of every point, in ``0..k-1``.
    representatives : ndarray of shape (k,)
        Position of each cluster's centre in the data (distinct; ``labels[representatives[j]] ==
        j``).
    sq_distances : ndarray of shape (n,)
        Squared Euclidean distance of every point to its cluster's representative (float64).
    centroids : ndarray of shape (k, d)
        The k-means centroids of the kept clusters (before snapping).
    backend : str
    params : dict
        Seed, iterations, number of clusters asked for and kept, and so on.
    """

    labels: NDArray[np.int64]
    representatives: NDArray[np.int64]
    sq_distances: NDArray[np.float64]
    centroids: NDArray[Any]
    backend: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.representatives)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def sizes(self) -> NDArray[np.int64]:
        """Points per cluster, shape (k,)."""
        return np.bincount(self.labels, minlength=self.k).astype(np.int64)

    def distances(self, z: float = 2.0) -> NDArray[np.float64]:
        """``||e - c(e)||^z`` for every point (z = 2: the squared distances)."""
        if z == 2.0:
            return self.sq_distances
        return np.sqrt(self.sq_distances) ** z

    def cost(self, z: float = 2.0) -> float:
        """The (k, z)-clustering cost ``sum_e ||e - c(e)||^z`` (z = 2: the k-means cost Phi_k)."""
        return float(self.distances(z).sum())


def resolve_backend(backend: str) -> str:
    """``auto`` -> ``faiss`` when importable, else ``sklearn``; checks explicit names."""
    if backend not in BACKENDS:
        raise InvalidParameterError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "sklearn":
        return backend
    try:
        import faiss  # noqa: F401
    except ImportError as exc:
        if backend == "faiss":
            raise MissingDependencyError(
                "the faiss backend needs faiss-cpu: pip install 'assay[faiss]'"
            ) from exc
        return "sklearn"
    return "faiss"


def kmeans(
    X: ArrayLike,
    k: int,
    *,
    backend: str = "auto",
    seed: int = 0,
    n_iter: int = 25,
    n_init: int = 1,
    algorithm: str = "auto",
    init: str = "k-means++",
    reassign: bool = False,
    max_points_per_centroid: int = 256,
    chunk: int = 16_384,
) -> Clustering:
    """Cluster the rows of ``X`` into at most ``k`` clusters with representatives.

    Parameters
    ----------
    X : array-like of shape (n, d)
        Embeddings (float32 is kept as is; FAISS always works in float32).
    k : int
        Number of clusters, 1 <= k <= n. Fewer may be kept (empty or merged clusters).
    backend : {"auto", "faiss", "sklearn"}
    seed : int
        Seeds initialisation and sampling; the same seed gives the same centres per backend.
    n_iter : int
        Lloyd iterations (FAISS ``niter``, scikit-learn ``max_iter``).
    n_init : int
        Restarts; the best is kept.
    algorithm : {"auto", "lloyd", "minibatch"}
        scikit-learn only: full-batch ``KMeans`` or ``MiniBatchKMeans`` (``auto``: by n * k).
    init : {"k-means++", "random"}
        Seeding (scikit-learn always uses k-means++; FAISS uses it on a sample of <= 8 k points,
        or its own random initial centres).
    reassign : bool
        Re-assign points to their nearest representative (one more pass over the data).
    max_points_per_centroid : int
        FAISS trains on at most this many sampled points per centroid.
    chunk : int
        Rows per block of the assignment passes (memory ~ ``chunk * k`` floats).

    Returns
    -------
    Clustering

    Raises
    ------
    InvalidDataError
        NaN / inf or a malformed matrix.
    InvalidParameterError
        ``k`` outside ``[1, n]`` or an unknown backend / algorithm.
    """
    E = check_embeddings(X)
    n = E.shape[0]
    if not 1 <= int(k) <= n:
        raise InvalidParameterError(f"k must lie in [1, n = {n}], got {k}")
    if n_iter < 1 or n_init < 1 or chunk < 1:
        raise InvalidParameterError(
            f"n_iter, n_init and chunk must be >= 1, got {n_iter}, {n_init}, {chunk}"
        )
    if algorithm not in ("auto", "lloyd", "minibatch"):
        raise InvalidParameterError(f"algorithm must be auto, lloyd or minibatch, got {algorithm}")
    if init not in ("k-means++", "random"):
        raise InvalidParameterError(f"init must be 'k-means++' or 'random', got {init!r}")
    k = int(k)
    name = resolve_backend(backend)
    t0 = time.perf_counter()
    if name == "faiss":
        centroids = _faiss_centroids(E, k, seed, n_iter, n_init, max_points_per_centroid, init)
    else:
        centroids = _sklearn_centroids(E, k, seed, n_iter, n_init, algorithm)
    t1 = time.perf_counter()
    labels, nearest = _assign_and_snap(E, centroids, chunk)
    labels, reps, keep = _finalise(labels, nearest)
    if reassign:
        labels, _ = _assign_and_snap(E, E[reps], chunk)
        labels, reps, keep2 = _finalise(labels, reps)
        keep = keep[keep2]
    sq = _sq_distances(E, reps, labels, chunk)
    params = {
        "k": k,
        "kept": len(reps),
        "seed": seed,
        "n_iter": n_iter,
        "n_init": n_init,
        "reassign": reassign,
        "algorithm": algorithm if name == "sklearn" else "lloyd",
        "init": init if name == "faiss" else "k-means++",
        "seconds_fit": t1 - t0,
        "seconds_assign": time.perf_counter() - t1,
    }
    if len(reps) < k:
        log.info("k-means: kept %d of %d clusters (empty or merged)", len(reps), k)
    return Clustering(labels, reps, sq, centroids[keep], name, params)


def grouped_kmeans(X: ArrayLike, k: int, groups: ArrayLike, **params: Any) -> Clustering:
    """k-means run separately inside each group (e.g. each class): clusters never mix groups.

    The k clusters are shared across groups in proportion to their sizes (largest remainders,
    at least one per group, at most the group's size); ``params`` go to :func:`kmeans`. For a
    supervised loss, whose value jumps with the label, clustering within each label keeps a
    centre's loss a good proxy of its members' losses.
    """

    E = check_embeddings(X)
    g = np.asarray(groups)
    if g.shape != (E.shape[0],):
        raise InvalidDataError(f"shape mismatch: {len(g)} groups for {E.shape[0]} embeddings")
    values = np.unique(g)
    if not len(values) <= int(k) <= E.shape[0]:
        raise InvalidParameterError(
            f"k must lie in [{len(values)} groups, n = {E.shape[0]}], got {k}"
        )
    extra = int(k) - len(values)  # one cluster per group first, the rest by size
    _, first = np.unique(g, return_index=True)
    quota = group_quotas(np.delete(g, first), extra) if extra else {}  # capped at size - 1
    labels = np.empty(E.shape[0], np.int64)
    sq = np.empty(E.shape[0])
    reps, cents, offset = [], [], 0
    for v in values:
        rows = np.flatnonzero(g == v)
        c = kmeans(E[rows], 1 + quota.get(v.item() if hasattr(v, "item") else v, 0), **params)
        labels[rows] = c.labels + offset
        sq[rows] = c.sq_distances
        reps.append(rows[c.representatives])
        cents.append(c.centroids)
        offset += c.k
    return Clustering(
        labels,
        np.concatenate(reps),
        sq,
        np.concatenate(cents),
        c.backend,
        {**c.params, "k": int(k), "kept": offset, "groups": len(values)},
    )


def _faiss_centroids(
    E: NDArray[Any], k: int, seed: int, n_iter: int, n_init: int, max_ppc: int, init: str
) -> NDArray[np.float32]:
    import faiss

    X32 = np.ascontiguousarray(E, dtype=np.float32)
    start = None
    if init == "k-means++":
        rng = np.random.default_rng(seed)
        m = min(X32.shape[0], 8 * k)
        rows = np.sort(rng.choice(X32.shape[0], m, replace=False)) if m < X32.shape[0] else None
        start = kmeans_plusplus(X32 if rows is None else X32[rows], k, seed=seed)
    km = faiss.Kmeans(
        X32.shape[1],
        k,
        niter=n_iter,
        nredo=n_init,
        seed=int(seed) % (2**31),
        verbose=False,
        min_points_per_centroid=1,
        max_points_per_centroid=int(max_ppc),
    )
    km.train(X32, init_centroids=start)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def kmeans_plusplus(X: NDArray[Any], k: int, *, seed: int = 0) -> NDArray[Any]:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with ``2 + log k`` local trials as
    scikit-learn), vectorised in torch: each step costs one (trials x n) distance block.

    Returns ``k`` rows of ``X`` (as centres), chosen with probability proportional to the squared
    distance to the centres so far.
    """
    rng = np.random.default_rng(seed)
    Xt = torch.from_numpy(np.require(X, requirements=["C", "W"]))
    n = Xt.shape[0]
    norms = (Xt * Xt).sum(1)
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(n))]

    def sq_to(rows: torch.Tensor) -> torch.Tensor:
        d = torch.addmm(norms[None, :], Xt[rows], Xt.T, beta=1.0, alpha=-2.0)
        return (d + norms[rows][:, None]).clamp_min_(0).to(torch.float64)

    closest = sq_to(torch.tensor(chosen))[0]
    for _ in range(1, k):
        cdf = torch.cumsum(closest, 0)
        if float(cdf[-1]) <= 0:  # fewer distinct points than k: any point will do
            cand = torch.as_tensor(rng.integers(0, n, trials))
        else:
            u = torch.as_tensor(rng.random(trials) * float(cdf[-1]))
            cand = torch.searchsorted(cdf, u).clamp_(max=n - 1)
        new = torch.minimum(closest[None, :], sq_to(cand))
        best = int(torch.argmin(new.sum(1)))
        chosen.append(int(cand[best]))
        closest = new[best]
    return np.ascontiguousarray(X[np.array(chosen)], dtype=X.dtype)


def _sklearn_centroids(
    E: NDArray[Any], k: int, seed: int, n_iter: int, n_init: int, algorithm: str
) -> NDArray[Any]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    mini = algorithm == "minibatch" or (algorithm == "auto" and E.shape[0] * k > _LLOYD_LIMIT)
    model: Any
    if mini:
        model = MiniBatchKMeans(
            n_clusters=k, max_iter=n_iter, n_init=n_init, random_state=seed, batch_size=4096
        )
    else:
        model = KMeans(n_clusters=k, max_iter=n_iter, n_init=n_init, random_state=seed)
    with warnings.catch_warnings():  # duplicates: fewer distinct clusters; empty ones are dropped
        warnings.simplefilter("ignore")
        model.fit(E)
    return np.ascontiguousarray(model.cluster_centers_, dtype=E.dtype)


def _assign_and_snap(
    E: NDArray[Any], C: NDArray[Any], chunk: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Nearest centre of every row, and nearest row of every centre, in one chunked pass."""
    dtype = torch.float64 if E.dtype == np.float64 else torch.float32
    Ct = torch.as_tensor(np.ascontiguousarray(C), dtype=dtype)
    c_norm = (Ct * Ct).sum(1)
    k = Ct.shape[0]
    labels = np.empty(E.shape[0], np.int64)
    best = torch.full((k,), float("inf"), dtype=dtype)
    best_row = torch.zeros(k, dtype=torch.int64)
    for lo in range(0, E.shape[0], chunk):
        xb = torch.from_numpy(np.require(E[lo : lo + chunk], requirements=["C", "W"]))
        xb = xb.to(dtype)
        d = torch.addmm(c_norm[None, :], xb, Ct.T, beta=1.0, alpha=-2.0)
        d += (xb * xb).sum(1, keepdim=True)  # full squared distances (for the column minimum)
        labels[lo : lo + len(xb)] = d.argmin(1).numpy()
        col_min, col_arg = d.min(0)
        better = col_min < best
        best = torch.where(better, col_min, best)
        best_row = torch.where(better, col_arg + lo, best_row)
    return labels, best_row.numpy().astype(np.int64)


def _finalise(
    labels: NDArray[np.int64], nearest: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Drop empty clusters, merge clusters snapped to one point, put each centre in its cluster.

    Returns the new labels, the distinct representatives and, for each new cluster, the old
    cluster it keeps (the first one of a merged group).
    """
    k_old = len(nearest)
    used = np.flatnonzero(np.bincount(labels, minlength=k_old) > 0)
    reps, first, inverse = np.unique(nearest[used], return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # keep the clusters' original order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    old_to_new = np.full(k_old, -1, np.int64)
    old_to_new[used] = rank[inverse]
    new_labels = old_to_new[labels]
    reps = reps[order].astype(np.int64)
    new_labels[reps] = np.arange(len(reps))
    return new_labels, reps, used[first[order]]


def _sq_distances(
    E: NDArray[Any], reps: NDArray[np.int64], labels: NDArray[np.int64], chunk: int
) -> NDArray[np.float64]:
    """Exact ``||x - rep(x)||^2`` by differences (no cancellation for points near their centre)."""
    R = torch.as_tensor(np.ascontiguousarray(E[reps]))
    out = np.empty(E.shape[0], np.float64)
    for lo in range(0, E.shape[0], chunk):
        xb = torch.from_numpy(np.require(E[lo : lo + chunk], requirements=["C", "W"]))
        diff = xb - R[torch.from_numpy(labels[lo : lo + chunk])]
        out[lo : lo + len(xb)] = (diff.to(torch.float64) ** 2).sum(1).numpy()
    return out


def group_quotas(groups: ArrayLike, m: int, *, quota: str = "proportional") -> dict[Any, int]:
    """Split ``m`` across groups: proportionally to size (largest remainders) or equally.

    A group never gets more than its size; what it cannot take goes to the others.
    """
    labels, sizes = np.unique(np.asarray(groups), return_counts=True)
    if quota not in ("proportional", "equal"):
        raise InvalidParameterError(f"quota must be 'proportional' or 'equal', got {quota!r}")
    if m > sizes.sum():
        raise InvalidParameterError(f"budget {m} exceeds the {sizes.sum()} points available")
    share = np.zeros(len(labels), np.int64)
    left = m
    open_ = sizes > 0
    while left > 0:
        base = np.where(open_, sizes if quota == "proportional" else 1, 0).astype(np.float64)
        ideal = left * base / base.sum()
        add = np.floor(ideal).astype(np.int64)
        rem = left - add.sum()
        order = np.argsort(-(ideal - add), kind="stable")
        add[order[:rem]] += 1
        add = np.minimum(add, sizes - share)
        share += add
        left = m - share.sum()
        open_ = share < sizes
    return dict(zip(labels.tolist(), share.tolist(), strict=True))
