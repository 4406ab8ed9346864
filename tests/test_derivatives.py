"""Derivatives against autograd one sample at a time, closed forms and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.learners import LogisticRegression, MLPClassifier
from assay.second_order.derivatives import (
    batched_truncated_svd,
    hessian,
    hvp,
    input_log_prob_jacobians,
    log_prob_jacobians,
    metric_pinv_factor,
    mixed_jvp,
    mixed_partials,
    mixed_vjp,
    per_sample_gradient_norms,
    per_sample_gradients,
    sample_loss,
)
from assay.second_order.differentiable import differentiable


def test_logistic_per_sample_gradients_have_the_closed_form(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    lr = LogisticRegression()
    fitted = lr.fit(lr.prepare(train), torch.ones(1, train.n, dtype=torch.float64))
    fn, params = fitted.functional(0)
    data = lr.prepare(valid)
    G = per_sample_gradients(fn, params, data.X, data.y)
    Xa = torch.cat([data.X, torch.ones(valid.n, 1, dtype=data.X.dtype)], 1)
    p1 = fitted.predict_proba(data.X)[0, :, 1]
    expected = (p1 - data.y.to(p1.dtype))[:, None] * Xa  # d/dw of the binary log-loss
    torch.testing.assert_close(G, expected, atol=1e-10, rtol=0)


def test_network_per_sample_gradients_match_autograd_loops() -> None:
    rng = np.random.default_rng(0)
    from assay.data import Dataset

    ds = Dataset.from_arrays(rng.normal(size=(20, 4)), np.arange(20) % 3)
    mlp = MLPClassifier(hidden=(5,), epochs=3, dtype="float64")
    data = mlp.prepare(ds)
    fn, params = mlp.fit(data, torch.ones(1, ds.n)).functional(0)
    G = per_sample_gradients(fn, params, data.X, data.y, chunk=7)
    for i in (0, 7, 19):
        p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        loss = torch.nn.functional.cross_entropy(fn(p, data.X[i : i + 1]), data.y[i : i + 1])
        loss.backward()
        ref = torch.cat([p[k].grad.reshape(-1) for k in p])
        torch.testing.assert_close(G[i], ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(
        per_sample_gradient_norms(fn, params, data.X, data.y), G.norm(dim=1), atol=1e-12, rtol=0
    )


def _model(breast_cancer, kind: str):
    train = breast_cancer.train.subset(np.arange(80))
    if kind == "logistic":
        return differentiable(LogisticRegression(), train)
    return differentiable(MLPClassifier(hidden=(4,), epochs=30, dtype="float64"), train)


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_mixed_partials_match_finite_differences_and_contractions(breast_cancer, kind: str) -> None:
    m = _model(breast_cancer, kind)
    x, y = m.X[3], m.Y[3]
    M = mixed_partials(m.fn, m.theta, x, y)
    assert M.shape == (m.p, m.d)
    gtheta = lambda xx: torch.func.grad(sample_loss, 1)(m.fn, m.theta, xx, y)  # noqa: E731
    h = 1e-5
    for j in (0, 7, 29):
        e = torch.zeros(m.d, dtype=torch.float64)
        e[j] = h
        fd = (gtheta(x + e) - gtheta(x - e)) / (2 * h)
        torch.testing.assert_close(M[:, j], fd, atol=1e-8 * (1 + M.abs().max()), rtol=1e-5)
    gen = torch.Generator().manual_seed(0)
    U = torch.randn(4, 2, m.p, generator=gen, dtype=torch.float64)
    W = torch.randn(4, 3, m.d, generator=gen, dtype=torch.float64)
    vjp = mixed_vjp(m.fn, m.theta, m.X[:4], m.Y[:4], U, chunk=3)
    jvp = mixed_jvp(m.fn, m.theta, m.X[:4], m.Y[:4], W, chunk=3)
    shared = mixed_vjp(m.fn, m.theta, m.X[:4], m.Y[:4], U[0, 0])
    for i in range(4):
        Mi = mixed_partials(m.fn, m.theta, m.X[i], m.Y[i])
        torch.testing.assert_close(vjp[i], U[i] @ Mi, atol=1e-12, rtol=1e-9)
        torch.testing.assert_close(jvp[i], W[i] @ Mi.T, atol=1e-12, rtol=1e-9)
        torch.testing.assert_close(shared[i], Mi.T @ U[0, 0], atol=1e-12, rtol=1e-9)


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_log_prob_jacobians_hvp_and_hessian_match_autograd(breast_cancer, kind: str) -> None:
    m = _model(breast_cancer, kind)
    S = log_prob_jacobians(m.fn, m.theta, m.X[:5], chunk=2)
    E = input_log_prob_jacobians(m.fn, m.theta, m.X[:5], chunk=2)
    for i in (0, 4):
        x = m.X[i].clone().requires_grad_(True)
        t = m.theta.clone().requires_grad_(True)
        logp = torch.log_softmax(m.fn(t, x[None])[0], -1)
        for c in range(m.n_classes):
            gt, gx = torch.autograd.grad(logp[c], (t, x), retain_graph=True)
            torch.testing.assert_close(S[i, c], gt, atol=1e-12, rtol=1e-9)
            torch.testing.assert_close(E[i, c], gx, atol=1e-12, rtol=1e-9)
    H = hessian(m.fn, m.theta, m.X, m.Y, m.reg, chunk=17)
    ref = torch.autograd.functional.hessian(
        lambda t: (
            torch.nn.functional.cross_entropy(m.fn(t, m.X), m.Y.argmax(1), reduction="sum")
            + 0.5 * (m.reg * t * t).sum()
        ),
        m.theta,
        vectorize=True,
    )
    torch.testing.assert_close(H, ref, atol=1e-9, rtol=1e-9)
    V = torch.randn(3, m.p, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(hvp(m.fn, m.theta, m.X, m.Y, V, m.reg, chunk=31), V @ H)


def test_truncated_svd_recovers_low_rank_operators() -> None:
    gen = torch.Generator().manual_seed(0)
    m, p, d, r = 5, 30, 12, 3
    A = torch.randn(m, p, r, generator=gen, dtype=torch.float64) @ torch.randn(
        m, r, d, generator=gen, dtype=torch.float64
    )
    U, S, V = batched_truncated_svd(
        lambda W: W @ A.transpose(1, 2), lambda Q: Q @ A, m, d, r, iters=3, generator=gen
    )
    torch.testing.assert_close(U @ torch.diag_embed(S) @ V.transpose(1, 2), A)
    torch.testing.assert_close(S, torch.linalg.svdvals(A)[:, :r])
    # a full-rank operator: the top-k singular values, to power-iteration accuracy
    B = torch.randn(m, p, d, generator=gen, dtype=torch.float64)
    _, S2, _ = batched_truncated_svd(
        lambda W: W @ B.transpose(1, 2), lambda Q: Q @ B, m, d, 2, iters=60, generator=gen
    )
    torch.testing.assert_close(S2, torch.linalg.svdvals(B)[:, :2], rtol=1e-4, atol=0)


def test_metric_pinv_factor_is_the_pseudo_inverse_quadratic_form() -> None:
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(6, 3, 8, generator=gen, dtype=torch.float64)
    A[:, 2] = A[:, 0] + A[:, 1]  # rank 2, like diag(sqrt(P)) J
    v = torch.randn(6, 8, generator=gen, dtype=torch.float64)
    W = metric_pinv_factor(A, 1e-10)
    got = (W @ v[..., None]).squeeze(-1).pow(2).sum(-1)
    G = A.transpose(1, 2) @ A
    ref = torch.einsum("md,mde,me->m", v, torch.linalg.pinv(G, rtol=1e-10, hermitian=True), v)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=0)
