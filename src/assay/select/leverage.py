"""Row sampling for least squares: sensitivity (Algorithm 2), leverage scores, uniform.

A weighted row sample (positions S, weights w) gives the sketched problem
``min_x sum_{i in S} w_i (a_i . x - b_i)^2``; its solution ``x~`` is judged by the relative excess
loss ``(||A x~ - b||^2 - OPT) / OPT`` on the full data (:func:`relative_excess_loss`).

- **Leverage scores** ``h_i = ||Q_i||^2`` for ``A = QR``: exactly by a thin, column-pivoted
  (rank-revealing) QR in O(n d^2); approximately (Drineas, Magdon-Ismail, Mahoney & Woodruff,
  JMLR 2012) from ``R`` of a Gaussian sketch ``S A`` (``sketch_size`` rows, computed chunk by
  chunk) and a Johnson-Lindenstrauss projection, ``h~_i = ||a_i R^-1 G||^2 / r`` in O(n d r).
  Sampling is ``p_i = h_i / sum h``.
- **Sensitivity sampling** (Axiotis et al. 2024, Algorithm 2): cluster the rows of A (k-means
  with centres snapped to rows, standing in for the paper's k-median / k-medoids), solve least
  squares on the centres weighted by cluster size (``x0``), and sample with
  ``p_i ∝ Lambda ||a_i - a^_i|| + (a^_i . x0 - b^_i)^2`` (z = 1). The paper's experiments take
  ``Lambda -> inf`` (the default ``lam=inf``): ``p_i ∝ ||a_i - a^_i||``, labels unused, and the
  centres -- which then have probability 0 -- are kept in the sample with weight 1.
- **Uniform**: ``p_i = 1 / n``.

All draws are i.i.d. with replacement and weighted ``1 / (s p_i)`` (duplicates merged).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.clustering import Clustering, kmeans
from assay.embed.features import check_embeddings
from assay.errors import InvalidDataError, InvalidParameterError
from assay.select.budget import Subset, budget_count

METHODS = ("sensitivity", "leverage", "leverage-approx", "uniform")


def _check(A: ArrayLike, b: ArrayLike | None = None) -> tuple[NDArray[np.float64], Any]:
    Am = np.asarray(check_embeddings(A, what="A", dtype=np.float64), dtype=np.float64)
    if b is None:
        return Am, None
    bv = np.asarray(b, np.float64)
    if bv.shape != (Am.shape[0],):
        raise InvalidDataError(f"shape mismatch: A has {Am.shape[0]} rows, b has shape {bv.shape}")
    if not np.isfinite(bv).all():
        raise InvalidDataError("b has non-finite values")
    return Am, bv


def leverage_scores(
    A: ArrayLike,
    *,
    method: str = "exact",
    sketch_size: int | None = None,
    jl_dim: int | None = None,
    seed: int = 0,
    chunk: int = 65_536,
) -> NDArray[np.float64]:
    """Leverage score of every row of ``A`` (they sum to rank(A) when exact).

    Parameters
    ----------
    A : array-like (n, d)
    method : {"exact", "approx"}
    sketch_size : int, optional
        Rows of the Gaussian sketch (approx; default ``max(10 d, d + 20)``, at most n).
    jl_dim : int, optional
        Columns of the JL projection (approx; default ``max(32, ceil(8 log n))``).
    seed : int
    chunk : int
        Rows per block when sketching and projecting.
    """
    Am, _ = _check(A)
    n, d = Am.shape
    if method == "exact":
        from scipy.linalg import qr

        Q, R, _ = qr(Am, mode="economic", pivoting=True)
        diag = np.abs(np.diag(R))
        rank = int((diag > diag.max() * max(n, d) * np.finfo(float).eps).sum()) if len(diag) else 0
        return (Q[:, :rank] ** 2).sum(1)
    if method != "approx":
        raise InvalidParameterError(f"method must be 'exact' or 'approx', got {method!r}")
    r1 = min(n, sketch_size or max(10 * d, d + 20))
    r2 = jl_dim or max(32, math.ceil(8 * math.log(max(n, 2))))
    rng = np.random.default_rng(seed)
    SA = np.zeros((r1, d))
    for lo in range(0, n, chunk):  # S A without forming S (r1 x n)
        block = Am[lo : lo + chunk]
        SA += rng.standard_normal((r1, len(block))) @ block
    _, R = np.linalg.qr(SA / math.sqrt(r1))
    diag = np.abs(np.diag(R))
    keep = diag > diag.max() * max(r1, d) * np.finfo(float).eps
    G = rng.standard_normal((int(keep.sum()), r2)) / math.sqrt(r2)
    Rk = R[np.ix_(keep, keep)]
    from scipy.linalg import solve_triangular

    Omega = np.zeros((d, r2))
    Omega[keep] = solve_triangular(Rk, G, lower=False)  # R^-1 G on the well-conditioned part
    out = np.empty(n)
    for lo in range(0, n, chunk):
        out[lo : lo + chunk] = ((Am[lo : lo + chunk] @ Omega) ** 2).sum(1)
    return out


def regression_sensitivity(
    A: ArrayLike,
    b: ArrayLike,
    clustering: Clustering,
    *,
    lam: float = math.inf,
) -> NDArray[np.float64]:
    """Algorithm 2's sampling probabilities over the non-centre rows (centres get 0).

    ``lam=inf`` (the paper's experiments): proportional to the distance to the row's centre.
    """
    Am, bv = _check(A, b)
    if clustering.n != Am.shape[0]:
        raise InvalidDataError(f"clustering has {clustering.n} points, A has {Am.shape[0]} rows")
    if not lam >= 0:
        raise InvalidParameterError(f"lam must be >= 0 (or inf), got {lam}")
    dist = np.sqrt(clustering.sq_distances)
    if math.isinf(lam):
        score = dist.copy()
    else:
        reps = clustering.representatives
        w = np.sqrt(clustering.sizes.astype(np.float64))
        x0 = np.linalg.lstsq(Am[reps] * w[:, None], bv[reps] * w, rcond=None)[0]
        v = (Am[reps] @ x0 - bv[reps]) ** 2
        score = lam * dist + v[clustering.labels]
    score[clustering.representatives] = 0.0
    total = score.sum()
    if total <= 0:  # every row sits on its centre: uniform over the rest
        score = np.ones(len(score))
        score[clustering.representatives] = 0.0
        total = score.sum()
    return score / total if total > 0 else score


def sample_rows(
    p: ArrayLike, m: int, *, seed: int = 0, keep: ArrayLike | None = None, method: str = "rows"
) -> Subset:
    """``m`` i.i.d. draws from ``p`` weighted ``1 / (m p)``, plus ``keep`` rows with weight 1."""
    pv = np.asarray(p, np.float64)
    if m < 0:
        raise InvalidParameterError(f"the number of draws must be >= 0, got {m}")
    if (pv < 0).any() or not np.isclose(pv.sum(), 1.0):
        raise InvalidParameterError("p must be a probability vector (non-negative, sums to 1)")
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(pv), size=m, p=pv) if m else np.zeros(0, np.int64)
    uniq, counts = np.unique(draws, return_counts=True)
    kept = np.asarray([] if keep is None else keep, np.int64)
    pos = np.concatenate([kept, uniq]).astype(np.int64)
    w = np.concatenate([np.ones(len(kept)), counts / (m * pv[uniq]) if m else np.zeros(0)])
    return Subset(pos, pos, w, method, {"draws": m, "seed": seed})


def regression_sample(
    A: ArrayLike,
    b: ArrayLike,
    m: int,
    *,
    method: str = "sensitivity",
    k: int | None = None,
    lam: float = math.inf,
    clustering: Clustering | None = None,
    seed: int = 0,
    backend: str = "auto",
) -> Subset:
    """A weighted row sample of ``m`` rows by ``method`` (see the module docstring).

    For ``sensitivity`` the ``k`` centres (default 10% of the rows, the paper's setting) count
    towards ``m``; ``clustering`` reuses a clustering of the rows of ``A``.
    """
    Am, bv = _check(A, b)
    n = Am.shape[0]
    m = budget_count(m, n)
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    if method == "uniform":
        return sample_rows(np.full(n, 1 / n), m, seed=seed, method=method)
    if method in ("leverage", "leverage-approx"):
        h = leverage_scores(Am, method="exact" if method == "leverage" else "approx", seed=seed)
        return sample_rows(h / h.sum(), m, seed=seed, method=method)
    if clustering is None:
        clustering = kmeans(Am, k or max(1, n // 10), backend=backend, seed=seed)
    if clustering.k > m:
        raise InvalidParameterError(f"{clustering.k} centres do not fit in a budget of {m} rows")
    p = regression_sensitivity(Am, bv, clustering, lam=lam)
    s = m - clustering.k
    if s and p.sum() <= 0:
        s = 0  # every row is a centre
    return sample_rows(p, s, seed=seed, keep=clustering.representatives, method=method)


def weighted_lstsq(A: ArrayLike, b: ArrayLike, sample: Subset) -> NDArray[np.float64]:
    """Solution of the weighted sketched least-squares problem on ``sample``'s rows."""
    Am, bv = _check(A, b)
    w = np.sqrt(sample.weights)[:, None]
    return np.linalg.lstsq(Am[sample.positions] * w, bv[sample.positions] * w[:, 0], rcond=None)[0]


def relative_excess_loss(A: ArrayLike, b: ArrayLike, x: ArrayLike) -> float:
    """``(||A x - b||^2 - OPT) / OPT`` with OPT the least-squares optimum on all rows."""
    Am, bv = _check(A, b)
    opt = np.linalg.lstsq(Am, bv, rcond=None)[0]
    best = float(((Am @ opt - bv) ** 2).sum())
    got = float(((Am @ np.asarray(x) - bv) ** 2).sum())
    return (got - best) / best if best > 0 else got
