"""Leave-one-out: ``U(N) - U(N minus i)``, all n + 1 models trained as one batch."""

from __future__ import annotations

import numpy as np

from assay.result import ValuationResult
from assay.valuation.base import Game, ValuationMethod, check_game, player_ids


class LeaveOneOut(ValuationMethod):
    """Value of a point = drop in utility when it alone is removed (exact, zero stderr)."""

    name = "loo"

    def fit(self, game: Game) -> ValuationResult:
        n = check_game(game, self.name).n_players
        masks = ~np.eye(n + 1, n, dtype=bool)  # row i drops player i; row n is the full set
        u = np.asarray(game(masks), dtype=np.float64)
        return ValuationResult.exact(
            player_ids(game), u[n] - u[:n], self.name, full_utility=float(u[n])
        )
