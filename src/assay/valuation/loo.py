"""Leave-one-out: ``U(N) - U(N minus i)``, all n + 1 models trained as one batch.

On a :class:`~assay.utility.Utility` whose learner can warm-start, every leave-one-out model
starts from the full-data optimum (one point away from its own), so Newton needs a couple of
iterations instead of a cold start's six to ten; the objectives are strictly convex, so the
optimum, and every score, is the same.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from assay.result import ValuationResult
from assay.utility.cache import subset_keys
from assay.utility.utility import Utility
from assay.valuation.base import Game, ValuationMethod, check_game, player_ids


class LeaveOneOut(ValuationMethod):
    """Value of a point = drop in utility when it alone is removed (exact, zero stderr)."""

    name = "loo"

    def fit(self, game: Game) -> ValuationResult:
        n = check_game(game, self.name).n_players
        masks = ~np.eye(n + 1, n, dtype=bool)  # row i drops player i; row n is the full set
        if isinstance(game, Utility) and game.learner.supports_warm_start:
            u = _warm_started_scores(game, masks)
        else:
            u = np.asarray(game(masks), dtype=np.float64)
        return ValuationResult.exact(
            player_ids(game), u[n] - u[:n], self.name, full_utility=float(u[n])
        )


def _warm_started_scores(game: Utility, masks: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Scores of ``masks`` (last row: the full set), each model started from the full fit."""
    full = game.fit(masks[-1:])
    state = full.state() if bool(full.trained.all()) else None
    out = np.empty(len(masks))
    step = game.batch_size
    for lo in range(0, len(masks), step):
        chunk = masks[lo : lo + step]
        init = None
        if state is not None:
            init = {k: v.expand(len(chunk), *v.shape[1:]).clone() for k, v in state.items()}
        out[lo : lo + step] = game.score_models(game.fit(chunk, init))
    game.cache.put_many(subset_keys(masks.astype(np.float64)), out)
    return out
