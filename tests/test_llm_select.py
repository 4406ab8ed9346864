"""Corpus selection with a model (issue 13.6): budgets, caps, embeddings, mix, replay, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.cli_support import run
from tests.llm_support import RECORDS, save_tiny_gpt2

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from assay.errors import InvalidDataError, InvalidParameterError  # noqa: E402
from assay.llm import Corpus, load_causal_lm, load_corpus  # noqa: E402
from assay.llm.budget import Budget, Filler, group_codes  # noqa: E402
from assay.llm.diverse import diverse_pick, quality_rank  # noqa: E402
from assay.llm.embeddings import hidden_embeddings  # noqa: E402
from assay.llm.recipe import select_for_model  # noqa: E402
from assay.llm.select import select_corpus  # noqa: E402
from assay.llm.tokens import encode  # noqa: E402
from assay.valuation.geometry import kcenter_greedy  # noqa: E402

SOURCES = ["web", "books", "code"]


def _records(n: int = 21) -> list[dict]:
    return [
        {**RECORDS[i % len(RECORDS)], "id": i, "source": SOURCES[(i // 2) % 3]} for i in range(n)
    ]


def _write_jsonl(path, records) -> str:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("llmselect")
    model = save_tiny_gpt2(root / "model")
    corpus = _write_jsonl(root / "corpus.jsonl", _records())
    target = _write_jsonl(root / "target.jsonl", RECORDS[:2])
    old = _write_jsonl(root / "old.jsonl", [{**r, "id": 100 + i} for i, r in enumerate(RECORDS)])
    return root, model, corpus, target, old


@pytest.fixture(scope="module")
def lm(files):
    model, tok = load_causal_lm(files[1], dtype=torch.float64)
    return model, tok


# ---------------------------------------------------------------- budgets and caps
def test_budget_parse_share_tokens_and_limits() -> None:
    assert Budget.parse(0.25, 10, 50) == Budget("examples", 2)  # round(2.5) -> 2
    assert Budget.parse(0.01, 10, 50) == Budget("examples", 1)  # at least one
    assert Budget.parse(1.0, 10, 50) == Budget("examples", 10)
    assert Budget.parse(30, 10, 50) == Budget("tokens", 30)
    assert Budget.parse(30.0, 10, 50) == Budget("tokens", 30)
    with pytest.raises(InvalidParameterError, match="exceeds the corpus's 50 tokens"):
        Budget.parse(51, 10, 50)
    for bad in (0, -1, 2.5, float("nan"), True, "5"):
        with pytest.raises(InvalidParameterError):
            Budget.parse(bad, 10, 50)  # type: ignore[arg-type]
    assert Budget("tokens", 100).split(0.1) == (Budget("tokens", 90), Budget("tokens", 10))
    for share in (-0.1, 1.0, 1.5):
        with pytest.raises(InvalidParameterError, match=r"replay share must lie in \[0, 1\)"):
            Budget("tokens", 100).split(share)


def test_filler_is_greedy_by_rank_under_tokens_and_caps() -> None:
    tokens = np.array([5, 4, 3, 2, 1])
    # rank order 0, 1, 2, ...: 5 + 4 = 9, then 3 overflows 10 and is skipped, 1 fits (5+4+1)
    assert Filler(tokens, Budget("tokens", 10)).walk([0, 1, 2, 3, 4]).tolist() == [0, 1, 4]
    groups = np.array([0, 0, 0, 1, 1])
    f = Filler(np.ones(5), Budget("examples", 4), groups, cap=0.5)  # 2 per group
    assert f.walk(range(5)).tolist() == [0, 1, 3, 4]
    with pytest.raises(InvalidParameterError, match="leaves no room"):
        Filler(np.ones(5), Budget("examples", 2), groups, cap=0.4)
    with pytest.raises(InvalidParameterError, match=r"cap must lie in \(0, 1\]"):
        Filler(np.ones(5), Budget("examples", 2), groups, cap=1.5)
    with pytest.raises(InvalidDataError, match="cap column 'domain' is not in the corpus"):
        group_codes(pd.DataFrame({"source": ["a"]}), "domain")


# ---------------------------------------------------------------- embeddings and diversity
def test_hidden_embeddings_equal_one_example_at_a_time(lm) -> None:
    model, tok = lm
    enc = encode(tok, Corpus.from_records(RECORDS))
    got = hidden_embeddings(model, enc, pad_id=tok.pad_token_id, batch_size=3)
    for i, e in enumerate(enc):
        with torch.no_grad():
            h = model(input_ids=torch.tensor([e.ids]), output_hidden_states=True).hidden_states[-1]
        np.testing.assert_allclose(got[i], h[0].mean(0).numpy(), rtol=1e-9, atol=1e-12)


def test_diverse_pick_extremes_are_kcenter_and_the_quality_ranking() -> None:
    rng = np.random.default_rng(0)
    E = rng.normal(size=(30, 4))
    picks, _, _ = kcenter_greedy(E, 8, seed=3)
    got = diverse_pick(E, Filler(np.ones(30), Budget("examples", 8)), diversity=1.0, seed=3)
    assert got.tolist() == picks.tolist()
    s = rng.normal(size=30)
    q = quality_rank(s, True)
    got = diverse_pick(E, Filler(np.ones(30), Budget("examples", 8)), quality=q, diversity=0.0)
    assert got.tolist() == np.argsort(-s)[:8].tolist()
    # in between: every pick maximises the documented gain among what is left
    chosen = diverse_pick(E, Filler(np.ones(30), Budget("examples", 6)), quality=q, diversity=0.5)
    assert chosen[0] == int(np.argmax(s))
    for t in range(1, 6):
        d = np.linalg.norm(E[:, None] - E[chosen[:t]][None], axis=2).min(1)
        left = np.setdiff1d(np.arange(30), chosen[:t])
        gain = 0.5 * q + 0.5 * d / d[left].max()
        assert chosen[t] == left[np.argmax(gain[left])]
    with pytest.raises(InvalidParameterError, match="diversity"):
        diverse_pick(E, Filler(np.ones(30), Budget("examples", 2)), quality=q, diversity=2.0)


# ---------------------------------------------------------------- select_corpus
def test_methods_under_share_and_token_budgets_with_caps(lm, files, tmp_path) -> None:
    model, tok = lm
    corpus = load_corpus(files[2])
    target = load_corpus(files[3])
    tokens = np.array([e.n_scored for e in encode(tok, corpus)])
    for method in ("perplexity", "ifd", "kcenter", "sensitivity", "mix"):
        out = tmp_path / f"{method}.csv"
        sel = select_corpus(corpus, model, tok, method=method, budget=0.4, out=out,
                            cap_column="source", cap=0.4, clusters=3)  # fmt: skip
        assert len(sel.positions) == 8 == len(set(sel.positions.tolist()))  # round(0.4 * 21)
        counts = corpus.table["source"].iloc[sel.positions].value_counts()
        assert counts.max() <= 0.4 * len(sel.positions), (method, counts)
        back = load_corpus(tmp_path / f"{method}.csv")
        assert back.responses == [corpus.responses[i] for i in sel.positions]
        assert f"{method}_score" in back.table.columns
        side = json.loads((tmp_path / f"{method}.csv.json").read_text())
        assert (
            side["method"] == method and side["cap"] == 0.4 and sum(side["per_group"].values()) == 8
        )
        sel = select_corpus(corpus, model, tok, method=method, budget=25, clusters=2)
        assert sel.tokens == tokens[sel.positions].sum() <= 25
        left = np.setdiff1d(np.arange(len(corpus)), sel.positions)
        assert tokens[left].min() > 25 - sel.tokens  # greedy: nothing left fits
    with pytest.raises(InvalidParameterError, match="needs a target"):
        select_corpus(corpus, model, tok, method="less", budget=0.5)
    with pytest.raises(InvalidParameterError, match="exceeds the corpus"):
        select_corpus(corpus, model, tok, method="ifd", budget=int(tokens.sum()) + 1)
    two = Corpus.from_records(RECORDS[:2])  # 4 and 7 response tokens
    with pytest.raises(InvalidParameterError, match="no example fits a budget of 3 tokens"):
        select_corpus(two, model, tok, method="ifd", budget=3)
    with pytest.raises(InvalidDataError, match="cap column 'domain'"):
        select_corpus(corpus, model, tok, method="ifd", budget=0.5, cap_column="domain", cap=0.5)
    sel = select_corpus(corpus, model, tok, method="mix", budget=0.3, target=target,
                        params=["transformer.h.1.mlp.c_fc"], dim=8)  # fmt: skip
    assert sel.params["quality"] == "less"


def test_rank_methods_keep_their_declared_end(lm, files) -> None:
    from assay.llm.scores import IFD, Perplexity

    model, tok = lm
    corpus = load_corpus(files[2])
    ppl = Perplexity(model, tok).fit(corpus).values
    sel = select_corpus(corpus, model, tok, method="perplexity", budget=5 / 21)
    assert sorted(sel.positions.tolist()) == sorted(np.argsort(ppl, kind="stable")[:5].tolist())
    ifd = IFD(model, tok).fit(corpus).values
    sel = select_corpus(corpus, model, tok, method="ifd", budget=5 / 21)
    below = np.flatnonzero(ifd < 1)
    want = below[np.argsort(-ifd[below], kind="stable")][:5]  # the highest IFD below 1
    assert sel.positions.tolist() == want.tolist()


def test_sensitivity_keeps_the_representatives_first(lm, files) -> None:
    from assay.select.sensitivity import SensitivitySampler

    model, tok = lm
    corpus = load_corpus(files[2])
    sel = select_corpus(corpus, model, tok, method="sensitivity", budget=0.5, clusters=3, seed=1)
    enc = encode(tok, corpus)
    E = hidden_embeddings(model, enc, pad_id=tok.pad_token_id)
    from assay.llm.scores import ResponseLoss

    s = SensitivitySampler(3, budget=21, backend="sklearn", seed=1)
    s.fit(E.astype(np.float32), ResponseLoss(model, tok).fit(corpus).values)
    kept = s.distribution_.kept
    assert set(sel.positions[: len(kept)].tolist()) == set(kept.tolist())
    assert np.all(sel.scores[kept] == 1.0)


def test_replay_share_is_drawn_uniformly_from_the_old_corpus(lm, files, tmp_path) -> None:
    model, tok = lm
    corpus, old = load_corpus(files[2]), load_corpus(files[4])
    out = tmp_path / "sub.jsonl"
    sel = select_corpus(corpus, model, tok, method="ifd", budget=10 / 21, replay=old,
                        replay_share=0.2, out=out, seed=4)  # fmt: skip
    assert len(sel.positions) == 8 and len(sel.replay_positions) == 2
    assert sel.replay_positions.tolist() == np.random.default_rng(4).permutation(7)[:2].tolist()
    back = load_corpus(out)
    assert back.table["replay"].tolist() == [False] * 8 + [True] * 2
    assert back.table["id"].tolist()[8:] == [100 + i for i in sel.replay_positions]
    assert json.loads((tmp_path / "sub.jsonl.json").read_text())["replay_rule"] == "uniform"
    with pytest.raises(InvalidParameterError, match="replay share"):
        select_corpus(corpus, model, tok, method="ifd", budget=0.5, replay=old, replay_share=1.0)


# ---------------------------------------------------------------- recipe and CLI
def test_recipe_wraps_a_plain_model_in_lora_for_less(files, tmp_path) -> None:
    _root, model, corpus, target, _ = files
    sel = select_for_model(corpus, model, method="less", budget=0.3, out=tmp_path / "s.parquet",
                           target=target, dim=16, lora_r=2)  # fmt: skip
    assert len(sel.positions) == 6 and sel.params["dim"] == 16
    assert pd.read_parquet(tmp_path / "s.parquet")["less_score"].is_monotonic_decreasing
    with pytest.raises(InvalidParameterError, match="unknown option"):
        select_for_model(corpus, model, method="ifd", budget=0.3, out=tmp_path / "s.jsonl", k=3)


def test_cli_select_with_a_model(files, tmp_path, capsys) -> None:
    _root, model, corpus, _target, old = files
    out = tmp_path / "subset.jsonl"
    code, stdout, err = run(["select", corpus, "--model", str(model), "--method", "mix",
                             "--budget", "30", "--out", str(out), "--cap-column", "source",
                             "--cap", "0.5", "--replay", old, "--replay-share", "0.1"],
                            capsys)  # fmt: skip
    assert code == 0, err
    assert "mix:" in stdout and "replayed" in stdout
    side = json.loads((tmp_path / "subset.jsonl.json").read_text())
    assert side["budget"] == {"unit": "tokens", "limit": 30} and side["tokens"] <= 30
    assert len(load_corpus(out)) == side["n_chosen"] + side["n_replay"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "less", "--budget", "0.5"], "needs a target corpus"),
        (["--method", "ifd", "--budget", "100000"], "exceeds the corpus"),
        (
            ["--method", "ifd", "--budget", "0.5", "--cap-column", "lang", "--cap", "0.4"],
            "cap column 'lang' is not in the corpus",
        ),
        (
            ["--method", "ifd", "--budget", "0.5", "--replay", "OLD", "--replay-share", "1"],
            r"replay share must lie in [0, 1)",
        ),
        (["--method", "nope", "--budget", "0.5"], "unknown selection method 'nope'"),
        (["--method", "ifd", "--budget", "0.5", "--compare", "x"], "--compare apply to tables"),
    ],
)
def test_cli_errors_are_one_line(files, tmp_path, capsys, extra, message) -> None:
    _root, model, corpus, _target, old = files
    extra = [old if a == "OLD" else a for a in extra]
    argv = ["select", corpus, "--model", str(model), "--out", str(tmp_path / "s.jsonl"), *extra]
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_llm_options_need_a_model(capsys, tmp_path) -> None:
    code, _, err = run(["select", "breast_cancer", "--method", "uniform", "--budget", "0.1",
                        "--out", str(tmp_path / "s"), "--cap", "0.3"], capsys)  # fmt: skip
    assert code == 2 and "--cap need --model" in err


def test_demo_files_load_through_the_user_path(tmp_path) -> None:
    from assay.llm.demo import write_demo

    root = write_demo(tmp_path / "demo")
    model, tok = load_causal_lm(root / "model")
    corpus = load_corpus(root / "corpus.jsonl")
    assert len(corpus) == 24 and set(corpus.table["source"]) == {"reviews", "math", "chat"}
    for name in ("target.jsonl", "old.jsonl", "corpus.jsonl"):  # every word is in the vocabulary
        c = load_corpus(root / name)
        ids = [i for e in encode(tok, c) for i in e.ids]
        assert tok.unk_token_id not in ids
    assert model.config.n_layer == 2
