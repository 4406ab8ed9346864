"""A tiny offline language model and corpora for examples and docs (nothing is downloaded).

:func:`write_demo` saves a randomly initialised 2-layer GPT-2 with a word-level tokenizer over
the demo vocabulary (``save_pretrained``, so it loads through the same path as any model) and
three small JSONL corpora: ``corpus.jsonl`` (prompt / response pairs from three sources),
``target.jsonl`` (the task to select for) and ``old.jsonl`` (a previous fine-tuning set, for
replay). It takes a second; the model is untrained, so its scores only show the mechanics.
"""

from __future__ import annotations

import json
from pathlib import Path

from assay.llm.models import require_transformers
from assay.runs import atomic_write_text

_TASKS = {
    "reviews": [
        ("review the movie", "the movie was good and fun"),
        ("review the film", "the film was dull and boring"),
        ("what about the plot", "the plot was very good"),
        ("what about the actors", "the actors were great"),
    ],
    "math": [
        ("add one and two", "one and two is three"),
        ("add two and two", "two and two is four"),
        ("add one and three", "one and three is four"),
        ("add two and one", "two and one is three"),
    ],
    "chat": [
        ("say yes", "yes"),
        ("say no", "no"),
        ("question is it good", "yes it is good"),
        ("question is it bad", "no it is not bad"),
    ],
}
_TARGET = [
    ("add one and one", "one and one is two"),
    ("add three and one", "three and one is four"),
]


def _records() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for rep in range(2):
        for source, pairs in _TASKS.items():
            for prompt, response in pairs:
                out.append({"id": len(out), "source": source, "prompt": prompt,
                            "response": response + (" again" if rep else "")})  # fmt: skip
    return out


def write_demo(folder: str | Path, *, seed: int = 0) -> Path:
    """Write ``folder/model`` (tiny GPT-2 + tokenizer) and the demo corpora; return ``folder``."""
    transformers = require_transformers()
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    root = Path(folder)
    (root / "model").mkdir(parents=True, exist_ok=True)
    records = _records()
    texts = [f"{r['prompt']} {r['response']}" for r in records] + [f"{p} {r}" for p, r in _TARGET]
    words = sorted({w for t in texts for w in t.split()})
    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    tk = Tokenizer(WordLevel({w: i for i, w in enumerate(specials + words)}, unk_token="[UNK]"))
    tk.pre_tokenizer = Whitespace()
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]",
        eos_token="[EOS]",
    )  # fmt: skip
    tok.save_pretrained(root / "model")
    cfg = transformers.GPT2Config(
        vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(root / "model")
    _jsonl(root / "corpus.jsonl", records)
    _jsonl(root / "target.jsonl", [{"prompt": p, "response": r} for p, r in _TARGET])
    old = [{"id": 100 + i, "source": "old", **{k: r[k] for k in ("prompt", "response")}}
           for i, r in enumerate(records[:8])]  # fmt: skip
    _jsonl(root / "old.jsonl", old)
    return root


def _jsonl(path: Path, records: list[dict[str, object]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records), overwrite=True)
