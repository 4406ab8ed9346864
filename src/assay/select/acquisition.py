"""Acquisition functions: which pool points to label next (higher score = acquired first).

- ``fi`` (FI^active, the seed's Eq. 4.1 / Algorithm 2; ``alpha < 1`` adds Algorithm 8's
  subsample + forest, ``kfsvd=True`` Algorithm 7's KFSVD),
- ``iv`` (Chhabra et al.'s active-learning variant: IV of the labelled points against the
  validation set, a ``DecisionTreeRegressor(random_state=42)`` from features to IV, the pool points
  with the largest predicted IV),
- ``bald`` (mutual information between the label and the parameters: MC dropout for networks with
  dropout, Laplace posterior ``N(theta, H^{-1})`` for logistic regression),
- ``entropy``, ``margin``, ``least-confidence``, ``random``,
- any valuation method's name (``knn-shapley``, ``data-oob``, ...): valued on the labelled set and
  extrapolated to the pool by a decision tree, as Chhabra et al. do with IV.

Without a validation set, ``iv`` and the valuation-based acquisitions use the pool with the
model's predicted labels as the validation set (as FI^active does).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidParameterError, unknown_name
from assay.learners.base import BatchLearner, FittedModels, scoped_seed
from assay.learners.logistic import LogisticRegression
from assay.learners.networks import FittedNetworks
from assay.second_order.differentiable import differentiable
from assay.second_order.inverse import make_solver
from assay.second_order.solvers import DenseInverse
from assay.utility import Utility
from assay.valuation.base import ValuationMethod
from assay.valuation.fi_approx import bernoulli_subsample, forest_ranks, kfsvd_fi_active
from assay.valuation.influence import InfluenceValue
from assay.valuation.local_influence import fi_active


@dataclass(frozen=True)
class PoolState:
    """What an acquisition function may look at in one round (never the pool's labels)."""

    learner: BatchLearner
    fitted: FittedModels
    labelled: Dataset
    pool_X: NDArray[np.float64]
    valid: Dataset | None
    rng: np.random.Generator

    def pool_proba(self) -> NDArray[np.float64]:
        X = torch.tensor(self.pool_X, dtype=self.learner.dtype, device=self.learner.device)
        return self.fitted.predict_proba(X)[0].double().cpu().numpy()

    def reference(self) -> Dataset:
        """The validation set, or the pool labelled with the model's predictions."""
        if self.valid is not None:
            return self.valid
        yhat = self.pool_proba().argmax(1)
        classes = self.labelled.classes
        return Dataset.from_arrays(self.pool_X, classes[yhat], classes=classes)


class Acquisition(ABC):
    """Scores pool points; :meth:`select` takes the ``batch`` highest (ties: lower position)."""

    name: str = "acquisition"

    @abstractmethod
    def scores(self, state: PoolState) -> NDArray[np.float64]:
        """One score per pool point (higher = more worth labelling)."""

    def select(self, state: PoolState, batch: int) -> NDArray[np.int64]:
        s = np.asarray(self.scores(state), dtype=np.float64)
        return np.argsort(-s, kind="stable")[:batch].astype(np.int64)

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class RandomAcquisition(Acquisition):
    name = "random"

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        return state.rng.random(len(state.pool_X))


class EntropyAcquisition(Acquisition):
    name = "entropy"

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        P = state.pool_proba()
        return -(P * np.log(np.clip(P, 1e-300, None))).sum(1)


class MarginAcquisition(Acquisition):
    """Smallest gap between the two most probable classes first."""

    name = "margin"

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        P = np.sort(state.pool_proba(), axis=1)
        return -(P[:, -1] - P[:, -2])


class LeastConfidenceAcquisition(Acquisition):
    name = "least-confidence"

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        return 1.0 - state.pool_proba().max(1)


class BALDAcquisition(Acquisition):
    """BALD (Houlsby et al. 2011; Gal et al. 2017): ``H[E p] - E H[p]`` over posterior samples.

    Parameters
    ----------
    samples : int
        MC-dropout passes (networks) or Laplace draws (logistic regression).
    """

    name = "bald"

    def __init__(self, *, samples: int = 20) -> None:
        if samples < 2:
            raise InvalidParameterError(f"samples must be >= 2, got {samples}")
        self.samples = samples

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        P = self._posterior_probs(state)  # (T, m, K)
        mean = P.mean(0)
        ent = lambda q: -(q * np.log(np.clip(q, 1e-300, None))).sum(-1)  # noqa: E731
        return np.asarray(ent(mean) - ent(P).mean(0))

    def _posterior_probs(self, state: PoolState) -> NDArray[np.float64]:
        seed = int(state.rng.integers(2**31))
        if isinstance(state.fitted, FittedNetworks):
            module = state.fitted.module
            if not any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in module.modules()):
                raise InvalidParameterError(
                    "bald needs MC dropout: use a network with dropout > 0 (e.g. "
                    "--learner-param dropout=0.25), or a logistic regression (Laplace)"
                )
            fn, params = state.fitted.functional(0)
            X = torch.tensor(state.pool_X, dtype=state.learner.dtype, device=state.learner.device)
            module.train()
            try:  # MC dropout draws from the global stream: seeded for this block only
                with torch.no_grad(), scoped_seed(seed, state.learner.device):
                    out = [torch.softmax(fn(params, X), -1) for _ in range(self.samples)]
            finally:
                module.eval()
            return torch.stack(out)[..., state.fitted.present[0]].double().cpu().numpy()
        if not isinstance(state.learner, LogisticRegression):
            raise InvalidParameterError(
                f"bald supports networks with dropout and logistic regression, got "
                f"{type(state.learner).__name__}"
            )
        model = differentiable(state.learner, state.labelled, fitted=state.fitted)
        root = DenseInverse(model.hessian(), n=model.n).sqrt_inverse()  # Laplace: N(theta, H^-1)
        gen = torch.Generator().manual_seed(seed)
        Z = torch.randn(self.samples, model.p, generator=gen, dtype=model.theta.dtype)
        thetas = model.theta + Z.to(model.theta.device) @ root
        X = model.inputs(state.pool_X)
        probs = torch.func.vmap(lambda t: torch.softmax(model.fn(t, X), -1))(thetas)
        return probs.cpu().numpy()


