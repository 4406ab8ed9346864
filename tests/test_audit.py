"""assay.audit and ``assay audit`` on a tiny messy table with flipped labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from assay.audit import audit
from assay.audit.core import confident_count, knn_graph
from assay.errors import InvalidParameterError
from tests.cli_support import run


def noisy_table(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    label = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no").astype(object)
    flipped = rng.choice(n, n // 10, replace=False)
    label[flipped] = np.where(label[flipped] == "yes", "no", "yes")
    df = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "a": x[:, 0],
            "b": x[:, 1],
            "colour": rng.choice(["red", "green"], n),
            "label": label,
        }
    )
    df.loc[[3, 7], "a"] = np.nan
    df.loc[11, "label"] = None
    mask = np.zeros(n, bool)
    mask[flipped] = True
    return df, mask


def test_audit_finds_flipped_rows_and_keeps_input_order() -> None:
    df, flipped = noisy_table()
    r = audit(df, "label", seed=1)
    t = r.table
    assert list(t.columns[: df.shape[1]]) == list(df.columns)
    assert len(t) == len(df) and t["row_id"].tolist() == df["row_id"].tolist()
    q = t["label_quality"].to_numpy()
    assert np.isfinite(q).all() and q.min() >= 0 and q.max() <= 1
    keep = df["label"].notna().to_numpy()
    assert roc_auc_score(flipped[keep], -q[keep]) > 0.9
    assert t["is_label_issue"].sum() == r.summary["estimated_label_errors"]
    lo, hi = r.summary["estimated_label_errors_interval"]
    assert lo <= r.summary["estimated_label_errors"] <= hi
    assert r.summary["rows_without_label"] == 1
    assert set(t["suggested_label"].dropna()) <= {"yes", "no"}
    assert {"score_logistic", "score_hgb", "score_knn"} <= set(t.columns)


def test_knn_graph_excludes_self_and_finds_duplicates() -> None:
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 6.0]])
    dist, nbr = knn_graph(X, 1)
    assert nbr[:, 0].tolist() == [1, 0, 3, 2]
    assert np.allclose(dist[:, 0], [0, 0, 1, 1])


def test_confident_count_on_known_probabilities() -> None:
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.95, 0.05]])
    y = np.array([0, 0, 1, 1, 1])  # the last row is confidently class 0
    n, (lo, hi), joint = confident_count(proba, y)
    assert n == 1 and joint[1, 0] == 1 and lo <= 1 <= hi


def test_bad_methods_are_refused() -> None:
    df, _ = noisy_table(40)
    with pytest.raises(InvalidParameterError, match="methods must be among"):
        audit(df, "label", methods=["nope"])


def test_cli_writes_the_scored_table(tmp_path: Path, capsys) -> None:
    df, _ = noisy_table(120)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "scored.parquet"
    code, stdout, err = run(
        ["audit", str(path), "--target", "label", "--out", str(out), "--methods", "logistic,knn"],
        capsys,
    )
    assert code == 0, err
    assert "estimated label errors" in stdout and "id column `row_id`" in stdout
    back = pd.read_parquet(out)
    assert len(back) == len(df) and "label_quality" in back.columns
