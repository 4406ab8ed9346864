"""Results know their data: absolute paths, file hashes, a content fingerprint, the learner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data.provenance import check_provenance, provenance, task_fingerprint
from assay.data.task import TaskSpec, build_task
from assay.errors import StaleDataError
from assay.evaluate.saved import learner_of
from assay.result import ValuationResult
from tests.cli_support import run


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=80) > 0, "yes", "no")
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": y}).to_csv(path, index=False)
    return path


def _value(table: Path, out: Path, capsys, *extra: str) -> Path:
    argv = ["value", str(table), "--target", "label", "-m", "knn-shapley", "-o", str(out), *extra]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    return out


def test_sidecar_records_absolute_paths_hashes_fingerprint_and_learner(
    table: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(table.parent)
    out = _value(
        Path(table.name), tmp_path / "v.parquet", capsys,
        "--learner", "sklearn:sklearn.linear_model.LogisticRegression", "--learner-param", "C=0.25",
    )  # fmt: skip
    params = json.loads(out.with_suffix(".json").read_text())["params"]
    assert params["task"]["source"] == str(table.resolve())
    assert list(params["data"]["files"]) == [str(table.resolve())]
    task = build_task(TaskSpec.from_dict(params["task"]))
    assert params["data"]["fingerprint"] == task_fingerprint(task)
    assert params["learner_args"] == {"C": 0.25}
    model = learner_of(ValuationResult.load(out))
    assert model.estimator.get_params()["C"] == 0.25  # evaluate retrains exactly this learner


def test_evaluate_refuses_a_changed_file(table: Path, tmp_path: Path, capsys) -> None:
    out = _value(table, tmp_path / "v.parquet", capsys)
    df = pd.read_csv(table)
    df.loc[0, "label"] = "no" if df.loc[0, "label"] == "yes" else "yes"
    df.to_csv(table, index=False)
    code, _, err = run(["evaluate", str(out), "--out", str(tmp_path / "ev")], capsys)
    assert code == 2 and "changed since" in err and str(table) in err
    assert not (tmp_path / "ev" / "evaluation.json").exists()


def test_evaluate_refuses_other_data_given_by_hand(table: Path, tmp_path: Path, capsys) -> None:
    out = _value(table, tmp_path / "v.parquet", capsys)
    other = tmp_path / "other.csv"
    pd.read_csv(table).iloc[::-1].to_csv(other, index=False)  # same rows, other order
    code, _, err = run(
        ["evaluate", str(out), "--data", str(other), "-o", str(tmp_path / "e")], capsys
    )
    assert code == 2 and "not the data it was computed on" in err
    moved = tmp_path / "moved.csv"
    moved.write_bytes(table.read_bytes())  # the same file elsewhere is fine
    code, _, err = run(
        ["evaluate", str(out), "--data", str(moved), "-o", str(tmp_path / "e")], capsys
    )
    assert code == 0, err


def test_results_on_different_data_are_not_mixed(table: Path, tmp_path: Path, capsys) -> None:
    held_out = ("--valid-fraction", "0.2")
    a = _value(table, tmp_path / "a.parquet", capsys, "--seed", "1", *held_out)
    b = _value(table, tmp_path / "b.parquet", capsys, "--seed", "2", *held_out)  # another split
    code, _, err = run(["evaluate", str(a), str(b), "--out", str(tmp_path / "ev")], capsys)
    assert code == 2 and "different data" in err


def test_check_provenance_passes_the_same_task_and_old_results() -> None:
    task = build_task(TaskSpec("wine", seed=0))
    check_provenance(provenance(task), task, what="x")
    check_provenance(None, task, what="x")  # written before provenance existed
    other = build_task(TaskSpec("wine", seed=1))
    with pytest.raises(StaleDataError, match="fingerprint"):
        check_provenance(provenance(task), other, what="x")


def test_sidecar_carries_the_table_encoder(tmp_path: Path, capsys) -> None:
    # a messy table: the encoder fitted on the valued rows is saved, and encodes new rows
    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame(
        {
            "size": [("?" if i % 9 == 0 else f"{v:.2f}") for i, v in enumerate(rng.normal(size=n))],
            "colour": rng.choice(["red", "blue", "green"], n),
            "label": rng.choice(["yes", "no"], n),
        }
    )
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    out = _value(path, tmp_path / "m.parquet", capsys)
    from assay.data.provenance import encoder_of

    result = ValuationResult.load(out)
    encoder = encoder_of(result.params)
    task = build_task(TaskSpec.from_dict(result.params["task"]))
    assert encoder is not None and encoder.to_dict() == task.encoder.to_dict()
    X = encoder.transform(frame)
    assert X.shape == (n, task.train.n_features)
    np.testing.assert_array_equal(X[:, encoder.feature_names.index("size__missing")][::9], 1.0)
    assert encoder_of({}) is None


def test_drop_and_categorical_override_the_guesses(table: Path, tmp_path: Path, capsys) -> None:
    out = _value(table, tmp_path / "d.parquet", capsys, "--drop", "b", "--categorical", "c")
    params = ValuationResult.load(out).params
    assert params["task"]["drop"] == ["b"] and params["task"]["categorical"] == ["c"]
    from assay.data.provenance import encoder_of

    kinds = {p.name: p.kind for p in encoder_of(params).columns}
    assert kinds == {"a": "numeric", "b": "dropped", "c": "categorical", "label": "target"}
    code, _, err = run(
        [
            "value",
            str(table),
            "-t",
            "label",
            "-m",
            "knn-shapley",
            "--drop",
            "nope",
            "-o",
            str(tmp_path / "x"),
        ],
        capsys,
    )
    assert code == 2 and "'nope'" in err and not (tmp_path / "x.parquet").exists()
