"""Model-independent scores against brute-force references on small inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from assay.data import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.valuation.geometry import (
    KCenter,
    NearestDistance,
    Representativeness,
    kcenter_greedy,
)


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(80, 3))


def _greedy_reference(X: np.ndarray, first: int, k: int) -> tuple[list[int], list[float]]:
    D = cdist(X, X)
    picks, radii = [first], [np.inf]
    best = D[first].copy()
    for _ in range(k - 1):
        i = int(np.argmax(best))
        picks.append(i)
        radii.append(best[i])
        best = np.minimum(best, D[i])
    return picks, radii


def test_kcenter_matches_the_literal_farthest_point_traversal(points) -> None:
    picks, radii, dist = kcenter_greedy(points, 15, seed=3)
    ref_p, ref_r = _greedy_reference(points, int(picks[0]), 15)
    np.testing.assert_array_equal(picks, ref_p)
    np.testing.assert_allclose(radii[1:], ref_r[1:], rtol=1e-9)
    np.testing.assert_allclose(dist, cdist(points, points[picks]).min(1), atol=1e-7)


def test_kcenter_values_rank_the_greedy_set_first(points) -> None:
    r = KCenter(12, seed=1).fit(points)
    picks, radii, _ = kcenter_greedy(points, 12, seed=1)
    assert set(r.highest(12).ids) == set(picks.tolist())
    np.testing.assert_array_equal(r.highest(12).ids, picks)  # in pick order
    others = np.setdiff1d(np.arange(80), picks)
    assert r.values[others].max() <= radii[-1] + 1e-12


def test_kcenter_with_a_starting_set(points) -> None:
    start = [0, 5]
    picks, _, _ = kcenter_greedy(points, 3, start=start)
    assert picks[0] == np.argmax(cdist(points, points[start]).min(1))
    assert not set(picks) & set(start)


def test_nearest_distance_matches_brute_force_and_is_chunk_free(points) -> None:
    D = cdist(points, points)
    np.fill_diagonal(D, np.inf)
    ref = np.sort(D, 1)[:, :4].mean(1)
    for chunk in (7, 1000):
        r = NearestDistance(4, chunk=chunk).fit(points)
        np.testing.assert_allclose(r.values, ref, rtol=1e-9)


def test_nearest_distance_against_a_reference_sample(points) -> None:
    r = NearestDistance(3, max_reference=30, seed=2).fit(points)
    ref = np.sort(np.random.default_rng(2).choice(80, 30, replace=False))
    D = cdist(points, points[ref])
    D[ref, np.arange(30)] = np.inf
    np.testing.assert_allclose(r.values, np.sort(D, 1)[:, :3].mean(1), rtol=1e-9)
    assert r.params["reference"] == 30


def test_representativeness_closeness_and_mass(points) -> None:
    m = Representativeness(4, backend="sklearn")
    r = m.fit(points)
    c = m.clustering_
    np.testing.assert_allclose(
        -r.values, np.linalg.norm(points - c.centroids[c.labels], axis=1), rtol=1e-6
    )
    mass = Representativeness(4, by="mass", backend="sklearn").fit(points)
    order = mass.ranking()
    sizes = c.sizes[c.labels][order]
    assert (np.diff(sizes) <= 0).all()  # bigger clusters first
    norm = Representativeness(4, normalise=True, backend="sklearn").fit(points)
    for j in range(c.k):  # RMS of the normalised distances is 1 in every cluster
        assert np.sqrt(np.mean(norm.values[c.labels == j] ** 2)) == pytest.approx(1.0)


def test_scores_take_a_dataset_utility_or_embeddings(points) -> None:
    ds = Dataset.from_arrays(points, np.arange(80) % 2, ids=np.arange(1000, 1080))
    r = KCenter(5).fit(ds)
    assert r.ids[0] == 1000
    emb = points[:, :2]
    r2 = KCenter(5, embeddings=emb).fit(ds)
    np.testing.assert_allclose(r2.values, KCenter(5).fit(emb).values)
    with pytest.raises(InvalidDataError, match="shape mismatch: embeddings has 79 rows"):
        KCenter(5, embeddings=emb[:-1]).fit(ds)
    bad = points.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InvalidDataError, match="row 3"):
        NearestDistance().fit(bad)
    with pytest.raises(InvalidParameterError, match="k must lie"):
        KCenter(81).fit(points)
