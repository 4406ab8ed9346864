"""Cross-fitting (issue 11.2): every row valued, each fold equal to the plain method on it."""

from __future__ import annotations

import numpy as np
import pytest

from assay.data import Dataset, fold_assignment
from assay.errors import AssayError, InvalidParameterError
from assay.utility import Utility
from assay.valuation import (
    DataOOB,
    ExactShapley,
    KNNGame,
    KNNShapley,
    LeaveOneOut,
    MSRBanzhaf,
    TMCShapley,
    cross_fit,
    cross_fit_mode,
    knn_shapley_loo_values,
    knn_shapley_values,
)
from assay.valuation.base import ValuationMethod


@pytest.fixture(scope="module")
def rows() -> Dataset:
    """120 rows of two overlapping blobs with string ids in a shuffled (non-sorted) order."""
    rng = np.random.default_rng(3)
    y = rng.permutation(np.arange(120) % 2)
    X = rng.normal(size=(120, 3)) + np.where(y[:, None] == 1, 0.7, -0.7)
    ids = np.array([f"r{i}" for i in rng.permutation(120)])
    return Dataset.from_arrays(X, y, ids=ids)


def plain_per_fold(method: ValuationMethod, data: Dataset, k: int, seed: int) -> list:
    fold = fold_assignment(data, k, seed=seed)
    out = []
    for f in range(k):
        u = Utility("logistic", data.subset(fold == f), data.subset(fold != f))
        out.append((np.flatnonzero(fold == f), method.clone().fit(u)))
    return out


@pytest.mark.parametrize(
    "method",
    [LeaveOneOut(), TMCShapley(6, batch_size=3, seed=4), MSRBanzhaf(40, batch_size=16, seed=2)],
    ids=["loo", "tmc", "banzhaf"],
)
def test_each_fold_equals_the_plain_method_on_it(rows: Dataset, method: ValuationMethod) -> None:
    result = cross_fit(method, rows, k=4, seed=7)
    assert np.array_equal(result.ids, rows.ids)  # input order, the data's ids
    assert np.isfinite(result.values).all() and np.isfinite(result.stderr).all()
    assert (result.counts > 0).all()
    for positions, plain in plain_per_fold(method, rows, 4, 7):
        assert np.array_equal(plain.ids, rows.ids[positions])
        assert np.array_equal(result.values[positions], plain.values)
        assert np.array_equal(result.stderr[positions], plain.stderr)
        assert np.array_equal(result.counts[positions], plain.counts)
    facts = result.params["cross_fit"]
    assert facts["mode"] == "folds" and facts["folds"] == 4 and sum(facts["sizes"]) == rows.n


def test_cross_fit_is_deterministic_and_seeded(rows: Dataset) -> None:
    a = cross_fit(MSRBanzhaf(20, seed=1), rows, k=3, seed=0)
    b = cross_fit(MSRBanzhaf(20, seed=1), rows, k=3, seed=0)
    c = cross_fit(MSRBanzhaf(20, seed=1), rows, k=3, seed=1)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.stderr, b.stderr)
    assert a.params["cross_fit"] == b.params["cross_fit"]
    assert a.params["cross_fit"]["assignment"] != c.params["cross_fit"]["assignment"]
    assert not np.array_equal(a.values, c.values)


def test_loo_fold_values_are_real_leave_one_out_retraining(rows: Dataset) -> None:
    result = cross_fit("loo", rows, k=3, seed=0)
    fold = fold_assignment(rows, 3, seed=0)
    i = int(np.flatnonzero(fold == 1)[5])
    players = np.flatnonzero(fold == 1)
    u = Utility("logistic", rows.subset(players), rows.subset(fold != 1))
    mask = np.ones(len(players), bool)
    full = u(mask)
    mask[players == i] = False
    assert result.values[i] == pytest.approx(full - u(mask), abs=1e-10)


def test_data_oob_runs_once_on_every_row(rows: Dataset) -> None:
    assert cross_fit_mode("data-oob") == "all-rows"
    result = cross_fit(DataOOB(200, seed=3), rows, k=5)
    plain = DataOOB(200, seed=3).fit(Utility("logistic", rows, rows))
    assert np.array_equal(result.values, plain.values)
    assert np.isfinite(result.values).all() and len(result) == rows.n
    assert result.params["cross_fit"]["mode"] == "all-rows"


def test_knn_leave_one_out_equals_the_plain_method_per_validation_row(rows: Dataset) -> None:
    small = rows.subset(np.arange(30))
    loo = knn_shapley_loo_values(small, 3)
    ref = np.zeros(small.n)
    for j in range(small.n):
        others = np.flatnonzero(np.arange(small.n) != j)
        ref[others] += knn_shapley_values(small.subset(others), small.subset([j]), 3)
    np.testing.assert_allclose(loo, ref / (small.n - 1), atol=1e-14)
    result = cross_fit(KNNShapley(3), small, k=3)
    assert result.params["cross_fit"]["mode"] == "leave-one-out"
    np.testing.assert_array_equal(result.values, loo)


