"""Choose a fine-tuning subset of a corpus under an example or token budget (issue 13.6).

``select_corpus`` ranks the examples by one method and takes them in rank order until the budget
is spent: a float in (0, 1) is a share of the examples, an int a number of response tokens.

==============  ========================================================  ============
method          rank by                                                    keeps
==============  ========================================================  ============
``perplexity``  response perplexity given the prompt                       lowest
``loss``        mean response token loss                                   lowest
``ifd``         instruction-following difficulty (Li et al. 2024)          highest
``grand``       exact per-example gradient norm                           highest
``less``        max cosine of (Adam-preconditioned) gradient to a target   highest
``kcenter``     farthest-point order in projected gradient space           pick order
==============  ========================================================  ============
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.llm.corpus import Corpus, write_corpus
from assay.llm.gradients import GradientFeatures
from assay.llm.scores import IFD, Perplexity, ResponseLoss
from assay.llm.targeted import less_scores
from assay.llm.tokens import encode
from assay.valuation.geometry import kcenter_greedy

METHODS = ("perplexity", "loss", "ifd", "grand", "less", "kcenter")


@dataclass(frozen=True)
class CorpusSelection:
    """Chosen positions (in rank order), every example's score, and the tokens spent."""

    positions: NDArray[np.int64]
    scores: NDArray[np.float64]
    tokens: int
    method: str


def select_corpus(
    corpus: Corpus,
    model: Any,
    tokenizer: Any,
    *,
    method: str,
    budget: float | int,
    target: Corpus | None = None,
    params: Any = "lora",
    dim: int = 256,
    seed: int = 0,
    max_length: int = 1024,
    batch_size: int = 8,
    out: str | Path | None = None,
    features_path: str | Path | None = None,
    overwrite: bool = False,
) -> CorpusSelection:
    """Rank ``corpus`` by ``method`` and keep a budget of it; write it to ``out`` if given.

    ``target`` is required by ``less``; ``params`` names the differentiated parameters of the
    gradient methods (``"lora"`` for a peft model); ``features_path`` stores them resumably.
    An existing ``out`` is refused (before any scoring) unless ``overwrite``.
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    if out is not None:
        from assay.runs import check_new

        check_new(out, overwrite=overwrite, what="selected corpus")
    enc = encode(tokenizer, corpus, max_length=max_length)
    kw: dict[str, Any] = {"batch_size": batch_size, "max_length": max_length}
    if method in ("perplexity", "loss", "ifd"):
        cls = {"perplexity": Perplexity, "loss": ResponseLoss, "ifd": IFD}[method]
        scores = np.asarray(cls(model, tokenizer, **kw).fit(corpus).values)
        order = np.argsort(-scores if method == "ifd" else scores, kind="stable")
    else:
        gf = GradientFeatures(model, params=params, dim=dim, seed=seed)
        feats, norms = gf.compute(enc, features_path)
        if method == "grand":
            scores = norms
            order = np.argsort(-scores, kind="stable")
        elif method == "less":
            if target is None:
                raise InvalidParameterError("method 'less' needs a target corpus")
            tfeats, _ = gf.compute(encode(tokenizer, target, max_length=max_length))
            scores = less_scores(feats, tfeats)
            order = np.argsort(-scores, kind="stable")
        else:
            order, radii, _ = kcenter_greedy(feats.astype(np.float64), len(corpus), seed=seed)
            scores = np.empty(len(corpus))
            scores[order] = radii
    tokens = np.array([e.n_scored for e in enc])
    positions = _take(order, tokens, budget)
    chosen = CorpusSelection(positions, scores, int(tokens[positions].sum()), method)
    if out is not None:
        write_corpus(
            corpus.subset(positions),
            out,
            {f"{method}_score": scores[positions]},
            overwrite=overwrite,
        )
    return chosen


def _take(
    order: NDArray[np.int64], tokens: NDArray[np.int64], budget: float | int
) -> NDArray[np.int64]:
    n = len(order)
    if isinstance(budget, float):
        if not 0.0 < budget <= 1.0:
            raise InvalidParameterError(f"a fractional budget must lie in (0, 1], got {budget}")
        return order[: max(1, round(budget * n))]
    if budget < 1:
        raise InvalidParameterError(f"a token budget must be >= 1, got {budget}")
    spent = np.cumsum(tokens[order])
    return order[: max(1, int(np.searchsorted(spent, budget, side="right")))]
