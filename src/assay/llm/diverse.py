"""Greedy quality + diversity picking under a budget and caps (``mix``; ``kcenter`` with w = 1).

The rule (maximal marginal relevance on a farthest-point traversal): with ``q_i`` the quality
rank of example ``i`` scaled to ``[0, 1]`` (1 = best), ``d_i`` its Euclidean distance to the
nearest example already chosen divided by the largest such distance among the examples that
still fit (1 for every example before the first pick), each step takes the example that fits the
budget and caps with the largest

    (1 - w) * q_i + w * d_i          (w = ``diversity``, default 0.5)

so ``w = 0`` walks the quality ranking and ``w = 1`` is k-center greedy (farthest-point order,
:func:`assay.valuation.geometry.kcenter_greedy`, whose seeded random first pick it copies).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.llm.budget import Filler


def quality_rank(scores: ArrayLike, higher_is_better: bool) -> NDArray[np.float64]:
    """Scores as ranks scaled to ``[0, 1]`` (1 = best; ties share their mean rank)."""
    s = np.asarray(scores, np.float64)
    n = len(s)
    if n == 1:
        return np.ones(1)
    from scipy.stats import rankdata

    r = rankdata(s if higher_is_better else -s)
    return (r - 1) / (n - 1)


def diverse_pick(
    embeddings: ArrayLike,
    filler: Filler,
    *,
    quality: ArrayLike | None = None,
    diversity: float = 0.5,
    seed: int = 0,
) -> NDArray[np.int64]:
    """Positions chosen by the rule above until nothing more fits ``filler``.

    ``quality`` (from :func:`quality_rank`) may be None only with ``diversity=1`` (k-center).
    """
    if not 0.0 <= diversity <= 1.0:
        raise InvalidParameterError(f"diversity must lie in [0, 1], got {diversity}")
    X = torch.as_tensor(np.asarray(embeddings, np.float64))
    if X.ndim != 2 or not torch.isfinite(X).all():
        raise InvalidDataError(f"embeddings must be a finite (n, d) array, got {tuple(X.shape)}")
    n = X.shape[0]
    if quality is None and diversity < 1.0:
        raise InvalidParameterError("a quality score is needed unless diversity is 1")
    q = torch.zeros(n, dtype=torch.float64) if quality is None else torch.as_tensor(quality)
    norms = (X * X).sum(1)
    best = torch.full((n,), float("inf"), dtype=torch.float64)
    first = True
    while True:
        ok = torch.from_numpy(filler.fits())
        if not bool(ok.any()):
            break
        if first:
            d = torch.ones(n, dtype=torch.float64)
        else:
            dist = best.clamp_min(0).sqrt()
            top = float(dist[ok].max())
            d = dist / top if top > 0 else torch.zeros(n, dtype=torch.float64)
        gain = (1.0 - diversity) * q.to(torch.float64) + diversity * d
        gain[~ok] = -float("inf")
        if first and diversity == 1.0:  # k-center greedy's seeded random first point
            cand = np.flatnonzero(ok.numpy())
            i = int(cand[np.random.default_rng(seed).integers(len(cand))])
        else:
            i = int(torch.argmax(gain))
        filler.add(i)
        best = torch.minimum(best, norms - 2 * (X @ X[i]) + norms[i])
        best[i] = 0.0
        first = False
    return np.asarray(filler.chosen, np.int64)
