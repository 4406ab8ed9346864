"""Gradient-based scores against per-sample autograd loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.errors import InvalidParameterError
from assay.learners import MLPClassifier
from assay.utility import Utility
from assay.valuation.gradient import (
    GradientMatching,
    GraNd,
    RandomProjection,
    gradient_alignment,
    projected_gradients,
)
from assay.valuation.inference import train_ensemble


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(rng.normal(size=(30, 4)), np.arange(30) % 3)
    target = Dataset.from_arrays(rng.normal(size=(9, 4)) + 0.5, np.arange(9) % 3)
    mlp = MLPClassifier(hidden=(5,), epochs=3, dtype="float64")
    data, tdata = mlp.prepare(ds), mlp.prepare(target)
    fn, params = mlp.fit(data, torch.ones(1, ds.n)).functional(0)
    return fn, params, data, tdata


def _autograd_rows(fn, params, X, y) -> torch.Tensor:
    rows = []
    for i in range(len(X)):  # one sample at a time, plain autograd
        p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        loss = torch.nn.functional.cross_entropy(fn(p, X[i : i + 1]), y[i : i + 1])
        loss.backward()
        rows.append(torch.cat([p[k].grad.reshape(-1) for k in p]))
    return torch.stack(rows)


@pytest.mark.parametrize("method", ["vmap", "jvp"])
def test_gradient_matching_equals_a_per_sample_autograd_loop(model, method) -> None:
    fn, params, data, tdata = model
    G = _autograd_rows(fn, params, data.X, data.y)
    Gt = _autograd_rows(fn, params, tdata.X, tdata.y)
    p = G.shape[1]
    Pi = RandomProjection(p, 16, seed=7, dtype=torch.float64, block=5).dense()
    P, target = G @ Pi, (Gt @ Pi).mean(0)
    ref = (P @ target) / (P.norm(dim=1) * target.norm())
    got = gradient_alignment(
        fn, params, data.X, data.y, tdata.X, tdata.y, dim=16, seed=7, method=method, chunk=7
    )
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=0)
    proj = RandomProjection(p, 16, seed=7, dtype=torch.float64, block=5)
    torch.testing.assert_close(
        projected_gradients(fn, params, data.X, data.y, proj, method=method, chunk=11),
        P,
        atol=1e-10,
        rtol=0,
    )
    exact = gradient_alignment(fn, params, data.X, data.y, tdata.X, tdata.y, dim=None, chunk=7)
    gbar = Gt.mean(0)
    torch.testing.assert_close(
        exact, (G @ gbar) / (G.norm(dim=1) * gbar.norm()), atol=1e-10, rtol=0
    )


def test_projection_is_seeded_blockwise_and_preserves_norms() -> None:
    a = RandomProjection(50, 40, seed=1, block=8, dtype=torch.float64)
    b = RandomProjection(50, 40, seed=1, block=8, dtype=torch.float64, max_cache_mb=0)
    torch.testing.assert_close(a.dense(), b.dense())
    assert b._cache is None and set(a.dense().unique().abs().tolist()) == {40**-0.5}
    assert not torch.equal(
        a.dense(), RandomProjection(50, 40, seed=2, block=8, dtype=torch.float64).dense()
    )
    g = torch.randn(200, 3000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    big = RandomProjection(3000, 1024, seed=0, dtype=torch.float64)
    ratio = big.project(g).norm(dim=1) / g.norm(dim=1)  # Johnson-Lindenstrauss
    assert abs(float(ratio.mean()) - 1) < 0.02 and float(ratio.std()) < 0.05


def test_large_projection_approaches_the_exact_cosine(model) -> None:
    fn, params, data, tdata = model
    exact = gradient_alignment(fn, params, data.X, data.y, tdata.X, tdata.y, dim=None)
    approx = gradient_alignment(fn, params, data.X, data.y, tdata.X, tdata.y, dim=2048)
    assert float((exact - approx).abs().max()) < 0.12


def test_grand_averages_per_sample_gradient_norms_over_the_ensemble(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    mlp = MLPClassifier(hidden=(4,), epochs=10, dtype="float64")
    u = Utility(mlp, train, valid)
    r = GraNd(n_models=2, seed=3).fit(u)
    import copy

    early = copy.copy(mlp)
    early.epochs = 1
    fitted = train_ensemble(early, u.train_data, 2, seed=3)
    rows = []
    for b in range(2):
        fn, params = fitted.functional(b)
        rows.append(
            _autograd_rows(fn, params, u.train_data.X[:25], u.train_data.y[:25]).norm(dim=1)
        )
    np.testing.assert_allclose(r.values[:25], torch.stack(rows).mean(0).numpy(), rtol=1e-8)
    assert r.params["epochs"] == 1 and (r.counts == 2).all()


def test_gradient_matching_on_a_utility(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid)
    r = GradientMatching(dim=64).fit(u)
    assert len(r) == train.n and np.abs(r.values).max() <= 1 + 1e-9
    # a target equal to one class's points favours that class's misfit points' direction
    r_exact = GradientMatching(dim=None, target=train).fit(u)
    assert np.isfinite(r_exact.values).all()
    with pytest.raises(InvalidParameterError, match="dim"):
        GradientMatching(dim=0)


def test_gradient_oracle_is_the_squared_gradient_norm(model) -> None:
    from assay.valuation.gradient import gradient_oracle

    fn, params, data, _ = model

    class Fitted:
        def functional(self, b: int = 0):
            return fn, params

    G = _autograd_rows(fn, params, data.X, data.y)
    got = gradient_oracle(Fitted(), data.X, data.y)(np.array([4, 0, 29]))
    np.testing.assert_allclose(got, (G[[4, 0, 29]].norm(dim=1) ** 2).numpy(), rtol=1e-10)
