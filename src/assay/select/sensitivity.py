"""Clustering-based sensitivity sampling (Axiotis et al., ICML 2024, Algorithm 1).

Cluster the embeddings (:func:`assay.select.kmeans.kmeans`, centres snapped to data points), ask
the loss oracle for the loss only at the k representatives, and give every point the proxy loss

    l~(e) = l(c_e) + Lambda_{c_e} * ||e - c_e||^z,        p(e) = l~(e) / Z,   Z = sum_e l~(e).

Draw ``s`` points i.i.d. (with replacement) from ``p`` and weight each draw by ``1 / (s p(e))``.
Then ``T^ = sum_draws w(e) l(e)`` is an unbiased estimate of the total loss ``T = sum_e l(e)``,
and Theorem 2 bounds its error by ``eps (T + 2 Phi^Lambda)`` with constant probability when
``s = ceil(eps^-2 (2 + 2 eps / 3))``, where ``Phi^Lambda = sum_j Lambda_j sum_{e in C_j}
||e - c_j||^z`` (for one lambda, ``lambda`` times the (k, z)-clustering cost, Phi_k for z = 2).

Choices where the paper leaves room (all documented in :class:`SensitivitySampler`):

- ``z = 2`` (squared Euclidean distance), the paper's practical setting (§5.1).
- ``lam="auto"`` (default) sets one global lambda so that the distance term carries as much
  sampling mass as the loss term, ``lambda = sum_e l(c_e) / sum_e ||e - c_e||^z``: the
  half-uniform / half-distance mixture of lightweight coresets (Bachem et al. 2018), invariant to
  rescaling the embeddings or the loss, and free of extra oracle calls. A number fixes it (the
  paper uses 0.1 for unit-norm text embeddings); ``"estimate"`` is Lemma 8's per-cluster upper
  estimate (extra oracle calls); an array gives one Lambda per cluster.
- ``include_centres=True`` (default, the paper's practice) keeps the k representatives in the
  subset with weight 1 (their losses are known exactly) and samples the other points from ``p``
  restricted to them, so ``T^ = sum_centres l + sum_draws w l`` stays unbiased. ``False`` is the
  literal Algorithm 1: centres are only queried, and ``p`` covers all points. Any other points
  can be kept the same way (``keep=``, e.g. the uniform warm-start sample the oracle model was
  trained on, as in the paper's classification protocol).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.embed.features import check_embeddings
from assay.errors import InvalidDataError, InvalidParameterError
from assay.select.kmeans import Clustering, grouped_kmeans, kmeans

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


@dataclass(frozen=True)
class LossEstimate:
    """The weighted estimate of the total and mean loss, with Theorem 2's error-bound terms.

    ``bound_total = eps (T^_sampled + 2 Phi^Lambda)`` plugs the estimate in for the unknown ``T``
    of the sampled population; ``stderr_*`` is the empirical standard error over the draws.
    """

    total: float
    mean: float
    stderr_total: float
    stderr_mean: float
    eps: float
    phi: float
    kmeans_cost: float
    bound_total: float
    bound_mean: float
    n: int
    n_draws: int

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class SensitivitySample:
    """A weighted subset drawn by sensitivity sampling.

    Attributes
    ----------
    positions : ndarray (m,)
        Distinct selected points (representatives first when included), positions in the data.
    weights : ndarray (m,)
        Weight of each: 1 for an included representative, ``count / (s p(e))`` for a drawn point.
    draws : ndarray (s,)
        The i.i.d. draws, in order (a point drawn twice appears twice).
    distribution : SensitivityDistribution
    ids : ndarray (m,)
        The selected points' ids.
    params : dict
    """

    positions: NDArray[np.int64]
    weights: NDArray[np.float64]
    draws: NDArray[np.int64]
    distribution: SensitivityDistribution
    ids: NDArray[Any]
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def n_draws(self) -> int:
        return len(self.draws)

    def estimate(self, losses: LossFn | ArrayLike) -> LossEstimate:
        """The weighted loss estimate from the true losses at ``positions`` (array or oracle)."""
        dist = self.distribution
        n = dist.clustering.n
        ell = (
            LossOracle(losses, n)(self.positions)
            if callable(losses)
            else LossOracle._check(np.asarray(losses, np.float64), len(self), "losses")
        )
        at = np.zeros(n)
        at[self.positions] = ell
        fixed = float(at[dist.kept].sum())
        s = self.n_draws
        sampled, se = 0.0, 0.0
        if s:
            x = at[self.draws] / dist.probabilities[self.draws]
            sampled = float(x.mean())
            se = float(x.std(ddof=1) / math.sqrt(s)) if s > 1 else 0.0
        eps = eps_for_draws(s)
        bound = eps * (sampled + 2 * dist.phi) if s else 0.0
        total = fixed + sampled
        return LossEstimate(
            total, total / n, se, se / n, eps, dist.phi, dist.kmeans_cost, bound, bound / n, n, s
        )

    def to_subset(self) -> Any:
        """The sample as a :class:`assay.select.budget.Subset` (``id, weight``)."""
        from assay.select.budget import Subset

        return Subset(self.ids, self.positions, self.weights, "sensitivity", self.params)


def draw_sample(
    dist: SensitivityDistribution, n_draws: int, *, seed: int = 0, ids: ArrayLike | None = None
) -> SensitivitySample:
    """Draw ``n_draws`` points i.i.d. from ``dist`` and weight them ``1 / (n_draws p)``."""
    n = dist.clustering.n
    if n_draws < 0:
        raise InvalidParameterError(f"the number of draws must be >= 0, got {n_draws}")
    if n_draws > 0 and dist.probabilities.sum() <= 0:
        raise InvalidParameterError("nothing to sample: every point is a representative")
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(dist.probabilities)
    draws = np.searchsorted(cdf, rng.random(n_draws) * cdf[-1], side="right").astype(np.int64)
    draws = np.minimum(draws, n - 1)
    uniq, counts = np.unique(draws, return_counts=True)
    w = counts / (n_draws * dist.probabilities[uniq]) if n_draws else np.zeros(0)
    positions = np.concatenate([dist.kept, uniq]).astype(np.int64)
    weights = np.concatenate([np.ones(len(dist.kept)), w])
    id_arr = np.arange(n) if ids is None else np.asarray(ids)
    if len(id_arr) != n:
        raise InvalidDataError(f"shape mismatch: {len(id_arr)} ids for {n} points")
    params = {
        "k": dist.clustering.k,
        "n_draws": n_draws,
        "z": dist.z,
        "lam": float(dist.lam[0]) if np.ptp(dist.lam) == 0 else "per-cluster",
        "kept": len(dist.kept),
        "seed": seed,
        "eps": eps_for_draws(n_draws),
    }
    return SensitivitySample(positions, weights, draws, dist, id_arr[positions], params)


class SensitivitySampler:
    """Sensitivity sampling in one call: cluster, query k losses, sample, weight.

    Parameters
    ----------
    n_clusters : int
        k, the number of clusters (the loss is queried at k points). The paper uses 10-20% of
        the budget.
    budget : int, optional
        Points in the subset: ``k`` representatives (when included) plus ``budget - k`` draws.
    eps : float, optional
        Instead of ``budget``: ``s = ceil(eps^-2 (2 + 2 eps / 3))`` draws (Algorithm 1); the
        subset then has ``k + s`` entries at most. Default when neither is given: ``eps = 0.1``.
    lam : float, "auto", "estimate" or array-like (k,)
        Hoelder constant(s) (see the module docstring). Default ``"auto"``.
    z : float
        Distance power (default 2).
    include_centres : bool
        Keep the representatives (weight 1) and sample the rest (default True).
    backend : {"auto", "faiss", "sklearn"}
        k-means backend.
    seed : int
        Seeds k-means, lambda estimation and the draws.
    kmeans_params : dict, optional
        Extra arguments of :func:`assay.select.kmeans.kmeans`.

    Attributes
    ----------
    clustering_, distribution_, sample_, oracle_calls_, seconds_

    Examples
    --------
    >>> import numpy as np
    >>> E = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    >>> losses = np.abs(E[:, 0])
    >>> s = SensitivitySampler(20, budget=100, backend="sklearn").fit(E, losses)
    >>> len(s.positions) <= 100, round(s.weights.sum() / 500, 1)
    (True, 1.0)
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        budget: int | None = None,
        eps: float | None = None,
        lam: float | str | ArrayLike = "auto",
        z: float = 2.0,
        include_centres: bool = True,
        backend: str = "auto",
        seed: int = 0,
        kmeans_params: dict[str, Any] | None = None,
    ) -> None:
        if budget is not None and eps is not None:
            raise InvalidParameterError("give either budget or eps, not both")
        if n_clusters < 1:
            raise InvalidParameterError(f"n_clusters must be >= 1, got {n_clusters}")
        self.n_clusters = n_clusters
        self.budget = budget
        self.eps = eps
        self.lam = lam
        self.z = z
        self.include_centres = include_centres
        self.backend = backend
        self.seed = seed
        self.kmeans_params = dict(kmeans_params or {})

    def _n_draws(self, n: int, kept: int) -> int:
        if self.budget is None:
            return draws_for_eps(0.1 if self.eps is None else self.eps)
        if not 1 <= self.budget <= n:
            raise InvalidParameterError(f"budget must lie in [1, n = {n}], got {self.budget}")
        if self.budget < kept:
            raise InvalidParameterError(
                f"budget {self.budget} is smaller than the {kept} points it keeps "
                "(representatives and keep=); use fewer clusters or include_centres=False"
            )
        return self.budget - kept

    def fit(
        self,
        embeddings: ArrayLike,
        loss: LossFn | ArrayLike,
        *,
        ids: ArrayLike | None = None,
        clustering: Clustering | None = None,
        keep: ArrayLike | None = None,
        groups: ArrayLike | None = None,
    ) -> SensitivitySample:
        """Select a weighted subset of the rows of ``embeddings``.

        ``loss`` is the oracle (``positions -> losses``) or all n losses; ``clustering`` reuses
        an existing clustering of these embeddings instead of running k-means; ``keep`` are
        positions kept with weight 1 (counted in the budget) and never drawn; ``groups`` (e.g.
        the labels, for a supervised loss) makes clusters within each group
        (:func:`assay.select.kmeans.grouped_kmeans`).
        """
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        if clustering is None:
            E = check_embeddings(embeddings)
            if self.budget is not None and self.budget > E.shape[0]:
                raise InvalidParameterError(
                    f"budget must lie in [1, n = {E.shape[0]}], got {self.budget}"
                )
            params = {"backend": self.backend, "seed": self.seed, **self.kmeans_params}
            if groups is None:
                clustering = kmeans(E, self.n_clusters, **params)
            else:
                clustering = grouped_kmeans(E, self.n_clusters, groups, **params)
        n = clustering.n
        seconds["kmeans"] = time.perf_counter() - t0
        oracle = LossOracle(loss, n)
        t = time.perf_counter()
        centre_losses = oracle(clustering.representatives)
        seconds["losses"] = time.perf_counter() - t
        t = time.perf_counter()
        lam: float | str | ArrayLike = self.lam
        if isinstance(lam, str) and lam == "estimate":
            lam = estimate_lambda(clustering, oracle, centre_losses, z=self.z, seed=self.seed)
        dist = sensitivity_distribution(
            clustering,
            centre_losses,
            lam=lam,
            z=self.z,
            include_centres=self.include_centres,
            keep=keep,
        )
        n_draws = self._n_draws(n, len(dist.kept))
        seconds["probabilities"] = time.perf_counter() - t
        t = time.perf_counter()
        if dist.population.size == 0:  # every point is kept: nothing left to draw
            n_draws = 0
        sample = draw_sample(dist, n_draws, seed=self.seed, ids=ids)
        seconds["sampling"] = time.perf_counter() - t
        self.clustering_, self.distribution_, self.sample_ = clustering, dist, sample
        self.oracle_calls_ = oracle.calls
        self.seconds_ = seconds
        mode = self.lam if isinstance(self.lam, str) else "given"
        sample.params.update(
            {"lam_mode": mode, "oracle_calls": oracle.calls, "budget": self.budget}
        )
        return sample
