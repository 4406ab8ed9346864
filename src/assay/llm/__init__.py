"""Language-model data: corpora, causal LMs from local directories, token and gradient scores.

Needs the optional extra ``pip install 'assay[llm]'`` (transformers, peft); nothing is downloaded.
Importing :mod:`assay.llm` does not import transformers; loading a model does. The names below
are imported on first use (PEP 562), so that a submodule such as :mod:`assay.llm.trak` loads
without pandas (the corpus code's dependency).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.lazy import lazy_exports

if TYPE_CHECKING:
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

#: public name -> the module that defines it
_LAZY = {
    "IFD": "assay.llm.scores",
    "SCORES": "assay.llm.scores",
    "Corpus": "assay.llm.corpus",
    "CorpusSelection": "assay.llm.select",
    "LengthAwareLoss": "assay.llm.scores",
    "Perplexity": "assay.llm.scores",
    "ResponseLoss": "assay.llm.scores",
    "TokenEntropy": "assay.llm.scores",
    "TokenScore": "assay.llm.scores",
    "load_causal_lm": "assay.llm.models",
    "load_corpus": "assay.llm.corpus",
    "load_tokenizer": "assay.llm.models",
    "select_corpus": "assay.llm.select",
    "write_corpus": "assay.llm.corpus",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
