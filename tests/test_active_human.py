"""Active learning with a person in the loop: query/teach and ``assay active --labels`` rounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data import Dataset
from assay.errors import InvalidDataError
from assay.learners import LogisticRegression
from assay.select.active import ActiveLearning
from assay.select.human import ActiveLearner
from assay.select.label_rounds import read_pool
from tests.cli_support import run


def blobs(n: int, seed: int, ids_from: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 3)) + np.where(y == 0, 1.0, -1.0)[:, None]
    return Dataset.from_arrays(X, y, ids=np.arange(ids_from, ids_from + n), classes=range(2))


@pytest.mark.parametrize("acq", ["entropy", "random", "bald"])
def test_query_teach_equals_the_simulated_loop(acq: str) -> None:
    labelled, pool, test = blobs(8, 0), blobs(40, 1, ids_from=100), blobs(20, 2, ids_from=900)
    sim = ActiveLearning(LogisticRegression(), acq, batch_size=4, rounds=3, seed=7)
    ref = sim.run(labelled, pool, test)
    truth = dict(zip(pool.ids.tolist(), pool.labels.tolist(), strict=True))
    al = ActiveLearner(LogisticRegression(), acq, labelled, pool.X, pool.ids, seed=7)
    for r in range(3):
        batch = al.query(4)
        np.testing.assert_array_equal(batch["id"].to_numpy(), ref.acquired[r])
        assert list(batch["rank"]) == [1, 2, 3, 4] and (np.diff(batch["score"]) <= 0).all()
        assert batch["reason"].str.contains(f"by {acq}").all()
        al.teach(batch["id"], [truth[i] for i in batch["id"]])
    np.testing.assert_array_equal(al.labelled.ids, ref.labelled.ids)
    np.testing.assert_array_equal(al.labelled.y, ref.labelled.y)
    assert len(al.remaining_ids) == 40 - 12
    # state() / restore() replays the rounds
    again = ActiveLearner(LogisticRegression(), acq, labelled, pool.X, pool.ids, seed=7)
    again.restore(al.state())
    np.testing.assert_array_equal(again.labelled.ids, al.labelled.ids)
    assert again.round == 3


def test_teach_refuses_bad_labels() -> None:
    labelled, pool = blobs(8, 0), blobs(10, 1, ids_from=100)
    al = ActiveLearner("logistic", "entropy", labelled, pool.X, pool.ids)
    with pytest.raises(InvalidDataError, match=r"not rows of the pool: \[55\]"):
        al.teach([100, 55], [0, 1])
    with pytest.raises(InvalidDataError, match=r"never has: \[7\].*training classes: \[0, 1\]"):
        al.teach([100, 101], [0, 7])
    with pytest.raises(InvalidDataError, match="0 rows"):
        al.teach([], [])
    with pytest.raises(InvalidDataError, match=r"labelled already: \[3\]"):
        al.teach([3], [0])
    with pytest.raises(InvalidDataError, match=r"ids labelled twice: \[100\]"):
        al.teach([100, 100], [0, 0])
    al.teach(["101", 102.0], ["1", 0])  # numbers read as text are numbers
    assert al.labelled.n == 10 and al.round == 1


def _pool_file(tmp_path: Path, n: int = 40, known: int = 8) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(0)
    kind = np.where(np.arange(n) % 2 == 0, "cat", "dog")
    X = rng.normal(size=(n, 2)) + np.where(kind == "cat", 1.5, -1.5)[:, None]
    df = pd.DataFrame({"name": [f"r{i}" for i in range(n)], "w": X[:, 0], "h": X[:, 1]})
    df["kind"] = kind
    truth = dict(zip(df["name"], df["kind"], strict=True))
    df.loc[known:, "kind"] = None
    path = tmp_path / "pool.csv"
    df.to_csv(path, index=False)
    return path, truth


def test_two_human_rounds_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pool, truth = _pool_file(tmp_path)
    out = tmp_path / "out"
    base = ["active", str(pool), "-t", "kind", "--id-column", "name", "--batch", "5"]
    base += ["-a", "entropy", "--out", str(out)]
    code, text, err = run(base, capsys)
    assert code == 0, err
    assert "round 0: 8 labelled, 32 unlabelled" in text
    first = pd.read_csv(out / "to_label.csv")
    assert list(first.columns[:4]) == ["name", "kind", "w", "h"]
    assert {"acquisition_score", "predicted", "confidence", "reason"} <= set(first.columns)
    assert first["kind"].isna().all() and len(first) == 5
    src = pd.read_csv(pool).set_index("name")
    np.testing.assert_allclose(first["w"], src.loc[first["name"], "w"])
    # the person fills in the same file
    first["kind"] = [truth[i] for i in first["name"]]
    first.to_csv(out / "to_label.csv", index=False)
    code, text, err = run([*base, "--labels", str(out / "to_label.csv")], capsys)
    assert code == 0, err
    assert "round 1: taught 5 label(s); 13 labelled, 27 unlabelled" in text
    second = pd.read_csv(out / "to_label.csv")
    assert not set(second["name"]) & set(first["name"])
    # ... or any CSV with id + label, here with only two of the five rows filled in
    answers = pd.DataFrame({"name": second["name"], "kind": [truth[i] for i in second["name"]]})
    answers.loc[2:, "kind"] = None
    answers.to_csv(tmp_path / "mine.csv", index=False)
    code, text, err = run([*base, "--labels", str(tmp_path / "mine.csv")], capsys)
    assert code == 0, err
    assert "round 2: taught 2 label(s); 15 labelled, 25 unlabelled" in text
    done = pd.read_csv(out / "labelled.csv")
    assert len(done) == 15
    assert all(truth[i] == k for i, k in zip(done["name"], done["kind"], strict=True))
    # the same labels through query/teach give the same batches
    table = read_pool(pool, "kind", id_column="name")
    al = ActiveLearner("logistic", "entropy", table.labelled, table.pool_X, table.pool_ids)
    assert al.query(5)["id"].tolist() == first["name"].tolist()
    al.teach(first["name"], first["kind"])
    assert al.query(5)["id"].tolist() == second["name"].tolist()


def test_bad_label_files_give_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pool, _ = _pool_file(tmp_path)
    base = ["active", str(pool), "-t", "kind", "--id-column", "name", "--batch", "3"]
    base += ["--out", str(tmp_path / "out")]
    assert run(base, capsys)[0] == 0
    cases = {
        "unknown.csv": ("name,kind\nr3x,cat\n", "not rows of the pool: ['r3x']"),
        "classes.csv": ("name,kind\nr20,bird\n", "never has: ['bird']"),
        "empty.csv": ("name,kind\nr20,\nr21,\n", "no filled-in label in column 'kind'"),
        "columns.csv": ("id,label\nr20,cat\n", "id column 'name' not found"),
    }
    for name, (body, message) in cases.items():
        (tmp_path / name).write_text(body)
        code, _, err = run([*base, "--labels", str(tmp_path / name)], capsys)
        assert code != 0 and message in " ".join(err.split()), (name, err)
    # a failed round leaves the state as it was
    code, text, _ = run(base, capsys)
    assert code == 0 and "round 0: 8 labelled" in text


def test_drop_and_categorical_reach_both_active_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pool, truth = _pool_file(tmp_path)
    df = pd.read_csv(pool)
    df["code"] = np.arange(len(df)) % 3  # integers, one-hot only when asked
    df["noise"] = np.random.default_rng(1).normal(size=len(df))
    df.to_csv(pool, index=False)
    table = read_pool(pool, "kind", id_column="name", drop=["noise"], categorical=["code"])
    assert list(table.labelled.feature_names) == ["w", "h", "code=0", "code=1", "code=2"]
    out = tmp_path / "out"
    base = ["active", str(pool), "-t", "kind", "--id-column", "name", "--batch", "4"]
    base += ["-a", "entropy", "--out", str(out), "--drop", "noise", "--categorical", "code"]
    code, text, err = run(base, capsys)
    assert code == 0, err
    assert "round 0: 8 labelled" in text
    # simulated mode: every row labelled, a test file with a string column encoded by the pool
    full = df.assign(kind=[truth[i] for i in df["name"]], colour=["red", "blue"] * 20)
    full.iloc[:30].to_csv(tmp_path / "train.csv", index=False)
    full.iloc[30:].assign(colour="red").to_csv(tmp_path / "test.csv", index=False)
    sim = ["active", str(tmp_path / "train.csv"), "-t", "kind", "--id-column", "name"]
    sim += ["--test", str(tmp_path / "test.csv"), "--initial", "6", "--batch", "3"]
    sim += ["--rounds", "2", "-a", "random", "--out", str(tmp_path / "sim"), "--drop", "noise"]
    code, text, err = run(sim, capsys)
    assert code == 0, err
    assert (tmp_path / "sim" / "curve.json").exists()
