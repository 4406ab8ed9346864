"""Leave-one-out KNN-Shapley from neighbour lists against the exact O(n^2 log n) method."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.valuation.knn_shapley import knn_shapley_loo_values
from assay.valuation.knn_truncated import knn_shapley_from_graph, truncation_bound


def _table(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))  # continuous: no distance ties, one neighbour order
    y = (X[:, 0] + rng.normal(size=n) > 0).astype(np.int64)
    y[:5] = 2  # a third class
    return X, y


def _neighbours(X: np.ndarray, m: int) -> np.ndarray:
    _, idx = NearestNeighbors(n_neighbors=m + 1).fit(X).kneighbors(X)
    return idx[:, 1:]  # drop each row itself


def test_all_neighbours_give_the_exact_leave_one_out_values() -> None:
    X, y = _table(60)
    exact = knn_shapley_loo_values(Dataset.from_arrays(X, y), 3)
    got = knn_shapley_from_graph(_neighbours(X, 59), y, 3)
    np.testing.assert_allclose(got, exact, atol=1e-14)


@pytest.mark.parametrize("m", [20, 100, 400])
def test_truncation_error_is_within_the_bound(m: int) -> None:
    X, y = _table(2_000, seed=1)
    exact = knn_shapley_loo_values(Dataset.from_arrays(X, y), 5)
    got = knn_shapley_from_graph(_neighbours(X, m), y, 5)
    err = np.abs(got - exact).max()
    assert err <= truncation_bound(m)
    assert err > 0  # truncated, so not the exact values: the bound is what is tested


def test_bad_neighbour_lists_are_refused() -> None:
    y = np.array([0, 1, 0, 1])
    good = np.array([[1, 2], [0, 2], [3, 1], [2, 0]])
    with pytest.raises(InvalidParameterError, match="k must be"):
        knn_shapley_from_graph(good, y, 0)
    with pytest.raises(InvalidParameterError, match="at least k"):
        knn_shapley_from_graph(good[:, :1], y, 2)
    with pytest.raises(InvalidDataError, match="lists itself"):
        knn_shapley_from_graph(np.array([[0, 2], [0, 2], [3, 1], [2, 0]]), y, 1)
    with pytest.raises(InvalidDataError, match="must lie in"):
        knn_shapley_from_graph(np.array([[9, 2], [0, 2], [3, 1], [2, 0]]), y, 1)
    with pytest.raises(InvalidDataError, match="must be"):
        knn_shapley_from_graph(good[:3], y, 1)


@pytest.mark.slow
def test_ten_thousand_rows_within_the_bound_and_in_rank_order() -> None:
    from scipy.stats import spearmanr

    X, y = _table(10_000, seed=2)
    exact = knn_shapley_loo_values(Dataset.from_arrays(X, y), 10)
    got = knn_shapley_from_graph(_neighbours(X, 200), y, 10)
    assert np.abs(got - exact).max() <= truncation_bound(200)
    assert spearmanr(got, exact)[0] > 0.98
