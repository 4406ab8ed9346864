"""Tiny offline causal LMs for the llm tests: a word-level tokenizer and a 2-layer GPT-2."""

from __future__ import annotations

from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "was",
    "is",
    "good",
    "bad",
    "great",
    "boring",
    "fun",
    "dull",
    "plot",
    "actors",
    "story",
    "review",
    "say",
    "what",
    "about",
    "it",
    "question",
    "answer",
    "yes",
    "no",
    "and",
    "very",
    "not",
]

RECORDS = [
    {"prompt": "review the movie", "response": "the movie was good"},
    {"prompt": "what about the plot", "response": "the plot was very dull and boring"},
    {"prompt": "say it", "response": "fun"},
    {"prompt": "question", "response": "answer yes the actors were great"},
    {"prompt": "", "response": "a film is not a story"},
    {"prompt": "what about it", "response": "no"},
    {"prompt": "review the film and the story", "response": "bad bad bad"},
]


def save_tokenizer(folder: Path) -> object:
    """A word-level tokenizer (no downloads) saved with save_pretrained."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    tk = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = Whitespace()
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="[BOS]",
        eos_token="[EOS]",
    )
    tok.save_pretrained(folder)
    return tok


def save_tiny_gpt2(folder: Path, *, seed: int = 0, n_embd: int = 32) -> Path:
    """A 2-layer GPT-2 from a config, randomly initialised with ``seed``, plus its tokenizer."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    tok = save_tokenizer(folder)
    cfg = transformers.GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_embd=n_embd,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(cfg)
    model.save_pretrained(folder)
    return folder
