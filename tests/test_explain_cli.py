"""``assay attribute`` and ``assay serve`` from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli_support import run
from tests.test_explain_support import one_thread, trained_explainer  # noqa: F401


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, np.ndarray]:
    explainer, task = trained_explainer()
    folder = explainer.save(tmp_path_factory.mktemp("cli") / "expl")
    return folder, task.test.X[:5]


def test_attribute_writes_a_payout_table(saved, tmp_path: Path, capsys) -> None:
    folder, X = saved
    inputs = tmp_path / "inputs.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "rid": list("vwxyz")}).to_csv(inputs, index=False)
    out = tmp_path / "payouts.parquet"
    code, stdout, err = run(
        [
            "attribute",
            str(inputs),
            "--explainer",
            str(folder),
            "--out",
            str(out),
            "--price",
            "2.5",
            "--id-column",
            "rid",
        ],
        capsys,
    )
    assert code == 0, err
    assert "5 predictions x 8 training points" in stdout
    table = pd.read_parquet(out)
    assert set(table["prediction"]) == set("vwxyz") and len(table) == 40
    np.testing.assert_allclose(table.groupby("prediction")["payout"].sum(), 2.5)
    explainer, _ = trained_explainer()
    first = table[table.prediction == "v"].sort_values("payee")["value"].to_numpy()
    np.testing.assert_allclose(first, explainer.values(X[:1])[0], rtol=1e-6)
    # provider level, labels from a column, CSV output
    inputs2 = tmp_path / "inputs2.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "label": [0, 1, 0, 1, 0]}).to_csv(
        inputs2, index=False
    )
    out2 = tmp_path / "providers.csv"
    code, _, err = run(
        [
            "attribute",
            str(inputs2),
            "-e",
            str(folder),
            "-o",
            str(out2),
            "--level",
            "provider",
            "--label-column",
            "label",
        ],
        capsys,
    )
    assert code == 0, err
    t2 = pd.read_csv(out2)
    assert set(t2["payee"]) == {"p0", "p1", "p2", "p3"} and t2["label"].tolist()[:4] == [0] * 4


def test_npy_inputs(saved, tmp_path: Path, capsys) -> None:
    folder, X = saved
    path = tmp_path / "x.npy"
    np.save(path, X)
    code, _, err = run(
        ["attribute", str(path), "-e", str(folder), "-o", str(tmp_path / "o")], capsys
    )
    assert code == 0, err
    assert (tmp_path / "o.parquet").exists()
    code, _, err = run(["attribute", "--explainer", str(folder), str(path)], capsys)  # issue form
    assert code == 0, err
    assert (tmp_path / "x.payouts.parquet").exists()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (
            lambda p: pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}).to_csv(p, index=False),
            "shape (m, 2)",
        ),
        (lambda p: pd.DataFrame({"a": [1.0], "b": ["x"]}).to_csv(p, index=False), "non-numeric"),
        (lambda p: pd.DataFrame({"a": [np.nan], "b": [1.0]}).to_csv(p, index=False), "non-finite"),
        (lambda p: None, "not found"),
    ],
)
def test_bad_inputs_give_one_line_errors(saved, tmp_path: Path, capsys, make, needle) -> None:
    folder, _ = saved
    path = tmp_path / "bad.csv"
    make(path)
    code, _, err = run(
        ["attribute", str(path), "-e", str(folder), "-o", str(tmp_path / "o.csv")], capsys
    )
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_unknown_labels_and_missing_explainers(saved, tmp_path: Path, capsys) -> None:
    folder, X = saved
    path = tmp_path / "in.csv"
    pd.DataFrame({"a": X[:1, 0], "b": X[:1, 1], "y": ["dog"]}).to_csv(path, index=False)
    code, _, err = run(
        [
            "attribute",
            str(path),
            "-e",
            str(folder),
            "-o",
            str(tmp_path / "o"),
            "--label-column",
            "y",
        ],
        capsys,
    )
    assert code == 2 and "dog" in err
    code, _, err = run(["serve", "--explainer", str(tmp_path / "none"), "--port", "1"], capsys)
    assert code == 2 and "not an explainer folder" in err
    code, out, _ = run(["--help"], capsys)
    assert "attribute" in out and "serve" in out


def _provider_table(path: Path, n: int, seed: int) -> pd.DataFrame:
    """Raw (unscaled) features on very different scales, a label and a provider column."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    df = pd.DataFrame(
        {
            "size": 1000.0 + 300.0 * y + 50.0 * rng.standard_normal(n),
            "ratio": 0.01 * rng.standard_normal(n) - 0.01 * y,
            "label": np.where(y == 1, "yes", "no"),
            "shop": [f"s{i % 3}" for i in range(n)],
        }
    )
    df.to_csv(path, index=False)
    return df


