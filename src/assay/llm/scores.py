"""Token-distribution scores of a corpus under a causal LM, as valuation results (seed 000).

===================  ==========================================================  =================
method               value of an example                                         direction
===================  ==========================================================  =================
``loss``             mean NLL of the response tokens given the prompt            higher-is-suspect
``perplexity``       ``exp(loss)``                                               higher-is-suspect
``ifd``              ``loss(response | prompt) / loss(response alone)``          higher-is-suspect
``entropy``          mean (or max / std) predictive entropy over response tokens higher-is-suspect
``length-loss``      ``sum NLL / n_tokens ** alpha`` (alpha=1: mean, 0: total)   higher-is-suspect
===================  ==========================================================  =================

Every score is "harder / more surprising = higher", declared ``higher-is-suspect`` (the high end
holds the noisy or off-distribution examples, and also the informative hard ones: data pruning keeps
them, cleaning drops them). IFD is the instruction-following difficulty of Li et al. (2024, "From
Quantity to Quality"): near 1 the prompt does not help predict the response; above 1 it hurts (the
paper keeps the highest IFD below 1). The length-aware variant lets long responses weigh more
(``alpha < 1``), as a token budget does.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.llm.corpus import Corpus
from assay.llm.tokens import TokenStats, encode, token_stats
from assay.result import HIGHER_IS_SUSPECT, ValuationResult

ENTROPY_STATS = ("mean", "max", "std")


class TokenScore(ABC):
    """Base of the corpus scores: tokenise, run batched inference, reduce per example.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM (e.g. from :func:`assay.llm.load_causal_lm`).
    tokenizer : transformers tokenizer
        Its tokenizer.
    batch_size : int, default 8
        Sequences per forward pass (grouped by length).
    max_length : int, default 1024
        Longest sequence (the prompt is cut from the left first).
    device : str, optional
        Where to run; the model's device if None.
    progress : bool, default False
        Show a progress bar.
    """

    name: ClassVar[str] = "token-score"
    direction: ClassVar[str] = HIGHER_IS_SUSPECT

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        batch_size: int = 8,
        max_length: int = 1024,
        device: str | None = None,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.progress = progress

    def stats(self, corpus: Corpus, *, with_prompt: bool = True) -> TokenStats:
        """Per-token NLL and entropy of the response tokens of every example."""
        enc = encode(self.tokenizer, corpus, with_prompt=with_prompt, max_length=self.max_length)
        return token_stats(
            self.model,
            enc,
            pad_id=int(self.tokenizer.pad_token_id),
            batch_size=self.batch_size,
            device=self.device,
            progress=self.progress,
        )

    @abstractmethod
    def reduce(self, corpus: Corpus) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Values and scored-token counts of every example (implemented by each score)."""

    def params(self) -> dict[str, Any]:
        """The score's parameters (recorded in the result)."""
        return {"batch_size": self.batch_size, "max_length": self.max_length}

    def fit(self, corpus: Corpus) -> ValuationResult:
        """Score every example of ``corpus``; a result with this score's declared direction."""
        t0 = time.perf_counter()
        values, counts = self.reduce(corpus)
        params = {
            **self.params(),
            "direction": self.direction,
            "seconds": time.perf_counter() - t0,
        }
        return ValuationResult(
            corpus.ids,
            values,
            np.zeros(len(values)),
            counts,
            self.name,
            params,
            self.direction,
        )


class ResponseLoss(TokenScore):
    """Mean negative log-likelihood of the response tokens given the prompt."""

    name = "loss"

    def reduce(self, corpus: Corpus) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        s = self.stats(corpus)
        return np.array([a.mean() for a in s.nll]), np.array([len(a) for a in s.nll])


class Perplexity(ResponseLoss):
    """Perplexity ``exp(mean NLL)`` of the response given the prompt."""

    name = "perplexity"

    def reduce(self, corpus: Corpus) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        loss, counts = super().reduce(corpus)
        return np.exp(loss), counts


class IFD(TokenScore):
    """Instruction-following difficulty: response loss with the prompt over without it."""

    name = "ifd"

    def reduce(self, corpus: Corpus) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        cond = self.stats(corpus, with_prompt=True)
        alone = self.stats(corpus, with_prompt=False)
        num = np.array([a.mean() for a in cond.nll])
        den = np.array([a.mean() for a in alone.nll])
        return num / np.maximum(den, 1e-12), np.array([len(a) for a in cond.nll])


class TokenEntropy(TokenScore):
    """A statistic (``mean``, ``max``, ``std``) of the predictive entropy over response tokens."""

    name = "entropy"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, stat: str = "mean", **kw: Any):
        if stat not in ENTROPY_STATS:
            raise InvalidParameterError(f"stat must be one of {ENTROPY_STATS}, got {stat!r}")
        super().__init__(model, tokenizer, **kw)
        self.stat = stat

    def params(self) -> dict[str, Any]:
        return {**super().params(), "stat": self.stat}

    def reduce(self, corpus: Corpus) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        s = self.stats(corpus)
        vals = [_stat(a, self.stat) for a in s.entropy]
        return np.array(vals), np.array([len(a) for a in s.entropy])


class LengthAwareLoss(TokenScore):
    """Total response NLL over ``n_tokens ** alpha`` (``alpha=1`` is the mean, 0 the sum)."""

    name = "length-loss"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, alpha: float = 0.5, **kw: Any):
        if not 0.0 <= alpha <= 1.0:
            raise InvalidParameterError(f"alpha must be in [0, 1], got {alpha!r}")
        super().__init__(model, tokenizer, **kw)
        self.alpha = float(alpha)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "alpha": self.alpha}

    def reduce(self, corpus: Corpus) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        s = self.stats(corpus)
        counts = np.array([len(a) for a in s.nll])
        return np.array([a.sum() for a in s.nll]) / counts**self.alpha, counts


def _stat(a: NDArray[np.float64], stat: str) -> float:
    if stat == "max":
        return float(a.max())
    return float(a.std() if stat == "std" else a.mean())


SCORES: dict[str, type[TokenScore]] = {
    c.name: c for c in (ResponseLoss, Perplexity, IFD, TokenEntropy, LengthAwareLoss)
}
"""Token scores by name."""
