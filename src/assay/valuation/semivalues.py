"""Semivalue weights: what each subset size contributes to a player's value.

A semivalue is ``phi_i = sum_{S subset of N minus i} w(|S|) [U(S + i) - U(S)]`` with
per-subset weight
``w(k)`` (k = |S|, n players). ``size_probability(k) = C(n - 1, k) w(k)`` sums to 1 over k.

- Shapley: ``w(k) = 1 / (n C(n - 1, k))`` (every size equally likely).
- Banzhaf: ``w(k) = 2^-(n - 1)`` (every subset equally likely).
- Beta(alpha, beta) Shapley (Kwon & Zou, 2022):
  ``w(k) = B(k + beta, n - 1 - k + alpha) / B(alpha, beta)``,
  i.e. the subset size is Beta-binomial(n - 1, beta, alpha); Beta(1, 1) is Shapley and
  alpha > beta puts more weight on small subsets (Beta(16, 1) is their recommendation).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, gammaln

from assay.errors import InvalidParameterError


def log_binom(n: int, k: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))


def shapley_weights(n: int) -> NDArray[np.float64]:
    """Per-subset weight w(k), k = 0..n-1, of the Shapley value."""
    k = np.arange(n, dtype=np.float64)
    return np.exp(-np.log(n) - log_binom(n - 1, k))


def banzhaf_weights(n: int) -> NDArray[np.float64]:
    """Per-subset weight w(k) = 2^-(n-1) of the Banzhaf value."""
    return np.full(n, 2.0 ** -(n - 1))


def beta_weights(n: int, alpha: float, beta: float) -> NDArray[np.float64]:
    """Per-subset weight w(k) of Beta(alpha, beta) Shapley."""
    if alpha <= 0 or beta <= 0:
        raise InvalidParameterError(f"alpha and beta must be > 0, got {alpha}, {beta}")
    k = np.arange(n, dtype=np.float64)
    return np.exp(betaln(k + beta, n - 1 - k + alpha) - betaln(alpha, beta))


def size_probabilities(weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """C(n - 1, k) w(k): the probability of subset size k under the semivalue."""
    n = len(weights)
    k = np.arange(n, dtype=np.float64)
    return np.exp(log_binom(n - 1, k) + np.log(weights))
