"""How good are per-prediction values: the value loss H_eta, and the error against exact values.

*Value loss* (Section 4.2.1 of the paper). For each test prediction (x, y) and its values phi(x),
remove the top eta of the training points by value, retrain the service model on the rest (from
the same seeded initialisation, as the authors retrain from the saved null init), and take the
cross-entropy -log p_y(x) of the retrained model; H_eta is the mean over the test predictions.
Higher is better: the removed points were the ones the prediction relied on. Probabilities are
clipped at 1e-12 (a cross-entropy of at most 27.6). All removal models of all predictions and
etas are trained as one batch through the utility.

*Error against exact values* (not in the paper): for games small enough to enumerate, the mean
absolute error, relative l2 error and Spearman rank correlation of estimates against exact
Shapley values, per prediction and averaged.

:func:`per_prediction_values` runs a valuation method of :mod:`assay.valuation` (LOO, TMC,
group testing, CS-Shapley, exact) on the game v_{x,y} of each test prediction;
:func:`global_values` is the paper's protocol for those baselines (Sec. 4.1.3): one valuation with
the accuracy on a whole test set as the utility, the same values then used for every prediction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.explain.game import PredictionUtility, games_for
from assay.utility import Utility
from assay.valuation.base import ValuationMethod

ETAS: tuple[float, ...] = (0.05, 0.10, 0.15, 0.20)


def removal_masks(values: ArrayLike, etas: Sequence[float] = ETAS) -> NDArray[np.bool_]:
    """Training subsets after removing the top eta of points by value: (T, n) -> (T, E, n).

    ``round(eta * n)`` points are removed; ties keep the data order (stable sort).
    """
    V = np.atleast_2d(np.asarray(values, dtype=np.float64))
    e = np.asarray(etas, dtype=np.float64)
    if e.ndim != 1 or ((e < 0) | (e >= 1)).any():
        raise InvalidParameterError(f"etas must lie in [0, 1), got {list(etas)}")
    if not np.isfinite(V).all():
        raise InvalidDataError(f"values have {int((~np.isfinite(V)).sum())} non-finite entries")
    T, n = V.shape
    order = np.argsort(-V, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(T, 0), axis=1)
    k = np.rint(e * n).astype(np.int64)
    return rank[:, None, :] >= k[None, :, None]


def value_loss(
    putil: PredictionUtility,
    X: ArrayLike,
    y: ArrayLike,
    values: ArrayLike,
    etas: Sequence[float] = ETAS,
) -> dict[str, Any]:
    """H_eta of one valuation over test predictions.

    Parameters
    ----------
    putil : PredictionUtility
        Retrains the *service* learner on the remaining points.
    X : array (T, d)
        Test inputs.
    y : array (T,)
        Label codes of the predictions (the paper: the true labels).
    values : array (T, n)
        Values of the training points for each prediction.

    Returns
    -------
    dict
        ``etas``, ``H`` (mean over predictions per eta), ``std`` (over predictions) and
        ``loss`` (T, E): the cross-entropy of every prediction after every removal.
    """
    Xa = np.atleast_2d(np.asarray(X, dtype=np.float64))
    yy = np.asarray(y, dtype=np.int64)
    V = np.atleast_2d(np.asarray(values, dtype=np.float64))
    T = Xa.shape[0]
    if V.shape != (T, putil.n_players) or yy.shape != (T,):
        raise InvalidDataError(
            f"need values ({T}, {putil.n_players}) and labels ({T},); got {V.shape}, {yy.shape}"
        )
    masks = removal_masks(V, etas)  # (T, E, n)
    E = masks.shape[1]
    P = putil.proba_paired(masks.reshape(T * E, -1), np.repeat(Xa, E, axis=0))
    p = P[np.arange(T * E), np.repeat(yy, E)].reshape(T, E)
    loss = -np.log(np.clip(p, 1e-12, None))
    return {
        "etas": [float(e) for e in etas],
        "H": loss.mean(0).tolist(),
        "std": loss.std(0).tolist(),
        "loss": loss,
    }


def global_values(
    method: ValuationMethod,
    putil: PredictionUtility,
    test: Dataset,
    n_predictions: int,
) -> tuple[NDArray[np.float64], float]:
    """Values of ``method`` on the accuracy over ``test``, repeated per prediction: ((T, n), s).

    The Fast-DataShapley paper values its baselines this way (once, with the test accuracy of
    the service learner as the utility) and then scores those global values per prediction
    with :func:`value_loss`; :func:`per_prediction_values` gives each prediction its own game.
    """
    if n_predictions < 1:
        raise InvalidParameterError(f"n_predictions must be >= 1, got {n_predictions}")
    game = Utility(
        putil.learner,
        putil.train,
        test,
        "accuracy",
        batch_size=putil.batch_size,
        n_jobs=putil.n_jobs,
    )
    start = time.perf_counter()
    values = method.fit(game).values
    return np.tile(values, (n_predictions, 1)), time.perf_counter() - start


def error_vs_exact(estimates: ArrayLike, exact: ArrayLike) -> dict[str, float]:
    """Mean absolute error, relative l2 error and Spearman correlation, averaged over rows.

    Both arrays have shape (T, n) (one row per prediction) or (n,).
    """
    from scipy.stats import spearmanr

    A = np.atleast_2d(np.asarray(estimates, dtype=np.float64))
    B = np.atleast_2d(np.asarray(exact, dtype=np.float64))
    if A.shape != B.shape:
        raise InvalidDataError(f"estimates {A.shape} and exact values {B.shape} differ in shape")
    mae = np.abs(A - B).mean(1)
    rel = np.linalg.norm(A - B, axis=1) / np.maximum(np.linalg.norm(B, axis=1), 1e-12)
    rho = [
        float(spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else float("nan")
        for a, b in zip(A, B, strict=True)
    ]
    return {
        "mae": float(mae.mean()),
        "relative_l2": float(rel.mean()),
        "spearman": float(np.nanmean(rho)) if not np.isnan(rho).all() else float("nan"),
    }


def per_prediction_values(
    method: ValuationMethod,
    putil: PredictionUtility,
    X: ArrayLike,
    y: ArrayLike,
    *,
    shared: bool = True,
    progress: bool = False,
) -> tuple[NDArray[np.float64], float]:
    """Values of ``method`` on v_{x,y} of every test prediction: ((T, n), seconds).

    ``shared`` runs every prediction's game over one memoised per-point utility, so a subset
    drawn for several predictions (same seed: same permutations) is trained once; otherwise each
    prediction retrains its own models (the cost the paper's baselines pay per prediction).
    """
    yy = np.asarray(y, dtype=np.int64)
    games = games_for(putil, X, yy, shared=shared)
    out = np.empty((len(games), putil.n_players))
    start = time.perf_counter()
    iterator: Any = games
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(games, desc=getattr(method, "name", "method"), unit="prediction")
    for j, game in enumerate(iterator):
        out[j] = method.fit(game).values
    return out, time.perf_counter() - start
