"""The audit's large-table path (above ``LARGE_CELLS``), exercised on a small table by lowering
the thresholds: float32 features, fold models on a share of rows, chunked predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import assay.audit.core as core
import assay.audit.detectors as detectors
from assay.audit import audit
from assay.data.io import encode_frame
from tests.test_audit import noisy_table


def test_large_path_values_every_row_and_finds_flipped_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df, flipped = noisy_table(n=1_500, seed=2)
    small = audit(df, "label", seed=1, methods=["logistic", "hgb", "knn", "data-oob"])
    cells = 1_500 * (df.shape[1] - 1)
    monkeypatch.setattr(core, "LARGE_CELLS", cells - 1)
    monkeypatch.setattr(core, "FIT_CELLS", 600 * len(small.encoder.feature_names))  # 600 rows
    monkeypatch.setattr(detectors, "PREDICT_ROWS", 128)  # several prediction chunks a fold
    large = audit(df, "label", seed=1, methods=["logistic", "hgb", "knn", "data-oob"])
    keep = df["label"].notna().to_numpy()
    for r in (small, large):
        q = r.table["label_quality"].to_numpy()
        assert np.isfinite(q).all() and q.min() >= 0 and q.max() <= 1
        assert np.isfinite(r.table.loc[keep, "score_data_oob"]).all()
        assert roc_auc_score(flipped[keep], -q[keep]) > 0.9
    q_small, q_large = (r.table["label_quality"].to_numpy()[keep] for r in (small, large))
    assert np.corrcoef(q_small, q_large)[0, 1] > 0.9  # a share of rows, the same ranking


def test_fit_rows_keeps_all_rows_under_the_cap_and_every_rare_class_row() -> None:
    y = np.r_[np.zeros(9_000, np.int64), np.ones(500, np.int64)]
    fold = np.arange(len(y)) % 5
    assert detectors.fit_rows(y, fold, cap=10_000) is None
    keep = detectors.fit_rows(y, fold, cap=2_000, seed=0)
    assert keep is not None and keep[y == 1].all()
    assert abs(int(keep[y == 0].sum()) - 9_000 * 2_000 / 7_600) < 300


def test_standardised_matches_numpy_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detectors, "PREDICT_ROWS", 7)  # 50 rows in 8 chunks, the last one short
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    X[:, 2] = 1.5  # a constant column stays at 0
    want = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    got = detectors.standardised(X)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (got[:, 2] == 0).all()


def test_large_path_logistic_is_one_sklearn_fit_per_fold_on_its_rows() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(900, 3))
    y = (X[:, 0] + rng.normal(size=900) > 0).astype(np.int64) + (X[:, 1] > 1)
    fold = detectors.stratified_folds(y, 3, 0)
    mask = rng.random(900) < 0.5  # the rows each fold's model may train on
    got = detectors.oof_logistic(X, y, 3, fold, fit_mask=mask)
    for f in range(3):
        tr, te = mask & (fold != f), fold == f
        model = LogisticRegression(C=1.0, max_iter=1000).fit(X[tr], y[tr])
        np.testing.assert_allclose(got[te], model.predict_proba(X[te]), atol=1e-12)


def test_streamed_knn_shapley_equals_the_whole_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit sums KNN-Shapley over the search's chunks and keeps only the k nearest."""
    pytest.importorskip("faiss")
    import assay.audit.graph as graph
    from assay.audit.values import SHAPLEY_K, knn_shapley_scores

    df, _ = noisy_table(n=1_200, seed=4)
    monkeypatch.setattr(graph, "IVF_ROWS", 400)  # the inverted-file search, in chunks
    monkeypatch.setattr(graph, "SEARCH_ROWS", 128)  # 10 chunks, the last one short
    got = audit(df, "label", seed=0, methods=["logistic", "knn", "knn-shapley"])
    keep = df["label"].notna().to_numpy()
    data, _, _ = encode_frame(df, "label")
    feats = np.asarray(data.X)
    X = (feats - feats.mean(0)) / np.where(feats.std(0) > 0, feats.std(0), 1.0)  # as the audit
    y = np.asarray(data.y)
    seen: list[int] = []
    _, wide = graph.knn_graph(X, 100, keep=7, each=lambda lo, hits: seen.append(len(hits)))
    assert wide.shape == (len(y), 7) and seen == [128] * 9 + [len(y) - 9 * 128]
    _, wide = graph.knn_graph(X, 100)
    np.testing.assert_allclose(
        got.table.loc[keep, "score_knn_shapley"], knn_shapley_scores(wide, y, SHAPLEY_K)
    )


def test_rows_whose_probed_cells_are_short_get_every_neighbour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """6 probed cells of 40 hold about 60 rows: fewer than the 61 hits asked for, which FAISS
    pads with -1; those rows are searched again over every cell."""
    pytest.importorskip("faiss")
    import assay.audit.graph as graph

    monkeypatch.setattr(graph, "IVF_ROWS", 300)
    X = np.random.default_rng(5).normal(size=(400, 3))
    dist, nbr = graph.knn_graph(X, 60)
    assert nbr.min() >= 0 and np.isfinite(dist).all() and dist.max() < 100
    assert not (nbr == np.arange(400)[:, None]).any()
