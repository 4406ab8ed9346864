"""Outputs a person reads: payees top-k, named serve inputs, reports with rows and parameters."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data import Dataset
from assay.errors import InvalidDataError
from assay.evaluate.report import join_rows, make_report, method_params, value_summary
from assay.payouts import payouts, top_payees
from assay.result import ValuationResult
from assay.serve import create_app, input_matrix
from tests.cli_support import run
from tests.test_explain_support import one_thread, trained_explainer  # noqa: F401


def test_top_payees_keeps_the_k_largest_and_sums_the_rest() -> None:
    values = np.array([[0.3, 0.1, 0.2, -0.2, 0.05], [0.0, 0.4, 0.1, 0.1, 0.2]])
    full = payouts(values, [10.0, 4.0], ids=list("abcde"))
    top = top_payees(full, 2)
    assert len(top) == 2 * 3 and list(top.columns) == [*full.columns, "payees"]
    np.testing.assert_allclose(top.groupby("prediction")["payout"].sum(), [10.0, 4.0])
    first = top[top.prediction == 0]
    assert first["payee"].tolist()[:2] == ["a", "c"] and first["payee"].iloc[2] is None
    assert first["payees"].tolist() == [1, 1, 3]
    np.testing.assert_allclose(first["value"].iloc[2], 0.1 - 0.2 + 0.05)
    # ties in payout: higher value first, then table order
    second = top[top.prediction == 1]
    assert second["payee"].tolist()[:2] == ["b", "e"]
    assert len(top_payees(full, 5)) == len(full) and "payees" in top_payees(full, 9)
    with pytest.raises(Exception, match="top_k must be >= 1, got 0"):
        top_payees(full, 0)


def test_attribute_top_k_bounds_the_table(tmp_path: Path, capsys) -> None:
    explainer, task = trained_explainer()
    folder = explainer.save(tmp_path / "expl")
    X = task.test.X[:5]
    inputs = tmp_path / "in.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1]}).to_csv(inputs, index=False)
    out = tmp_path / "pay.parquet"
    argv = ["attribute", str(inputs), "-e", str(folder), "-o", str(out), "--top-k", "3"]
    code, text, err = run(argv, capsys)
    assert code == 0, err
    assert "20 rows" in text
    table = pd.read_parquet(out)
    assert len(table) == 5 * 4
    np.testing.assert_allclose(table.groupby("prediction")["payout"].sum(), 1.0)
    full = payouts(explainer.values(X, explainer.predict(X)), 1.0, ids=explainer.ids)
    ref = top_payees(full, 3)
    np.testing.assert_allclose(table["payout"], ref["payout"], rtol=1e-5, atol=1e-7)
    assert table["payees"].tolist()[:4] == [1, 1, 1, 5]
    code, _, err = run([*argv[:-1], "-1"], capsys)
    assert code != 0 and "--top-k must be >= 0" in err


def test_serve_accepts_named_columns() -> None:
    from fastapi.testclient import TestClient

    explainer, task = trained_explainer()
    named = dataclasses.replace(explainer, feature_names=["size", "ratio"])
    client = TestClient(create_app(named))
    X = task.test.X[:2]
    as_lists = client.post("/attribute", json={"inputs": X.tolist()}).json()
    objects = [{"ratio": float(r[1]), "size": float(r[0])} for r in X]
    as_objects = client.post("/attribute", json={"inputs": objects}).json()
    assert as_objects == as_lists
    one = client.post("/attribute", json={"inputs": objects[0]}).json()
    single = client.post("/attribute", json={"inputs": X[:1].tolist()}).json()
    assert one == single
    r = client.post("/attribute", json={"inputs": [{"size": 1.0, "weight": 2.0}]})
    assert r.status_code == 422
    assert "missing features ['ratio'], unknown names ['weight']" in r.json()["detail"]
    bare = TestClient(create_app(dataclasses.replace(explainer, feature_names=None)))
    r = bare.post("/attribute", json={"inputs": [{"size": 1.0, "ratio": 2.0}]})
    assert r.status_code == 422 and "without feature names" in r.json()["detail"]
    with pytest.raises(InvalidDataError, match="input 1 has 3"):
        input_matrix([[1.0, 2.0], [1.0, 2.0, 3.0]], 2, None)


def test_reports_show_the_rows_and_a_parameter_table() -> None:
    res = ValuationResult.exact(
        [10, 11, 12, 13],
        [0.5, -0.3, 0.1, 0.9],
        "tmc-shapley",
        samples=50,
        tolerance=0.01,
        task={"source": "x.csv", "flip": 0.1},
    )
    data = Dataset.from_arrays(
        [[1.5, 0.0], [2.5, 1.0], [3.5, 0.0], [4.5, 1.0]],
        ["cat", "dog", "cat", "dog"],
        ids=[10, 11, 12, 13],
        feature_names=["weight", "indoor"],
    )
    rows = data.to_pandas(target="label")
    _, low = value_summary(res, 2, rows=rows)
    assert low["id"].tolist() == [11, 12]
    assert low["label"].tolist() == ["dog", "cat"] and low["weight"].tolist() == [2.5, 3.5]
    params = method_params({"tmc": res})
    assert params.to_dict(orient="list") == {
        "parameter": ["task.flip", "task.source", "tolerance"],
        "tmc": ["0.1", "x.csv", "0.01"],
    }
    html = make_report({"tmc": res}, rows=rows).render()
    assert "Method parameters" in html and "task.source" in html and "{&quot;" not in html
    assert "<td>dog</td>" in html.replace(" ", "") or ">dog<" in html
    # ids match as text; unknown ids give empty cells; the label is kept first
    joined = join_rows(pd.DataFrame({"id": ["12", "99"]}), rows, max_columns=1)
    assert list(joined.columns) == ["id", "label"] and joined["label"].tolist()[0] == "cat"
    assert pd.isna(joined["label"].iloc[1])
