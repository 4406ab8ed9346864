"""The batched trainer on a CUDA device gives the CPU's answers (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.learners import LogisticRegression, MLPClassifier
from assay.utility import Utility
from assay.valuation import MSRBanzhaf, TMCShapley


@pytest.mark.gpu
def test_logistic_on_gpu_matches_cpu(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    masks = torch.as_tensor((np.random.default_rng(0).random((64, train.n)) < 0.5).astype(float))
    p = {}
    for device in ("cpu", "cuda"):
        lr = LogisticRegression(device=device)
        fitted = lr.fit(lr.prepare(train), masks)
        p[device] = fitted.predict_proba(lr.prepare(valid).X).cpu()
    torch.testing.assert_close(p["cpu"], p["cuda"], atol=1e-8, rtol=0)


@pytest.mark.gpu
def test_valuation_on_gpu_gives_cpu_rankings(noisy_breast_cancer) -> None:
    (train, valid, _), _ = noisy_breast_cancer
    values = {}
    for device in ("cpu", "cuda"):
        u = Utility(LogisticRegression(device=device), train, valid)
        values[device] = (
            TMCShapley(20, seed=0).fit(u).values,
            MSRBanzhaf(500, seed=0).fit(u).values,
        )
    for a, b in zip(values["cpu"], values["cuda"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)


@pytest.mark.gpu
def test_mlp_trains_on_gpu(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    mlp = MLPClassifier(hidden=(32,), epochs=50, device="cuda")
    fitted = mlp.fit(mlp.prepare(train), torch.ones(8, train.n))
    acc = fitted.predict_proba(mlp.prepare(valid).X).argmax(-1).cpu() == torch.as_tensor(valid.y)
    assert float(acc.float().mean()) > 0.9
