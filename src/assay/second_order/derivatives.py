"""Derivatives of a model's loss with ``torch.func``, vectorised over samples with ``vmap``.

Every function takes a model in functional form, ``logits(params, X) -> (m, K)`` and ``params``
(a dict of tensors), as :meth:`assay.learners.FittedModels.functional` returns it, so the same code
serves logistic regression, MLPs and CNNs. Per-sample quantities are computed for all samples in
one vectorised call, in chunks of ``chunk`` samples to bound memory.

Second-order code works on a *flat* parameter vector: :func:`flat_model` turns ``(logits, params)``
into ``fn(theta, X)`` with ``theta`` of shape (p,). The loss of a sample is the cross-entropy
``L(y, x; theta) = -log P(y | x, theta)``; labels are passed one-hot, ``Y`` of shape (m, K).
Nothing here forms a p x p matrix or a per-sample p x d matrix unless its name says so
(:func:`hessian`, :func:`gauss_newton`, :func:`mixed_partials`): mixed partials
``M = d_x d_theta L`` (p x d) are only ever contracted with vectors, ``M^T u``
(:func:`mixed_vjp`) and ``M w`` (:func:`mixed_jvp`), each a double backward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.func import grad, jacrev, jvp, vmap

Tensor = torch.Tensor
Params = dict[str, Tensor]
LogitFn = Callable[[Params, Tensor], Tensor]
FlatFn = Callable[[Tensor, Tensor], Tensor]
"""``fn(theta (p,), X (m, d)) -> logits (m, K)``."""


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


# --------------------------------------------------------------------------- flat parameters
def flat_model(logits: LogitFn, params: Params) -> tuple[FlatFn, Tensor]:
    """``(logits, params)`` as ``(fn, theta)`` with one flat parameter vector ``theta`` (p,).

    ``fn(theta, X)`` slices ``theta`` back into the named tensors (views, so it differentiates and
    vmaps like the original).
    """
    names = list(params)
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]
    theta = torch.cat([params[k].detach().reshape(-1) for k in names])

    def fn(theta: Tensor, X: Tensor) -> Tensor:
        tree, offset = {}, 0
        for name, shape, size in zip(names, shapes, sizes, strict=True):
            tree[name] = theta[offset : offset + size].view(shape)
            offset += size
        return logits(tree, X)

    return fn, theta


def chunks(m: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(m)``."""
    size = max(1, int(size))
    for start in range(0, m, size):
        yield slice(start, min(start + size, m))


