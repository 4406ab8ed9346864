"""KFSVD and subsampling + forest: exact limits, K-FAC factors, rank agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from assay.data import Dataset
from assay.errors import InvalidParameterError
from assay.learners import LogisticRegression, MLPClassifier
from assay.second_order.derivatives import sample_loss
from assay.second_order.differentiable import differentiable
from assay.second_order.inverse import make_solver
from assay.second_order.kfac import KFACInverse, kfac_factors
from assay.utility import Utility
from assay.valuation import make_method
from assay.valuation.fi_approx import (
    bernoulli_subsample,
    forest_ranks,
    kfsvd_fi_active,
    kfsvd_fi_util,
)
from assay.valuation.local_influence import fi_active, fi_util


def blobs(n: int, d: int, seed: int, classes: int = 2) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = np.random.default_rng(7).normal(size=(classes, d)) * 1.5
    return Dataset.from_arrays(rng.normal(size=(n, d)) + centres[y], y, classes=range(classes))


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_kfsvd_with_full_rank_and_exact_solver_is_exact_fi(kind: str) -> None:
    learner = (
        LogisticRegression()
        if kind == "logistic"
        else MLPClassifier(hidden=(5,), epochs=25, dtype="float64", weight_decay=1e-2)
    )
    train, valid, pool = blobs(30, 3, 0, 3), blobs(20, 3, 1, 3), blobs(8, 3, 2, 3)
    m = differentiable(learner, train)
    solver = make_solver(m, "dense", damping=1.0 if kind == "mlp" else 0.0)
    Xv, Yv, Xq = m.inputs(valid), m.onehot(valid.y), m.inputs(pool)
    exact = fi_util(m, solver, Xv, Yv)
    approx = kfsvd_fi_util(m, solver, Xv, Yv, k=m.d, iters=1, chunk=7)
    torch.testing.assert_close(approx, exact, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(
        kfsvd_fi_active(m, solver, Xq, k=m.d, iters=1, chunk=9),
        fi_active(m, solver, Xq),
        rtol=1e-6,
        atol=1e-12,
    )
    low = kfsvd_fi_util(m, solver, Xv, Yv, k=2, iters=6)  # a real truncation: close in rank
    assert spearmanr(low.numpy(), exact.numpy())[0] > 0.5


def test_kfac_factors_are_the_per_sample_means() -> None:
    train = blobs(12, 3, 3, 3)
    m = differentiable(MLPClassifier(hidden=(4,), epochs=5, dtype="float64"), train)
    (f1, f2) = kfac_factors(m, chunk=5)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    theta = m.theta
    with torch.no_grad():
        net[0].weight.copy_(theta[f1.op.weight])
        net[0].bias.copy_(theta[f1.op.bias])
        net[2].weight.copy_(theta[f2.op.weight])
        net[2].bias.copy_(theta[f2.op.bias])
    A1, A2 = torch.zeros(4, 4, dtype=torch.float64), torch.zeros(5, 5, dtype=torch.float64)
    S1, S2 = torch.zeros(4, 4, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    net = net.double()
    for i in range(m.n):
        x = m.X[i : i + 1]
        s1 = net[0](x)
        h = net[1](s1)
        s2 = net[2](h)
        P = torch.softmax(s2, -1)[0].detach()
        for c in range(3):
            g1, g2 = torch.autograd.grad(
                -torch.log_softmax(s2, -1)[0, c], (s1, s2), retain_graph=True
            )
            S1 += P[c] * g1.T @ g1
            S2 += P[c] * g2.T @ g2
        a1 = torch.cat([x, torch.ones(1, 1, dtype=x.dtype)], 1)
        a2 = torch.cat([h.detach(), torch.ones(1, 1, dtype=x.dtype)], 1)
        A1 += a1.T @ a1
        A2 += a2.T @ a2
    for got, ref in ((f1.A, A1), (f1.S, S1), (f2.A, A2), (f2.S, S2)):
        torch.testing.assert_close(got, ref / m.n)


def test_kfac_is_exact_when_every_point_has_the_same_input() -> None:
    # two copies of one x with both labels: the mean of Kronecker products is one Kronecker product
    data = Dataset.from_arrays(np.array([[0.3, -1.2], [0.3, -1.2]]), np.array([0, 1]))
    m = differentiable(LogisticRegression(C=0.5, fit_intercept=False), data)
    kfac = KFACInverse(m, 0.0)
    torch.testing.assert_close(kfac.dense(), m.hessian(), rtol=1e-10, atol=1e-12)
    v = torch.randn(3, m.p, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(kfac.solve(v), make_solver(m, "dense").solve(v))


def test_kfac_on_a_convolutional_network_asks_for_the_last_layer() -> None:
    from assay.learners import CNNClassifier

    X = np.random.default_rng(0).normal(size=(10, 16))
    data = Dataset.from_arrays(X, np.arange(10) % 2)
    cnn = CNNClassifier((1, 4, 4), channels=(2,), hidden=4, epochs=1, dtype="float64")
    with pytest.raises(InvalidParameterError, match="scope='last'"):
        KFACInverse(differentiable(cnn, data), 1.0)
    last = differentiable(cnn, data, scope="last")
    assert KFACInverse(last, 1.0).solve(torch.ones(last.p, dtype=torch.float64)).shape == (last.p,)


def test_subsample_and_forest() -> None:
    rng = np.random.default_rng(0)
    keep = bernoulli_subsample(1000, 0.2, rng)
    assert 150 < len(keep) < 250 and len(set(keep.tolist())) == len(keep)
    assert len(bernoulli_subsample(3, 1e-6, rng)) == 2
    with pytest.raises(InvalidParameterError):
        bernoulli_subsample(10, 0.0, rng)
    X = rng.normal(size=(400, 3))
    scores = X[:, 0] ** 2 + 0.1 * X[:, 1]
    ranks = forest_ranks(X, keep[keep < 400], scores[keep[keep < 400]], n_estimators=50)
    assert spearmanr(ranks, scores)[0] > 0.9


def test_approximate_valuations_rank_like_the_exact_one() -> None:
    train, valid = blobs(120, 4, 4), blobs(40, 4, 5)
    u = Utility(LogisticRegression(), train, valid)
    exact = make_method("fi-util").fit(u).values
    kfsvd = make_method("fi-kfsvd", k=2).fit(u)
    assert spearmanr(kfsvd.values, exact)[0] > 0.8 and kfsvd.method == "fi-kfsvd"
    full = make_method("fi-subsample", alpha=1.0, with_label=True, n_estimators=50).fit(u)
    assert spearmanr(full.values, exact)[0] > 0.9
    sub = make_method("fi-subsample", alpha=0.5, with_label=True, n_estimators=50).fit(u)
    assert spearmanr(sub.values, exact)[0] > 0.5
    assert 30 < sub.params["scored"] < 90
    again = make_method("fi-subsample", alpha=0.5, with_label=True, n_estimators=50).fit(u)
    np.testing.assert_array_equal(again.values, sub.values)
    with pytest.raises(InvalidParameterError):
        make_method("fi-subsample", base="magic")


def test_sample_loss_is_cross_entropy() -> None:
    fn = lambda t, X: X @ t.view(2, 3).T  # noqa: E731
    theta, x = torch.arange(6.0), torch.tensor([1.0, -1.0, 0.5])
    y = torch.tensor([0.0, 1.0])
    ref = torch.nn.functional.cross_entropy(fn(theta, x[None]), torch.tensor([1]))
    torch.testing.assert_close(sample_loss(fn, theta, x, y), ref)
