"""Per-sample gradients against autograd one sample at a time and against the closed form."""

from __future__ import annotations

import numpy as np
import torch

from assay.derivatives import per_sample_gradient_norms, per_sample_gradients
from assay.learners import LogisticRegression, MLPClassifier


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
