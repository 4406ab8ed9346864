"""Token scores of a corpus under a tiny GPT-2 equal a direct, unbatched, unpadded loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.llm_support import RECORDS, save_tiny_gpt2

torch = pytest.importorskip("torch")

from assay.errors import InvalidDataError  # noqa: E402
from assay.llm import (  # noqa: E402
    IFD,
    Corpus,
    LengthAwareLoss,
    Perplexity,
    ResponseLoss,
    TokenEntropy,
    load_causal_lm,
    load_corpus,
    write_corpus,
)
from assay.result import HIGHER_IS_SUSPECT  # noqa: E402


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    folder = save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"))
    return load_causal_lm(folder, dtype=torch.float64)


def _direct(model, tok, prompt: str, response: str, with_prompt: bool = True):
    """Per-token NLL and entropy of the response, one example at a time, no padding."""
    p = tok(prompt, add_special_tokens=False)["input_ids"] if with_prompt else []
    r = tok(response, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([[tok.bos_token_id, *p, *r]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
    start = 1 + len(p)
    pos = torch.arange(start, ids.shape[1])
    nll = -logp[pos - 1, ids[0, pos]]
    ent = -(logp.exp() * logp).sum(-1)[pos - 1]
    return nll.numpy(), ent.numpy()


def test_scores_match_direct_loop(lm) -> None:
    model, tok = lm
    corpus = Corpus.from_records(RECORDS)
    ref = [_direct(model, tok, r["prompt"], r["response"]) for r in RECORDS]
    alone = [_direct(model, tok, r["prompt"], r["response"], False) for r in RECORDS]
    kw = {"batch_size": 3}
    loss = ResponseLoss(model, tok, **kw).fit(corpus)
    np.testing.assert_allclose(loss.values, [a.mean() for a, _ in ref], rtol=1e-5)
    np.testing.assert_array_equal(loss.counts, [len(a) for a, _ in ref])
    assert loss.direction == HIGHER_IS_SUSPECT and loss.params["direction"] == HIGHER_IS_SUSPECT
    ppl = Perplexity(model, tok, **kw).fit(corpus)
    np.testing.assert_allclose(ppl.values, np.exp([a.mean() for a, _ in ref]), rtol=1e-5)
    ifd = IFD(model, tok, **kw).fit(corpus)
    want = [a.mean() / b.mean() for (a, _), (b, _) in zip(ref, alone, strict=True)]
    np.testing.assert_allclose(ifd.values, want, rtol=1e-5)
    for stat, f in (("mean", np.mean), ("max", np.max), ("std", np.std)):
        ent = TokenEntropy(model, tok, stat=stat, **kw).fit(corpus)
        np.testing.assert_allclose(ent.values, [f(e) for _, e in ref], rtol=1e-5, atol=1e-9)
    la = LengthAwareLoss(model, tok, alpha=0.5, **kw).fit(corpus)
    np.testing.assert_allclose(la.values, [a.sum() / len(a) ** 0.5 for a, _ in ref], rtol=1e-5)


def test_batch_size_does_not_change_scores(lm) -> None:
    model, tok = lm
    corpus = Corpus.from_records(RECORDS)
    a = ResponseLoss(model, tok, batch_size=1).fit(corpus).values
    b = ResponseLoss(model, tok, batch_size=7, progress=True).fit(corpus).values
    np.testing.assert_allclose(a, b, rtol=1e-10)


def test_corpus_formats_round_trip(tmp_path) -> None:
    corpus = Corpus.from_records(RECORDS)
    for suffix in (".jsonl", ".parquet", ".csv"):
        path = write_corpus(corpus, tmp_path / f"c{suffix}", {"score": np.arange(len(corpus))})
        back = load_corpus(path)
        assert back.prompts == corpus.prompts and back.responses == corpus.responses
        assert list(back.table["score"].astype(int)) == list(range(len(corpus)))
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in ["a b", "c d"]))
    text = load_corpus(tmp_path / "t.jsonl")
    assert text.kind == "text" and text.prompts == ["", ""]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("a.txt", "x", "unknown format"),
        ("b.jsonl", '{"prompt": "p"}\n', "needs 'prompt' and 'response'"),
        ("c.jsonl", "{not json\n", "line 1 is not JSON"),
        ("d.jsonl", '{"text": 3}\n', "not a string"),
        ("e.jsonl", '{"prompt": "p", "response": ""}\n', "empty response"),
        ("f.parquet", "garbage", "not a readable Parquet"),
    ],
)
def test_bad_corpus_files_name_the_problem(tmp_path, name, content, match) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidDataError, match=match):
        load_corpus(path)
    with pytest.raises(InvalidDataError, match="does not exist"):
        load_corpus(tmp_path / "missing.jsonl")


def test_bad_model_directory(tmp_path) -> None:
    with pytest.raises(InvalidDataError, match="does not exist"):
        load_causal_lm(tmp_path / "nope")
    with pytest.raises(InvalidDataError, match=r"no config\.json"):
        load_causal_lm(tmp_path)
