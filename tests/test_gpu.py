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


def _minibatch_probabilities(device: str, dtype: str, hidden: tuple[int, ...], train, valid):  # type: ignore[no-untyped-def]
    """Class probabilities of 16 mini-batch MLPs (random halves) trained on ``device``."""
    masks = torch.as_tensor((np.random.default_rng(1).random((16, train.n)) < 0.5).astype(float))
    mlp = MLPClassifier(
        hidden=hidden,
        epochs=3,
        batch_size=32,
        lr=0.01,
        weight_decay=1e-3,
        dtype=dtype,
        device=device,
    )
    fitted = mlp.fit(mlp.prepare(train), masks)
    assert fitted.steps.tolist() == (3 * np.ceil(masks.sum(1).numpy() / 32)).astype(int).tolist()
    return fitted.predict_proba(mlp.prepare(valid).X).cpu()


@pytest.mark.gpu
@pytest.mark.parametrize("hidden", [(16,), (12, 8)])
def test_minibatch_mlp_fast_path_on_gpu_matches_cpu(breast_cancer, hidden) -> None:
    """The batched MLP fast path (nn_banzhaf's learner) gives the CPU's models on CUDA."""
    train, valid, _ = breast_cancer
    cpu = _minibatch_probabilities("cpu", "float64", hidden, train, valid)
    gpu = _minibatch_probabilities("cuda", "float64", hidden, train, valid)
    torch.testing.assert_close(cpu, gpu, atol=1e-9, rtol=0)
    cpu32 = _minibatch_probabilities("cpu", "float32", hidden, train, valid)
    gpu32 = _minibatch_probabilities("cuda", "float32", hidden, train, valid)
    torch.testing.assert_close(cpu32, gpu32, atol=1e-4, rtol=0)


@pytest.mark.gpu
def test_minibatch_cnn_autograd_path_on_gpu_matches_cpu() -> None:
    """The vmap / autograd mini-batch path (any architecture) gives the CPU's models on CUDA."""
    from assay.data import load_dataset
    from assay.learners import CNNClassifier

    train, valid, _ = load_dataset("digits", seed=0)
    masks = torch.as_tensor((np.random.default_rng(2).random((4, train.n)) < 0.5).astype(float))
    p = {}
    for device in ("cpu", "cuda"):
        cnn = CNNClassifier(
            (1, 8, 8),
            channels=(4,),
            hidden=8,
            epochs=2,
            batch_size=64,
            dtype="float64",
            device=device,
        )
        fitted = cnn.fit(cnn.prepare(train), masks)
        p[device] = fitted.predict_proba(cnn.prepare(valid).X).cpu()
    torch.testing.assert_close(p["cpu"], p["cuda"], atol=1e-8, rtol=0)
