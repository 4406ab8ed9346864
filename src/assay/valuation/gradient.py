"""Gradient-based values (seed 000): gradient norm (GraNd) and gradient matching to a target set.

- :class:`GraNd` (Paul et al., NeurIPS 2021): the norm of each training point's loss gradient with
  respect to all parameters, averaged over an ensemble of early-trained models (trained at once
  by the batched learner, as in :mod:`assay.valuation.inference`), via
  :func:`assay.second_order.derivatives.per_sample_gradient_norms`.
- :class:`GradientMatching` (LESS, Xia et al., ICML 2024, simplified): the cosine between each
  training point's gradient and the mean gradient of a *target* set (target-domain data; the
  utility's validation set by default). Gradients are projected to ``dim`` dimensions by a
  seeded random matrix ``Pi`` (p x dim, Rademacher or Gaussian entries, scaled by
  ``1/sqrt(dim)``), so the cost scales to networks: ``n x p`` is never formed. Two equivalent
  ways compute ``Pi^T g_i``:

  - ``method="vmap"``: per-sample gradients of a chunk of points (``chunk x p``, vmap over
    samples), multiplied by ``Pi`` block by block;
  - ``method="jvp"``: forward-mode products ``<g_i, pi_j>`` for every direction ``pi_j`` at once
    (``torch.func.jvp`` vmapped over directions) -- no per-sample gradient is ever formed.

  ``Pi`` is generated in column blocks, each from its own seed, so both methods use the same
  matrix. ``dim=None`` computes the exact cosine in the full parameter space. Unlike LESS, plain
  (not Adam-preconditioned) gradients are used and there is one target set.

GraNd's value is the natural norm, higher = harder (``higher-is-suspect``); gradient matching's is
the cosine, higher = better aligned with the target (``higher-is-better``).
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.func import jvp, vmap

from assay.errors import InvalidParameterError
from assay.result import HIGHER_IS_SUSPECT, ValuationResult
from assay.second_order.derivatives import (
    LogitFn,
    Params,
    cross_entropy,
    per_sample_gradient_norms,
    per_sample_gradients,
)
from assay.valuation.base import ValuationMethod
from assay.valuation.inference import ensemble_result, fit_ensemble

Tensor = torch.Tensor


class RandomProjection:
    """A seeded ``p x dim`` random projection, generated (and optionally cached) in column blocks.

    Parameters
    ----------
    p, dim : int
        Input (parameter) and output dimensions.
    seed : int
    kind : {"rademacher", "gaussian"}
    block : int
        Columns per block (column ``c`` is generated from seed ``(seed, c)``, so the matrix
        does not depend on ``block``).
    dtype : torch.dtype
    max_cache_mb : float
        Keep generated blocks in memory while the whole matrix fits in this many MB; beyond,
        blocks are regenerated on every use (memory-bounded, slower).
    """

    def __init__(
        self,
        p: int,
        dim: int,
        *,
        seed: int = 0,
        kind: str = "rademacher",
        block: int = 64,
        dtype: torch.dtype = torch.float32,
        max_cache_mb: float = 256.0,
    ) -> None:
        if kind not in ("rademacher", "gaussian"):
            raise InvalidParameterError(f"kind must be rademacher or gaussian, got {kind!r}")
        if p < 1 or dim < 1 or block < 1:
            raise InvalidParameterError(f"p, dim and block must be >= 1, got {p}, {dim}, {block}")
        self.p, self.dim, self.seed, self.kind, self.block, self.dtype = (
            p,
            dim,
            seed,
            kind,
            block,
            dtype,
        )
        size = p * dim * torch.empty(0, dtype=dtype).element_size()
        self._cache: dict[int, Tensor] | None = {} if size <= max_cache_mb * 2**20 else None

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.dim / self.block)

    def columns(self, j: int) -> Tensor:
        """Block ``j`` of columns, (p, <= block), unscaled (entries +-1 or N(0, 1))."""
        if self._cache is not None and j in self._cache:
            return self._cache[j]
        first = j * self.block
        cols = torch.stack(
            [self._column(c) for c in range(first, min(first + self.block, self.dim))], dim=1
        )
        if self._cache is not None:
            self._cache[j] = cols
        return cols

    def _column(self, c: int) -> Tensor:
        """Column ``c`` from its own seed ``(seed, c)``: the matrix does not depend on ``block``."""
        state = np.random.SeedSequence([self.seed, c]).generate_state(1, dtype=np.uint64)[0]
        g = torch.Generator().manual_seed(int(state) & (2**63 - 1))
        if self.kind == "rademacher":
            return torch.randint(0, 2, (self.p,), generator=g).to(self.dtype) * 2 - 1
        return torch.randn(self.p, generator=g, dtype=self.dtype)

    def project(self, G: Tensor) -> Tensor:
        """``G @ Pi`` for rows G (c, p) -> (c, dim)."""
        G = G.to(self.dtype)
        parts = [G @ self.columns(j) for j in range(self.n_blocks)]
        return torch.cat(parts, dim=1) / math.sqrt(self.dim)

    def dense(self) -> Tensor:
        """The whole (p, dim) matrix, scaled (for tests and small p)."""
        return torch.cat([self.columns(j) for j in range(self.n_blocks)], 1) / math.sqrt(self.dim)


def n_params(params: Params) -> int:
    return sum(int(v.numel()) for v in params.values())


def _unflatten(flat: Tensor, params: Params) -> Params:
    """(r, p) rows -> a params tree with a leading dim r (the order of ``derivatives.flatten``)."""
    out, at = {}, 0
    for k, v in params.items():
        out[k] = flat[:, at : at + v.numel()].reshape(flat.shape[0], *v.shape).to(v.dtype)
        at += v.numel()
    return out


def projected_gradients(
    logits: LogitFn,
    params: Params,
    X: Tensor,
    y: Tensor,
    proj: RandomProjection,
    *,
    method: str = "vmap",
    chunk: int = 256,
) -> Tensor:
    """``Pi^T g_i`` for every sample's cross-entropy gradient ``g_i``: (m, dim)."""
    if method not in ("vmap", "jvp"):
        raise InvalidParameterError(f"method must be 'vmap' or 'jvp', got {method!r}")
    if proj.p != n_params(params):
        raise InvalidParameterError(f"projection has p = {proj.p}, the model {n_params(params)}")
    out = []
    for lo in range(0, len(X), chunk):
        xb, yb = X[lo : lo + chunk], y[lo : lo + chunk]
        if method == "vmap":
            out.append(proj.project(per_sample_gradients(logits, params, xb, yb, chunk=chunk)))
            continue

        def losses(p: Params, xb: Tensor = xb, yb: Tensor = yb) -> Tensor:
            return vmap(lambda x, t: cross_entropy(logits, p, x, t))(xb, yb)

        def directional(v: Params, losses: Any = losses) -> Tensor:
            return jvp(losses, (params,), (v,))[1]

        cols = [
            vmap(directional)(_unflatten(proj.columns(j).T, params)).T for j in range(proj.n_blocks)
        ]
        out.append(torch.cat(cols, 1).to(proj.dtype) / math.sqrt(proj.dim))
    return torch.cat(out) if out else torch.empty(0, proj.dim, dtype=proj.dtype)


