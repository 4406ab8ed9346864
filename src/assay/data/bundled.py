"""Datasets loaded by name, offline: generated, scikit-learn's bundled ones, and files shipped here.

``load_dataset(name, seed=...)`` returns a seeded stratified :class:`~assay.data.splits.Split` with
features standardised on the training part only. The small real-world tables (Adult, Bank, a 5,000
image MNIST subset) are shipped in ``assay/data/files`` as compressed files;
``scripts/rebuild_datasets.py`` rebuilds them from their public sources, and ``files/LICENSES.md``
says where each comes from.
Fashion-MNIST is read from the Debian package ``dataset-fashion-mnist``; ``max_rows`` loads a
seeded stratified subsample of any dataset (cheaply for Fashion-MNIST).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assay.data.dataset import Dataset
from assay.data.files_loaders import (
    check_max_rows,
    load_adult,
    load_bank,
    load_fashion_mnist,
    load_mnist5k,
    stratified_subsample,
)
from assay.data.sklearn_files import FILES, from_sklearn, read_table
from assay.data.splits import Split, split_dataset
from assay.errors import unknown_name


@dataclass(frozen=True)
class BundledDataset:
    """A loader of a whole dataset and its default split fractions.

    ``load(seed)`` returns the whole dataset. With ``subsamples=True`` the loader is called as
    ``load(seed, max_rows=...)`` and draws the subsample itself (before the expensive part of
    loading); it must pick the same rows as :func:`stratified_subsample` on its labels.
    """

    load: Callable[..., Dataset]
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    description: str = ""
    subsamples: bool = False


def _sklearn(name: str, task: str = "classification") -> Callable[[int], Dataset]:
    def load(seed: int) -> Dataset:
        if name in FILES:  # read without importing sklearn.datasets (~0.5 s of start-up)
            X, y, names = read_table(name)
        else:
            X, y, names = from_sklearn(name)
        return Dataset.from_arrays(X, y, feature_names=names, name=name, task=task)

    return load


def _moons(seed: int, n: int = 1000, noise: float = 0.2) -> Dataset:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return Dataset.from_arrays(X, y, feature_names=["x0", "x1"], name="moons")


def _linear2d(seed: int, n: int = 850, separation: float = 2.0) -> Dataset:
    """Two isotropic 2-D Gaussians (unit variance) with means at -+ separation/2 on the diagonal."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    centre = separation / 2 / np.sqrt(2)
    X = rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, centre, -centre)
    return Dataset.from_arrays(X, y, feature_names=["x0", "x1"], name="linear2d")


REGISTRY: dict[str, BundledDataset] = {
    "breast_cancer": BundledDataset(
        _sklearn("breast_cancer"), description="Wisconsin breast cancer, 569 x 30, 2 classes"
    ),
    "digits": BundledDataset(_sklearn("digits"), description="8x8 digits, 1,797 x 64, 10 classes"),
    "wine": BundledDataset(_sklearn("wine"), description="wine, 178 x 13, 3 classes"),
    "diabetes": BundledDataset(
        _sklearn("diabetes", task="regression"),
        description="diabetes progression (regression), 442 x 10, a float target",
    ),
    "moons": BundledDataset(
        _moons,
        fractions=(0.5, 0.25, 0.25),
        description="two interleaving half-moons, 1,000 x 2 (500/250/250)",
    ),
    "linear2d": BundledDataset(
        _linear2d,
        fractions=(150 / 850, 100 / 850, 600 / 850),
        description="two isotropic 2-D Gaussian blobs, 150/100/600",
    ),
    "adult": BundledDataset(
        load_adult,
        fractions=(30162 / 45222, 7530 / 45222, 7530 / 45222),
        description="UCI Adult census income >50K, 45,222 x 102 (one-hot as Chhabra et al. 2024), "
        "2 classes, 30,162/7,530/7,530",
    ),
    "bank": BundledDataset(
        load_bank, description="UCI Bank marketing (small), 4,521 x 48 one-hot, 2 classes"
    ),
    "mnist5k": BundledDataset(
        load_mnist5k, description="MNIST 5,000-image subset, 5,000 x 784, 10 classes"
    ),
    "fashion_mnist": BundledDataset(
        load_fashion_mnist,
        subsamples=True,
        description="Fashion-MNIST, 70,000 x 784, 10 classes (needs the Debian package "
        "dataset-fashion-mnist; use max_rows for a subsample)",
    ),
}


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(REGISTRY)


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] | None = None,
    scale: bool = True,
    max_rows: int | None = None,
) -> Split:
    """Load a bundled dataset by name as a seeded stratified train / validation / test split.

    Parameters
    ----------
    name : str
        One of :func:`dataset_names`.
    seed : int
        Seeds both generation (synthetic sets) and the split.
    fractions : (train, valid, test), optional
        Defaults to the dataset's own (60/20/20 for most).
    scale : bool
        Standardise features using the training part's statistics.
    max_rows : int, optional
        Keep a seeded class-stratified subsample of this many rows of the whole dataset before
        splitting (all rows when ``None`` or not fewer than the dataset has), e.g.
        ``load_dataset("fashion_mnist", max_rows=10_000)``.

    Raises
    ------
    InvalidParameterError
        For an unknown name or a ``max_rows`` below 3.
    MissingDependencyError
        For Fashion-MNIST when the Debian package ``dataset-fashion-mnist`` is not installed.
    """
    if name not in REGISTRY:
        raise unknown_name("dataset", name, list(REGISTRY))
    entry = REGISTRY[name]
    max_rows = check_max_rows(max_rows)
    if entry.subsamples:
        data = entry.load(seed, max_rows=max_rows)
    else:
        data = entry.load(seed)
        if max_rows is not None and max_rows < data.n:
            data = data.subset(stratified_subsample(data.y, max_rows, seed))
    return split_dataset(data, fractions or entry.fractions, seed=seed, scale=scale)
