"""LESS warm-up: the training equals a hand-written AdamW loop; the score is the paper's sum."""

from __future__ import annotations

import numpy as np
import pytest

from tests.llm_support import RECORDS, save_tiny_gpt2

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from assay.errors import InvalidParameterError  # noqa: E402
from assay.llm import Corpus, load_causal_lm  # noqa: E402
from assay.llm.gradients import GradientFeatures, select_parameters  # noqa: E402
from assay.llm.recipe import select_for_model, with_lora  # noqa: E402
from assay.llm.targeted import less_scores  # noqa: E402
from assay.llm.tokens import encode  # noqa: E402
from assay.llm.warmup import checkpoint_less_scores, warmup_checkpoints  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"))


def _fresh(folder):
    model, tok = load_causal_lm(folder, dtype=torch.float64)
    return with_lora(model, rank=2, targets=["c_attn"], seed=0), tok


def _manual_loss(model, rows):
    """Mean over examples of the mean response-token loss, one unpadded example at a time."""
    total = 0.0
    for e in rows:
        ids = torch.tensor([e.ids])
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
        pos = torch.arange(max(e.start, 1), len(e.ids))
        total = total + (-logp[pos - 1, ids[0, pos]]).mean()
    return total / len(rows)


def test_warmup_equals_a_plain_adamw_loop_and_restores_the_model(folder) -> None:
    model, tok = _fresh(folder)
    enc = encode(tok, Corpus.from_records(RECORDS))
    names = select_parameters(model, "lora")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cks = warmup_checkpoints(model, enc, share=0.6, epochs=2, lr=0.05, batch_size=2,
                             pad_id=int(tok.pad_token_id), seed=3)  # fmt: skip
    for n, p in model.named_parameters():  # the model is left as it was
        assert torch.equal(p, before[n])
    # the reference: the same rows and orders, ordinary autograd, AdamW, linear decay by hand
    rng = np.random.default_rng([3, 31])
    rows = rng.choice(len(enc), round(0.6 * len(enc)), replace=False)
    ref, _ = _fresh(folder)
    params = dict(ref.named_parameters())
    opt = torch.optim.AdamW([params[n] for n in names], lr=0.05, weight_decay=0.0)
    total, step = 2 * 2, 0  # 4 rows in batches of 2, two epochs
    for ck in cks:
        lrs = []
        order = rows[rng.permutation(len(rows))]
        for s in range(0, len(order), 2):
            lr = 0.05 * (1 - step / total)
            for g in opt.param_groups:
                g["lr"] = lr
            lrs.append(lr)
            opt.zero_grad()
            _manual_loss(ref, [enc[i] for i in order[s : s + 2]]).backward()
            opt.step()
            step += 1
        assert ck.lr == pytest.approx(np.mean(lrs))
        for n in names:
            torch.testing.assert_close(ck.state[n], params[n].detach(), rtol=1e-6, atol=1e-9)
            torch.testing.assert_close(ck.second_moments[n], opt.state[params[n]]["exp_avg_sq"],
                                       rtol=1e-6, atol=1e-12)  # fmt: skip
    assert not torch.equal(cks[0].state[names[1]], cks[1].state[names[1]])


def test_checkpoint_score_is_the_lr_weighted_sum_of_preconditioned_cosines(folder, tmp_path):
    model, tok = _fresh(folder)
    enc = encode(tok, Corpus.from_records(RECORDS))
    target = enc[:2]
    cks = warmup_checkpoints(model, enc, share=1.0, epochs=2, lr=0.05, batch_size=3,
                             pad_id=int(tok.pad_token_id))  # fmt: skip
    got = checkpoint_less_scores(model, cks, enc, target, dim=8, reduce="mean",
                                 features_path=tmp_path / "f.npy")  # fmt: skip
    want = np.zeros(len(enc))
    ref, _ = _fresh(folder)
    params = dict(ref.named_parameters())
    for ck in cks:
        with torch.no_grad():
            for n, v in ck.state.items():
                params[n].copy_(v)
        A = GradientFeatures(ref, dim=8, preconditioner=ck.second_moments).compute(enc)[0]
        B = GradientFeatures(ref, dim=8).compute(target)[0]
        want += ck.lr * less_scores(A, B, reduce="mean")
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert sorted(p.name for p in tmp_path.glob("*.npy") if "norms" not in p.name) == [
        "f-ckpt0.npy", "f-ckpt1.npy"]  # fmt: skip
    again = checkpoint_less_scores(model, cks, enc, target, dim=8, reduce="mean",
                                   features_path=tmp_path / "f.npy")  # fmt: skip
    np.testing.assert_array_equal(again, got)  # resumed from the stored features


def test_recipe_warms_fresh_adapters_up_and_records_it(folder, tmp_path) -> None:
    from assay.llm import write_corpus

    corpus, target = tmp_path / "c.jsonl", tmp_path / "t.jsonl"
    write_corpus(Corpus.from_records(RECORDS), corpus)
    write_corpus(Corpus.from_records(RECORDS[:2]), target)
    kw = dict(method="less", budget=0.5, target=target, dim=8, lora_r=2, overwrite=True)
    warm = select_for_model(corpus, folder, out=tmp_path / "w.jsonl", **kw)
    cold = select_for_model(corpus, folder, out=tmp_path / "cold.jsonl", warmup_epochs=0, **kw)
    assert warm.params["warmup_epochs"] == 4 and warm.params["warmup_share"] == 0.05
    assert cold.params["warmup_epochs"] == 0 and "warmup_share" not in cold.params
    assert not np.allclose(warm.scores, cold.scores)
    with pytest.raises(InvalidParameterError, match="warmup_share"):
        select_for_model(corpus, folder, out=tmp_path / "x.jsonl", warmup_share=0.0, **kw)
    with pytest.raises(InvalidParameterError, match="center must be True or False"):
        select_for_model(corpus, folder, out=tmp_path / "x.jsonl", center="maybe", **kw)
    with pytest.raises(InvalidParameterError, match="whole number"):
        select_for_model(corpus, folder, out=tmp_path / "x.jsonl", warmup_epochs=2.5, **kw)
    centred = select_for_model(corpus, folder, out=tmp_path / "m.jsonl", center="true", **kw)
    assert centred.params["center"] is True and warm.params["center"] is False
    with pytest.raises(InvalidParameterError, match="LESS reduction"):
        select_for_model(corpus, folder, out=tmp_path / "x.jsonl", reduce="min", **kw)


def test_centred_less_scores_are_cosines_of_centred_features() -> None:
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(9, 5)) + 3.0, rng.normal(size=(4, 5)) + 3.0
    mu = A.mean(0)
    unit = lambda X: X / np.linalg.norm(X, axis=1, keepdims=True)  # noqa: E731
    cos = unit(A - mu) @ unit(B - mu).T
    np.testing.assert_allclose(less_scores(A, B, center=True), cos.max(1))
    np.testing.assert_allclose(less_scores(A, B, reduce="mean", center=True), cos.mean(1))
    assert not np.allclose(less_scores(A, B), cos.max(1))
