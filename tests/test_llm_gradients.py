"""Projected LoRA gradients equal the projection of explicit per-example gradients; resume."""

from __future__ import annotations

import numpy as np
import pytest

from tests.llm_support import RECORDS, save_tiny_gpt2

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from assay.errors import InvalidParameterError  # noqa: E402
from assay.llm import Corpus, load_causal_lm  # noqa: E402
from assay.llm.gradients import (  # noqa: E402
    GradientFeatures,
    adam_preconditioner,
    projection_block,
    select_parameters,
)
from assay.llm.targeted import grand_result, less_scores  # noqa: E402
from assay.llm.tokens import encode  # noqa: E402


@pytest.fixture(scope="module")
def lora(tmp_path_factory):
    folder = save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"))
    model, tok = load_causal_lm(folder, dtype=torch.float64)
    cfg = peft.LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn"], lora_dropout=0.0)
    model = peft.get_peft_model(model, cfg)
    torch.manual_seed(3)
    for n, p in model.named_parameters():  # LoRA B starts at 0: make the gradients non-trivial
        if "lora_B" in n:
            p.data.normal_(0, 0.1)
    return model, tok, encode(tok, Corpus.from_records(RECORDS))


def _explicit(model, names, encoded):
    """Per-example gradients one example at a time, unpadded, by ordinary backward."""
    params = dict(model.named_parameters())
    rows = []
    for e in encoded:
        model.zero_grad()
        ids = torch.tensor([e.ids])
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
        pos = torch.arange(max(e.start, 1), len(e.ids))
        (-logp[pos - 1, ids[0, pos]]).mean().backward()
        rows.append(torch.cat([params[n].grad.reshape(-1) for n in names]).clone())
    return torch.stack(rows)


def _full_projection(gf, model):
    params = dict(model.named_parameters())
    blocks = []
    for j, n in enumerate(gf.names):
        d = params[n].numel()
        for b, r0 in enumerate(range(0, d, gf.block_rows)):
            r1 = min(r0 + gf.block_rows, d)
            blocks.append(projection_block(gf.seed, j, b, r1 - r0, gf.dim, gf.kind))
    return torch.cat(blocks)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_projected_features_equal_projected_explicit_gradients(lora, kind) -> None:
    model, _, enc = lora
    gf = GradientFeatures(model, dim=16, seed=5, kind=kind, chunk=3, block_rows=50)
    assert gf.names == select_parameters(model, "lora") and len(gf.names) == 4
    feats, norms = gf.compute(enc)
    G = _explicit(model, gf.names, enc)
    want = G @ _full_projection(gf, model)
    np.testing.assert_allclose(feats, want.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(norms, G.norm(dim=1).numpy(), rtol=1e-8)
    r = grand_result(norms)
    assert r.direction == "higher-is-suspect"


def test_adam_preconditioning_divides_before_projection(lora) -> None:
    model, _, enc = lora
    names = select_parameters(model, "lora")
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if n in names], lr=0.0)
    model.zero_grad()
    _explicit(model, names, enc[:1])
    opt.step()
    pre = adam_preconditioner(opt, model)
    gf = GradientFeatures(model, dim=8, chunk=4, preconditioner=pre)
    feats, _ = gf.compute(enc)
    G = _explicit(model, names, enc)
    v = torch.cat([pre[n].reshape(-1) for n in names])
    want = (G / (v.sqrt() + 1e-8)) @ _full_projection(gf, model)
    np.testing.assert_allclose(feats, want.numpy(), rtol=1e-4, atol=1e-6)


def test_killed_run_resumes_to_identical_arrays(lora, tmp_path) -> None:
    model, _, enc = lora
    gf = GradientFeatures(model, dim=12, chunk=2)
    full, full_norms = gf.compute(enc, tmp_path / "full.npy")
    part, _ = gf.compute(enc, tmp_path / "f.npy", stop_after=2)
    assert sorted(p.name for p in (tmp_path / "f.done").iterdir()) == ["0.done", "1.done"]
    assert not np.any(part[4:])  # chunks 2, 3 not done yet
    again, again_norms = gf.compute(enc, tmp_path / "f.npy")
    np.testing.assert_array_equal(again, full)
    np.testing.assert_array_equal(again_norms, full_norms)
    loaded = np.load(tmp_path / "f.npy", mmap_mode="r")
    np.testing.assert_array_equal(loaded, full)
    other = GradientFeatures(model, dim=12, chunk=2, seed=1)  # another fingerprint: start over
    fresh, _ = other.compute(enc, tmp_path / "f.npy")
    assert not np.array_equal(fresh, full)


def test_less_scores_are_cosines() -> None:
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(6, 5)), rng.normal(size=(3, 5))
    cos = (A / np.linalg.norm(A, axis=1)[:, None]) @ (B / np.linalg.norm(B, axis=1)[:, None]).T
    np.testing.assert_allclose(less_scores(A, B, reduce="max"), cos.max(1))
    np.testing.assert_allclose(less_scores(A, B, reduce="mean"), cos.mean(1))
    m = B.mean(0) / np.linalg.norm(B.mean(0))
    want = (A / np.linalg.norm(A, axis=1)[:, None]) @ m
    np.testing.assert_allclose(less_scores(A, B, reduce="mean-gradient"), want)
    with pytest.raises(InvalidParameterError, match="reduce"):
        less_scores(A, B, reduce="min")


def test_parameter_selection_errors(lora) -> None:
    model, _, _ = lora
    assert select_parameters(model, ["base_model.model.transformer.h.0.mlp.c_fc"])
    with pytest.raises(InvalidParameterError, match="no parameter"):
        select_parameters(model, ["nope"])
    with pytest.raises(InvalidParameterError, match="no LoRA"):
        select_parameters(torch.nn.Linear(2, 2), "lora")


def test_select_corpus_budgets_and_writes(lora, tmp_path) -> None:
    from assay.llm import Corpus, load_corpus
    from assay.llm.select import select_corpus

    model, tok, enc = lora
    corpus = Corpus.from_records(RECORDS)
    target = Corpus.from_records(RECORDS[:2])
    for method in ("perplexity", "ifd", "grand", "less", "kcenter"):
        sel = select_corpus(
            corpus,
            model,
            tok,
            method=method,
            budget=0.5,
            target=target,
            dim=8,
            out=tmp_path / f"{method}.jsonl",
        )
        assert len(sel.positions) == 4 and len(set(sel.positions)) == 4
        back = load_corpus(tmp_path / f"{method}.jsonl")
        assert back.responses == [RECORDS[i]["response"] for i in sel.positions]
    sel = select_corpus(corpus, model, tok, method="perplexity", budget=10)
    tokens = np.array([e.n_scored for e in enc])
    assert sel.tokens == tokens[sel.positions].sum() <= 10
    assert np.all(np.diff(sel.scores[sel.positions]) >= 0)  # lowest perplexity first
