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


def test_rows_valued_in_chunks_give_the_exact_values(monkeypatch) -> None:
    import assay.valuation.knn_truncated as kt

    X, y = _table(60)
    exact = knn_shapley_loo_values(Dataset.from_arrays(X, y), 3)
    monkeypatch.setattr(kt, "GRAPH_CHUNK", 7)  # 60 rows in 9 chunks, the last one short
    np.testing.assert_allclose(kt.knn_shapley_from_graph(_neighbours(X, 59), y, 3), exact,
                               atol=1e-14)  # fmt: skip
    nbr = _neighbours(X, 10).astype(np.int32)  # the audit's compact graph of a large table
    assert nbr.dtype == np.int32
    np.testing.assert_array_equal(
        kt.knn_shapley_from_graph(nbr, y, 3), knn_shapley_from_graph(nbr.astype(np.int64), y, 3)
    )


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


def test_train_valid_truncation_is_exact_with_every_row_and_within_the_bound() -> None:
    from assay.valuation.knn_shapley import knn_shapley_values
    from assay.valuation.knn_truncated import knn_shapley_truncated

    X, y = _table(1_500, seed=3)
    train, valid = (
        Dataset.from_arrays(X[:1_200], y[:1_200]),
        Dataset.from_arrays(X[1_200:], y[1_200:]),
    )
    exact = knn_shapley_values(train, valid, 5)
    full = knn_shapley_truncated(X[:1_200], y[:1_200], X[1_200:], y[1_200:], 5, m=1_200)
    # FAISS ranks by float32 distances: a near tie may order two rows the other way (~1e-8)
    np.testing.assert_allclose(full, exact, rtol=0, atol=1e-6)
    for m in (30, 300):
        got = knn_shapley_truncated(X[:1_200], y[:1_200], X[1_200:], y[1_200:], 5, m=m)
        err = np.abs(got - exact).max()
        assert 0 < err <= truncation_bound(m)


def test_knn_shapley_method_says_which_path_it_took() -> None:
    from assay.utility.utility import Utility
    from assay.valuation.knn_shapley import KNNShapley, knn_shapley_values

    X, y = _table(1_000, seed=4)
    train = Dataset.from_arrays(X[:800], y[:800])
    valid = Dataset.from_arrays(X[800:], y[800:], classes=train.classes)
    utility = Utility("logistic", train, valid)
    exact = KNNShapley(k=5).fit(utility)
    assert exact.params["algorithm"] == "exact" and exact.params["error_bound"] == 0.0
    np.testing.assert_allclose(exact.values, knn_shapley_values(train, valid, 5))
    cut = KNNShapley(k=5, exact_rows=500, neighbours=100).fit(utility)
    assert cut.params["algorithm"] == "truncated" and cut.params["neighbours"] == 100
    assert cut.params["error_bound"] == truncation_bound(100)
    assert 0 < np.abs(cut.values - exact.values).max() <= cut.params["error_bound"]


def test_cross_fitted_knn_shapley_truncates_above_exact_rows() -> None:
    from assay.valuation.crossfit import cross_fit
    from assay.valuation.knn_shapley import KNNShapley

    X, y = _table(1_200, seed=5)
    data = Dataset.from_arrays(X, y)
    exact = knn_shapley_loo_values(data, 5)
    r = cross_fit(KNNShapley(k=5, exact_rows=1_000, neighbours=150), data)
    assert r.params["algorithm"] == "truncated" and r.params["neighbours"] == 150
    assert 0 < np.abs(r.values - exact).max() <= truncation_bound(150)
    # the leave-one-out truncation from searched lists equals the one from a given graph
    from assay.valuation.knn_truncated import knn_shapley_loo_truncated

    np.testing.assert_allclose(
        knn_shapley_loo_truncated(X, y, 5, 150),
        knn_shapley_from_graph(_neighbours(X, 150), y, 5),
        rtol=0,
        atol=1e-6,  # float32 (FAISS) against float64 (scikit-learn) distance ranks
    )


def test_knn_shapley_refuses_bad_truncation_parameters() -> None:
    from assay.valuation.knn_shapley import KNNShapley

    with pytest.raises(InvalidParameterError, match="neighbours must be"):
        KNNShapley(k=5, neighbours=3)
    with pytest.raises(InvalidParameterError, match="exact_rows"):
        KNNShapley(exact_rows=-1)


def test_value_cli_says_when_knn_shapley_truncates(tmp_path, capsys) -> None:
    from assay.result import ValuationResult
    from tests.cli_support import run

    out = tmp_path / "v.parquet"
    argv = ["value", "wine", "-m", "knn-shapley", "-o", str(out)]
    code, stdout, err = run([*argv, "-p", "exact_rows=50", "-p", "neighbours=20"], capsys)
    assert code == 0, err
    assert "truncated to the 20 nearest rows (every value within 0.05 of exact)" in stdout
    cut = ValuationResult.load(out)
    assert cut.params["algorithm"] == "truncated" and cut.params["error_bound"] == 0.05
    code, stdout, err = run([*argv, "--overwrite"], capsys)  # wine's 178 rows: exact
    assert code == 0, err
    assert "truncated" not in stdout
    exact = ValuationResult.load(out)
    assert exact.params["algorithm"] == "exact"
    assert 0 < np.abs(cut.values - exact.values).max() <= 0.05


def test_chunks_summed_in_any_order_give_the_whole_graph_values() -> None:
    from assay.valuation.knn_truncated import LooShapleySum

    X, y = _table(60)
    nbr = _neighbours(X, 20)
    total = LooShapleySum(y, 3)
    for lo in (40, 0, 13):  # uneven chunks, out of order
        hi = {0: 13, 13: 40, 40: 60}[lo]
        total.add(lo, nbr[lo:hi])
    np.testing.assert_allclose(total.values(), knn_shapley_from_graph(nbr, y, 3), atol=1e-15)
    bad = nbr[10:15].copy()
    bad[2, 4] = 12  # row 12 (the chunk's third) lists itself
    with pytest.raises(InvalidDataError, match="lists itself"):
        LooShapleySum(y, 3).add(10, bad)
    with pytest.raises(InvalidParameterError, match="k must be"):
        LooShapleySum(y, 0)


def test_inverted_file_lists_are_never_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """24 probed cells of 40 hold about 240 of 400 rows: fewer than the 300 hits asked for,
    which FAISS pads with -1; those queries are searched again over every cell."""
    pytest.importorskip("faiss")
    import assay.valuation.knn_truncated as kt

    monkeypatch.setattr(kt, "IVF_BASE_ROWS", 300)
    X, y = _table(400, seed=2)
    lists = np.concatenate([idx for _, idx in kt.nearest_rows(X, X, 299, exclude_self=True)])
    assert lists.shape == (400, 299) and lists.min() >= 0
    assert not (lists == np.arange(400)[:, None]).any()
    assert all(len(set(row)) == 299 for row in lists)
    assert np.isfinite(kt.knn_shapley_loo_truncated(X, y, 5, m=299)).all()
