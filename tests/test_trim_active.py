"""Trimming (Algorithm 3) and the active-learning loop (Algorithm 4) end to end on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners import LogisticRegression, MLPClassifier
from assay.select.acquisition import PoolState, make_acquisition
from assay.select.active import ActiveLearning
from assay.select.trim import RandomValues, check_budgets, trim, trimming_curves
from assay.valuation.local_influence import LocalInfluence
from tests.cli_support import run


def blobs(n: int, seed: int, d: int = 3, ids_from: int = 0, classes: int = 2) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = np.random.default_rng(5).normal(size=(classes, d))
    X = rng.normal(size=(n, d)) + centres[y]
    return Dataset.from_arrays(X, y, ids=np.arange(ids_from, ids_from + n), classes=range(classes))


def test_trimming_removes_the_highest_fi_and_scores_every_budget() -> None:
    train, valid, test = blobs(40, 0), blobs(30, 1), blobs(60, 2)
    res = trim(LogisticRegression(), train, valid, LocalInfluence(), [2, 5], test=test)
    fi = res.values.values
    np.testing.assert_array_equal(res.removed_ids, train.ids[np.argsort(-fi, kind="stable")[:5]])
    table = res.removed_table()
    # the highest FI (the most suspect) is removed first
    assert list(table["rank"]) == [1, 2, 3, 4, 5] and (np.diff(table["value"]) <= 0).all()
    c = res.curves
    assert set(c["split"]) == {"valid", "test"} and set(c["budget"]) == {0, 2, 5}
    assert set(c["method"]) == {"fi-util", "random"}
    # budget 0 is the model on all the data, for every method
    lr = LogisticRegression()
    full = lr.fit(lr.prepare(train), torch.ones(1, 40)).predict_proba(lr.prepare(test).X)[0]
    acc = float((full.argmax(1).numpy() == test.y).mean())
    assert np.allclose(c[(c.split == "test") & (c.budget == 0)]["score"], acc)
    # budget 5 is the model retrained without the removed points
    kept = train.subset(~np.isin(train.ids, res.removed_ids))
    part = lr.fit(lr.prepare(kept), torch.ones(1, 35)).predict_proba(lr.prepare(test).X)[0]
    ref = float((part.argmax(1).numpy() == test.y).mean())
    got = c[(c.split == "test") & (c.budget == 5) & (c.method == "fi-util")]["score"]
    assert float(got.iloc[0]) == pytest.approx(ref)


def test_random_trimming_baseline_and_budgets() -> None:
    train, test = blobs(30, 3), blobs(30, 4)
    curves = trimming_curves(
        "logistic", train, test, {"random": RandomValues().fit(_Game(train))}, [0, 3, 6]
    )
    rand = curves[curves.method == "random"]
    assert len(curves) == 3 and (rand[rand.budget == 0]["std"] < 1e-12).all()
    assert check_budgets(5, 10) == [5] and check_budgets([4, 1, 4], 10) == [1, 4]
    with pytest.raises(InvalidParameterError, match="budgets"):
        check_budgets([9], 10)


class _Game:
    def __init__(self, train: Dataset) -> None:
        self.train = train

    @property
    def n_players(self) -> int:
        return self.train.n


ACQUISITIONS = [
    "random",
    "entropy",
    "margin",
    "least-confidence",
    "bald",
    "fi",
    "iv",
    "knn-shapley",
]


@pytest.mark.parametrize("name", ACQUISITIONS)
def test_active_learning_loop_end_to_end(name: str) -> None:
    labelled, pool, test = blobs(8, 6), blobs(40, 7, ids_from=100), blobs(50, 8)
    al = ActiveLearning(LogisticRegression(), name, batch_size=5, rounds=3, seed=1)
    res = al.run(labelled, pool, test)
    assert list(res.curve["round"]) == [0, 1, 2, 3]
    assert list(res.curve["n_labelled"]) == [8, 13, 18, 23]
    assert res.curve["score"].between(0, 1).all()
    got = np.concatenate(res.acquired)
    assert len(set(got.tolist())) == 15 and set(got.tolist()) <= set(pool.ids.tolist())
    # the oracle revealed the pool's own labels
    lookup = dict(zip(pool.ids.tolist(), pool.y.tolist(), strict=True))
    tail = res.labelled.subset(np.arange(8, 23))
    assert [lookup[i] for i in tail.ids.tolist()] == tail.y.tolist()


def test_fi_acquisition_prefers_what_fi_active_ranks_highest() -> None:
    labelled, pool = blobs(20, 9), blobs(30, 10, ids_from=100)
    lr = LogisticRegression()
    fitted = lr.fit(lr.prepare(labelled), torch.ones(1, 20))
    rng = np.random.default_rng(0)
    state = PoolState(lr, fitted, labelled, np.asarray(pool.X), None, rng)
    fi = make_acquisition("fi")
    s = fi.scores(state)
    assert list(fi.select(state, 4)) == list(np.argsort(-s, kind="stable")[:4])
    approx = make_acquisition("fi", alpha=0.5).scores(state)
    assert approx.shape == (30,) and np.isfinite(approx).all()
    assert np.isfinite(make_acquisition("fi-approx", k=2).scores(state)).all()


def test_bald_uses_mc_dropout_for_networks() -> None:
    labelled, pool = blobs(20, 11), blobs(10, 12, ids_from=100)
    drop = MLPClassifier(hidden=(8,), dropout=0.3, epochs=10)
    fitted = drop.fit(drop.prepare(labelled), torch.ones(1, 20))
    state = PoolState(drop, fitted, labelled, np.asarray(pool.X), None, np.random.default_rng(0))
    s = make_acquisition("bald", samples=8).scores(state)
    assert s.shape == (10,) and (s >= -1e-12).all() and s.max() > 0
    plain = MLPClassifier(hidden=(8,), epochs=3)
    fitted = plain.fit(plain.prepare(labelled), torch.ones(1, 20))
    state = PoolState(plain, fitted, labelled, np.asarray(pool.X), None, np.random.default_rng(0))
    with pytest.raises(InvalidParameterError, match="dropout"):
        make_acquisition("bald").scores(state)


def test_active_learning_resumes_after_a_crash(tmp_path: Path) -> None:
    labelled, pool, test = blobs(8, 13), blobs(30, 14, ids_from=100), blobs(40, 15)
    ref = ActiveLearning("logistic", "random", batch_size=4, rounds=4, seed=3).run(
        labelled, pool, test
    )
    calls = {"n": 0}

    def flaky(ids: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed while the third batch was being labelled
        return pool.labels[ids - 100]

    al = ActiveLearning("logistic", "random", batch_size=4, rounds=4, seed=3, state_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        al.run(labelled, pool, test, oracle=flaky)
    res = al.run(labelled, pool, test, oracle=flaky)
    assert calls["n"] == 5  # two before the crash, the crashed one, two after
    np.testing.assert_array_equal(res.curve["score"], ref.curve["score"])
    for a, b in zip(res.acquired, ref.acquired, strict=True):
        np.testing.assert_array_equal(a, b)
    longer = ActiveLearning(
        "logistic", "random", batch_size=4, rounds=5, seed=3, state_dir=tmp_path
    )
    assert len(longer.run(labelled, pool, test).curve) == 6
    other = ActiveLearning("logistic", "entropy", batch_size=4, rounds=4, state_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="another run"):
        other.run(labelled, pool, test)


def test_active_learning_refuses_bad_setups() -> None:
    pool, test = blobs(10, 16, ids_from=100), blobs(20, 17)
    one = Dataset.from_arrays(np.ones((4, 3)), np.zeros(4, int), classes=[0, 1])
    with pytest.raises(InvalidDataError, match="single class"):
        ActiveLearning("logistic", "random", batch_size=2, rounds=1).run(one, pool, test)
    labelled = blobs(6, 18)
    with pytest.raises(InvalidDataError, match="fewer than the acquisition batch"):
        ActiveLearning("logistic", "random", batch_size=20, rounds=0).run(labelled, pool, test)
    with pytest.raises(InvalidParameterError, match="at most 2"):
        ActiveLearning("logistic", "random", batch_size=4, rounds=3).run(labelled, pool, test)
    with pytest.raises(InvalidDataError, match="distinct"):
        ActiveLearning("logistic", "random", batch_size=2, rounds=1).run(labelled, test, pool)
    with pytest.raises(InvalidParameterError, match="unknown acquisition"):
        make_acquisition("clairvoyance")


# --------------------------------------------------------------------------- command line


def _csv(path: Path, data: Dataset) -> Path:
    import pandas as pd

    df = pd.DataFrame(data.X, columns=["a", "b", "c"])
    df["label"] = np.where(data.y == 1, "yes", "no")
    df.to_csv(path, index=False)
    return path


def test_trim_command_writes_values_removed_summary_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import pandas as pd

    train = _csv(tmp_path / "train.csv", blobs(60, 20))
    valid = _csv(tmp_path / "valid.csv", blobs(30, 21))
    test = _csv(tmp_path / "test.csv", blobs(40, 22))
    out = tmp_path / "trim"
    argv = ["trim", str(train), "-t", "label", "--valid", str(valid), "--test", str(test)]
    code, stdout, err = run([*argv, "-m", "fi", "--remove", "3,6", "-o", str(out)], capsys)
    assert code == 0, err
    assert "fi-util: removed 6 of 60" in stdout
    removed = pd.read_csv(out / "removed.csv")
    assert list(removed["rank"]) == [1, 2, 3, 4, 5, 6]
    summary = json.loads((out / "trim.json").read_text())
    assert set(summary["scores"]) == {"valid", "test"}
    assert set(summary["scores"]["test"]["by_budget"]) == {"0", "3", "6"}
    html = (out / "report.html").read_text()
    assert "Trimming (test score)" in html and "fi-util" in html
    code, _, err = run([*argv, "-m", "iv", "--remove", "x", "-o", str(out)], capsys)
    assert code == 2 and "error: --remove takes whole numbers" in err
    code, stdout, _ = run(
        [*argv, "-m", "random", "--remove", "4", "-o", str(tmp_path / "r")], capsys
    )
    assert code == 0 and "random: removed 4" in stdout


def test_active_command_writes_curves_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    pool = _csv(tmp_path / "pool.csv", blobs(80, 23))
    out = tmp_path / "al"
    argv = ["active", str(pool), "-t", "label", "--initial", "10", "--batch", "5"]
    code, _, err = run([*argv, "--rounds", "2", "-a", "fi,random", "-o", str(out)], capsys)
    assert code == 0, err
    curves = json.loads((out / "curve.json").read_text())["acquisitions"]
    assert curves["fi"]["n_labelled"] == [10, 15, 20]
    assert (out / "curve.png").stat().st_size > 1000 and (out / "report.html").exists()
    # the same folder again is refused (nothing replaced) unless --overwrite
    code, _, err = run([*argv, "--rounds", "3", "-a", "random", "-o", str(out)], capsys)
    assert code == 2 and "curve.json" in err and "--overwrite" in err
    assert json.loads((out / "curve.json").read_text())["acquisitions"] == curves
    # rerun with one more round and --overwrite: continues from the saved state
    code, _, err = run(
        [*argv, "--rounds", "3", "-a", "random", "-o", str(out), "--overwrite"], capsys
    )
    assert code == 0, err
    again = json.loads((out / "curve.json").read_text())["acquisitions"]["random"]
    assert again["score"][:3] == curves["random"]["score"] and len(again["score"]) == 4
    code, _, err = run([*argv, "--rounds", "20", "-o", str(tmp_path / "x")], capsys)
    assert code == 2 and "error:" in err and "rounds" in err


def test_valuation_acquisitions_without_a_validation_set_keep_the_label_coding() -> None:
    base = blobs(40, 24, ids_from=0)
    named = Dataset.from_arrays(base.X, np.where(base.y == 1, "yes", "no"), ids=base.ids)
    labelled, pool = named.subset(np.arange(10)), named.subset(np.arange(10, 40))
    lr = LogisticRegression()
    fitted = lr.fit(lr.prepare(labelled), torch.ones(1, 10))
    state = PoolState(lr, fitted, labelled, np.asarray(pool.X), None, np.random.default_rng(0))
    assert list(state.reference().classes) == ["no", "yes"]
    assert make_acquisition("iv").scores(state).shape == (30,)
