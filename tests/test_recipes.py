"""Library recipes the command line calls: value_task, load_pool, read_inputs, selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data.task import TaskSpec, build_task
from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import ValuationResult
from assay.valuation.run import describe_result, resolve_backend, value_task
from tests.cli_support import run


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "yes", "no")
    path = tmp_path / "data.csv"
    pd.DataFrame(
        {"key": np.arange(500, 560), "a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": y}
    ).to_csv(path, index=False)
    return path


def test_value_task_writes_the_same_values_and_sidecar_as_the_cli(
    table: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    # the command line's default: cross-fitted in 5 folds, no validation fraction
    spec = TaskSpec(str(table), "label", valid_fraction=0.0, seed=3, id_column="key", folds=5)
    got = value_task(spec, "loo", learner="logistic", learner_params={"C": 0.5})
    code, _, err = run(
        [
            "value",
            str(table),
            "-t",
            "label",
            "--id-column",
            "key",
            "--seed",
            "3",
            "-m",
            "loo",
            "--learner-param",
            "C=0.5",
            "-o",
            str(tmp_path / "v.parquet"),
        ],
        capsys,
    )
    assert code == 0, err
    cli = ValuationResult.load(tmp_path / "v.parquet")
    np.testing.assert_array_equal(got.result.ids, cli.ids)
    np.testing.assert_allclose(got.result.values, cli.values, rtol=0, atol=1e-12)
    drop = {"wall_seconds"}
    assert {k: v for k, v in got.result.params.items() if k not in drop} == {
        k: v for k, v in cli.params.items() if k not in drop
    }
    p = got.result.params
    assert p["learner"] == "logistic" and p["learner_params"]["C"] == 0.5
    assert p["scorer"] == "accuracy" and p["backend"] == "sequential" and p["jobs"] == 1
    assert TaskSpec.from_dict(p["task"]) == spec
    assert got.backend == "sequential" and got.task.train.n == len(got.result)


def test_describe_result_keeps_values_and_direction() -> None:
    from assay.data import load_dataset
    from assay.utility import Utility

    train, valid, _ = load_dataset("breast_cancer")
    base = ValuationResult.exact(np.arange(3), np.array([0.1, 0.3, 0.2]), "loss")
    base = ValuationResult(
        base.ids, base.values, base.stderr, base.counts, "loss", {"k": 1}, "higher-is-suspect"
    )
    out = describe_result(base, Utility("logistic", train, valid), seconds=1.23456, learner="x")
    assert out.direction == "higher-is-suspect"
    np.testing.assert_array_equal(out.values, base.values)
    assert out.params["k"] == 1 and out.params["wall_seconds"] == 1.2346
    assert "task" not in out.params


@pytest.mark.parametrize(
    ("backend", "jobs", "want"), [("auto", 1, "sequential"), ("auto", 3, "loky"), ("ray", 2, "ray")]
)
def test_resolve_backend(backend: str, jobs: int, want: str) -> None:
    assert resolve_backend(backend, jobs) == want


@pytest.mark.parametrize("jobs", [0, -1, 1.5])
def test_resolve_backend_refuses_bad_jobs(jobs: object) -> None:
    with pytest.raises(InvalidParameterError, match="jobs must be a whole number >= 1"):
        resolve_backend("auto", jobs)  # type: ignore[arg-type]


def test_load_pool_standardises_by_the_pool(table: Path) -> None:
    from assay.data.pool import load_pool

    pool, test, valid = load_pool(str(table), "label", None, 0.25, None, 0)
    assert valid is None and pool.n + test.n == 60 and test.n == 15
    np.testing.assert_allclose(pool.X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(pool.X.std(0), 1, atol=1e-12)
    with pytest.raises(InvalidParameterError, match="--test-fraction must lie in"):
        load_pool(str(table), "label", None, 1.5, None, 0)
    with pytest.raises(InvalidDataError, match="file not found"):
        load_pool(str(table) + ".nope", "label", None, 0.2, None, 0)


def test_read_inputs_matches_features_by_name(tmp_path: Path) -> None:
    from assay.explain.inputs import read_inputs

    path = tmp_path / "in.csv"
    pd.DataFrame({"b": [1.0, 2.0], "pid": ["p", "q"], "a": [3.0, 4.0], "y": [0, 1]}).to_csv(
        path, index=False
    )
    X, labels, ids = read_inputs(path, "y", "pid", ["a", "b"])
    np.testing.assert_array_equal(X, [[3.0, 1.0], [4.0, 2.0]])
    assert labels.tolist() == [0, 1] and ids.tolist() == ["p", "q"]
    with pytest.raises(InvalidDataError, match="lacks 1 feature columns"):
        read_inputs(path, None, None, ["a", "zz"])
    with pytest.raises(InvalidDataError, match="non-numeric feature columns"):
        read_inputs(path, "y", None)


def test_selection_recipes_align_embeddings_by_id(table: Path, tmp_path: Path) -> None:
    from assay.learners import make_learner
    from assay.select.recipes import SelectionTask, load_selection_data, subset_by_method

    E = np.random.default_rng(1).normal(size=(60, 4)).astype(np.float32)
    np.save(tmp_path / "emb.npy", E)
    train, valid, emb = load_selection_data(
        str(table), "label", None, 0.2, 0, "key", tmp_path / "emb.npy", None, None
    )
    np.testing.assert_array_equal(emb, E[train.ids - 500])
    task = SelectionTask(train, valid, emb, make_learner("logistic"), seed=0)
    uni = subset_by_method(task, "uniform", 10)
    assert len(uni) == 10 and len(set(uni.ids.tolist())) == 10
    sens = subset_by_method(task, "sensitivity", 20, clusters=4)
    assert len(sens) <= 20 and set(sens.ids.tolist()) <= set(train.ids.tolist())
    assert sens.params["clusters"] == 4 and sens.params["warm_start"] == 4
    with pytest.raises(InvalidParameterError, match="smaller than"):
        subset_by_method(task, "sensitivity", 10, clusters=20)
    assert build_task(TaskSpec(str(table), "label", id_column="key")).train.n == train.n


def test_selection_task_takes_drop_and_categorical(tmp_path) -> None:
    import pandas as pd

    from assay.select.recipes import selection_task

    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    pd.DataFrame(
        {"a": rng.normal(size=40), "b": rng.normal(size=40), "c": np.arange(40) % 3,
         "y": np.arange(40) % 2}
    ).to_csv(path, index=False)  # fmt: skip
    task = selection_task(str(path), "y", drop=["b"], categorical=["c"])
    assert list(task.train.feature_names) == ["a", "c=0", "c=1", "c=2"]
