"""Embeddings: validation, PCA / raw / torch extractors, the disk cache, and MiniLM (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.embed import (
    EmbeddingCache,
    check_embeddings,
    embed_features,
    embed_text,
    embed_with_model,
    penultimate_embeddings,
)
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners import MLPClassifier


def test_check_embeddings_errors() -> None:
    X = np.zeros((5, 3), np.float32)
    assert check_embeddings(X) is X
    assert check_embeddings(X.astype(int)).dtype == np.float32
    with pytest.raises(
        InvalidDataError, match="shape mismatch: embeddings has 5 rows but the data has 6"
    ):
        check_embeddings(X, n_rows=6)
    with pytest.raises(InvalidDataError, match="2-D"):
        check_embeddings(np.zeros(4))
    with pytest.raises(InvalidDataError, match="numeric"):
        check_embeddings(np.array([["a"]], dtype=object))
    bad = np.zeros((70_000, 2), np.float32)
    bad[66_000, 1] = np.inf
    with pytest.raises(InvalidDataError, match="inf first at row 66000, column 1"):
        check_embeddings(bad)


def test_pca_matches_scikit_learn_and_is_cached(tmp_path, monkeypatch) -> None:
    from sklearn.decomposition import PCA

    X = np.random.default_rng(0).normal(size=(300, 20))
    E = embed_features(X, method="pca", dim=5, cache_dir=str(tmp_path))
    ref = PCA(5, svd_solver="randomized", random_state=0).fit_transform(X)
    np.testing.assert_allclose(np.abs(E), np.abs(ref), rtol=1e-4, atol=1e-4)
    assert E.dtype == np.float32 and len(list(tmp_path.glob("*.npy"))) == 1

    def boom(*a, **k):
        raise AssertionError("PCA recomputed")

    monkeypatch.setattr("sklearn.decomposition.PCA", boom)
    np.testing.assert_array_equal(
        embed_features(X, method="pca", dim=5, cache_dir=str(tmp_path)), E
    )
    with pytest.raises(AssertionError, match="recomputed"):  # other data -> another key
        embed_features(X + 1, method="pca", dim=5, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(embed_features(X), X.astype(np.float32))
    with pytest.raises(InvalidParameterError, match="dim"):
        embed_features(X, method="pca", dim=0)


def test_torch_extractor_batches_and_caches_by_weights(tmp_path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4), torch.nn.Tanh())
    X = np.random.default_rng(1).normal(size=(50, 12)).astype(np.float32)
    E = embed_with_model(X, model, input_shape=(1, 3, 4), batch_size=7, cache_dir=str(tmp_path))
    with torch.no_grad():
        ref = model(torch.tensor(X)).numpy()
    np.testing.assert_allclose(E, ref, rtol=1e-6, atol=1e-6)  # float32, batch-size roundoff
    with torch.no_grad():
        model[1].weight.mul_(2)  # new weights: the cache must not answer
    E2 = embed_with_model(X, model, input_shape=(1, 3, 4), cache_dir=str(tmp_path))
    assert not np.allclose(E, E2) and len(list(tmp_path.glob("*.npy"))) == 2


def test_penultimate_embeddings_of_a_fitted_network() -> None:
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(rng.normal(size=(40, 5)), np.arange(40) % 2)
    mlp = MLPClassifier(hidden=(6, 3), epochs=2)
    data = mlp.prepare(ds)
    fitted = mlp.fit(data, torch.ones(2, 40))
    E = penultimate_embeddings(fitted, ds.X, b=1)
    p = {k: v[1] for k, v in fitted.params.items()}
    h = torch.relu(data.X @ p["0.weight"].T + p["0.bias"])
    h = torch.relu(h @ p["2.weight"].T + p["2.bias"])
    np.testing.assert_allclose(E, h.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidParameterError, match="fitted batched networks"):
        penultimate_embeddings(object(), ds.X)


def test_damaged_cache_entries_are_recomputed(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key({"a": 1})
    cache.put(key, np.ones((3, 2), np.float32))
    np.testing.assert_array_equal(cache.get(key, 3), np.ones((3, 2)))
    assert cache.get(key, 4) is None  # other rows: not this data
    (tmp_path / f"{key}.npy").write_bytes(b"garbage")
    assert cache.get(key) is None


def test_text_input_errors() -> None:
    with pytest.raises(InvalidDataError, match="row 1 is None"):
        embed_text(["ok", None])  # type: ignore[list-item]
    with pytest.raises(InvalidDataError, match="empty"):
        embed_text([])


@pytest.mark.slow
def test_minilm_embeds_offline_and_caches(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = [
        "A gripping, beautifully acted film.",
        "A wonderful and moving movie.",
        "The quarterly tax form is due in April.",
    ]
    E = embed_text(texts, cache_dir=str(tmp_path))
    assert E.shape == (3, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    sim = E @ E.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # the two film reviews are closer
    again = embed_text(texts, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again, E)
    assert len(list(tmp_path.glob("*.npy"))) == 1
