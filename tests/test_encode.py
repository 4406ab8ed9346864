"""TableEncoder: every column type, missing values, ids, name matching, JSON round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assay.data import Dataset, TableEncoder, encode_frame, read_table
from assay.errors import InvalidDataError


def messy(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "customer_id": np.arange(100, 100 + n),
            "age": rng.normal(40, 10, n).round(),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
            "member": rng.choice([True, False], n),
            "joined": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
            "comment": [f"free text comment number {i} for the row" for i in range(n)],
            "constant": 1,
            "species": rng.choice(["a", "b"], n),
        }
    )
    df.loc[[1, 5, 9], "age"] = np.nan
    df.loc[[2, 3], "island"] = None
    return df


def test_roles_report_and_ids() -> None:
    df = messy()
    data, enc, dropped = encode_frame(df, "species")
    kinds = {p.name: p.kind for p in enc.columns}
    assert kinds == {
        "customer_id": "id",
        "age": "numeric",
        "island": "categorical",
        "member": "boolean",
        "joined": "date",
        "comment": "dropped",
        "constant": "dropped",
        "species": "target",
    }
    assert dropped == 0
    assert np.array_equal(data.ids, df["customer_id"])
    report = "\n".join(enc.report())
    assert "one-hot `island`: 3 levels + infrequent" in report  # missing is rare
    assert "dropped column `constant`: constant" in report
    assert "age__missing" in enc.feature_names
    assert np.isfinite(data.X).all()


def test_equals_scikit_learn_column_transformer() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = messy(80)
    enc = TableEncoder(min_frequency=3, scale=True).fit(df, "species")
    ours = enc.transform(df)
    island = df[["island"]].astype(object).fillna("__missing__")
    ref = ColumnTransformer(
        [
            (
                "age",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                ["age"],
            ),
        ]
    ).fit_transform(df)
    ohe = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=3,
        max_categories=50,
        sparse_output=False,
    ).fit(island)
    names = enc.feature_names
    assert np.allclose(ours[:, names.index("age")], ref[:, 0])
    assert np.allclose(ours[:, names.index("age__missing")], ref[:, 1])
    cols = [i for i, f in enumerate(names) if f.startswith("island=")]
    assert np.array_equal(ours[:, cols], ohe.transform(island))


def test_json_round_trip_and_new_rows(tmp_path) -> None:
    df = messy()
    enc = TableEncoder().fit(df, "species")
    enc.save(tmp_path / "enc.json")
    back = TableEncoder.load(tmp_path / "enc.json")
    new = messy(10, seed=3)
    new.loc[0, "island"] = "Atlantis"  # unseen level: all zeros (no infrequent column here)
    assert np.array_equal(back.transform(new), enc.transform(new))
    reordered = new[list(reversed(new.columns))]
    assert np.array_equal(enc.transform(reordered), enc.transform(new))
    with pytest.raises(InvalidDataError, match=r"missing columns \['age'\]"):
        enc.transform(new.drop(columns="age"))
    with pytest.raises(InvalidDataError, match=r"does not have \['extra'\]"):
        enc.transform(new.assign(extra=1))


def test_labels_missing_bool_and_overrides(tmp_path) -> None:
    df = messy()
    df["flag"] = (df["species"] == "a").astype(object)
    df.loc[[0, 4], "flag"] = None
    data, enc, dropped = encode_frame(
        df.drop(columns="species"), "flag", drop=["joined"], categorical=["age"]
    )
    assert dropped == 2 and data.n == len(df) - 2
    assert set(data.classes.tolist()) == {False, True}
    assert {p.name: p.kind for p in enc.columns}["age"] == "categorical"
    assert "dropped column `joined`: --drop" in enc.report()
    path = tmp_path / "t.tsv"
    df.to_csv(path, sep="\t", index=False)
    ds = read_table(path, "species")
    assert ds.n == len(df) and isinstance(ds, Dataset)
    assert Dataset.from_frame(df, "species").n_features == ds.n_features


def test_errors_name_the_problem() -> None:
    df = messy()
    with pytest.raises(InvalidDataError, match="target column 'nope' not found"):
        encode_frame(df, "nope")
    with pytest.raises(InvalidDataError, match="no feature columns left"):
        encode_frame(df[["customer_id", "species"]], "species")
    with pytest.raises(InvalidDataError, match="not a saved TableEncoder"):
        TableEncoder.from_dict({"format": "x"})


def test_uci_missing_tokens_keep_a_number_column_numeric() -> None:
    # UCI files write gaps as "?": the column is numbers with missing values, not 40 categories
    ages = [str(20 + i % 40) for i in range(60)]
    ages[3] = ages[17] = "?"
    frame = pd.DataFrame(
        {"age": ages, "town": ["a", "b", "c"] * 20, "code": ["x1", "?"] * 30, "y": [0, 1] * 30}
    )
    enc = TableEncoder().fit(frame, "y")
    kinds = {p.name: p.kind for p in enc.columns}
    assert kinds["age"] == "numeric" and kinds["code"] == "categorical"
    assert any("'?' read as missing" in line for line in enc.report())
    X = enc.transform(frame)
    col = enc.feature_names.index("age")
    expected = pd.to_numeric(pd.Series(ages), errors="coerce")
    median = float(expected.median())
    np.testing.assert_array_equal(X[:, col], expected.fillna(median).to_numpy())
    np.testing.assert_array_equal(X[:, enc.feature_names.index("age__missing")][[3, 17]], [1, 1])


@pytest.mark.parametrize("layout", ["plain", "named-index", "sliced"])
def test_parquet_read_column_by_column_equals_pandas(tmp_path, layout) -> None:
    from assay.data.io import read_frame

    df = pd.DataFrame({
        "x": np.arange(5.0), "s": list("abcde"), "i": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "c": pd.Categorical(list("aabba")), "b": [True, False, True, False, True],
        "t": pd.date_range("2020-01-01", periods=5, tz="UTC"),
    })  # fmt: skip
    table = {"plain": df, "named-index": df.set_index("s"), "sliced": df.iloc[1:]}[layout]
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    pd.testing.assert_frame_equal(read_frame(path), pd.read_parquet(path))
