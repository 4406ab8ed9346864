"""``assay select``: subsets on disk, comparisons, embeddings files, text, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data import load_dataset
from tests.cli_support import run


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=150) > 0, "yes", "no")
    path = tmp_path / "data.csv"
    pd.DataFrame(
        {"key": np.arange(500, 650), "a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": y}
    ).to_csv(path, index=False)
    return path


def test_sensitivity_subset_with_comparison_and_report(tmp_path, capsys) -> None:
    out, rep = tmp_path / "subset.parquet", tmp_path / "report.html"
    code, stdout, err = run(
        [
            "select",
            "breast_cancer",
            "--method",
            "sensitivity",
            "--budget",
            "60",
            "--compare",
            "uniform,kcenter,margin",
            "--out",
            str(out),
            "--report",
            str(rep),
        ],
        capsys,
    )
    assert code == 0, err
    df = pd.read_parquet(out)
    assert list(df.columns) == ["id", "weight"] and len(df) <= 60
    train = load_dataset("breast_cancer", seed=0).train
    assert set(df["id"]) <= set(train.ids.tolist())
    assert 0.5 * train.n < df["weight"].sum() < 1.5 * train.n  # weights estimate n
    for name in ("sensitivity", "uniform", "kcenter", "margin", "full data"):
        assert name in stdout
    assert "Data selection" in rep.read_text()
    assert out.with_suffix(".json").exists()


def test_value_methods_and_class_balance(table, tmp_path, capsys) -> None:
    out = tmp_path / "s.parquet"
    code, _, err = run(
        [
            "select",
            str(table),
            "--target",
            "label",
            "--id-column",
            "key",
            "--method",
            "knn-shapley",
            "--budget",
            "0.2",
            "--balance",
            "class",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    df = pd.read_parquet(out)
    assert len(df) == 24 and set(df["id"]) <= set(range(500, 650)) and (df["weight"] == 1).all()


def test_embeddings_file_rows_follow_the_data(table, tmp_path, capsys) -> None:
    E = np.random.default_rng(1).normal(size=(150, 4)).astype(np.float32)
    np.save(tmp_path / "emb.npy", E)
    out = tmp_path / "k.parquet"
    code, _, err = run(
        [
            "select",
            str(table),
            "--target",
            "label",
            "--id-column",
            "key",
            "--embeddings",
            str(tmp_path / "emb.npy"),
            "--method",
            "kcenter",
            "--budget",
            "10",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    from assay.valuation.geometry import kcenter_greedy

    df = pd.read_parquet(out)
    # the greedy k-center set of the training rows' embeddings (rows = key - 500)
    from assay.data.task import TaskSpec, build_task

    train = build_task(TaskSpec(str(table), "label", id_column="key")).train
    picks, _, _ = kcenter_greedy(E[train.ids - 500], 10)
    assert set(df["id"]) == set(train.ids[picks].tolist())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "uniform", "--budget", "500"], "exceeds the 120 points"),
        (["--method", "sensitivity", "--budget", "10", "--clusters", "20"], "smaller than"),
        (["--method", "nosuch", "--budget", "10"], "unknown method"),
        (["--method", "sensitivity", "--budget", "30", "--lam", "big"], "--lam must be"),
    ],
)
def test_clear_errors(table, tmp_path, capsys, extra, message) -> None:
    code, _, err = run(
        ["select", str(table), "--target", "label", *extra, "--out", str(tmp_path / "x.parquet")],
        capsys,
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_bad_embeddings_are_one_line_errors(table, tmp_path, capsys) -> None:
    np.save(tmp_path / "short.npy", np.zeros((149, 2)))
    bad = np.zeros((150, 2))
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    for name, message in (
        ("short.npy", "has 149 rows but the data has 150"),
        ("nan.npy", "NaN first at row 3"),
    ):
        code, _, err = run(
            [
                "select",
                str(table),
                "--target",
                "label",
                "--embeddings",
                str(tmp_path / name),
                "--method",
                "kcenter",
                "--budget",
                "5",
                "--out",
                str(tmp_path / "x.parquet"),
            ],
            capsys,
        )
        assert code == 2 and message in err, err


@pytest.mark.slow
def test_text_column_is_embedded_with_minilm(tmp_path, capsys) -> None:
    words = ["great", "wonderful", "moving", "dull", "boring", "awful"]
    rng = np.random.default_rng(0)
    rows = [
        (f"a {words[i % 6]} film about {rng.integers(100)} people", int(i % 6 < 3))
        for i in range(60)
    ]
    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["text", "positive"]).to_csv(path, index=False)
    out = tmp_path / "t.parquet"
    code, stdout, err = run(
        [
            "select",
            str(path),
            "--target",
            "positive",
            "--text-column",
            "text",
            "--method",
            "sensitivity",
            "--budget",
            "20",
            "--compare",
            "uniform",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    assert len(pd.read_parquet(out)) <= 20 and "uniform" in stdout
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
