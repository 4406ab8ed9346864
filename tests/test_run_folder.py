"""Issue 10 point 4 (one run folder) from the command line and the library entry points.

One test per sentence: every writer goes through :mod:`assay.runs` (atomic, umask), one hash,
one checkpoint format, no silent replace (``--overwrite``), ``--restart``, suffixes appended,
``evaluate`` keeps two results of the same method, TMC's prefix scores in ``--cache-dir``, and
bad output paths refused before any work.
"""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.result import ValuationResult
from tests.cli_support import run

SRC = Path(__file__).resolve().parents[1] / "src" / "assay"


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "yes", "no")
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": y}).to_csv(path, index=False)
    return path


def _value(table: Path, out: Path, *extra: str, method: str = "loo") -> list[str]:
    return ["value", str(table), "--target", "label", "--method", method, "-o", str(out), *extra]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --------------------------------------------------------------------- one module writes
WRITERS = {"to_parquet", "to_csv", "to_json", "write_text", "write_bytes", "savez", "replace"}
ALLOWED = {
    ("cli/__init__.py", "write_text"),  # the traceback log of an internal error, not an output
}


def _file_writes(path: Path) -> list[str]:
    """Calls that write a file by name: ``df.to_csv(path)``, ``p.write_text``, ``os.replace``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        if name not in WRITERS:
            continue
        if name in ("to_csv", "to_json") and not node.args:  # to a string, then written by runs
            continue
        if name == "savez" and node.args and getattr(node.args[0], "id", "") == "buf":
            continue  # into memory, then written by runs
        if name == "replace" and getattr(node.func.value, "id", "") != "os":
            continue  # str.replace / dataclasses.replace
        found.append(f"{name} at line {node.lineno}")
    return found


def test_every_writer_goes_through_runs() -> None:
    offenders = {}
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        if rel == "runs.py":
            continue
        calls = [c for c in _file_writes(path) if (rel, c.split()[0]) not in ALLOWED]
        if calls:
            offenders[rel] = calls
    assert offenders == {}


def test_one_hash_function() -> None:
    users = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.name != "runs.py" and "hashlib" in p.read_text()
    )
    assert users == []


# --------------------------------------------------------------------- value
def test_value_refuses_an_existing_output_unless_overwrite(table: Path, tmp_path: Path, capsys):
    out = tmp_path / "v.parquet"
    code, _, err = run(_value(table, out), capsys)
    assert code == 0, err
    before = _files(tmp_path)
    code, _, err = run(_value(table, out, "--method", "knn-shapley"), capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert _files(tmp_path) == before
    code, _, err = run(_value(table, out, "--overwrite", method="knn-shapley"), capsys)
    assert code == 0, err
    assert ValuationResult.load(out).method == "knn-shapley"


def test_value_appends_the_suffix(table: Path, tmp_path: Path, capsys) -> None:
    code, stdout, err = run(_value(table, tmp_path / "run.v1", "--flip-rate", "0.1"), capsys)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run.v1"))
    assert names == ["run.v1.flipped.csv", "run.v1.json", "run.v1.parquet"]
    assert "run.v1.parquet" in stdout


def test_value_outputs_get_the_users_umask(table: Path, tmp_path: Path, capsys) -> None:
    old = os.umask(0o022)
    try:
        code, _, err = run(_value(table, tmp_path / "v", "--flip-rate", "0.1"), capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("v.parquet", "v.json", "v.flipped.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_value_pair_carries_its_metadata(table: Path, tmp_path: Path, capsys) -> None:
    import pyarrow.parquet as pq

    code, _, err = run(_value(table, tmp_path / "v"), capsys)
    assert code == 0, err
    embedded = json.loads(pq.read_schema(tmp_path / "v.parquet").metadata[b"assay"])
    sidecar = json.loads((tmp_path / "v.json").read_text())
    assert embedded == sidecar and embedded["method"] == "loo"


@pytest.mark.parametrize("where", ["under-file", "directory", "empty"])
def test_value_refuses_a_bad_out_before_any_work(
    where: str, table: Path, tmp_path: Path, capsys, monkeypatch
):
    import assay.data.task

    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    out = {"under-file": tmp_path / "afile" / "v", "directory": tmp_path / "adir", "empty": ""}

    def no_work(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the task was built before the output path was checked")

    monkeypatch.setattr(assay.data.task, "build_task", no_work)
    before = _files(tmp_path)
    start = time.perf_counter()
    code, _, err = run(_value(table, out[where]), capsys)  # type: ignore[arg-type]
    assert code == 2 and err.startswith("error: ") and "AssertionError" not in err, err
    assert time.perf_counter() - start < 5
    assert _files(tmp_path) == before


def test_restart_discards_a_checkpoint_of_another_run(table: Path, tmp_path: Path, capsys):
    ck = tmp_path / "ck.npz"
    args = ["--checkpoint", str(ck), "--budget", "20"]
    code, _, err = run(_value(table, tmp_path / "a", *args, method="banzhaf"), capsys)
    assert code == 0, err
    other = [*args, "--seed", "3"]
    code, _, err = run(_value(table, tmp_path / "b", *other, method="banzhaf"), capsys)
    assert code == 2 and "belongs to another run" in err and "--restart" in err
    assert not (tmp_path / "b.parquet").exists()
    code, _, err = run(_value(table, tmp_path / "b", *other, "--restart", method="banzhaf"), capsys)
    assert code == 0, err
    code, _, err = run(_value(table, tmp_path / "c", "--budget", "20", "--seed", "3",
                              method="banzhaf"), capsys)  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(
        ValuationResult.load(tmp_path / "b.parquet").values,
        ValuationResult.load(tmp_path / "c.parquet").values,
    )


# --------------------------------------------------------------------- other commands
def test_flip_is_atomic_and_refuses_to_replace(table: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "noisy.csv"
    argv = ["flip", str(table), "--target", "label", "--rate", "0.2", "-o", str(out)]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "noisy.flipped.csv")) == 12
    code, _, err = run(argv, capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = run([*argv, "--overwrite"], capsys)
    assert code == 0, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_evaluate_keeps_two_results_of_the_same_method(table: Path, tmp_path: Path, capsys):
    for folder in ("a", "c"):
        code, _, err = run(_value(table, tmp_path / folder / "loo", "--flip-rate", "0.1"), capsys)
        assert code == 0, err
    paths = [str(tmp_path / f / "loo.parquet") for f in ("a", "c")]
    out = tmp_path / "ev"
    code, _, err = run(["evaluate", *paths, "-o", str(out)], capsys)
    assert code == 0, err
    ev = json.loads((out / "evaluation.json").read_text())
    labels = {row["method"] for row in ev["detection"]}
    assert len(labels) == 2 and all(label.startswith("loo") for label in labels)
    copies = sorted(p.name for p in out.glob("*.parquet"))
    assert copies == ["c-loo.parquet", "loo.parquet"]
    for name in copies:  # each copy is a pair
        assert (out / name.replace(".parquet", ".json")).exists()
    code, _, err = run(["evaluate", *paths, "-o", str(out)], capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = run(["evaluate", *paths, "-o", str(out), "--overwrite"], capsys)
    assert code == 0, err
    code, _, err = run(["report", str(out)], capsys)
    assert code == 0, err
    code, _, err = run(["report", str(out)], capsys)
    assert code == 2 and "--overwrite" in err


def test_select_refuses_to_replace(table: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    argv = ["select", str(table), "--target", "label", "--method", "uniform", "-b", "10"]
    code, _, err = run([*argv, "-o", str(out)], capsys)
    assert code == 0, err
    assert (tmp_path / "s.parquet").exists() and (tmp_path / "s.json").exists()
    code, _, err = run([*argv, "-o", str(out)], capsys)
    assert code == 2 and "--overwrite" in err


def test_library_label_rounds_use_the_checkpoint_format_and_restart(tmp_path: Path) -> None:
    from assay.errors import RunMismatchError
    from assay.select.label_rounds import STATE_FILE, label_round, read_pool

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = np.where(X[:, 0] > 0, "a", "b").astype(object)
    y[10:] = None
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "label": y}).to_csv(pool, index=False)
    t = read_pool(pool, "label")
    out = tmp_path / "out"
    label_round(t, out, learner="logistic", acquisition="random", batch=3)
    with np.load(out / STATE_FILE) as z:
        head = json.loads(str(z["__header__"]))
    assert (head["format"], head["kind"]) == ("assay-checkpoint", "labelling-rounds")
    with pytest.raises(RunMismatchError, match="--restart"):
        label_round(t, out, learner="logistic", acquisition="random", batch=4)
    res = label_round(t, out, learner="logistic", acquisition="random", batch=4, restart=True)
    assert len(res.batch) == 4


# --------------------------------------------------------------------- TMC's prefix scores
def test_tmc_prefix_scores_go_to_the_cache_dir(tmp_path: Path, monkeypatch) -> None:
    from assay.data import Dataset
    from assay.utility import Utility
    from assay.valuation import TMCShapley

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    train = Dataset.from_arrays(X[:25], y[:25])
    valid = Dataset.from_arrays(X[25:], y[25:], ids=np.arange(25, 40))
    first = TMCShapley(8, batch_size=4, seed=1).fit(
        Utility("logistic", train, valid, cache_dir=tmp_path)
    )
    prefix = list(tmp_path.glob("*/prefix/part-*.npz"))
    assert prefix, "no prefix scores written to the cache"
    u = Utility("logistic", train, valid, cache_dir=tmp_path)
    total = u(np.ones(25))  # U(N) is a cached subset too

    def no_training(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("retrained a permutation that the cache holds")

    monkeypatch.setattr(u, "_train_prefixes", no_training)
    again = TMCShapley(8, batch_size=4, seed=1).fit(u)
    np.testing.assert_array_equal(again.values, first.values)
    assert np.isfinite(total)
    uncached = TMCShapley(8, batch_size=4, seed=1).fit(Utility("logistic", train, valid))
    np.testing.assert_array_equal(uncached.values, first.values)
