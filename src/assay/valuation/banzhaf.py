"""Data Banzhaf by maximum sample reuse (MSR; Wang & Jia, 2023).

Every sampled subset S (each point in with probability 1/2) serves every player at once:
``phi_i = mean{U(S) : i in S} - mean{U(S) : i not in S}``. All subsets of a round are trained
as one batch through the utility.
"""

from __future__ import annotations

import numpy as np

from assay.valuation.base import Estimate, Game, RunningMoments, SamplingValuation
from assay.valuation.stopping import StoppingRule


class MSRBanzhaf(SamplingValuation):
    """Banzhaf values from uniformly random subsets with maximum sample reuse.

    Parameters
    ----------
    stop : StoppingRule or int
        An int is the number of subsets.
    batch_size : int
        Subsets per round (trained together).
    seed, checkpoint, progress
        See :class:`~assay.valuation.base.SamplingValuation`.
    """

    name = "banzhaf"
    accumulators = ("in", "out")

    def __init__(
        self,
        stop: StoppingRule | int = 2000,
        *,
        batch_size: int = 1000,
        seed: int = 0,
        checkpoint: str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(
            stop, batch_size=batch_size, seed=seed, checkpoint=checkpoint, progress=progress
        )

    def _round(
        self, game: Game, rng: np.random.Generator, size: int, moments: dict[str, RunningMoments]
    ) -> None:
        masks = rng.random((size, game.n_players)) < 0.5
        u = np.asarray(game(masks), dtype=np.float64)
        block = np.broadcast_to(u[:, None], masks.shape)
        moments["in"].update(block, masks)
        moments["out"].update(block, ~masks)

    def _values(self, moments: dict[str, RunningMoments]) -> Estimate:
        a, b = moments["in"], moments["out"]
        # a player never sampled in (or out) has no estimate yet: value 0, infinite stderr
        seen = (a.count > 0) & (b.count > 0)
        values = np.where(seen, a.mean - b.mean, 0.0)
        stderr = np.where(seen, np.sqrt(np.nan_to_num(a.stderr**2 + b.stderr**2)), np.inf)
        return values, stderr, a.count + b.count
