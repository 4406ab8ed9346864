"""How the audit combines its detectors: stacking, ranks, and the confident-learning count.

:func:`stack` fits ``softmax(sum_m a_m log p_m + b)`` to the given labels (the rule the audit
uses, chosen on data: see :mod:`assay.audit.core`); :func:`model_weights` and
:func:`combine_probas` are the accuracy-weighted geometric mean it was chosen over;
:func:`combine` turns scores into ``label_quality`` ranks; :func:`confident_count` estimates the
number of label errors.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError

#: accuracy gap (on the given labels) over which a model's weight falls by e in the
#: accuracy-weighted rule :func:`model_weights` (a candidate the data did not choose)
TEMPERATURE = 0.02
#: rank weight of the k-NN label agreement mixed into ``label_quality`` after stacking
KNN_WEIGHT = 0.0


def rank01(score: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ranks of ``score`` scaled to [0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    if len(score) < 2:
        return np.ones(len(score))
    return (rankdata(score) - 1) / (len(score) - 1)


def model_weights(
    probas: dict[str, NDArray[np.float64]],
    y: NDArray[np.int64],
    temperature: float = TEMPERATURE,
) -> dict[str, float]:
    """Weights (summing to 1) of probability models: ``exp((acc_m - acc_best) / temperature)``
    with ``acc_m`` model m's out-of-fold accuracy on the given labels."""
    if temperature <= 0:
        raise InvalidParameterError(f"temperature must be > 0, got {temperature}")
    acc = {m: float((p.argmax(1) == y).mean()) for m, p in probas.items()}
    best = max(acc.values())
    raw = {m: float(np.exp((a - best) / temperature)) for m, a in acc.items()}
    total = sum(raw.values())
    return {m: w / total for m, w in raw.items()}


def combine_probas(
    probas: dict[str, NDArray[np.float64]], weights: dict[str, float]
) -> NDArray[np.float64]:
    """Weighted geometric mean of the models' (n, K) probabilities, renormalised per row."""
    logp = sum(w * np.log(np.clip(probas[m], 1e-12, 1.0)) for m, w in weights.items())
    logp = np.asarray(logp, dtype=np.float64)
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    return np.asarray(p / p.sum(1, keepdims=True))


def stack(
    probas: dict[str, NDArray[np.float64]], y: NDArray[np.int64]
) -> tuple[NDArray[np.float64], dict[str, float], NDArray[np.float64]]:
    """Stack out-of-sample probabilities by maximum likelihood on the given labels.

    The combined model is ``p(c | x) = softmax_c(sum_m a_m log p_m(c | x) + b_c)`` (a weighted
    geometric mean with class biases), with weights ``a_m >= 0`` and biases ``b`` maximising the
    mean log-likelihood of the given labels (L-BFGS-B; M + K parameters, so fitting them on the
    same rows overfits little). A model that predicts the labels worse, or is overconfident,
    gets a smaller weight.

    Returns
    -------
    (proba, weights, bias)
        Combined (n, K) probabilities, ``{model: a_m}`` and the (K,) biases.
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    names = list(probas)
    L = np.stack([np.log(np.clip(probas[m], 1e-12, 1.0)) for m in names])  # (M, n, K)
    M, n, K = L.shape
    Y = np.eye(K)[y]

    def nll(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        lp = log_softmax(np.tensordot(theta[:M], L, 1) + theta[M:], axis=1)
        g = np.exp(lp) - Y
        grad = np.concatenate([np.einsum("nk,mnk->m", g, L), g.sum(0)]) / n
        return float(-(lp * Y).sum() / n), grad

    theta0 = np.concatenate([np.full(M, 1.0 / M), np.zeros(K)])
    bounds = [(0.0, None)] * M + [(None, None)] * K
    theta = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds).x
    z = np.tensordot(theta[:M], L, 1) + theta[M:]
    proba = np.exp(log_softmax(z, axis=1))
    return proba, {m: float(a) for m, a in zip(names, theta[:M], strict=True)}, theta[M:]


def combine(
    model_score: NDArray[np.float64] | None,
    agreement: NDArray[np.float64] | None,
    knn_weight: float = KNN_WEIGHT,
) -> NDArray[np.float64]:
    """``label_quality`` in [0, 1]: ``(1 - w) * rank(model_score) + w * rank(agreement)``
    (ranks scaled to [0, 1]); either part alone when the other is None."""
    if model_score is None and agreement is None:
        raise InvalidParameterError("combine needs a model score or a k-NN agreement")
    if not 0.0 <= knn_weight <= 1.0:
        raise InvalidParameterError(f"knn_weight must lie in [0, 1], got {knn_weight}")
    if agreement is None:
        return rank01(np.asarray(model_score))
    if model_score is None:
        return rank01(agreement)
    return (1 - knn_weight) * rank01(model_score) + knn_weight * rank01(agreement)


def confident_count(
    proba: NDArray[np.float64], y: NDArray[np.int64], *, n_boot: int = 200, seed: int = 0
) -> tuple[int, tuple[int, int], NDArray[np.int64]]:
    """Confident-learning estimate of the number of label errors, a 95% bootstrap interval, and
    the (K, K) confident joint (given label x confidently predicted class)."""
    n, K = proba.shape
    thr = np.array([proba[y == c, c].mean() if (y == c).any() else 1.0 for c in range(K)])
    above = proba >= thr[None, :]
    masked = np.where(above, proba, -1.0)
    guess = masked.argmax(1)
    confident = above.any(1)
    joint = np.zeros((K, K), np.int64)
    np.add.at(joint, (y[confident], guess[confident]), 1)
    err = confident & (guess != y)
    rng = np.random.default_rng(seed)
    boots = rng.binomial(n, err.mean(), n_boot) if n else np.zeros(n_boot)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return int(err.sum()), (int(lo), int(hi)), joint
