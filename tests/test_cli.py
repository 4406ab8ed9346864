"""The command line: an end-to-end run, and one clear line for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data import Dataset
from assay.errors import InvalidDataError
from assay.result import ValuationResult
from tests.cli_support import run


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=120) > 0, "yes", "no")
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": y}).to_csv(path, index=False)
    return path


def test_value_evaluate_report_round_trip(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    for method, budget in (("knn-shapley", None), ("data-oob", "50"), ("tmc-shapley", "4")):
        argv = [
            "value",
            "breast_cancer",
            "--flip-rate",
            "0.1",
            "--method",
            method,
            "--out",
            str(out / f"{method}.parquet"),
        ]
        code, stdout, err = run(argv + (["--budget", budget] if budget else []), capsys)
        assert code == 0, err
        assert f"{method}: 455 values" in stdout  # cross-fitted: every non-test row
    df = pd.read_parquet(out / "data-oob.parquet")
    assert list(df.columns) == ["id", "value", "stderr", "count"]
    assert len(pd.read_csv(out / "data-oob.flipped.csv")) == 46
    meta = json.loads((out / "tmc-shapley.json").read_text())
    assert meta["params"]["samples"] == 4 and meta["params"]["task"]["flip_rate"] == 0.1
    code, _, err = run(
        ["evaluate", *(str(p) for p in sorted(out.glob("*.parquet"))), "--out", str(out)], capsys
    )
    assert code == 0, err
    evaluation = json.loads((out / "evaluation.json").read_text())
    methods = {row["method"] for row in evaluation["detection"]}
    assert methods == {"knn-shapley", "data-oob", "tmc-shapley"}
    code, _, err = run(["report", str(out), "--out", str(tmp_path / "r.html")], capsys)
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in html and "knn-shapley" in html


def test_value_on_a_csv_with_an_sklearn_learner(table: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "v.parquet"
    code, _, err = run(
        [
            "value",
            str(table),
            "--target",
            "label",
            "--method",
            "loo",
            "--learner",
            "sklearn:sklearn.neighbors.KNeighborsClassifier",
            "--learner-param",
            "n_neighbors=3",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    result = ValuationResult.load(out)
    assert len(result) == 120 and result.params["learner"].startswith("sklearn:")


def test_flip_writes_noisy_table_and_ids(table: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "noisy.csv"
    code, _, err = run(
        ["flip", str(table), "--target", "label", "--rate", "0.25", "--out", str(out)], capsys
    )
    assert code == 0, err
    noisy, clean = pd.read_csv(out), pd.read_csv(table)
    ids = pd.read_csv(tmp_path / "noisy.flipped.csv")["id"].to_numpy()
    assert len(ids) == 30
    assert (noisy["label"] != clean["label"]).sum() == 30
    assert set(np.flatnonzero(noisy["label"] != clean["label"])) == set(ids)


def _write(tmp_path: Path, df: pd.DataFrame, name: str = "bad.csv") -> str:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return str(path)


def bad_inputs(tmp_path: Path, table: Path) -> list[tuple[list[str], str]]:
    good = pd.read_csv(table)
    nan = good.copy()
    nan.loc[3, "b"] = np.nan
    inf = good.copy()
    inf.loc[5, "a"] = np.inf
    text = good.assign(city="Paris")
    one = good.assign(label="yes")
    valid_new = good.copy()
    valid_new.loc[:4, "label"] = "maybe"
    base = ["--method", "loo", "--out", str(tmp_path / "o.parquet")]
    return [
        (["value", str(tmp_path / "missing.csv"), "--target", "label", *base], "file not found"),
        (["value", str(table), "--target", "nope", *base], "target column 'nope' not found"),
        (
            [
                "value",
                str(table),
                "--target",
                "label",
                "--valid",
                _write(tmp_path, nan.drop(columns="b"), "nb.csv"),
                *base,
            ],
            "missing columns ['b']",
        ),
        (["value", _write(tmp_path, inf, "inf.csv"), "--target", "label", *base], "inf values"),
        (
            [
                "value",
                str(table),
                "--target",
                "label",
                "--valid",
                _write(tmp_path, text, "t.csv"),
                *base,
            ],
            "training table does not have ['city']",
        ),
        (["value", _write(tmp_path, one, "o.csv"), "--target", "label", *base], "single class"),
        (
            [
                "value",
                str(table),
                "--target",
                "label",
                "--valid",
                _write(tmp_path, valid_new, "v.csv"),
                *base,
            ],
            "never has: ['maybe']",
        ),
        (
            [
                "value",
                str(table),
                "--target",
                "label",
                "--method",
                "banzhaf",
                "--budget",
                "0",
                "--out",
                str(tmp_path / "o.parquet"),
            ],
            "budget must be > 0",
        ),
        (
            [
                "value",
                str(table),
                "--target",
                "label",
                "--method",
                "shapely",
                "--out",
                str(tmp_path / "o.parquet"),
            ],
            "unknown method 'shapely'; valid methods:",
        ),
        (
            [
                "value",
                str(table),
                "--target",
                "label",
                "--method",
                "loo",
                "--learner",
                "forest",
                "--out",
                str(tmp_path / "o.parquet"),
            ],
            "unknown learner 'forest'; valid learners:",
        ),
        (
            ["value", str(table), "--method", "loo", "--out", str(tmp_path / "o.parquet")],
            "--target is required",
        ),
        (["report", str(tmp_path / "nowhere")], "results directory not found"),
    ]


def test_every_bad_input_is_one_clear_line(tmp_path: Path, table: Path, capsys) -> None:
    for argv, message in bad_inputs(tmp_path, table):
        code, _, err = run(argv, capsys)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and message in err, (message, err)
        assert "Traceback" not in err and err.count("\n") == 1, err


def test_shape_mismatch_and_empty_data_are_named() -> None:
    with pytest.raises(InvalidDataError, match="X has 3 rows but y has 2 labels"):
        Dataset.from_arrays(np.zeros((3, 2)), [0, 1])
    with pytest.raises(InvalidDataError, match="empty"):
        Dataset.from_arrays(np.zeros((0, 2)), [])
    with pytest.raises(InvalidDataError, match="2-D"):
        Dataset.from_arrays(np.zeros(3), [0, 1, 0])


def test_demo_writes_a_report(tmp_path: Path, capsys) -> None:
    code, stdout, err = run(["demo", "--out", str(tmp_path / "demo")], capsys)
    assert code == 0, err
    html = (tmp_path / "demo" / "report.html").read_text()
    for method in ("knn-shapley", "data-oob", "loo", "tmc-shapley", "banzhaf"):
        assert method in html
    assert "Noisy-label detection" in html and "report:" in stdout


def test_out_keeps_its_own_suffix(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run.v1"
    code, _, err = run(["value", "wine", "-m", "knn-shapley", "-o", str(out)], capsys)
    assert code == 0, err
    assert (tmp_path / "run.v1.parquet").exists() and (tmp_path / "run.v1.json").exists()
    assert not (tmp_path / "run.parquet").exists()
