"""assay.audit and ``assay audit`` on a tiny messy table with flipped labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from assay.audit import (
    audit,
    audit_report,
    combine,
    combine_probas,
    knn_proba,
    model_weights,
    stack,
    write_table,
)
from assay.audit.detectors import compact_features
from assay.audit.graph import knn_graph
from assay.audit.stacking import confident_count
from assay.data.encode import TableEncoder
from assay.errors import InvalidDataError, InvalidParameterError, OutputPathError
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


def test_model_weights_follow_the_accuracy_gap() -> None:
    y = np.array([0, 0, 1, 1])
    good = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])  # accuracy 1
    bad = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])  # accuracy 0.5
    w = model_weights({"a": good, "b": bad}, y, temperature=0.25)
    raw_b = np.exp((0.5 - 1.0) / 0.25)
    assert w["a"] == pytest.approx(1 / (1 + raw_b)) and w["b"] == pytest.approx(raw_b / (1 + raw_b))
    same = model_weights({"a": good, "b": good}, y)
    assert same == {"a": 0.5, "b": 0.5}
    with pytest.raises(InvalidParameterError, match="temperature"):
        model_weights({"a": good}, y, temperature=0)


def test_combine_probas_is_the_renormalised_weighted_geometric_mean() -> None:
    p = np.array([[0.8, 0.2], [0.5, 0.5]])
    q = np.array([[0.2, 0.8], [0.9, 0.1]])
    got = combine_probas({"p": p, "q": q}, {"p": 0.75, "q": 0.25})
    raw = p**0.75 * q**0.25
    assert np.allclose(got, raw / raw.sum(1, keepdims=True))


def test_combine_mixes_scaled_ranks() -> None:
    score = np.array([0.1, 0.9, 0.5])  # ranks 0, 1, 0.5
    agree = np.array([1.0, 0.0, 0.5])  # ranks 1, 0, 0.5
    assert np.allclose(combine(score, agree, 0.25), [0.25, 0.75, 0.5])
    assert np.allclose(combine(score, None), [0, 1, 0.5])
    assert np.allclose(combine(None, agree), [1, 0, 0.5])
    with pytest.raises(InvalidParameterError, match="knn_weight"):
        combine(score, agree, 1.5)


def test_compact_features_fold_one_hot_blocks_into_codes() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "c", "a"], "y": [0, 1, 0, 1]})
    enc = TableEncoder(min_frequency=1).fit(df, "y")
    X = enc.transform(df)
    Xc, cat = compact_features(X, enc)
    assert Xc.shape == (4, 2) and cat == [False, True]
    assert Xc[:, 0].tolist() == X[:, 0].tolist()
    levels = next(p for p in enc.columns if p.name == "c").levels
    assert [levels[int(v)] for v in Xc[:, 1]] == ["a", "b", "c", "a"]
    unseen = enc.transform(pd.DataFrame({"x": [1.0], "c": ["zzz"]}))
    assert np.isnan(compact_features(unseen, enc)[0][0, 1])


def test_output_columns_and_order(tmp_path: Path) -> None:
    df, _ = noisy_table(150)
    r = audit(df, "label", methods=["logistic", "knn"])
    added = [
        "label_quality",
        "is_label_issue",
        "suggested_label",
        "outlier_score",
        "near_duplicate_of",
        "score_logistic",
        "score_knn",
    ]
    assert list(r.table.columns) == list(df.columns) + added
    assert r.table.loc[11, "label_quality"] == 1.0  # the row without a label
    assert pd.isna(r.table.loc[11, "suggested_label"])
    for name in ("t.csv", "t.parquet", "t.PARQUET"):
        path = write_table(r.table, tmp_path / name)
        back = pd.read_csv(path) if name.endswith("csv") else pd.read_parquet(path)
        assert list(back.columns) == list(r.table.columns)
        assert back["row_id"].tolist() == df["row_id"].tolist()
        assert np.allclose(back["label_quality"], r.table["label_quality"])
    assert (tmp_path / "t.parquet").read_bytes()[:4] == b"PAR1"
    with pytest.raises(OutputPathError, match=r"\.csv or \.parquet"):
        write_table(r.table, tmp_path / "t.xlsx")


def test_a_table_with_an_output_column_name_is_refused() -> None:
    df, _ = noisy_table(40)
    with pytest.raises(InvalidDataError, match="label_quality"):
        audit(df.assign(label_quality=1.0), "label")


def test_html_report_holds_count_suspects_noise_columns_and_params(tmp_path: Path) -> None:
    df, _ = noisy_table(150)
    r = audit(df, "label", methods=["logistic", "knn"], top=5)
    html = audit_report(r, tmp_path / "audit.html").read_text()
    s = r.summary
    lo, hi = s["estimated_label_errors_interval"]
    for title in ("Summary", "Top suspects", "Class-level noise", "Columns", "Parameters"):
        assert f"<h2>{title}</h2>" in html
    assert f"<td>95% interval</td><td>{lo} to {hi}</td>" in html
    assert f"<td>estimated label errors</td><td>{s['estimated_label_errors']}</td>" in html
    for rid in r.suspects["row_id"]:  # suspects shown with their own row contents
        assert f"<td>{rid}</td>" in html
    assert "given yes" in html and "given no" in html
    assert "id column `row_id`" in html and "knn_weight" in html
    with pytest.raises(OutputPathError, match=r"\.html"):
        audit_report(r, tmp_path / "audit.txt")


def test_cli_report_and_csv(tmp_path: Path, capsys) -> None:
    df, _ = noisy_table(120)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    out, rep = tmp_path / "scored.csv", tmp_path / "audit.html"
    code, _, err = run(
        [
            "audit",
            str(path),
            "--target",
            "label",
            "--out",
            str(out),
            "--report",
            str(rep),
            "--methods",
            "logistic,knn",
        ],
        capsys,
    )
    assert code == 0, err
    assert pd.read_csv(out)["row_id"].tolist() == df["row_id"].tolist()
    assert "<h2>Top suspects</h2>" in rep.read_text()
    bad = ["audit", str(path), "--target", "label", "--report", str(tmp_path / "r.pdf")]
    code, _, err = run(bad, capsys)
    assert code == 2 and ".html" in err


def test_stack_maximises_the_likelihood_and_drops_a_useless_model() -> None:
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 3, n)
    good = np.full((n, 3), 0.1)
    good[np.arange(n), y] = 0.8
    good[: n // 5] = rng.dirichlet(np.ones(3), n // 5)  # some uninformative rows
    noise = rng.dirichlet(np.ones(3), n)  # independent of the labels
    proba, weights, bias = stack({"good": good, "noise": noise}, y)
    assert np.allclose(proba.sum(1), 1) and weights["good"] > 0.5 > weights["noise"]
    # the optimum of the stated objective, found independently (Nelder-Mead, no gradient)
    L = np.stack([np.log(good), np.log(noise)])

    def nll(t: np.ndarray) -> float:
        a = np.abs(t[:2])
        return float(-log_softmax(np.tensordot(a, L, 1) + t[2:], 1)[np.arange(n), y].mean())

    ref = minimize(
        nll,
        np.array([1.0, 0.1, 0, 0, 0]),
        method="Nelder-Mead",
        options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12},
    )
    theta = np.concatenate([[weights["good"], weights["noise"]], bias])
    assert nll(theta) <= ref.fun + 1e-6
    assert np.allclose(proba, np.exp(log_softmax(np.tensordot(theta[:2], L, 1) + bias, 1)))


def test_knn_proba_is_the_smoothed_neighbour_count() -> None:
    y_nbr = np.array([[0, 0, 1], [2, 2, 2]])
    assert np.allclose(knn_proba(y_nbr, 3), [[3 / 6, 2 / 6, 1 / 6], [1 / 6, 1 / 6, 4 / 6]])


@pytest.mark.parametrize("k_classes", [2, 3])
def test_batched_and_sklearn_logistic_agree(k_classes: int) -> None:
    from assay.audit.detectors import oof_logistic, stratified_folds

    rng = np.random.default_rng(k_classes)
    X = rng.normal(size=(240, 4))
    y = (X[:, 0] * 2 + rng.normal(size=240) > 0).astype(np.int64)
    if k_classes == 3:
        y = y + (X[:, 1] > 0.5)
    fold = stratified_folds(y, 5, 0)
    a = oof_logistic(X, y, k_classes, fold, backend="batched")
    b = oof_logistic(X, y, k_classes, fold, backend="sklearn")
    assert np.allclose(a.sum(1), 1) and np.abs(a - b).max() < 2e-3


def test_an_id_or_text_column_is_refused_as_a_label() -> None:
    from assay.audit import audit
    from assay.errors import InvalidDataError

    n = 60
    frame = pd.DataFrame({"x": np.arange(n) % 7, "name": [f"person {i}" for i in range(n)]})
    with pytest.raises(InvalidDataError, match="60 distinct values in 60 labelled rows"):
        audit(frame, "name")
    frame["price"] = [("?" if i == 3 else f"{1.5 * i:.2f}") for i in range(n)]
    with pytest.raises(InvalidDataError, match="use a regressor"):
        audit(frame.drop(columns="name"), "price", task="classification")


def test_value_detectors_are_mixed_in_by_rank() -> None:
    from assay.audit.core import VALUE_WEIGHT
    from assay.audit.stacking import rank01
    from assay.audit.values import knn_shapley_scores

    df, flipped = noisy_table(200)
    plain = audit(df, "label", methods=["logistic", "knn"], seed=2)
    both = audit(df, "label", methods=["logistic", "knn", "data-oob", "knn-shapley"], seed=2)
    t = both.table
    keep = df["label"].notna().to_numpy()
    assert {"score_data_oob", "score_knn_shapley"} <= set(t.columns)
    assert np.isfinite(t.loc[keep, ["score_data_oob", "score_knn_shapley"]]).all().all()
    mixed = (1 - VALUE_WEIGHT) * plain.table.loc[keep, "label_quality"].to_numpy() + (
        VALUE_WEIGHT
        * (
            rank01(t.loc[keep, "score_data_oob"].to_numpy())
            + rank01(t.loc[keep, "score_knn_shapley"].to_numpy())
        )
        / 2
    )
    np.testing.assert_allclose(t.loc[keep, "label_quality"].to_numpy(), mixed)
    # each value detector alone finds the flipped rows
    for col in ("score_data_oob", "score_knn_shapley"):
        assert roc_auc_score(flipped[keep], -t.loc[keep, col].to_numpy()) > 0.8
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    assert knn_shapley_scores(knn_graph(X, 29)[1], y, k=3).shape == (30,)


def test_value_detectors_alone_are_refused() -> None:
    df, _ = noisy_table(40)
    with pytest.raises(InvalidParameterError, match="at least one of"):
        audit(df, "label", methods=["knn-shapley"])


def test_without_self_equals_the_boolean_mask_rule() -> None:
    from assay.valuation.knn_truncated import without_self

    rng = np.random.default_rng(0)
    n, k = 40, 4
    others = [rng.permutation(np.delete(np.arange(n), r))[: k + 1] for r in range(n)]
    idx = np.stack(others)  # rows 25.. do not find themselves (an approximate search)
    idx[:20, 0] = np.arange(20)  # self first (the usual case)
    idx[20:25, 2] = np.arange(20, 25)  # self further in (exact duplicates)
    dist = np.sort(rng.random((n, k + 1)), 1)
    keep = idx != np.arange(n)[:, None]  # the rule: drop self, else the last hit
    keep[keep.sum(1) > k, -1] = False
    want_d, want_i = dist[keep].reshape(n, k), idx[keep].reshape(n, k)
    got_i, got_d = without_self(idx.copy(), k, dist=dist.copy())
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_d, want_d)
    few_i, few_d = without_self(idx.copy(), k, dist=dist[:, :3].copy())  # 2 nearest distances
    np.testing.assert_array_equal(few_i, want_i)
    np.testing.assert_array_equal(few_d, want_d[:, :2])


def test_knn_graph_of_a_large_table_is_compact() -> None:
    pytest.importorskip("faiss")
    from assay.audit.graph import IVF_ROWS

    X = np.random.default_rng(1).normal(size=(IVF_ROWS, 3))
    dist, nbr = knn_graph(X, 5)
    assert dist.dtype == np.float32 and nbr.dtype == np.int32 and nbr.shape == (IVF_ROWS, 5)
    few, same = knn_graph(X, 5, distances=2)
    np.testing.assert_array_equal(same, nbr)
    np.testing.assert_array_equal(few, dist[:, :2])
    assert not (nbr == np.arange(IVF_ROWS)[:, None]).any()
    exact = np.linalg.norm(X[np.arange(100), None] - X[nbr[:100].astype(np.int64)], axis=-1)
    np.testing.assert_allclose(dist[:100], exact, rtol=1e-4, atol=1e-5)