class FIActiveAcquisition(Acquisition):
    """FI^active (Eq. 4.1): g of FI(z_pool, z_j) over the labelled set; highest first.

    Parameters
    ----------
    how : {"trimmed_mean", "mean", "median"}
    quantiles : (float, float)
        The trimmed mean's range (the seed: 10%-90%).
    damping : float
    scope : {"all", "last"}
        ``last`` (the seed's choice for CNNs): the last linear layer on the embedding.
    solver : str
    kfsvd : bool
        KFSVD (Algorithm 7: K-FAC and rank-``k`` mixed partials) instead of the exact FI.
    k : int
    alpha : float
        Score a Bernoulli(alpha) subsample of the pool and extrapolate ranks with a forest
        (Algorithm 8); 1 scores every pool point.
    """

    name = "fi"

    def __init__(
        self,
        *,
        how: str = "trimmed_mean",
        quantiles: tuple[float, float] = (0.1, 0.9),
        damping: float = 0.0,
        scope: str = "all",
        solver: str = "auto",
        kfsvd: bool = False,
        k: int = 8,
        alpha: float = 1.0,
    ) -> None:
        if not 0 < alpha <= 1:
            raise InvalidParameterError(f"alpha must lie in (0, 1], got {alpha}")
        self.how, self.quantiles, self.damping, self.scope = how, tuple(quantiles), damping, scope
        self.solver, self.kfsvd, self.k, self.alpha = solver, kfsvd, k, alpha

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        model = differentiable(state.learner, state.labelled, fitted=state.fitted, scope=self.scope)
        kind = "kfac" if self.kfsvd and self.solver == "auto" else self.solver
        solver = make_solver(model, kind, damping=self.damping)
        m = len(state.pool_X)
        rows = np.arange(m) if self.alpha >= 1 else bernoulli_subsample(m, self.alpha, state.rng)
        Xq = model.inputs(state.pool_X[rows])
        q = (float(self.quantiles[0]), float(self.quantiles[1]))
        if self.kfsvd:
            fi = kfsvd_fi_active(model, solver, Xq, k=self.k, how=self.how, quantiles=q)
        else:
            fi = fi_active(model, solver, Xq, how=self.how, quantiles=q)
        values = fi.cpu().numpy()
        if self.alpha >= 1:
            return values
        return forest_ranks(
            np.asarray(state.pool_X), rows, values, seed=int(state.rng.integers(2**31))
        )


class ValuationTreeAcquisition(Acquisition):
    """Value the labelled points, regress value on features with a decision tree, take the pool
    points with the highest predicted value (Chhabra et al.'s active-learning recipe).

    The tree learns the keep score (the value of a higher-is-better method, the negated score of a
    higher-is-suspect one, see :mod:`assay.result`), so the pool points most like the labelled
    keepers are taken whichever direction the method declares; NaN values count as the worst.
    """

    def __init__(self, method: ValuationMethod, *, name: str | None = None) -> None:
        self.method = method
        self.name = name or method.name

    def scores(self, state: PoolState) -> NDArray[np.float64]:
        from sklearn.tree import DecisionTreeRegressor

        u = Utility(state.learner, state.labelled, state.reference())
        values = self.method.fit(u)
        tree = DecisionTreeRegressor(random_state=42)
        keep = -values.suspicion
        keep = np.where(np.isnan(keep), np.nanmin(keep) if (~np.isnan(keep)).any() else 0.0, keep)
        tree.fit(np.asarray(state.labelled.X), keep)
        return np.asarray(tree.predict(np.asarray(state.pool_X)), dtype=np.float64)


_SIMPLE: dict[str, type[Acquisition]] = {
    "random": RandomAcquisition,
    "entropy": EntropyAcquisition,
    "margin": MarginAcquisition,
    "least-confidence": LeastConfidenceAcquisition,
    "bald": BALDAcquisition,
    "fi": FIActiveAcquisition,
}


def acquisition_names() -> list[str]:
    """Built-in acquisition names (plus every valuation method's name)."""
    return [*_SIMPLE, "iv", "fi-approx"]


def make_acquisition(name: str | Acquisition, **params: Any) -> Acquisition:
    """An acquisition function by name (see the module docstring)."""
    if isinstance(name, Acquisition):
        return name
    try:
        if name in _SIMPLE:
            return _SIMPLE[name](**params)
        if name == "fi-approx":  # Algorithms 7 and 8 together, as the seed runs them
            return FIActiveAcquisition(**{"kfsvd": True, "alpha": 0.2, **params})
        if name == "iv":
            return ValuationTreeAcquisition(InfluenceValue(**params), name="iv")
    except TypeError as exc:
        raise InvalidParameterError(f"bad parameters for acquisition {name!r}: {exc}") from exc
    from assay.valuation.registry import METHODS, make_method

    if name in METHODS:
        return ValuationTreeAcquisition(make_method(name, **params), name=name)
    raise unknown_name("acquisition", name, [*acquisition_names(), *METHODS])
