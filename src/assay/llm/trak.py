"""TRAK-style attribution (Park et al. 2023) from projected gradients of several models.

For each model ``c`` (a checkpoint, or an independently trained seed) with projected training
gradient features ``Phi_c`` (n, k) and test features ``Psi_c`` (m, k), the attribution of test
example ``j`` to training example ``i`` is the paper's (Algorithm 1)

    tau = mean_c [Psi_c (Phi_c^T Phi_c + lambda_c I)^{-1} Phi_c^T] * diag(mean_c Q_c),

with TRAK's ``Q = 1 - p_y`` (the residual of the correct class) per training example and the
damping ``lambda_c = damping * trace(Phi_c^T Phi_c) / k`` relative to the kernel's mean eigenvalue,
so that one value fits every model size, projection dimension and gradient scale. The paper and
its reference implementation use no damping; near ``k ~ n`` the undamped kernel is
ill-conditioned and the scores lose most of their linear-datamodeling score (LDS): on digits
(an MLP, 1,079 training examples, 5 checkpoints) LDS fell from 0.34 at k = 512 to 0.01 at
k = 2,048, while ``damping = 1`` gave 0.55 at k = 512 (``benchmarks/trak_lds.py``). The default
1 was chosen on breast cancer, wine and a wider digits MLP (LDS within 0.04 of the best of
0.03-10 on each), not on the benchmark's task.

The features come from :class:`assay.llm.gradients.GradientFeatures` for language models, from
:func:`margin_features` for any torch model given as ``logits(params, X)`` (e.g. a state_dict and
``torch.func.functional_call``), or from :func:`classifier_features` for assay's batched
classifiers: gradients of the correct-class margin ``log p_y - log(1 - p_y)``, the output LDS
measures. :func:`trak_attribution` does the whole computation for a list of checkpoints. Score
the result with :func:`assay.evaluate.lds.linear_datamodeling_score`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.llm.gradients import projection_block

if TYPE_CHECKING:  # assay.data imports pandas (its file loaders); only the hint needs it
    from assay.data import Dataset

Logits = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
"""``logits(params, X)``: inputs (m, d) to logits (m, K) for a parameter dict."""


def trak_scores(
    train_features: Sequence[ArrayLike],
    test_features: Sequence[ArrayLike],
    *,
    damping: float = 1.0,
    train_weights: Sequence[ArrayLike] | None = None,
) -> NDArray[np.float64]:
    """TRAK attribution (m_test, n_train) from one feature pair per model.

    Parameters
    ----------
    train_features, test_features : sequences of array-like (n, k) and (m, k)
        One pair per model (checkpoint or seed).
    damping : float, default 1.0
        ``lambda_c = damping * trace(Phi_c^T Phi_c) / k``; 0 is the paper's undamped solve.
    train_weights : sequence of array-like (n,), optional
        TRAK's ``Q = 1 - p_y`` per model; their mean over the models scales the columns.

    Returns
    -------
    ndarray (m_test, n_train)
    """
    if len(train_features) != len(test_features) or not train_features:
        raise InvalidDataError(
            f"need one test feature array per train one, got {len(train_features)} and "
            f"{len(test_features)}"
        )
    if train_weights is not None and len(train_weights) != len(train_features):
        raise InvalidDataError(
            f"need one weight vector per model, got {len(train_weights)} for "
            f"{len(train_features)} models"
        )
    if not damping >= 0:
        raise InvalidParameterError(f"damping must be >= 0, got {damping}")
    total: torch.Tensor | None = None
    for c, (tr, te) in enumerate(zip(train_features, test_features, strict=True)):
        Phi = torch.as_tensor(np.asarray(tr, np.float64))
        Psi = torch.as_tensor(np.asarray(te, np.float64))
        if Phi.ndim != 2 or Psi.ndim != 2 or Phi.shape[1] != Psi.shape[1]:
            raise InvalidDataError(f"model {c}: train features {Phi.shape}, test {Psi.shape}")
        S = _kernel_scores(Phi, Psi, damping)
        total = S if total is None else total + S
    assert total is not None
    total /= len(train_features)
    if train_weights is not None:
        Q = np.mean([np.asarray(q, np.float64) for q in train_weights], axis=0)
        if Q.shape != (total.shape[1],):
            raise InvalidDataError(f"weights have shape {Q.shape}, want ({total.shape[1]},)")
        total *= torch.as_tensor(Q)[None]
    return total.numpy()


def _kernel_scores(Phi: torch.Tensor, Psi: torch.Tensor, damping: float) -> torch.Tensor:
    """``Psi (Phi^T Phi + lambda I)^{-1} Phi^T`` (m, n), float64.

    Solved for the m test rows (Cholesky, then one (m, k) x (k, n) product) rather than for the n
    training rows: m k^2 + m n k instead of n k^2. Falls back to a least-squares solve when the
    kernel is singular (``damping = 0`` with k above the rank).
    """
    K = Phi.T @ Phi
    k = K.shape[0]
    lam = damping * float(K.diagonal().sum()) / k
    K.diagonal().add_(lam)
    L, info = torch.linalg.cholesky_ex(K)
    ok = int(info) == 0
    A = torch.cholesky_solve(Psi.T, L) if ok else torch.linalg.lstsq(K, Psi.T).solution  # (k, m)
    return A.T @ Phi.T


def _projections(
    params: dict[str, torch.Tensor], dim: int, seed: int
) -> list[tuple[str, torch.Tensor]]:
    """One seeded Rademacher block per parameter (sorted names), in the parameters' dtype."""
    dtype = next(iter(params.values())).dtype
    return [
        (name, projection_block(seed, j, 0, params[name].numel(), dim).to(dtype))
        for j, name in enumerate(sorted(params))
    ]


