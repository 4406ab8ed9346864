"""Issue 10 point 1 leftovers: the recipes the commands call are library functions.

``assay trim`` -> :func:`assay.evaluate.trimming.trim_task`, ``assay active`` (simulated) ->
:func:`assay.evaluate.learning.active_task`, ``assay select --compare`` ->
:mod:`assay.evaluate.selection`, ``assay flip`` -> :func:`assay.data.noise.flip_file`, sensitivity
selection's warm start and oracle -> :func:`assay.select.recipes.oracle_warm_start` /
:func:`~assay.select.recipes.sensitivity_sample` (also used by ``benchmarks/ss_*.py``), and every
command module holds parsing and printing only.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data import Dataset
from assay.data.task import TaskSpec
from assay.errors import InvalidParameterError, OutputExistsError, OutputPathError

ROOT = Path(__file__).resolve().parents[1]


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3)) + 1.5 * y[:, None]
    return X, y


def _csv(path: Path, n: int, seed: int) -> Path:
    X, y = _blobs(n, seed)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["label"] = np.where(y == 1, "yes", "no")
    df.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------- trim
def test_trim_method_names() -> None:
    from assay.evaluate.trimming import trim_method

    assert trim_method("fi").name == "fi-util"
    assert trim_method("random", seed=3).seed == 3
    assert trim_method("tmc-shapley", seed=5, params={"stop": 4}).seed == 5
    with pytest.raises(InvalidParameterError, match="unknown"):
        trim_method("nope")


def test_trim_task_writes_its_folder_once(tmp_path: Path) -> None:
    from assay.evaluate.trimming import TRIM_FILES, trim_task

    data = _csv(tmp_path / "d.csv", 60, 0)
    spec = TaskSpec(str(data), "label", valid_fraction=0.3, seed=1)
    out = tmp_path / "trim"
    run = trim_task(spec, "fi", [2, 4], out)
    assert sorted(p.name for p in out.iterdir()) == sorted(TRIM_FILES)
    summary = json.loads((out / "trim.json").read_text())
    assert summary == json.loads(json.dumps(run.summary))
    curve = run.result.curves
    own = curve[(curve["method"] == "fi-util") & (curve["split"] == "valid")]
    assert summary["scores"]["valid"]["after"] == float(own.sort_values("budget")["score"].iloc[-1])
    assert len(pd.read_csv(out / "removed.csv")) == 4
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OutputExistsError, match="overwrite"):
        trim_task(spec, "random", [2], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    trim_task(spec, "random", [2], out, overwrite=True)
    assert json.loads((out / "trim.json").read_text())["method"] == "random"


def test_trim_task_checks_its_folder_before_any_work(tmp_path: Path, monkeypatch) -> None:
    import assay.evaluate.trimming as trimming

    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(trimming, "build_task", lambda *a, **k: pytest.fail("built the task"))
    with pytest.raises(OutputPathError):
        trimming.trim_task(TaskSpec("breast_cancer"), "fi", [2], tmp_path / "afile")


# --------------------------------------------------------------------- active
def test_active_task_runs_resumes_and_refuses_to_replace(tmp_path: Path) -> None:
    from assay.evaluate.learning import ACTIVE_FILES, active_task

    pool = _csv(tmp_path / "pool.csv", 60, 2)
    out = tmp_path / "al"
    kw = {"initial": 8, "batch": 4, "seed": 0}
    run = active_task(str(pool), "label", ["random"], out, rounds=2, **kw)
    assert run.curves["random"]["n_labelled"].tolist() == [8, 12, 16]
    assert run.best == "random"
    assert all((out / f).exists() for f in ACTIVE_FILES)
    with pytest.raises(OutputExistsError):
        active_task(str(pool), "label", ["random"], out, rounds=3, **kw)
    more = active_task(str(pool), "label", ["random"], out, rounds=3, overwrite=True, **kw)
    np.testing.assert_array_equal(
        more.curves["random"]["score"].to_numpy()[:3], run.curves["random"]["score"].to_numpy()
    )
    with pytest.raises(InvalidParameterError, match="at least one"):
        active_task(str(pool), "label", [], tmp_path / "x", rounds=1, **kw)


# --------------------------------------------------------------------- select
def test_sensitivity_recipe_is_what_subset_by_method_uses() -> None:
    from assay.learners import LogisticRegression
    from assay.select.recipes import (
        SelectionTask,
        oracle_warm_start,
        sensitivity_sample,
        subset_by_method,
    )

    X, y = _blobs(200, 4)
    train = Dataset.from_arrays(X, y)
    lr = LogisticRegression()
    task = SelectionTask(train, train, X, lr, seed=3)
    sub = subset_by_method(task, "sensitivity", 40, clusters=8)
    warm = oracle_warm_start(lr, train, 8, seed=3)  # 20% of the budget
    assert len(warm.positions) == 8 and set(warm.positions) <= set(sub.positions.tolist())
    smp = sensitivity_sample(warm, X, 40, clusters=8, seed=3)
    np.testing.assert_array_equal(smp.positions, sub.positions)
    np.testing.assert_allclose(smp.weights, sub.weights)
    assert sub.params["warm_start"] == 8 and sub.params["clusters"] == 8


def test_benchmarks_call_the_library_recipe() -> None:
    for name in ("ss_text.py", "ss_training.py"):
        text = (ROOT / "benchmarks" / name).read_text()
        assert "oracle_warm_start(" in text and "sensitivity_sample(" in text, name
        assert "loss_oracle(" not in text and not re.search(r"(?<!oracle_)warm_start\(", text)


def test_compare_subsets_and_report(tmp_path: Path) -> None:
    from assay.evaluate.selection import compare_subsets, write_selection_report
    from assay.learners import LogisticRegression
    from assay.select.budget import uniform_subset

    X, y = _blobs(80, 5)
    train = Dataset.from_arrays(X[:60], y[:60])
    valid = Dataset.from_arrays(X[60:], y[60:], ids=np.arange(60, 80))
    subsets = {"uniform": uniform_subset(60, 20, seed=0)}
    table = compare_subsets(LogisticRegression(), train, valid, subsets, {"uniform": 0.5})
    assert set(table["method"]) == {"uniform", "full data"}
    assert table.loc[table["method"] == "uniform", "seconds"].item() == 0.5
    path = write_selection_report(
        tmp_path / "r.html", table, method="uniform", budget=20, n=60, learner="logistic"
    )
    assert "Data selection: 20 of 60 points" in path.read_text()
    with pytest.raises(OutputExistsError):
        write_selection_report(path, table, method="u", budget=20, n=60, learner="logistic")


# --------------------------------------------------------------------- small recipes
def test_flip_file(tmp_path: Path) -> None:
    from assay.data.noise import flip_file

    data = _csv(tmp_path / "d.csv", 50, 6)
    path, ids_path, flipped, n = flip_file(str(data), "label", 0.2, tmp_path / "noisy.csv")
    assert (flipped, n, ids_path.name) == (10, 50, "noisy.flipped.csv")
    noisy = pd.read_csv(path)
    clean = pd.read_csv(data)
    changed = np.flatnonzero(noisy["label"].to_numpy() != clean["label"].to_numpy())
    np.testing.assert_array_equal(np.sort(pd.read_csv(ids_path)["id"]), changed)
    with pytest.raises(OutputExistsError):
        flip_file(str(data), "label", 0.2, tmp_path / "noisy.csv")


def test_payout_path() -> None:
    from assay.payouts import payout_path

    assert payout_path("q.csv").name == "q.payouts.parquet"
    assert payout_path("q.csv", "p.csv").name == "p.csv"
    assert payout_path("q.csv", "run.v1").name == "run.v1.parquet"
    with pytest.raises(OutputPathError):
        payout_path("q.csv", "")


def test_value_outputs() -> None:
    from assay.valuation.run import value_outputs

    assert [p.name for p in value_outputs("run.v1", flips=True)] == [
        "run.v1.parquet",
        "run.v1.json",
        "run.v1.flipped.csv",
    ]
    assert [p.name for p in value_outputs("v.parquet", flips=False)] == ["v.parquet", "v.json"]


def test_copy_names_and_labels_keep_every_result(tmp_path: Path) -> None:
    from assay.evaluate.results_dir import label_by_method
    from assay.evaluate.saved import copy_names
    from assay.result import ValuationResult

    paths = [tmp_path / "a" / "loo.parquet", tmp_path / "b" / "loo.parquet", tmp_path / "knn.p"]
    names = copy_names(paths, tmp_path / "out")
    assert [p.name for p in names.values()] == ["loo.parquet", "b-loo.parquet", "knn.p"]
    r = ValuationResult.exact([0], [1.0], "loo")
    labels = label_by_method([(paths[0], r), (paths[1], r), (tmp_path / "c" / "x.parquet", r)])
    assert list(labels) == ["loo (a/loo)", "loo (b/loo)", "loo (x)"]


# --------------------------------------------------------------------- thin commands
RECIPE_CALLS = {"build_task", "make_learner", "make_method", "make_acquisition", "to_parquet"}


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "src/assay/cli").glob("*.py")))
def test_command_modules_hold_no_recipe(module: str) -> None:
    """A command module builds no task, learner or method itself (the library's recipes do)."""
    tree = ast.parse((ROOT / "src/assay/cli" / module).read_text())
    called = {
        n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }
    assert not called & RECIPE_CALLS
