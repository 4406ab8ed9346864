"""Tokenise a corpus and run batched, padded, length-bucketed inference for per-token statistics.

Each example becomes one token sequence ``[bos] + prompt + response`` (``bos`` only when the
tokenizer has one) and the index where the response starts; a token at position ``j`` is scored
from the logits at ``j - 1``, so the scored positions are ``max(start, 1) .. len - 1``. Sequences
are sorted by length and cut into batches of similar length (little padding), padded on the right
with an attention mask, so every example's numbers equal those of running it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from assay.errors import InvalidDataError, InvalidParameterError
from assay.llm.models import resolve_device

if TYPE_CHECKING:  # hints only: the corpus module imports pandas
    from assay.llm.corpus import Corpus


@dataclass(frozen=True)
class Encoded:
    """Token ids of one example and the position where its scored part starts."""

    ids: list[int]
    start: int

    @property
    def n_scored(self) -> int:
        """How many tokens are scored (have a prediction)."""
        return len(self.ids) - max(self.start, 1)


def encode(
    tokenizer: object, corpus: Corpus, *, with_prompt: bool = True, max_length: int = 1024
) -> list[Encoded]:
    """Token sequences of ``corpus``; ``with_prompt=False`` drops the prompt (IFD's denominator).

    A sequence longer than ``max_length`` loses prompt tokens from the left first (down to
    nothing), then response tokens from the right.
    """
    if max_length < 2:
        raise InvalidParameterError(f"max_length must be >= 2, got {max_length}")
    tok = tokenizer
    bos = getattr(tok, "bos_token_id", None)
    prefix = [int(bos)] if bos is not None else []
    out = []
    for i, (prompt, response) in enumerate(zip(corpus.prompts, corpus.responses, strict=True)):
        p = list(tok(prompt, add_special_tokens=False)["input_ids"]) if with_prompt else []  # type: ignore[operator]
        r = list(tok(response, add_special_tokens=False)["input_ids"])  # type: ignore[operator]
        if not r:
            raise InvalidDataError(f"example {i}: the response {response!r} has no tokens")
        room = max_length - len(prefix) - len(r)
        if room < len(p):
            p = p[len(p) - max(room, 0) :] if room > 0 else []
        ids = (prefix + p + r)[:max_length]
        enc = Encoded(ids, len(prefix) + len(p))
        if enc.n_scored < 1:
            raise InvalidDataError(
                f"example {i}: response {response!r} leaves no token to score "
                "(a one-token text without a bos token); give it a prompt or a longer text"
            )
        out.append(enc)
    return out


@dataclass(frozen=True)
class TokenStats:
    """Per-token negative log-likelihood and predictive entropy of the scored tokens."""

    nll: list[NDArray[np.float64]]
    entropy: list[NDArray[np.float64]]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[NDArray[np.int64]]:
    """Positions grouped into batches of similar length (sorted, longest first)."""
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(rows: Sequence[Encoded], pad_id: int = 0) -> tuple[torch.Tensor, ...]:
    """Right-padded ids (B, L), attention mask (B, L) and scored-token weights (B, L - 1).

    ``weights[b, t]`` is 1 where token ``t + 1`` of row ``b`` is a scored (response) token, so
    the next-token loss of the logits at ``t`` counts.
    """
    if not rows:
        raise InvalidDataError("an empty batch of examples")
    L = max(len(e.ids) for e in rows)
    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    weights = torch.zeros((len(rows), L - 1))
    for b, e in enumerate(rows):
        ids[b, : len(e.ids)] = torch.tensor(e.ids)
        mask[b, : len(e.ids)] = 1
        weights[b, max(e.start, 1) - 1 : len(e.ids) - 1] = 1.0
    return ids, mask, weights


def response_losses(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Per-example mean loss of the scored tokens (B,) of a :func:`pad_batch` batch."""
    dev = _model_device(model)
    ids, mask, weights = (t.to(dev) for t in batch)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    ).view_as(weights)
    return (nll * weights).sum(1) / weights.sum(1).clamp_min(1.0)


@torch.no_grad()
def token_stats(
    model: torch.nn.Module,
    encoded: list[Encoded],
    *,
    pad_id: int = 0,
    batch_size: int = 8,
    device: str | None = None,
    progress: bool = False,
) -> TokenStats:
    """Batched per-token NLL and entropy for every encoded example (in corpus order)."""
    dev = resolve_device(device) if device is not None else _model_device(model)
    model.to(dev)
    model.eval()
    n = len(encoded)
    nll: list[NDArray[np.float64]] = [np.empty(0)] * n
    ent: list[NDArray[np.float64]] = [np.empty(0)] * n
    batches = length_batches([len(e.ids) for e in encoded], batch_size)
    for rows in tqdm(batches, desc="scoring", unit="batch", disable=not progress):
        L = len(encoded[rows[0]].ids)
        ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), L), dtype=torch.long)
        for b, r in enumerate(rows):
            seq = encoded[r].ids
            ids[b, : len(seq)] = torch.tensor(seq)
            mask[b, : len(seq)] = 1
        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        logp = torch.log_softmax(logits[:, :-1].to(torch.float64), dim=-1)
        target = ids[:, 1:].to(dev)
        tok_nll = -logp.gather(-1, target[..., None])[..., 0]
        tok_ent = -(logp.exp() * logp).sum(-1)
        for b, r in enumerate(rows):
            e = encoded[r]
            lo, hi = max(e.start, 1) - 1, len(e.ids) - 1
            nll[r] = tok_nll[b, lo:hi].cpu().numpy()
            ent[r] = tok_ent[b, lo:hi].cpu().numpy()
    return TokenStats(nll, ent)


def _model_device(model: torch.nn.Module) -> str:
    try:
        return str(next(model.parameters()).device)
    except StopIteration:
        return "cpu"
