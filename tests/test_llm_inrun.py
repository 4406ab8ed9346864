"""In-Run Data Shapley by the ghost trick equals explicit per-example gradient dot products."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from torch.func import functional_call, grad, vmap  # noqa: E402

from assay.errors import InvalidParameterError  # noqa: E402
from assay.llm.inrun import InRunShapley, cheaper_dots, layer_dots, linear_layers  # noqa: E402


def _gpt2() -> torch.nn.Module:
    cfg = transformers.GPT2Config(
        vocab_size=23,
        n_positions=16,
        n_embd=16,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(cfg).double()


def _lm_loss(model, ids, params=None):
    """Per-example mean token cross-entropy (B,)."""
    out = model(input_ids=ids) if params is None else functional_call(model, params, (ids,))
    logits = out.logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    )
    return ce.view(ids.shape[0], -1).mean(1)


def _explicit_dots(model, tracked, x_train, x_val):
    """<grad of (l_i / B), grad of L_val> by torch.func over the tracked parameters."""
    names = {id(p): n for n, p in model.named_parameters()}
    keys = [names[id(p)] for m in tracked for p in m.parameters(recurse=False)]
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p_sub, x):
        return _lm_loss(model, x[None], {**params, **p_sub})[0]

    sub = {k: params[k] for k in keys}
    per = vmap(grad(one), in_dims=(None, 0))(sub, x_train)
    gval = grad(lambda p: _lm_loss(model, x_val, {**params, **p}).mean())(sub)
    B = len(x_train)
    return sum((per[k].reshape(B, -1) @ gval[k].reshape(-1)) for k in keys) / B


def test_inrun_matches_explicit_per_example_gradients() -> None:
    model = _gpt2()
    gen = torch.Generator().manual_seed(1)
    x_train = torch.randint(0, 23, (5, 7), generator=gen)
    x_val = torch.randint(0, 23, (3, 6), generator=gen)
    tracker = InRunShapley(model, n_train=10)
    assert all(m is not model.lm_head for m in tracker.layers)  # tied to the embedding
    want = _explicit_dots(model, tracker.layers, x_train, x_val)
    with tracker.record("val"):
        val_loss = _lm_loss(model, x_val).mean()
    with tracker.record("train"):
        loss = _lm_loss(model, x_train).mean()
    model.zero_grad()
    idx = np.array([0, 3, 3, 7, 9])
    dots = tracker.backward(loss, val_loss, idx, lr=0.5)
    np.testing.assert_allclose(dots.numpy(), want.numpy(), rtol=1e-6, atol=1e-12)
    expect = np.zeros(10)
    np.add.at(expect, idx, 0.5 * want.numpy())
    np.testing.assert_allclose(tracker.values, expect, rtol=1e-6, atol=1e-12)
    assert model.transformer.h[0].attn.c_attn.weight.grad is not None  # the training step's grads
    res = tracker.result()
    assert res.direction == "higher-is-better" and res.counts[3] == 2
    tracker.close()


def test_ghost_and_direct_agree_on_a_classifier() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3, bias=False)
    ).double()
    X, y = torch.randn(6, 4, dtype=torch.float64), torch.randint(0, 3, (6,))
    Xv, yv = torch.randn(4, 4, dtype=torch.float64), torch.randint(0, 3, (4,))
    tracker = InRunShapley(net, 6)
    assert len(linear_layers(net)) == 2
    ce = torch.nn.functional.cross_entropy
    with tracker.record("val"):
        val_loss = ce(net(Xv), yv)
    with tracker.record("train"):
        loss = ce(net(X), y, reduction="sum")
    dots = tracker.backward(loss, val_loss, np.arange(6), lr=1.0)
    params = dict(net.named_parameters())
    per = vmap(
        grad(lambda p, x, t: ce(functional_call(net, p, (x[None],)), t[None])), in_dims=(None, 0, 0)
    )({k: v.detach() for k, v in params.items()}, X, y)
    gv = grad(lambda p: ce(functional_call(net, p, (Xv,)), yv))(
        {k: v.detach() for k, v in params.items()}
    )
    want = sum(per[k].reshape(6, -1) @ gv[k].reshape(-1) for k in params)
    np.testing.assert_allclose(dots.numpy(), want.numpy(), rtol=1e-10)
    a, g = torch.randn(3, 5, 4, dtype=torch.float64), torch.randn(3, 5, 2, dtype=torch.float64)
    av, gvv = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64)
    np.testing.assert_allclose(
        layer_dots(a, g, av, gvv, bias=True, method="ghost").numpy(),
        layer_dots(a, g, av, gvv, bias=True, method="direct").numpy(),
        rtol=1e-12,
    )


def test_cheaper_dots_counts_the_validation_gradient_once_a_batch() -> None:
    # a GPT-2 attention input layer, 16 x 64 training tokens, 16 x 64 validation tokens: ghost
    # takes 16 * 64 * 1024 * 512 = 537M multiply-adds, direct (16 * 64 + 1024) * 128 * 384 = 101M
    assert cheaper_dots(16, 64, 16 * 64, 128, 384) == "direct"
    # a short validation set (8 tokens) against wide layers: the Gram matrices are tiny
    assert cheaper_dots(16, 64, 8, 128, 384) == "ghost"
    a, g = torch.randn(16, 6, 8, dtype=torch.float64), torch.randn(16, 6, 24, dtype=torch.float64)
    av, gv = torch.randn(4, 6, 8, dtype=torch.float64), torch.randn(4, 6, 24, dtype=torch.float64)
    auto = layer_dots(a, g, av, gv, bias=False)
    for method in ("ghost", "direct"):
        np.testing.assert_allclose(auto, layer_dots(a, g, av, gv, bias=False, method=method))


def test_inrun_refuses_misuse() -> None:
    net = torch.nn.Sequential(torch.nn.Tanh())
    with pytest.raises(InvalidParameterError, match="at least one"):
        InRunShapley(net, 3)
    lin = torch.nn.Linear(2, 1)
    tracker = InRunShapley(lin, 3)
    with pytest.raises(InvalidParameterError, match="record both"):
        tracker.backward(torch.zeros(()), torch.zeros(()), [0], lr=1.0)
