"""Least-squares row sampling: leverage scores vs direct computation, Algorithm 2, estimators."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assay.clustering import kmeans
from assay.errors import InvalidDataError, InvalidParameterError
from assay.select.leverage import (
    leverage_scores,
    regression_sample,
    regression_sensitivity,
    relative_excess_loss,
    sample_rows,
    weighted_lstsq,
)


def _heavy(n: int = 1500, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_t(2, size=(n, d))
    b = A @ rng.normal(size=d) + rng.normal(size=n)
    return A, b


def test_exact_leverage_scores_equal_the_hat_matrix_diagonal() -> None:
    A, _ = _heavy(200, 6)
    H = A @ np.linalg.inv(A.T @ A) @ A.T
    h = leverage_scores(A)
    np.testing.assert_allclose(h, np.diag(H), rtol=1e-9, atol=1e-12)
    assert h.sum() == pytest.approx(6)
    B = np.hstack([A, A[:, :2] + A[:, 2:4]])  # rank 6 in 8 columns
    hb = leverage_scores(B)
    np.testing.assert_allclose(hb, np.diag(B @ np.linalg.pinv(B)), atol=1e-9)
    assert hb.sum() == pytest.approx(6)


def test_approximate_leverage_scores_are_close() -> None:
    A, _ = _heavy(3000, 8)
    exact = leverage_scores(A)
    approx = leverage_scores(A, method="approx", seed=1, chunk=500)
    ratio = approx / exact
    assert 0.7 < np.median(ratio) < 1.3 and np.quantile(ratio, 0.99) < 2.5
    assert np.corrcoef(np.log(exact), np.log(approx))[0, 1] > 0.9


def test_algorithm_2_probabilities() -> None:
    A, b = _heavy(300, 3)
    c = kmeans(A, 30, backend="sklearn")
    p_inf = regression_sensitivity(A, b, c)
    d = np.sqrt(((A - A[c.representatives][c.labels]) ** 2).sum(1))
    np.testing.assert_allclose(p_inf, d / d.sum(), rtol=1e-6)
    assert (p_inf[c.representatives] == 0).all()
    lam = 0.7
    reps = c.representatives
    W = np.diag(c.sizes.astype(float))
    x0 = np.linalg.solve(A[reps].T @ W @ A[reps], A[reps].T @ W @ b[reps])  # normal equations
    score = lam * d + ((A[reps] @ x0 - b[reps]) ** 2)[c.labels]
    score[reps] = 0
    np.testing.assert_allclose(
        regression_sensitivity(A, b, c, lam=lam), score / score.sum(), rtol=1e-6
    )


def test_weighted_sample_loss_is_unbiased_for_any_x() -> None:
    A, b = _heavy(400, 3, seed=2)
    x = np.array([0.3, -1.0, 2.0])
    h = leverage_scores(A)
    full = ((A @ x - b) ** 2).sum()
    est = [
        ((s.weights * (A[s.positions] @ x - b[s.positions]) ** 2).sum())
        for s in (sample_rows(h / h.sum(), 50, seed=i) for i in range(2000))
    ]
    assert abs(np.mean(est) - full) < 4 * np.std(est) / math.sqrt(2000)


def test_excess_loss_shrinks_with_m_and_beats_uniform_on_heavy_tails() -> None:
    A, b = _heavy()
    c = kmeans(A, 150, backend="sklearn")
    res = {}
    for method in ("uniform", "leverage", "sensitivity"):
        res[method] = [
            np.median(
                [
                    relative_excess_loss(
                        A,
                        b,
                        weighted_lstsq(
                            A, b, regression_sample(A, b, m, method=method, seed=s, clustering=c)
                        ),
                    )
                    for s in range(15)
                ]
            )
            for m in (200, 800)
        ]
    for method, (small, large) in res.items():
        assert large < small, method
    assert res["leverage"][1] < res["uniform"][1]
    assert res["sensitivity"][1] < res["uniform"][1]
    x = weighted_lstsq(A, b, regression_sample(A, b, 1500, method="leverage"))
    assert relative_excess_loss(A, b, x) >= -1e-12


def test_clear_errors() -> None:
    A, b = _heavy(100, 3)
    with pytest.raises(InvalidDataError, match="shape mismatch"):
        regression_sample(A, b[:-1], 20)
    with pytest.raises(InvalidParameterError, match="exceeds the 100"):
        regression_sample(A, b, 101)
    with pytest.raises(InvalidParameterError, match="centres do not fit"):
        regression_sample(A, b, 5, k=10, backend="sklearn")
    with pytest.raises(InvalidParameterError, match="method"):
        regression_sample(A, b, 20, method="qr")
    bad = A.copy()
    bad[2, 2] = np.inf
    with pytest.raises(InvalidDataError, match="inf first at row 2"):
        leverage_scores(bad)
