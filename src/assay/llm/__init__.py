"""Language-model data: corpora, causal LMs from local directories, token and gradient scores.

Needs the optional extra ``pip install 'assay[llm]'`` (transformers, peft); nothing is downloaded.
Importing :mod:`assay.llm` does not import transformers; loading a model does.
"""

from __future__ import annotations

from assay.llm.corpus import Corpus, load_corpus, write_corpus
from assay.llm.models import load_causal_lm, load_tokenizer
from assay.llm.scores import (
    IFD,
    SCORES,
    LengthAwareLoss,
    Perplexity,
    ResponseLoss,
    TokenEntropy,
    TokenScore,
)
from assay.llm.select import CorpusSelection, select_corpus

__all__ = [
    "IFD",
    "SCORES",
    "Corpus",
    "CorpusSelection",
    "LengthAwareLoss",
    "Perplexity",
    "ResponseLoss",
    "TokenEntropy",
    "TokenScore",
    "load_causal_lm",
    "load_corpus",
    "load_tokenizer",
    "select_corpus",
    "write_corpus",
]
