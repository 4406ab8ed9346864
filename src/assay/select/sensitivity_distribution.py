"""The sensitivity distribution of Axiotis et al. (Algorithm 1, lines 1-2): proxy losses and p.

The loss oracle is asked only at the k cluster representatives; every point gets
``l~(e) = l(c_e) + Lambda_{c_e} ||e - c_e||^z`` and ``p(e) = l~(e) / Z``. The choice of lambda
(``balanced_lambda``, Lemma 8's ``estimate_lambda``) and the draws / eps relation of line 3 live
here too; :mod:`assay.select.sensitivity` draws the weighted sample and estimates the loss.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.clustering import Clustering
from assay.errors import InvalidDataError, InvalidParameterError

log = logging.getLogger(__name__)

LossFn = Callable[[NDArray[np.int64]], ArrayLike]


class LossOracle:
    """The expensive loss, queried at positions; counts every point it is asked about.

    ``loss`` is a callable ``positions (m,) -> losses (m,)`` or an array of all n losses (for
    experiments where every loss is known).
    """

    def __init__(self, loss: LossFn | ArrayLike, n: int) -> None:
        self.n = n
        self.calls = 0
        if callable(loss):
            self._fn: LossFn | None = loss
            self._all = None
        else:
            self._fn = None
            self._all = self._check(np.asarray(loss, dtype=np.float64), n, "losses")

    @staticmethod
    def _check(v: NDArray[np.float64], m: int, what: str) -> NDArray[np.float64]:
        if v.shape != (m,):
            raise InvalidDataError(f"{what} must have shape ({m},), got {v.shape}")
        if not np.isfinite(v).all():
            raise InvalidDataError(
                f"{what} has non-finite values (first at {np.argmin(np.isfinite(v))})"
            )
        if (v < 0).any():
            raise InvalidDataError(
                f"{what} must be non-negative (sampling is proportional to them), "
                f"got {v.min():.4g} at position {int(np.argmin(v))}"
            )
        return v

    def __call__(self, positions: ArrayLike) -> NDArray[np.float64]:
        pos = np.asarray(positions, dtype=np.int64)
        self.calls += len(pos)
        if self._all is not None:
            return self._all[pos]
        assert self._fn is not None
        return self._check(np.asarray(self._fn(pos), dtype=np.float64), len(pos), "oracle losses")


@dataclass(frozen=True, eq=False)
class SensitivityDistribution:
    """Algorithm 1's sampling distribution over the points.

    Attributes
    ----------
    probabilities : ndarray (n,)
        ``p(e)``; sums to 1 over the sampled population (kept points get 0).
    proxy : ndarray (n,)
        ``l(c_e) + Lambda_{c_e} ||e - c_e||^z``.
    centre_losses, lam : ndarray (k,)
        Loss at each representative; Lambda of each cluster.
    z : float
    normaliser : float
        ``Z``, the sum of ``proxy`` over the population.
    phi : float
        ``Phi^Lambda = sum_j Lambda_j sum_{e in C_j} ||e - c_j||^z`` (Theorem 2's additive term).
    kmeans_cost : float
        ``sum_e ||e - c_e||^z`` (Phi_k for z = 2).
    kept : ndarray (r,)
        Points kept deterministically with weight 1 (representatives when included, and any
        ``keep`` positions); they are not sampled.
    fallback : bool
        True when ``Z = 0`` (zero losses at every centre and lambda = 0) and ``p`` fell back to
        uniform over the population.
    clustering : Clustering
    """

    probabilities: NDArray[np.float64]
    proxy: NDArray[np.float64]
    centre_losses: NDArray[np.float64]
    lam: NDArray[np.float64]
    z: float
    normaliser: float
    phi: float
    kmeans_cost: float
    kept: NDArray[np.int64]
    fallback: bool
    clustering: Clustering

    @property
    def population(self) -> NDArray[np.int64]:
        """Positions that can be drawn (all points but the kept ones)."""
        mask = np.ones(self.clustering.n, bool)
        mask[self.kept] = False
        return np.flatnonzero(mask)


def balanced_lambda(clustering: Clustering, centre_losses: ArrayLike, z: float = 2.0) -> float:
    """The ``"auto"`` lambda: equal sampling mass for the loss term and the distance term."""
    loss_mass = float((np.asarray(centre_losses, np.float64) * clustering.sizes).sum())
    dist_mass = clustering.cost(z)
    if dist_mass <= 0:
        return 0.0
    return loss_mass / dist_mass if loss_mass > 0 else 1.0


def estimate_lambda(
    clustering: Clustering,
    oracle: LossOracle,
    centre_losses: ArrayLike,
    *,
    z: float = 2.0,
    p: float = 0.5,
    queries: int | None = None,
    log_factor: bool = True,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Lemma 8's estimate of each cluster's Hoelder constant Lambda_i.

    In every cluster, query ``queries`` random members (default ``ceil(log(100 k) / log(1 /
    (1 - p)))``), take the largest ratio ``|l(x) - l(c_i)| / ||x - c_i||^z`` and multiply it by
    ``log n`` (``log_factor``): an upper bound on Lambda_i with probability 99/100 when each ratio
    lands in ``[Lambda_i / log n, Lambda_i]`` with probability at least ``p``.
    """
    if not 0 < p < 1:
        raise InvalidParameterError(f"p must lie in (0, 1), got {p}")
    k, n = clustering.k, clustering.n
    q = queries if queries is not None else math.ceil(math.log(100 * k) / math.log(1 / (1 - p)))
    v = clustering.distances(z)
    cand = np.flatnonzero(v > 0)
    rng = np.random.default_rng(seed)
    order = cand[np.lexsort((rng.random(len(cand)), clustering.labels[cand]))]
    lab = clustering.labels[order]
    starts = np.searchsorted(lab, np.arange(k))
    rank = np.arange(len(order)) - starts[lab]
    chosen = order[rank < q]
    lam = np.zeros(k)
    if len(chosen):
        cl = np.asarray(centre_losses, np.float64)
        ratio = np.abs(oracle(chosen) - cl[clustering.labels[chosen]]) / v[chosen]
        np.maximum.at(lam, clustering.labels[chosen], ratio)
    return lam * (math.log(n) if log_factor and n > 1 else 1.0)


def sensitivity_distribution(
    clustering: Clustering,
    centre_losses: ArrayLike,
    *,
    lam: float | str | ArrayLike = "auto",
    z: float = 2.0,
    include_centres: bool = True,
    keep: ArrayLike | None = None,
) -> SensitivityDistribution:
    """Algorithm 1's probabilities from a clustering and the losses at its representatives.

    Parameters
    ----------
    clustering : Clustering
    centre_losses : array-like (k,)
        Non-negative loss at each representative.
    lam : float, "auto" or array-like (k,)
        Hoelder constant(s); see the module docstring (``"estimate"`` needs an oracle: use
        :class:`SensitivitySampler`).
    z : float
        Power of the distance (2: squared Euclidean, the paper's choice).
    include_centres : bool
        Representatives are kept deterministically and excluded from sampling.
    keep : array-like of positions, optional
        Other points kept with weight 1 and excluded from sampling.
    """
    cl = LossOracle._check(np.asarray(centre_losses, np.float64), clustering.k, "centre losses")
    if not z > 0:
        raise InvalidParameterError(f"z must be > 0, got {z}")
    if isinstance(lam, str):
        if lam != "auto":
            raise InvalidParameterError(f"lam must be a number, an array or 'auto', got {lam!r}")
        lam_k = np.full(clustering.k, balanced_lambda(clustering, cl, z))
    else:
        lam_k = np.broadcast_to(np.asarray(lam, np.float64), (clustering.k,)).copy()
        if not np.isfinite(lam_k).all() or (lam_k < 0).any():
            raise InvalidParameterError(f"lam must be finite and >= 0, got {lam!r}")
    v = clustering.distances(z)
    proxy = cl[clustering.labels] + lam_k[clustering.labels] * v
    kept = np.asarray([] if keep is None else keep, np.int64)
    if len(kept) and (kept.min() < 0 or kept.max() >= clustering.n):
        raise InvalidParameterError(f"keep positions must lie in [0, {clustering.n})")
    if include_centres:
        kept = np.concatenate([clustering.representatives, kept])
    kept = np.unique(kept)
    mask = np.ones(clustering.n, bool)
    mask[kept] = False
    pop_proxy = np.where(mask, proxy, 0.0)
    Z = float(pop_proxy.sum())
    fallback = Z <= 0 and bool(mask.any())
    if fallback:
        log.warning("sensitivity sampling: zero loss at every centre and lambda = 0; uniform p")
        probs = mask / mask.sum()
    else:
        probs = pop_proxy / Z if Z > 0 else np.zeros(clustering.n)
    phi = float((lam_k[clustering.labels] * v * mask).sum())
    return SensitivityDistribution(
        probs,
        proxy,
        cl,
        lam_k,
        float(z),
        Z,
        phi,
        float(v.sum()),
        kept,
        fallback,
        clustering,
    )


def eps_for_draws(s: int) -> float:
    """The eps of Algorithm 1 for ``s`` draws: the root of ``s = eps^-2 (2 + 2 eps / 3)``."""
    return (1 / 3 + math.sqrt(1 / 9 + 2 * s)) / s if s > 0 else math.inf


def draws_for_eps(eps: float) -> int:
    """Algorithm 1, line 3: ``s = ceil(eps^-2 (2 + 2 eps / 3))``."""
    if not eps > 0:
        raise InvalidParameterError(f"eps must be > 0, got {eps}")
    return math.ceil((2 + 2 * eps / 3) / eps**2)
