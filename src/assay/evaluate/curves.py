"""Point-removal and point-addition curves, every subset scored in one batched utility call.

*Removal*: drop the most suspect points first (``suspect-first``: a good valuation removes the
harmful ones, so the test score holds up or rises) or the ones most worth keeping first
(``keep-first``: it should fall fast). *Addition*: train on the keepers first (the score should rise
fast) or the suspects first. Which end is which is the result's declared direction (the low values
of a higher-is-better result are its suspects, the high values of a higher-is-suspect one; see
:mod:`assay.result`), so a loss or EL2N result is ranked the right way round. A random
order, averaged over several seeds, is the baseline. Each fraction ``f`` removes or adds
``round(f * n)`` points.

All subsets of all curves (every method, both orders, and the random repetitions) are stacked in
one (B, n) boolean matrix and passed to the utility once, so a batched learner trains them as a few
tensor programs and duplicated subsets (the full set at fraction 0, say) are trained once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.evaluate.detection import Results, labelled
from assay.result import ValuationResult

DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(11))
"""0, 0.05, ..., 0.5."""

CURVES = ("removal", "addition")
DIRECTIONS = ("suspect-first", "keep-first")
RANDOM = "random"
COLUMNS = ["method", "curve", "direction", "fraction", "n_points", "n_train", "score", "std"]


def check_fractions(fractions: ArrayLike) -> NDArray[np.float64]:
    """``fractions`` as a 1-D float array in [0, 1], or :class:`InvalidParameterError`."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise InvalidParameterError(f"fractions must be a non-empty 1-D sequence, got {f.shape}")
    if not np.isfinite(f).all() or (f < 0).any() or (f > 1).any():
        raise InvalidParameterError(f"fractions must lie in [0, 1], got {f.tolist()}")
    return f


def curve_subsets(
    order: ArrayLike, fractions: ArrayLike, curve: str = "removal"
) -> NDArray[np.bool_]:
    """Training subsets of one curve: a (len(fractions), n) boolean matrix.

    Parameters
    ----------
    order : array of int, shape (n,)
        Positions of the training points in the order they are removed (or added).
    fractions : sequence of float
        Fraction of points removed (or added) at each step.
    curve : {"removal", "addition"}
        Row ``j`` keeps all but (removal) or only (addition) the first ``round(f_j * n)`` points.
    """
    if curve not in CURVES:
        raise InvalidParameterError(f"curve must be one of {CURVES}, got {curve!r}")
    o = np.asarray(order, dtype=np.int64)
    n = len(o)
    f = check_fractions(fractions)
    counts = np.rint(f * n).astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[o] = np.arange(n)
    first = rank[None, :] < counts[:, None]  # (F, n): among the first k of the order
    return ~first if curve == "removal" else first


def value_order(result: ValuationResult, ids: ArrayLike, direction: str) -> NDArray[np.int64]:
    """Positions (in ``ids``' order), ``suspect-first`` or ``keep-first`` by the declaration.

    Ties keep the order of ``ids``. ``result`` must value exactly the points ``ids``.
    """
    if direction not in DIRECTIONS:
        raise InvalidParameterError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    ids = np.asarray(ids)
    if len(result) != len(ids):
        raise InvalidDataError(
            f"result {result.method!r} values {len(result)} points but the utility trains on "
            f"{len(ids)}; value the same training set"
        )
    suspicion = result.suspicion[result.positions_of(ids)]
    if not np.isfinite(suspicion).all():
        raise InvalidDataError(
            f"result {result.method!r} has {int((~np.isfinite(suspicion)).sum())} non-finite "
            "values (e.g. Data-OOB points never out of bag): give it more samples"
        )
    key = -suspicion if direction == "suspect-first" else suspicion
    return np.argsort(key, kind="stable").astype(np.int64)