def test_knn_leave_one_out_matches_enumeration_with_duplicates() -> None:
    X = np.array([[0.0], [0.0], [1.0], [2.0], [2.0], [5.0], [0.5]])
    y = np.array([0, 1, 0, 1, 1, 0, 0])
    data = Dataset.from_arrays(X, y)
    ref = np.zeros(data.n)
    for j in range(data.n):
        others = np.flatnonzero(np.arange(data.n) != j)
        game = KNNGame(data.subset(others), data.subset([j]), 2)
        ref[others] += ExactShapley().fit(game).values
    np.testing.assert_allclose(knn_shapley_loo_values(data, 2), ref / (data.n - 1), atol=1e-12)


def test_fold_assignment_is_stratified_and_covers_every_row(rows: Dataset) -> None:
    fold = fold_assignment(rows, 5, seed=2)
    assert fold.shape == (rows.n,) and set(fold.tolist()) == set(range(5))
    per_class = np.array([np.bincount(fold[rows.y == c], minlength=5) for c in range(2)])
    assert per_class.max() - per_class.min() <= 1
    assert np.array_equal(fold, fold_assignment(rows, 5, seed=2))


@pytest.mark.parametrize("k", [0, 1, -2, 121, 2.0, True])
def test_bad_fold_counts_are_refused(rows: Dataset, k: object) -> None:
    with pytest.raises(InvalidParameterError, match="folds"):
        fold_assignment(rows, k)  # type: ignore[arg-type]
    with pytest.raises(AssayError, match="folds"):
        cross_fit("loo", rows, k=k)  # type: ignore[arg-type]


def test_folds_beyond_the_smallest_class_are_refused() -> None:
    data = Dataset.from_arrays(np.arange(12.0)[:, None], ["a"] * 9 + ["b"] * 3)
    assert fold_assignment(data, 3).max() == 2
    with pytest.raises(InvalidParameterError, match=r"3 rows of the smallest class \('b'\)"):
        fold_assignment(data, 4)


# ---------------------------------------------------------------------- the command line
@pytest.fixture()
def csv_table(tmp_path):  # type: ignore[no-untyped-def]
    import pandas as pd

    rng = np.random.default_rng(0)
    y = np.array(["cat", "dog", "eel"] * 20)
    frame = pd.DataFrame(
        {
            "name": [f"row-{i}" for i in range(60)],
            "size": rng.normal(size=60) + (y == "dog"),
            "colour": rng.choice(["red", "blue"], 60),
            "label": y,
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    return path


def test_value_without_valid_gives_every_row_a_value(csv_table, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from assay.result import ValuationResult
    from tests.cli_support import run

    out = tmp_path / "v.parquet"
    argv = ["value", str(csv_table), "-t", "label", "--id-column", "name", "-m", "loo"]
    code, stdout, err = run([*argv, "--folds", "3", "-o", str(out)], capsys)
    assert code == 0, err
    assert "60 values" in stdout and "cross-fitted in 3 folds" in stdout
    result = ValuationResult.load(out)
    assert result.ids.tolist() == pd.read_csv(csv_table)["name"].tolist()  # input order
    assert np.isfinite(result.values).all()
    assert result.params["task"]["folds"] == 3 and result.params["cross_fit"]["folds"] == 3
    code, _, err = run(["evaluate", str(out), "-o", str(tmp_path / "ev")], capsys)
    assert code == 0, err  # the sidecar rebuilds the same (cross-fitted) task
    from dataclasses import replace

    from assay.errors import StaleDataError
    from assay.evaluate.saved import task_of

    crossed = {**result.params["cross_fit"], "assignment": "0" * 16}  # folds not rebuilt
    with pytest.raises(StaleDataError, match="other folds"):
        task_of(replace(result, params={**result.params, "cross_fit": crossed}))
    code, stdout, err = run([*argv, "--valid-fraction", "0.2", "-o", str(tmp_path / "h")], capsys)
    assert code == 0 and "48 values" in stdout  # the old held-out split, on request


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--folds", "0"], "folds must be >= 2"),
        (["--folds", "1"], "folds must be >= 2"),
        (["--folds", "61"], "exceeds the number of rows (60)"),
        (["--folds", "21"], "exceeds the 20 rows of the smallest class"),
        (["--folds", "3", "--valid-fraction", "0.2"], "exclude each other"),
    ],
)
def test_bad_folds_on_the_command_line(csv_table, tmp_path, capsys, extra, message) -> None:  # type: ignore[no-untyped-def]
    from tests.cli_support import run

    argv = ["value", str(csv_table), "-t", "label", "-m", "loo", "-o", str(tmp_path / "v")]
    code, _, err = run([*argv, *extra], capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "v.parquet").exists()


def test_readme_table_says_each_methods_mode() -> None:
    import re
    from pathlib import Path

    from assay.valuation import METHODS

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### Every row gets a value")[1].split("\n#")[0]
    said: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].strip("`") in ("folds", "all-rows", "leave-one-out"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                expanded = (
                    [m for m in METHODS if m.startswith(name[:-1])] if "*" in name else [name]
                )
                for m in expanded:
                    said[m] = cells[1].strip("`")
    assert set(said) == set(METHODS)
    assert {m: cross_fit_mode(m) for m in METHODS} == said