def gradient_alignment(
    logits: LogitFn,
    params: Params,
    X: Tensor,
    y: Tensor,
    X_target: Tensor,
    y_target: Tensor,
    *,
    dim: int | None = 256,
    kind: str = "rademacher",
    method: str = "vmap",
    seed: int = 0,
    chunk: int = 256,
) -> Tensor:
    """Cosine of each sample's (projected) gradient with the target set's mean gradient: (m,)."""
    if len(X_target) == 0:
        raise InvalidParameterError("the target set is empty")
    if dim is None:
        gbar = sum(
            per_sample_gradients(
                logits, params, X_target[i : i + chunk], y_target[i : i + chunk]
            ).sum(0)
            for i in range(0, len(X_target), chunk)
        ) / len(X_target)
        assert isinstance(gbar, Tensor)
        cos = []
        for lo in range(0, len(X), chunk):
            G = per_sample_gradients(logits, params, X[lo : lo + chunk], y[lo : lo + chunk])
            cos.append((G @ gbar) / (G.norm(dim=1) * gbar.norm()).clamp_min(1e-30))
        return torch.cat(cos)
    dtype = next(iter(params.values())).dtype
    proj = RandomProjection(n_params(params), dim, seed=seed, kind=kind, dtype=dtype)
    target = projected_gradients(
        logits, params, X_target, y_target, proj, method=method, chunk=chunk
    ).mean(0)
    P = projected_gradients(logits, params, X, y, proj, method=method, chunk=chunk)
    return (P @ target) / (P.norm(dim=1) * target.norm()).clamp_min(1e-30)


