"""Clustering-based sensitivity sampling (Axiotis et al., ICML 2024, Algorithm 1).

Cluster the embeddings (:func:`assay.clustering.kmeans`, centres snapped to data points), ask
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.clustering import Clustering, grouped_kmeans, kmeans
from assay.embed.features import check_embeddings
from assay.errors import InvalidDataError, InvalidParameterError
from assay.select.sensitivity_distribution import (
    LossFn,
    LossOracle,
    SensitivityDistribution,
    balanced_lambda,
    draws_for_eps,
    eps_for_draws,
    estimate_lambda,
    sensitivity_distribution,
)

log = logging.getLogger(__name__)


__all__ = [
    "LossEstimate",
    "LossOracle",
    "SensitivityDistribution",
    "SensitivitySample",
    "SensitivitySampler",
    "balanced_lambda",
    "draw_sample",
    "draws_for_eps",
    "eps_for_draws",
    "estimate_lambda",
    "sensitivity_distribution",
]


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
        Extra arguments of :func:`assay.clustering.kmeans`.

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
        (:func:`assay.clustering.grouped_kmeans`).
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
