"""Derivatives of a model's loss with ``torch.func``, vectorised over samples with ``vmap``.

Every function takes a model in functional form, ``logits(params, X) -> (m, K)`` and ``params``
(a dict of tensors), as :meth:`assay.learners.FittedModels.functional` returns it, so the same code
serves logistic regression, MLPs and CNNs. Per-sample quantities are computed for all samples in
one vectorised call, in chunks of ``chunk`` samples to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, vmap

Tensor = torch.Tensor
Params = dict[str, Tensor]
LogitFn = Callable[[Params, Tensor], Tensor]


def cross_entropy(logits: LogitFn, params: Params, x: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy loss of one sample ``x`` (d,) with label ``y`` (scalar long tensor)."""
    z = logits(params, x[None])[0]
    return torch.logsumexp(z, dim=-1) - z.gather(-1, y.reshape(1))[0]


def flatten(tree: Params) -> Tensor:
    """Concatenate a dict of (batched) tensors along their last dims: (..., p)."""
    leaves = list(tree.values())
    lead = leaves[0].shape[:1]
    return torch.cat([t.reshape(*lead, -1) for t in leaves], dim=-1)


def per_sample_gradients(
    logits: LogitFn, params: Params, X: Tensor, y: Tensor, *, chunk: int = 1024
) -> Tensor:
    """Gradient of each sample's cross-entropy w.r.t. all parameters, flattened: (m, p)."""
    g = vmap(grad(lambda p, x, t: cross_entropy(logits, p, x, t)), in_dims=(None, 0, 0))
    parts = [
        flatten(g(params, X[i : i + chunk], y[i : i + chunk])) for i in range(0, len(X), chunk)
    ]
    return torch.cat(parts) if parts else torch.empty(0)


def per_sample_gradient_norms(
    logits: LogitFn, params: Params, X: Tensor, y: Tensor, *, chunk: int = 1024
) -> Tensor:
    """Euclidean norm of each sample's loss gradient (GraNd's score), without keeping them: (m,)."""
    g = vmap(grad(lambda p, x, t: cross_entropy(logits, p, x, t)), in_dims=(None, 0, 0))
    norms = [
        flatten(g(params, X[i : i + chunk], y[i : i + chunk])).norm(dim=1)
        for i in range(0, len(X), chunk)
    ]
    return torch.cat(norms) if norms else torch.empty(0)
