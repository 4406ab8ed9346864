"""TRAK-style attribution (Park et al. 2023) from projected gradients of several models.

For each model ``c`` (a checkpoint, or an independently trained seed) with projected training
gradient features ``Phi_c`` (n, k) and test features ``Psi_c`` (m, k), the attribution of test
example ``j`` to training example ``i`` is ``Psi_c (Phi_c^T Phi_c + lambda I)^{-1} Phi_c^T``,
optionally scaled per training example by TRAK's ``Q = 1 - p_y`` (the residual of the correct
class), and averaged over the models. The features come from
:class:`assay.llm.gradients.GradientFeatures` for language models, or from
:func:`classifier_features` for assay's batched classifiers (gradients of the correct-class margin
``log p_y - log(1 - p_y)``, the output LDS measures). Score them with
:func:`assay.evaluate.lds.linear_datamodeling_score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.data import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.llm.gradients import projection_block


def trak_scores(
    train_features: Sequence[ArrayLike],
    test_features: Sequence[ArrayLike],
    *,
    lam: float = 1e-3,
    train_weights: Sequence[ArrayLike] | None = None,
) -> NDArray[np.float64]:
    """Attribution (m_test, n_train) averaged over models (one feature pair per model)."""
    if len(train_features) != len(test_features) or not train_features:
        raise InvalidDataError(
            f"need one test feature array per train one, got {len(train_features)} and "
            f"{len(test_features)}"
        )
    if lam < 0:
        raise InvalidParameterError(f"lam must be >= 0, got {lam}")
    total: NDArray[np.float64] | None = None
    for c, (tr, te) in enumerate(zip(train_features, test_features, strict=True)):
        Phi = torch.as_tensor(np.asarray(tr, np.float64))
        Psi = torch.as_tensor(np.asarray(te, np.float64))
        if Phi.shape[1] != Psi.shape[1]:
            raise InvalidDataError(f"model {c}: train features {Phi.shape}, test {Psi.shape}")
        K = Phi.T @ Phi + lam * torch.eye(Phi.shape[1], dtype=Phi.dtype)
        S = Psi @ torch.linalg.solve(K, Phi.T)  # (m, n)
        if train_weights is not None:
            S = S * torch.as_tensor(np.asarray(train_weights[c], np.float64))[None]
        total = S.numpy() if total is None else total + S.numpy()
    assert total is not None
    return total / len(train_features)


def classifier_features(
    fitted: Any, data: Dataset, *, b: int = 0, dim: int = 256, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Projected per-example margin gradients (n, dim) of model ``b`` and TRAK's ``1 - p_y``.

    ``fitted`` is a :class:`~assay.learners.base.FittedModels` with a differentiable form
    (logistic regression, networks).
    """
    f, params = fitted.functional(b)
    dtype = next(iter(params.values())).dtype
    X = torch.tensor(np.asarray(data.X), dtype=dtype)
    y = torch.tensor(np.asarray(data.y), dtype=torch.long)

    def margin(p: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(f(p, x[None])[0], -1)
        lp = logp.gather(0, t[None])[0]
        return lp - torch.log1p(-lp.exp().clamp(max=1 - 1e-12))

    G = torch.func.vmap(torch.func.grad(margin), in_dims=(None, 0, 0))(params, X, y)
    out = torch.zeros(len(X), dim, dtype=torch.float64)
    for j, name in enumerate(sorted(G)):
        g = G[name].reshape(len(X), -1).to(torch.float64)
        out += g @ projection_block(seed, j, 0, g.shape[1], dim)
    with torch.no_grad():
        py = torch.softmax(f(params, X), -1).gather(-1, y[:, None])[:, 0]
    return out.numpy(), (1 - py).to(torch.float64).numpy()
