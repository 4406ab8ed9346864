"""The audit's large-table path (above ``LARGE_ROWS``), exercised on a small table by lowering
the thresholds: float32 features, fold models on a share of rows, chunked predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import assay.audit.core as core
from assay.audit import audit
from tests.test_audit import noisy_table


def test_large_path_values_every_row_and_finds_flipped_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df, flipped = noisy_table(n=1_500, seed=2)
    small = audit(df, "label", seed=1, methods=["logistic", "hgb", "knn", "data-oob"])
    monkeypatch.setattr(core, "LARGE_ROWS", 500)
    monkeypatch.setattr(core, "FIT_ROWS", 600)  # each fold trains on about 600 of 1,200
    monkeypatch.setattr(core, "PREDICT_ROWS", 128)  # several prediction chunks a fold
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
    assert core.fit_rows(y, fold, cap=10_000) is None
    keep = core.fit_rows(y, fold, cap=2_000, seed=0)
    assert keep is not None and keep[y == 1].all()
    assert abs(int(keep[y == 0].sum()) - 9_000 * 2_000 / 7_600) < 300