def test_explain_trains_an_explainer_that_attribute_loads(tmp_path: Path, capsys) -> None:
    data = tmp_path / "sales.csv"
    df = _provider_table(data, 40, 0)
    folder = tmp_path / "expl"
    argv = ["explain", str(data), "--target", "label", "--provider-column", "shop"]
    argv += ["--variant", "gfds+", "--grouping", "provider", "--learner", "logistic"]
    argv += ["--n-train", "12", "--n-subsets", "64", "--epochs", "3", "-o", str(folder)]
    argv += ["--param", "utility_epochs=None"]  # logistic: the exact utility, no K epochs
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    assert "gfds+ explainer for 12 training points" in stdout
    from assay.explain import DataExplainer

    ex = DataExplainer.load(folder)
    assert ex.feature_names == ["size", "ratio"] and ex.input_scaler is not None
    assert ex.info["variant"] == "gfds+" and set(ex.providers) == {"s0", "s1", "s2"}
    # raw inputs are standardised exactly once: the same values as the scaled inputs fed to
    # an explainer without a scaler
    raw = df[["size", "ratio"]].to_numpy()[:5]
    mean, scale = ex.input_scaler
    import dataclasses

    bare = dataclasses.replace(ex, input_scaler=None)
    np.testing.assert_allclose(ex.values(raw), bare.values((raw - mean) / scale), atol=1e-6)
    np.testing.assert_array_equal(ex.predict(raw), bare.predict((raw - mean) / scale))
    # attribute matches table columns by name (order and extra columns do not matter)
    inputs = tmp_path / "new.csv"
    df[["ratio", "shop", "size"]].head(5).to_csv(inputs, index=False)
    out = tmp_path / "pay.csv"
    code, _, err = run(
        ["attribute", str(inputs), "-e", str(folder), "-o", str(out), "--level", "provider"],
        capsys,
    )
    assert code == 0, err
    table = pd.read_csv(out)
    np.testing.assert_allclose(table.groupby("prediction")["payout"].sum(), 1.0)
    names, per_provider = ex.provider_values(ex.values(raw))
    first = table[table.prediction == 0].set_index("payee").loc[names, "value"].to_numpy()
    np.testing.assert_allclose(first, per_provider[0], rtol=1e-5, atol=1e-7)
    # a table without the trained feature columns is refused by name
    df[["size"]].to_csv(inputs, index=False)
    code, _, err = run(["attribute", str(inputs), "-e", str(folder)], capsys)
    assert code == 2 and "'ratio'" in err
    # the saved explainer is not replaced silently; with --overwrite the rerun resumes from
    # OUT/work and gives the same explainer
    code, _, err = run(argv, capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = run([*argv, "--overwrite"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(DataExplainer.load(folder).values(raw), ex.values(raw), atol=1e-6)


def test_explain_rejects_provider_grouping_without_providers(tmp_path: Path, capsys) -> None:
    data = tmp_path / "sales.csv"
    _provider_table(data, 20, 1).drop(columns="shop").to_csv(data, index=False)
    argv = ["explain", str(data), "-t", "label", "--variant", "gfds", "--grouping", "provider"]
    code, _, err = run([*argv, "-o", str(tmp_path / "e")], capsys)
    assert code == 2 and "--provider-column" in err
    code, _, err = run([*argv, "--n-train", "1", "-o", str(tmp_path / "e")], capsys)
    assert code == 2 and "--n-train" in err


def test_an_explainer_of_a_messy_table_takes_raw_rows(tmp_path: Path, capsys) -> None:
    # strings, '?' gaps, an id column: the training table's encoder travels with the explainer,
    # so attribute (a file) and serve (JSON objects) take raw rows, encoded as in training
    data = tmp_path / "shops.csv"
    rng = np.random.default_rng(3)
    n = 40
    y = np.arange(n) % 2
    df = pd.DataFrame(
        {
            "order_id": [f"o{i:03d}" for i in range(n)],
            "size": [
                ("?" if i % 7 == 3 else f"{1000 + 300 * y[i] + rng.normal(0, 50):.1f}")
                for i in range(n)
            ],
            "colour": np.where(y == 1, "red", "blue"),
            "label": np.where(y == 1, "yes", "no"),
            "shop": [f"s{i % 3}" for i in range(n)],
        }
    )
    df.to_csv(data, index=False)
    folder = tmp_path / "expl"
    argv = ["explain", str(data), "--target", "label", "--provider-column", "shop"]
    argv += ["--variant", "gfds+", "--learner", "logistic", "--n-train", "12"]
    argv += [
        "--n-subsets",
        "64",
        "--epochs",
        "3",
        "-o",
        str(folder),
        "--param",
        "utility_epochs=None",
    ]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    from assay.explain import DataExplainer

    ex = DataExplainer.load(folder)
    assert ex.encoder is not None and ex.encoder.feature_columns == ["size", "colour"]
    rows = df[["colour", "size"]].head(5)  # reordered, without the id / provider / label
    X = ex.encoder.transform(df.head(5))
    np.testing.assert_array_equal(ex.encode(rows), X)
    inputs = tmp_path / "new.csv"
    rows.to_csv(inputs, index=False)
    out = tmp_path / "pay.csv"
    code, _, err = run(["attribute", str(inputs), "-e", str(folder), "-o", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out)
    first = table[(table.prediction == 0) & table.payee.notna()].set_index("payee")["value"]
    by_id = pd.Series(ex.values(X[:1])[0], index=ex.ids)
    np.testing.assert_allclose(first, by_id.loc[first.index], rtol=1e-5, atol=1e-7)
    # serve: JSON objects with strings and null (a missing size)
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from assay.serve import create_app

    client = TestClient(create_app(folder))
    body = {"inputs": [{"size": None, "colour": "red"}, {"size": "1290.5", "colour": "blue"}]}
    reply = client.post("/attribute", json=body)
    assert reply.status_code == 200, reply.text
    raw = pd.DataFrame({"size": [np.nan, 1290.5], "colour": ["red", "blue"]})
    got = reply.json()["predictions"][0]
    assert got["label"] == ex.classes[ex.predict(ex.encode(raw))[0]]
    bad = client.post("/attribute", json={"inputs": [{"size": 3.0}]})
    assert bad.status_code == 422 and "colour" in bad.text
