"""k-means backends, snapping to representatives, and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from assay.clustering import kmeans, resolve_backend
from assay.errors import InvalidDataError, InvalidParameterError, MissingDependencyError

faiss = pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(2000, centers=6, n_features=8, cluster_std=0.6, random_state=3)
    return X.astype(np.float32), y


@pytest.mark.parametrize("backend", ["faiss", "sklearn"])
def test_representatives_are_the_data_points_nearest_the_centroids(blobs, backend) -> None:
    X, _ = blobs
    c = kmeans(X, 6, backend=backend, seed=0)
    d = ((X[:, None, :].astype(np.float64) - c.centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(c.representatives, d.argmin(0))
    # every point belongs to the cluster of its nearest centroid, except representatives (own)
    expected = d.argmin(1)
    expected[c.representatives] = np.arange(c.k)
    np.testing.assert_array_equal(c.labels, expected)
    ref = ((X - X[c.representatives][c.labels]).astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(c.sq_distances, ref, rtol=1e-5, atol=1e-6)
    assert c.cost() == pytest.approx(ref.sum(), rel=1e-5)
    assert c.sizes.sum() == len(X) and (c.sizes > 0).all()


def test_backends_agree_on_easy_clustered_data(blobs) -> None:
    X, y = blobs
    a = kmeans(X, 6, backend="faiss", seed=1)
    b = kmeans(X, 6, backend="sklearn", seed=1)
    assert adjusted_rand_score(y, a.labels) == 1.0
    assert adjusted_rand_score(a.labels, b.labels) == 1.0
    # same partition -> the same clusters' centroids agree (FAISS trains on a sample)
    match = [np.bincount(b.labels[a.labels == j]).argmax() for j in range(6)]
    np.testing.assert_allclose(a.centroids, b.centroids[match], atol=0.15)


@pytest.mark.parametrize("backend", ["faiss", "sklearn"])
def test_same_seed_same_centres(blobs, backend) -> None:
    X, _ = blobs
    a = kmeans(X, 10, backend=backend, seed=5)
    b = kmeans(X, 10, backend=backend, seed=5)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("backend", ["faiss", "sklearn"])
def test_k_equal_n_makes_every_point_its_own_centre(backend) -> None:
    X = np.random.default_rng(0).normal(size=(30, 3))
    c = kmeans(X, 30, backend=backend)
    assert c.k == 30 and c.cost() == 0.0
    np.testing.assert_array_equal(np.sort(c.representatives), np.arange(30))


def test_duplicates_merge_and_empty_clusters_are_dropped() -> None:
    X = np.repeat(np.eye(3), 10, axis=0)  # 3 distinct points, 30 rows
    c = kmeans(X, 6, backend="sklearn")
    assert c.k == 3 and c.cost() == 0.0
    assert len(np.unique(c.representatives)) == 3
    assert (c.labels[c.representatives] == np.arange(c.k)).all()


def test_reassign_uses_nearest_representative(blobs) -> None:
    X, _ = blobs
    c = kmeans(X[:500], 20, backend="sklearn", reassign=True)
    d = ((X[:500, None, :] - X[c.representatives][None]).astype(np.float64) ** 2).sum(-1)
    np.testing.assert_allclose(c.sq_distances, d.min(1), rtol=1e-4, atol=1e-5)
    assert c.cost() <= kmeans(X[:500], 20, backend="sklearn").cost() + 1e-6


def test_chunking_does_not_change_the_result(blobs) -> None:
    X, _ = blobs
    a = kmeans(X, 7, backend="sklearn", chunk=97)
    b = kmeans(X, 7, backend="sklearn", chunk=100_000)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.representatives, b.representatives)


def test_clear_errors() -> None:
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(InvalidParameterError, match="k must lie in"):
        kmeans(X, 11)
    with pytest.raises(InvalidParameterError, match="k must lie in"):
        kmeans(X, 0)
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(InvalidDataError, match="NaN first at row 4"):
        kmeans(bad, 2)
    with pytest.raises(InvalidDataError, match="2-D"):
        kmeans(X[:, 0], 2)
    with pytest.raises(InvalidParameterError, match="backend"):
        kmeans(X, 2, backend="cuml")


def test_missing_faiss_is_a_clear_error(monkeypatch) -> None:
    import builtins

    real = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("no faiss")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    assert resolve_backend("auto") == "sklearn"
    with pytest.raises(MissingDependencyError, match=r"assay\[faiss\]"):
        resolve_backend("faiss")


def test_grouped_kmeans_never_mixes_groups(blobs) -> None:
    from assay.clustering import grouped_kmeans

    X, _ = blobs
    g = (X[:, 0] > np.median(X[:, 0])).astype(int)  # groups that cut across the blobs
    c = grouped_kmeans(X, 10, g, backend="sklearn")
    assert c.k == 10 and c.params["groups"] == 2
    for j in range(c.k):
        assert len(np.unique(g[c.labels == j])) == 1
        assert g[c.representatives[j]] == g[c.labels == j][0]
    assert (c.labels[c.representatives] == np.arange(c.k)).all()
    ref = ((X - X[c.representatives][c.labels]).astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(c.sq_distances, ref, rtol=1e-5, atol=1e-6)
    tiny = np.array([0] * 1995 + [1] * 5)  # a group smaller than its share still gets >= 1
    reps = grouped_kmeans(X, 7, tiny, backend="sklearn").representatives
    assert np.bincount(tiny[reps]).min() >= 1
    with pytest.raises(InvalidParameterError, match="2 groups"):
        grouped_kmeans(X, 1, g)