def gradient_oracle(
    fitted: Any, X: Tensor, y: Tensor, *, b: int = 0, chunk: int = 256
) -> Callable[[NDArray[np.int64]], NDArray[np.float64]]:
    """A sensitivity-sampling oracle: positions -> ``||grad_theta L||^2`` of model ``b`` there.

    The paper's "grad" variant of Algorithm 1 (§5.2.2) queries this instead of the loss.
    """
    logits, params = fitted.functional(b)

    def oracle(positions: NDArray[np.int64]) -> NDArray[np.float64]:
        idx = torch.as_tensor(np.asarray(positions, np.int64))
        if idx.numel() == 0:
            return np.zeros(0)
        norms = per_sample_gradient_norms(logits, params, X[idx], y[idx], chunk=chunk)
        return (norms.to(torch.float64) ** 2).cpu().numpy()

    return oracle


class _GradientValuation(ValuationMethod):
    """Shared ensemble handling: ``n_models`` models at once, each scored, values averaged."""

    early = False

    def __init__(
        self,
        *,
        n_models: int | None = None,
        epochs: int | None = None,
        bootstrap: bool | None = None,
        seed: int = 0,
        chunk: int = 256,
    ) -> None:
        self.n_models, self.epochs, self.bootstrap = n_models, epochs, bootstrap
        self.seed, self.chunk = seed, chunk

    @abstractmethod
    def _per_model(self, game: Any, logits: LogitFn, params: Params) -> Tensor:
        """Scores (B, n) of every training row under each of the B models."""

    def fit(self, game: Any) -> ValuationResult:
        t0 = time.perf_counter()
        fitted, epochs = fit_ensemble(
            self.name,
            game,
            self.n_models,
            self.epochs,
            early=self.early,
            bootstrap=self.bootstrap,
            seed=self.seed,
        )
        rows = [
            self._per_model(game, *fitted.functional(b))
            for b in range(fitted.n_models)
            if bool(fitted.trained[b])
        ]
        S = torch.stack(rows).to(torch.float64) if rows else torch.empty(0, game.train.n)
        params = {k: v for k, v in self.get_params().items() if k != "target"}
        return ensemble_result(game, S, self.name, {**params, "epochs": epochs}, t0, self.direction)


class GraNd(_GradientValuation):
    """GraNd: mean per-sample gradient norm over early-trained models (default 10 at once).

    Parameters
    ----------
    n_models : int, optional
        Ensemble size (default 10).
    epochs : int, optional
        Epochs of each network (default 10% of the learner's).
    bootstrap : bool, optional
        See :func:`assay.valuation.inference.train_ensemble`.
    seed, chunk : int
    """

    name = "grand"
    direction = HIGHER_IS_SUSPECT
    early = True

    def _per_model(self, game: Any, logits: LogitFn, params: Params) -> Tensor:
        data = game.train_data
        return per_sample_gradient_norms(logits, params, data.X, data.y, chunk=self.chunk)


class GradientMatching(_GradientValuation):
    """Cosine of each training gradient with the target set's mean gradient (LESS-style).

    Parameters
    ----------
    target : Dataset, optional
        Target-domain data (default: the utility's validation set).
    dim : int or None
        Projection dimension (None: exact cosine in parameter space).
    kind : {"rademacher", "gaussian"}
    method : {"vmap", "jvp"}
        How projected gradients are computed (see the module docstring).
    n_models, epochs, bootstrap, seed, chunk
        As for :class:`GraNd` (default one fully trained model).
    """

    name = "gradmatch"

    def __init__(
        self,
        target: Any = None,
        *,
        dim: int | None = 256,
        kind: str = "rademacher",
        method: str = "vmap",
        n_models: int | None = None,
        epochs: int | None = None,
        bootstrap: bool | None = None,
        seed: int = 0,
        chunk: int = 256,
    ) -> None:
        super().__init__(
            n_models=n_models, epochs=epochs, bootstrap=bootstrap, seed=seed, chunk=chunk
        )
        if dim is not None and dim < 1:
            raise InvalidParameterError(f"dim must be >= 1 or None, got {dim}")
        self.target, self.dim, self.kind, self.method = target, dim, kind, method

    def _per_model(self, game: Any, logits: LogitFn, params: Params) -> Tensor:
        target = self.target if self.target is not None else game.valid
        tdata = game.learner.prepare(target)
        data = game.train_data
        return gradient_alignment(
            logits,
            params,
            data.X,
            data.y,
            tdata.X,
            tdata.y,
            dim=self.dim,
            kind=self.kind,
            method=self.method,
            seed=self.seed,
            chunk=self.chunk,
        )