def point_curves(
    results: Results | ValuationResult,
    utility: Any,
    *,
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    curves: Sequence[str] = CURVES,
    n_random: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Removal and/or addition curves of several valuations, in one utility call.

    Parameters
    ----------
    results : ValuationResult, sequence or mapping ``{label: result}``
        Valuations of the utility's training points (matched by id, so order does not matter).
    utility : Utility
        Scores subsets of its ``train`` on held-out data: build it on the TEST set,
        ``Utility(learner, train, test)``, not on the validation set used for valuation.
        Its scorer must return one number per subset.
    fractions : sequence of float
        Fractions of points removed / added (default 0, 0.05, ..., 0.5).
    curves : sequence of {"removal", "addition"}
    n_random : int
        Random orders for the baseline (0 for none); order ``r`` is the ``r``-th permutation of
        ``numpy.random.default_rng(seed)``.
    seed : int

    Returns
    -------
    DataFrame
        Tidy, one row per (method, curve, direction, fraction): ``method`` (the label, or
        ``"random"``), ``curve``, ``direction`` (``suspect-first``, ``keep-first`` or
        ``random``), ``fraction``, ``n_points`` (removed or added), ``n_train`` (size of the
        training subset), ``score`` (the mean over orders for ``random``) and ``std`` (standard
        deviation over the random orders; 0 for a valuation's own order).
    """
    labels = labelled(results)
    f = check_fractions(fractions)
    curves = list(curves)
    bad = [c for c in curves if c not in CURVES]
    if bad or not curves:
        raise InvalidParameterError(f"curves must be a non-empty subset of {CURVES}, got {curves}")
    if n_random < 0:
        raise InvalidParameterError(f"n_random must be >= 0, got {n_random}")
    if getattr(utility, "score_shape", ()) != ():
        raise InvalidParameterError("curves need a scalar scorer (e.g. accuracy), not per-point")
    ids = np.asarray(utility.train.ids)
    n = len(ids)

    blocks: list[NDArray[np.bool_]] = []
    specs: list[tuple[str, str, str]] = []
    for label, result in labels.items():
        orders = {d: value_order(result, ids, d) for d in DIRECTIONS}
        for curve in curves:
            for direction, order in orders.items():
                blocks.append(curve_subsets(order, f, curve))
                specs.append((label, curve, direction))
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(n) for _ in range(n_random)]
    random_blocks = [curve_subsets(p, f, c) for c in curves for p in perms]

    masks = np.concatenate(blocks + random_blocks, axis=0)
    scores = np.asarray(utility(masks), dtype=np.float64)  # the one batched call
    n_pts = np.rint(f * n).astype(np.int64)

    frames = []
    F = len(f)
    for b, (label, curve, direction) in enumerate(specs):
        s = scores[b * F : (b + 1) * F]
        frames.append(_frame(label, curve, direction, f, n_pts, s, np.zeros(F), n))
    if n_random:
        rand = scores[len(specs) * F :].reshape(len(curves), n_random, F)
        for c, curve in enumerate(curves):
            std = rand[c].std(axis=0, ddof=1) if n_random > 1 else np.zeros(F)
            frames.append(_frame(RANDOM, curve, RANDOM, f, n_pts, rand[c].mean(axis=0), std, n))
    return pd.concat(frames, ignore_index=True)


def _frame(
    method: str,
    curve: str,
    direction: str,
    f: NDArray[np.float64],
    n_pts: NDArray[np.int64],
    score: NDArray[np.float64],
    std: NDArray[np.float64],
    n: int,
) -> pd.DataFrame:
    n_train = n - n_pts if curve == "removal" else n_pts
    return pd.DataFrame(
        {
            "method": method,
            "curve": curve,
            "direction": direction,
            "fraction": f,
            "n_points": n_pts,
            "n_train": n_train,
            "score": score,
            "std": std,
        },
        columns=COLUMNS,
    )


def removal_curves(
    results: Results | ValuationResult,
    utility: Any,
    *,
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    n_random: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Removal curves only: :func:`point_curves` with ``curves=("removal",)``."""
    return point_curves(
        results, utility, fractions=fractions, curves=("removal",), n_random=n_random, seed=seed
    )


def addition_curves(
    results: Results | ValuationResult,
    utility: Any,
    *,
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    n_random: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Addition curves only: :func:`point_curves` with ``curves=("addition",)``."""
    return point_curves(
        results, utility, fractions=fractions, curves=("addition",), n_random=n_random, seed=seed
    )
