"""The audit's k-nearest-neighbour graph: FAISS (else scikit-learn), searched chunk by chunk.

Every query row's own hit is removed (:func:`~assay.valuation.knn_truncated.without_self`), so
row j's lists hold its nearest *other* rows. From :data:`IVF_ROWS` rows FAISS searches an
inverted-file index (:func:`ivf_params`, approximate) in chunks of rows with a progress bar; a
consumer of the wide lists (KNN-Shapley's ``M`` nearest) takes each chunk as it comes
(``each``), so only the narrow lists the audit keeps are ever held for all rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.progress import progress_bar
from assay.valuation.knn_truncated import search_every_hit, without_self

#: rows from which the k-NN graph is searched with an inverted-file index instead of exactly
IVF_ROWS = 20_000
#: query rows of one chunk of an inverted-file search (one progress-bar step each): the
#: chunk's hits and its consumer's temporaries (KNN-Shapley's (rows, M) float64 recursion) are
#: what the search adds to the index, so smaller chunks keep a million rows' peak down
SEARCH_ROWS = 8192


def ivf_params(n: int) -> tuple[int, int, int]:
    """Cells, cells probed and k-means training rows of the inverted-file index of ``n`` rows.

    ``2 sqrt(n)`` cells, 6 probed: 10x faster than exact on Adult's 48,842 rows with 99.3% of
    the exact neighbours; a row's exact duplicates share its cell, so all are found. The cells'
    k-means needs ~40 rows a cell (FAISS's own sampling rule), not all rows.
    """
    cells = int(2 * np.sqrt(n))
    return cells, 6, 40 * cells


def knn_chunks(
    X: NDArray[np.floating[Any]], k: int, kd: int, *, progress: bool = False
) -> Iterator[tuple[int, NDArray[np.floating[Any]], NDArray[np.integer[Any]]]]:
    """``(first row, distances (rows, kd), positions (rows, k))`` of each chunk of query rows,
    nearest first, the row itself removed; ``k`` and ``kd`` at most ``len(X) - 1``.

    Below :data:`IVF_ROWS` rows one exact chunk (float64 distances, int64 positions); above,
    :data:`SEARCH_ROWS`-row chunks of float32 distances and int32 positions (a bar when
    ``progress``). Queries are independent, so the chunks give the same lists as one search.
    """
    n = len(X)
    try:
        import faiss
    except ImportError:
        from sklearn.neighbors import NearestNeighbors

        dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
        nbr, near = without_self(idx, k, dist=dist[:, : kd + 1])
        assert near is not None
        yield 0, near, nbr
        return
    xf = np.ascontiguousarray(X, dtype=np.float32)
    large = n >= IVF_ROWS
    index: Any
    if large:
        cells, probe, n_train = ivf_params(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(X.shape[1]), X.shape[1], cells)
        index.train(xf[np.sort(np.random.default_rng(0).permutation(n)[:n_train])])
        index.nprobe = probe
        step = SEARCH_ROWS
    else:
        index = faiss.IndexFlatL2(X.shape[1])
        step = n
    index.add(xf)
    with progress_bar(-(-n // step), "k-NN search", progress and large, "chunk") as bar:
        for lo in range(0, n, step):
            d2, idx = search_every_hit(index, xf[lo : lo + step], k + 1)
            dist = np.sqrt(np.maximum(d2[:, : kd + 1], 0.0))
            if large:
                idx = idx.astype(np.int32)
            else:
                dist = dist.astype(np.float64)
            nbr, near = without_self(idx, k, first=lo, dist=dist)
            assert near is not None
            yield lo, near, nbr
            bar.update()


def knn_graph(
    X: NDArray[np.floating[Any]],
    k: int,
    *,
    progress: bool = False,
    distances: int | None = None,
    keep: int | None = None,
    each: Callable[[int, NDArray[np.integer[Any]]], None] | None = None,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.integer[Any]]]:
    """Distances and positions of each row's nearest other rows (:func:`knn_chunks`).

    Parameters
    ----------
    X : (n, d) array
    k : int
        Neighbours searched per row (at most ``n - 1``).
    progress : bool
        A bar over the chunks of an inverted-file search.
    distances : int, optional
        Keep the distances of only that many nearest (default all ``k``).
    keep : int, optional
        Keep the positions of only that many nearest (default all ``k``).
    each : callable, optional
        ``each(first_row, positions)`` receives every chunk's full ``k``-wide lists: a
        million rows' 100 neighbours are 0.4 GB as int32, which a consumer that sums over them
        (KNN-Shapley) never needs all at once.

    Returns
    -------
    distances : (n, distances) array
        float64 below :data:`IVF_ROWS` rows, float32 above.
    positions : (n, keep) array
        int64 below :data:`IVF_ROWS` rows, int32 above.
    """
    n = len(X)
    k = min(k, n - 1)
    kd = k if distances is None else min(max(1, int(distances)), k)
    kk = k if keep is None else min(max(1, int(keep)), k)
    dist: NDArray[np.floating[Any]] | None = None
    nbr: NDArray[np.integer[Any]] | None = None
    for lo, near, hits in knn_chunks(X, k, kd, progress=progress):
        if dist is None or nbr is None:  # the search's own dtypes (see knn_chunks)
            dist, nbr = np.empty((n, kd), near.dtype), np.empty((n, kk), hits.dtype)
        dist[lo : lo + len(near)] = near
        nbr[lo : lo + len(hits)] = hits[:, :kk]
        if each is not None:
            each(lo, hits)
    assert dist is not None and nbr is not None
    return dist, nbr