def sample_loss(fn: FlatFn, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of one sample ``x`` (d,) with one-hot (or soft) label ``y`` (K,)."""
    z = fn(theta, x[None])[0]
    return torch.logsumexp(z, dim=-1) - (z * y).sum()


def sample_log_probs(fn: FlatFn, theta: Tensor, x: Tensor) -> Tensor:
    """``log P(c | x, theta)`` of one sample, all classes: (K,)."""
    return torch.log_softmax(fn(theta, x[None])[0], dim=-1)


def loss_gradients(fn: FlatFn, theta: Tensor, X: Tensor, Y: Tensor, *, chunk: int = 1024) -> Tensor:
    """Per-sample loss gradients ``d_theta L(y_i, x_i)``: (m, p)."""
    g = vmap(grad(lambda t, x, y: sample_loss(fn, t, x, y)), in_dims=(None, 0, 0))
    return _cat([g(theta, X[s], Y[s]) for s in chunks(len(X), chunk)], (0, theta.numel()), theta)


def log_prob_jacobians(fn: FlatFn, theta: Tensor, X: Tensor, *, chunk: int = 256) -> Tensor:
    """Per-sample ``d_theta log P(c | x_i)`` for every class c: (m, K, p)."""
    j = vmap(jacrev(lambda t, x: sample_log_probs(fn, t, x)), in_dims=(None, 0))
    return _cat([j(theta, X[s]) for s in chunks(len(X), chunk)], None, theta)


def input_log_prob_jacobians(fn: FlatFn, theta: Tensor, X: Tensor, *, chunk: int = 1024) -> Tensor:
    """Per-sample ``d_x log P(c | x_i)`` for every class c: (m, K, d)."""
    j = vmap(jacrev(lambda x: sample_log_probs(fn, theta, x)))
    return _cat([j(X[s]) for s in chunks(len(X), chunk)], None, theta)


def mixed_vjp(
    fn: FlatFn, theta: Tensor, X: Tensor, Y: Tensor, U: Tensor, *, chunk: int = 256
) -> Tensor:
    """``M_i^T u`` with ``M_i = d_x d_theta L(y_i, x_i)`` (p x d), by double backward.

    ``U`` is one vector (p,) shared by all samples, one per sample (m, p), or several per sample
    (m, r, p); the result has shape (m, d) or (m, r, d). Computes ``d_x <u, d_theta L(x)>``, so
    the p x d matrix is never formed.
    """

    def one(x: Tensor, y: Tensor, u: Tensor) -> Tensor:
        return grad(lambda xx: torch.dot(grad(sample_loss, 1)(fn, theta, xx, y), u))(x)

    if U.dim() == 1:
        f = vmap(one, in_dims=(0, 0, None))
        return _cat([f(X[s], Y[s], U) for s in chunks(len(X), chunk)], None, theta)
    f = vmap(one) if U.dim() == 2 else vmap(vmap(one, in_dims=(None, None, 0)))
    return _cat([f(X[s], Y[s], U[s]) for s in chunks(len(X), chunk)], None, theta)


def mixed_jvp(
    fn: FlatFn, theta: Tensor, X: Tensor, Y: Tensor, W: Tensor, *, chunk: int = 256
) -> Tensor:
    """``M_i w`` with ``M_i = d_x d_theta L(y_i, x_i)``, by double backward
    (``d_theta <w, d_x L>``): (m, r, p). ``W`` has shape (m, r, d): r input directions per sample.
    """

    def one(x: Tensor, y: Tensor, w: Tensor) -> Tensor:
        return grad(lambda t: torch.dot(grad(sample_loss, 2)(fn, t, x, y), w))(theta)

    f = vmap(vmap(one, in_dims=(None, None, 0)))
    return _cat([f(X[s], Y[s], W[s]) for s in chunks(len(X), chunk)], None, theta)


def mixed_partials(fn: FlatFn, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """The full mixed-partial matrix ``d_x d_theta L(y, x)`` of one sample: (p, d).

    Only for references and small models: it is p x d.
    """
    return jacrev(lambda xx: grad(sample_loss, 1)(fn, theta, xx, y))(x)


# --------------------------------------------------------------------------- curvature
def total_loss(
    fn: FlatFn, theta: Tensor, X: Tensor, Y: Tensor, reg: Tensor | None = None
) -> Tensor:
    """Summed cross-entropy plus ``0.5 * sum(reg * theta**2)`` (the sum-form training objective)."""
    z = fn(theta, X)
    loss = (torch.logsumexp(z, dim=-1) - (z * Y).sum(-1)).sum()
    return loss if reg is None else loss + 0.5 * (reg * theta * theta).sum()


def hvp(
    fn: FlatFn,
    theta: Tensor,
    X: Tensor,
    Y: Tensor,
    V: Tensor,
    reg: Tensor | None = None,
    *,
    chunk: int = 4096,
) -> Tensor:
    """Hessian-vector products of :func:`total_loss` for the rows of ``V`` (r, p): (r, p).

    Forward over reverse, vmapped over the rows, summed over data chunks; no Hessian is formed.
    """

    def one(v: Tensor, Xs: Tensor, Ys: Tensor) -> Tensor:
        return jvp(lambda t: grad(total_loss, 1)(fn, t, Xs, Ys), (theta,), (v,))[1]

    f = vmap(one, in_dims=(0, None, None))
    out = torch.zeros_like(V)
    for s in chunks(len(X), chunk):
        out = out + f(V, X[s], Y[s])
    return out if reg is None else out + reg * V


def hessian(
    fn: FlatFn, theta: Tensor, X: Tensor, Y: Tensor, reg: Tensor | None = None, *, chunk: int = 0
) -> Tensor:
    """The dense Hessian of :func:`total_loss`: (p, p). Only for small p.

    ``chunk`` bounds the samples per call (default: about 2**24 / (p * K) numbers at a time).
    """
    p = theta.numel()
    size = chunk or max(1, 2**24 // max(1, p * (Y.shape[1] + 1)))
    H = torch.zeros(p, p, dtype=theta.dtype, device=theta.device)
    hess = torch.func.hessian(lambda t, Xs, Ys: total_loss(fn, t, Xs, Ys))
    for s in chunks(len(X), size):
        H = H + hess(theta, X[s], Y[s])
    H = 0.5 * (H + H.T)
    return H if reg is None else H + torch.diag(reg)


def gauss_newton(
    fn: FlatFn, theta: Tensor, X: Tensor, reg: Tensor | None = None, *, chunk: int = 0
) -> Tensor:
    """The Gauss-Newton matrix ``sum_i J_i^T (diag(P_i) - P_i P_i^T) J_i`` (+ ``diag(reg)``),
    ``J_i = d_theta logits(x_i)``: (p, p).

    It equals the Hessian of :func:`total_loss` when the logits are linear in ``theta`` (logistic
    regression, a last layer), and costs one Jacobian per sample instead of p Hessian-vector
    products over the data.
    """
    p = theta.numel()
    K = int(fn(theta, X[:1]).shape[-1])
    size = chunk or max(1, 2**23 // max(1, p * K))
    jac = vmap(jacrev(lambda t, x: fn(t, x[None])[0]), in_dims=(None, 0))
    H = torch.zeros(p, p, dtype=theta.dtype, device=theta.device)
    for s in chunks(len(X), size):
        J = jac(theta, X[s])  # (c, K, p)
        P = torch.softmax(fn(theta, X[s]), dim=-1)
        JP = (P[:, :, None] * J).sum(1)  # (c, p) = P^T J
        JW = (P[:, :, None] * J).reshape(-1, p)
        H += JW.T @ J.reshape(-1, p) - JP.T @ JP
    H = 0.5 * (H + H.T)
    return H if reg is None else H + torch.diag(reg)


# --------------------------------------------------------------------------- low rank
def batched_truncated_svd(
    matvec: Callable[[Tensor], Tensor],
    rmatvec: Callable[[Tensor], Tensor],
    m: int,
    d: int,
    k: int,
    *,
    iters: int = 4,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, Tensor]:
    """Rank-k SVDs ``A_i ~ U_i diag(S_i) V_i^T`` of m operators of shape (p, d), by subspace
    (block power) iteration with Rayleigh-Ritz, using only products with them.

    Parameters
    ----------
    matvec : callable
        ``(m, k, d) -> (m, k, p)``: ``A_i w`` for k directions per operator.
    rmatvec : callable
        ``(m, k, p) -> (m, k, d)``: ``A_i^T u``.
    m, d, k : int
        Number of operators, their column count, and the rank (``k <= d``).
    iters : int
        Power iterations (``s`` in the paper); each costs one matvec and one rmatvec.

    Returns
    -------
    U : (m, p, k), S : (m, k) descending, V : (m, d, k)
    """
    k = min(k, d)
    W = torch.randn(m, d, k, generator=generator, dtype=dtype, device="cpu").to(device)
    Q = torch.linalg.qr(W).Q  # (m, d, k)
    for _ in range(max(1, iters)):
        Y = matvec(Q.transpose(1, 2)).transpose(1, 2)  # (m, p, k)
        P = torch.linalg.qr(Y).Q
        Z = rmatvec(P.transpose(1, 2)).transpose(1, 2)  # (m, d, k) = A^T P
        Q = torch.linalg.qr(Z).Q
    Y = matvec(Q.transpose(1, 2)).transpose(1, 2)  # A Q: (m, p, k)
    Uy, S, Vh = torch.linalg.svd(Y, full_matrices=False)  # A Q = Uy S Vh, so A ~ Uy S (Q Vh^T)^T
    return Uy, S, Q @ Vh.transpose(1, 2)


def metric_pinv_factor(A: Tensor, rtol: float) -> Tensor:
    """``W`` with ``v^T (A^T A)^+ v = ||W v||^2`` for each of a batch of small matrices.

    ``A`` is (m, K, d) with K small (here ``diag(sqrt(P)) J``, so ``A^T A`` is the metric tensor
    G). From the thin SVD ``A = U S V^T``: ``W = S^{-1} V^T`` restricted to the singular values
    with ``S_j^2 > rtol * S_max^2`` (the eigenvalues of G kept by ``pinv(G, rtol=rtol)``); dropped
    rows are zero. Returns (m, K, d) (``min(K, d)`` rows when d < K).
    """
    _, S, Vh = torch.linalg.svd(A, full_matrices=False)
    lam = S * S
    keep = lam > rtol * lam.amax(dim=-1, keepdim=True)
    inv = torch.where(keep & (S > 0), 1.0 / torch.where(S > 0, S, 1.0), 0.0)
    return Vh * inv[..., None]


def _cat(parts: list[Tensor], empty_shape: tuple[int, ...] | None, like: Tensor) -> Tensor:
    if parts:
        return torch.cat(parts)
    return torch.empty(empty_shape or (0,), dtype=like.dtype, device=like.device)
