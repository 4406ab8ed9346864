"""assay.audit on a regression target, and ``assay value`` / ``assay audit`` on regression CSVs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score

from assay.audit import audit
from assay.audit.regression import kfold, oof_ridge, robust_z, target_quality
from assay.errors import InvalidParameterError
from assay.result import ValuationResult
from tests.cli_support import run


def shifted_table(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A linear target with a few grossly shifted values, an id column, a category, gaps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    colour = rng.choice(["red", "green"], n)
    y = 2 * x[:, 0] - x[:, 1] + np.where(colour == "red", 1.0, 0.0) + 0.3 * rng.normal(size=n)
    bad = rng.choice(n, n // 20, replace=False)
    y[bad] += rng.choice([-1, 1], len(bad)) * 4.0
    df = pd.DataFrame({"row_id": [f"r{i}" for i in range(n)], "a": x[:, 0], "b": x[:, 1]})
    df["colour"] = colour
    df["price"] = y
    df.loc[[3, 7], "b"] = np.nan
    df.loc[11, "price"] = np.nan
    mask = np.zeros(n, bool)
    mask[bad] = True
    mask[11] = False
    return df, mask


def test_audit_finds_shifted_targets_and_keeps_input_order() -> None:
    df, bad = shifted_table()
    res = audit(df, "price")  # auto: a continuous float target is a regression target
    t = res.table
    assert res.summary["task"] == "regression"
    assert list(t.columns[: len(df.columns)]) == list(df.columns) and len(t) == len(df)
    assert (t["row_id"] == df["row_id"]).all()
    for col in ("target_quality", "is_target_issue", "suggested_target", "robust_z"):
        assert col in t.columns
    assert t["target_quality"].between(0, 1).all() and t.loc[11, "target_quality"] == 1.0
    assert np.isnan(t.loc[11, "suggested_target"])
    keep = df["price"].notna().to_numpy()
    auc = roc_auc_score(bad[keep], -t.loc[keep, "target_quality"])
    assert auc > 0.97
    flagged = t["is_target_issue"].to_numpy(bool)
    assert (flagged & bad).sum() >= 0.8 * bad.sum()  # recall
    assert (flagged & bad).sum() >= 0.6 * flagged.sum()  # precision
    assert res.summary["target_issues"] == int(flagged.sum())
    assert set(res.suspects.index[:5]) <= set(np.flatnonzero(bad))
    assert "label_quality" not in t.columns


def test_oof_ridge_equals_one_scikit_learn_fit_per_fold() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    fold = kfold(40, 4, seed=0)
    pred = oof_ridge(X, y, fold)
    for f in range(4):
        sk = Ridge(alpha=1.0).fit(X[fold != f], y[fold != f])
        np.testing.assert_allclose(pred[fold == f], sk.predict(X[fold == f]), atol=1e-10)


def test_robust_z_and_quality_on_known_residuals() -> None:
    r = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 10.0])
    z, scale = robust_z(r)
    centre = 0.25  # median; MAD = median(|r - 0.25|) = 0.75
    assert scale == pytest.approx(1.4826 * 0.75)
    np.testing.assert_allclose(z, (r - centre) / scale)
    q = target_quality(np.array([0.0, 1.959963984540054, 10.0]))
    np.testing.assert_allclose(q, [1.0, 0.05, math.erfc(10 / math.sqrt(2))], rtol=1e-9)


def test_task_and_methods_are_checked() -> None:
    df, _ = shifted_table(60)
    with pytest.raises(InvalidParameterError, match="regression audit methods"):
        audit(df, "price", methods=["logistic"], task="regression")
    with pytest.raises(InvalidParameterError, match="task must be one of"):
        audit(df, "price", task="ranking")
    res = audit(df, "price", methods=["ridge"], task="regression")
    assert list(res.summary["methods"]) == ["ridge"] and "pred_ridge" in res.table.columns


def test_cli_value_and_audit_on_a_regression_csv(tmp_path: Path, capsys) -> None:
    from sklearn.datasets import load_diabetes

    df = load_diabetes(as_frame=True).frame
    df.loc[[5, 50], "target"] += 400.0
    path = tmp_path / "diabetes.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "values"
    code, text, err = run(
        [
            "value", str(path), "--target", "target", "--learner", "ridge", "--scorer", "r2",
            "--method", "knn-shapley", "--threads", "1", "-o", str(out),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = ValuationResult.load(str(out) + ".parquet")
    assert np.isfinite(result.values).all() and result.params["scorer"] == "r2"
    assert result.params["task"]["task"] == "regression"
    code, _, err = run(
        ["value", str(path), "--target", "target", "--method", "loo", "-o", str(out) + "2"],
        capsys,
    )
    assert code != 0 and "--learner ridge" in err
    table = tmp_path / "audit.csv"
    code, text, err = run(
        [
            "audit", str(path), "--target", "target", "--task", "regression",
            "--methods", "ridge,knn", "--threads", "1", "-o", str(table),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "outlying targets" in text and "out-of-fold R^2" in text
    scored = pd.read_csv(table)
    assert set(np.flatnonzero(scored["is_target_issue"])) >= {5, 50}
    # the report and a Parquet table for a regression target
    html, parquet = tmp_path / "audit.html", tmp_path / "audit.parquet"
    code, text, err = run(
        [
            "audit", str(path), "--target", "target", "--task", "regression", "--methods",
            "ridge,knn", "--threads", "1", "-o", str(parquet), "--report", str(html),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    page = html.read_text()
    assert "out-of-fold R^2" in page and "outlying targets" in page and "Top suspects" in page
    assert "z_threshold" in page and "Class-level noise" not in page
    assert pd.read_parquet(parquet)["is_target_issue"].sum() == scored["is_target_issue"].sum()


def test_gap_tokens_in_a_numeric_target_are_missing_values() -> None:
    df, _ = shifted_table(80)
    df["price"] = df["price"].map(lambda v: "?" if np.isnan(v) else f"{v:.4f}")
    assert not pd.api.types.is_numeric_dtype(df["price"])
    res = audit(df, "price", methods=["ridge"])  # auto still sees a continuous target
    assert res.summary["task"] == "regression" and res.summary["rows_without_target"] == 1
    assert len(res.table) == 80 and res.table.loc[11, "target_quality"] == 1.0
    from assay.data import Dataset

    data = Dataset.from_frame(df, "price", task="regression")
    assert data.is_regression and data.n == 79
