"""Mean hidden-state embeddings of a corpus under a causal LM (for k-center, sensitivity, mix).

An example's embedding is the mean of the last layer's hidden states over all its tokens (prompt
and response), from the same batched, length-bucketed, right-padded forward passes as the token
scores: padding comes after every real token, so causal attention keeps each example's states
equal to running it alone, and the mask leaves the padding out of the mean.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from assay.llm.tokens import Encoded, _model_device, length_batches


@torch.no_grad()
def hidden_embeddings(
    model: torch.nn.Module,
    encoded: list[Encoded],
    *,
    pad_id: int = 0,
    batch_size: int = 8,
    layer: int = -1,
) -> NDArray[np.float64]:
    """(n, hidden) mean hidden state of layer ``layer`` of every encoded example (corpus order)."""
    dev = _model_device(model)
    model.eval()
    out: NDArray[np.float64] | None = None
    for rows in length_batches([len(e.ids) for e in encoded], batch_size):
        L = len(encoded[rows[0]].ids)
        ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), L), dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(encoded[r].ids)] = torch.tensor(encoded[r].ids)
            mask[b, : len(encoded[r].ids)] = 1
        res = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), output_hidden_states=True)
        h = res.hidden_states[layer].to(torch.float64)
        m = mask.to(dev, torch.float64)[..., None]
        mean = ((h * m).sum(1) / m.sum(1)).cpu().numpy()
        if out is None:
            out = np.empty((len(encoded), mean.shape[1]))
        out[rows] = mean
    assert out is not None
    return out