def _features(
    logits: Logits,
    params: dict[str, torch.Tensor],
    X: ArrayLike,
    y: ArrayLike,
    projections: list[tuple[str, torch.Tensor]],
    batch_size: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Projected margin gradients (n, dim) and ``1 - p_y`` (n,), ``batch_size`` rows at a time."""
    dtype = next(iter(params.values())).dtype
    Xt = torch.tensor(np.asarray(X), dtype=dtype)
    yt = torch.tensor(np.asarray(y), dtype=torch.long)
    if Xt.shape[0] != yt.shape[0]:
        raise InvalidDataError(f"X has {Xt.shape[0]} rows, y {yt.shape[0]}")

    def margin(p: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _margins(logits(p, x[None]), t[None])[0]

    per_example = torch.func.vmap(torch.func.grad(margin), in_dims=(None, 0, 0))
    dim = projections[0][1].shape[1]
    out = torch.zeros(len(Xt), dim, dtype=torch.float64)
    for i in range(0, len(Xt), batch_size):
        G = per_example(params, Xt[i : i + batch_size], yt[i : i + batch_size])
        # the projection in the model's dtype (its +-1/sqrt(k) entries are exact in float32, and
        # a float32 matmul is half the float64 one); the features are kept in float64
        acc = sum(G[name].reshape(G[name].shape[0], -1) @ P for name, P in projections)
        out[i : i + batch_size] = acc.to(torch.float64)
    with torch.no_grad():
        q = torch.sigmoid(-_margins(logits(params, Xt), yt))  # 1 - p_y, without cancellation
    return out.numpy(), q.to(torch.float64).numpy()


def _margins(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``log p_y - log(1 - p_y)`` = ``z_y - logsumexp(z_k, k != y)`` for logits z (m, K).

    Written on the logits: through ``log(1 - p_y)`` it is ``-inf`` (and its gradient NaN) once
    ``p_y`` rounds to 1, which in float32 happens to every well-fitted training example.
    """
    hot = torch.arange(z.shape[-1], device=z.device) == y[..., None]  # one_hot does not vmap
    return (z * hot).sum(-1) - torch.logsumexp(z.masked_fill(hot, float("-inf")), -1)


def _check_dim(dim: int, batch_size: int) -> None:
    if dim < 1 or batch_size < 1:
        raise InvalidParameterError(f"dim and batch_size must be >= 1, got {dim}, {batch_size}")


def margin_features(
    logits: Logits,
    params: dict[str, torch.Tensor],
    X: ArrayLike,
    y: ArrayLike,
    *,
    dim: int = 256,
    seed: int = 0,
    batch_size: int = 512,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Projected per-example margin gradients (n, dim) of one model and TRAK's ``1 - p_y`` (n,).

    Parameters
    ----------
    logits : callable ``(params, X) -> (m, K)``
        E.g. ``lambda p, X: torch.func.functional_call(module, p, (X,))``.
    params : dict of str to Tensor
        The model's parameters (a state_dict's trainable entries); all are differentiated.
    X : array-like (n, d)
    y : array-like (n,) of class indices
    dim : int, default 256
        Projection dimension (a Rademacher matrix per parameter, seeded by ``seed`` and the
        parameter's place in sorted name order, entries ``+-1/sqrt(dim)``).
    seed : int, default 0
        Use the same seed for a model's training and test features, another per model.
    batch_size : int, default 512
        Rows whose full gradients are held at once.
    """
    _check_dim(dim, batch_size)
    return _features(logits, params, X, y, _projections(params, dim, seed), batch_size)


def trak_attribution(
    logits: Logits,
    checkpoints: Sequence[dict[str, torch.Tensor]],
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    *,
    dim: int = 512,
    damping: float = 1.0,
    seed: int = 0,
    batch_size: int = 512,
) -> NDArray[np.float64]:
    """TRAK scores (m_test, n_train) of a torch model from several checkpoints.

    Checkpoint ``c`` is projected with seed ``seed + c`` (one projection for its training and
    test features, generated once). See :func:`margin_features` and :func:`trak_scores`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> ckpts = [{k: v.detach() for k, v in net.named_parameters()}]
    >>> f = lambda p, X: torch.func.functional_call(net, p, (X,))
    >>> X, y = torch.randn(10, 3).numpy(), [0, 1] * 5
    >>> trak_attribution(f, ckpts, X, y, X[:4], y[:4], dim=4).shape
    (4, 10)
    """
    _check_dim(dim, batch_size)
    if not checkpoints:
        raise InvalidDataError("need at least one checkpoint")
    train_f, test_f, q = [], [], []
    for c, params in enumerate(checkpoints):
        projections = _projections(params, dim, seed + c)
        phi, q_c = _features(logits, params, X_train, y_train, projections, batch_size)
        psi, _ = _features(logits, params, X_test, y_test, projections, batch_size)
        train_f.append(phi)
        test_f.append(psi)
        q.append(q_c)
    return trak_scores(train_f, test_f, damping=damping, train_weights=q)


def classifier_features(
    fitted: Any, data: Dataset, *, b: int = 0, dim: int = 256, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Projected per-example margin gradients (n, dim) of model ``b`` and TRAK's ``1 - p_y``.

    ``fitted`` is a :class:`~assay.learners.base.FittedModels` with a differentiable form
    (logistic regression, networks).
    """
    f, params = fitted.functional(b)
    return margin_features(f, params, data.X, data.y, dim=dim, seed=seed)
