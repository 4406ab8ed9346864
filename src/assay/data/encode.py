"""``TableEncoder``: a messy table (strings, categories, booleans, dates, text, gaps) to features.

The fitting is scikit-learn's: numeric, boolean and date columns go through
``SimpleImputer(strategy="median", add_indicator=True)`` (then ``StandardScaler`` with
``scale=True``) and
categorical ones through ``OneHotEncoder(handle_unknown="infrequent_if_exist",
min_frequency=..., max_categories=...)`` with missing values as their own level. The fitted state
(medians, means, scales, kept levels) is then read out of the scikit-learn objects into plain
JSON, and :meth:`TableEncoder.transform` applies it with NumPy, so a saved encoder reproduces the
scikit-learn transform exactly (tested) without pickling anything.

Why not skrub's ``TableVectorizer``: it is not installed, its fitted state is only picklable, and
its extra encoders (string similarity, date splits) matter little to the label-noise detectors,
which see one-hot levels and scaled numbers.

Column roles are guessed per column and reported (:meth:`TableEncoder.report`):

- the target is never a feature;
- an **id** column (all unique; strings, or integers named like ids) is kept as ids, never a
  feature (the first one found, or ``id_column``);
- constant or all-missing columns, other id-like columns and free text are **dropped**;
- booleans are 0/1, dates are days since 1970-01-01, both then imputed and scaled like numbers;
- strings and categoricals with a few levels are one-hot encoded (``categorical=`` forces it,
  ``drop=`` removes a column).

New tables are matched by column **name**: reordered columns work, missing or extra ones are
refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.errors import InvalidDataError, InvalidParameterError

ID_NAME = re.compile(
    r"(^|[_\W])(id|uuid|guid|key|index|idx)$|^(id|row|record)[_\W]?(no|num|nr)?$", re.I
)
MISSING = "__missing__"
#: strings that mean "no value" in real files (pandas' read_csv already maps "", "NA", "null", ...)
MISSING_TOKENS = frozenset({"?", "-", "--", ".", "na", "n/a", "nan", "none", "null", "missing", ""})
_DAY_NS = 86_400 * 10**9


@dataclass
class ColumnPlan:
    """What happens to one input column: its ``kind`` and the fitted state of its transform."""

    name: str
    kind: str  # numeric | boolean | date | categorical | id | dropped | target
    reason: str = ""
    fill: float = 0.0
    indicator: bool = False
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    infrequent: bool = False

    def outputs(self) -> list[str]:
        if self.kind in ("numeric", "boolean", "date"):
            return [self.name] + ([f"{self.name}__missing"] if self.indicator else [])
        if self.kind == "categorical":
            return [f"{self.name}={v}" for v in self.levels] + (
                [f"{self.name}=infrequent"] if self.infrequent else []
            )
        return []

    def describe(self) -> str:
        if self.kind == "categorical":
            extra = " + infrequent" if self.infrequent else ""
            return f"one-hot `{self.name}`: {len(self.levels)} levels{extra}"
        if self.kind in ("numeric", "boolean", "date"):
            what = {"numeric": "number", "boolean": "0/1", "date": "days since 1970"}
            gap = ", missing imputed (median) + indicator" if self.indicator else ""
            note = f" ({self.reason})" if self.reason else ""
            return f"{self.kind} `{self.name}`: {what[self.kind]}{note}{gap}"
        if self.kind == "id":
            return f"id column `{self.name}`: {self.reason}"
        if self.kind == "target":
            return f"target `{self.name}`"
        return f"dropped column `{self.name}`: {self.reason}"


def _as_strings(col: pd.Series) -> NDArray[Any]:
    """Values as strings, missing ones as :data:`MISSING`."""
    s = col.astype(object)
    out = np.where(s.isna().to_numpy(), MISSING, s.astype(str).to_numpy())
    return out.astype(object)


def _string_codes(col: pd.Series) -> tuple[NDArray[np.int64], NDArray[Any]]:
    """``_as_strings(col)`` as codes into its sorted distinct strings (pandas' hashing in C:
    scikit-learn counts object arrays value by value in Python, 0.08 s a column on Adult)."""
    codes, uniques = pd.factorize(_as_strings(col), sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _to_float(col: pd.Series, kind: str) -> NDArray[np.float64]:
    if kind == "date":
        d = pd.to_datetime(col, errors="coerce", format="mixed") if col.dtype == object else col
        d = pd.to_datetime(d, errors="coerce")
        if getattr(d.dt, "tz", None) is not None:
            d = d.dt.tz_convert(None)
        ns = d.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        ns[d.isna().to_numpy()] = np.nan
        return ns / _DAY_NS
    if kind == "boolean":
        mapped = col.map(
            lambda v: (
                np.nan
                if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                else float(str(v).strip().lower() in ("true", "1", "yes", "y", "t", "1.0"))
            )
        )
        return mapped.to_numpy(dtype=np.float64)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)


def _numeric_with_gaps(col: pd.Series) -> list[str] | None:
    """The missing-value tokens of a string column that is numbers apart from them, else None.

    Real files write gaps as ``?`` or ``-`` (the UCI convention), which turns a number column
    into strings; such a column is numeric, those tokens are missing values.
    """
    if col.dtype != object and not pd.api.types.is_string_dtype(col.dtype):
        return None
    text = pd.Series(col.dropna().unique()).astype(str).str.strip()  # distinct values suffice
    if text.empty:
        return None
    parsed = pd.to_numeric(text, errors="coerce")
    bad = set(text[parsed.isna()].unique().tolist())
    if parsed.isna().all() or not {b.lower() for b in bad} <= MISSING_TOKENS:
        return None
    return sorted(bad)


def numeric_target(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """``frame`` with a number-with-gap-tokens target column (``?``, ``-``, ``n/a``) as floats.

    A regression target written like titanic's ``fare`` (numbers and ``?``) becomes a float
    column whose tokens are missing values (those rows are then excluded as unlabelled); any
    other column is returned unchanged (the same frame).
    """
    if target not in frame.columns or _numeric_with_gaps(frame[target]) is None:
        return frame
    out = frame.copy()
    out[target] = pd.to_numeric(frame[target].astype(str).str.strip(), errors="coerce").where(
        frame[target].notna()
    )
    return out


def _looks_boolean(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col.dtype):
        return True
    if col.dtype != object:  # before the unique values: a million-row number column
        return False
    vals = {str(v).strip().lower() for v in col.dropna().unique()[:4]}
    return 0 < len(vals) <= 2 and vals <= {"true", "false"}


def _looks_date(col: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return True
    if col.dtype != object and not pd.api.types.is_string_dtype(col.dtype):
        return False
    sample = col.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


class TableEncoder:
    """Encode a DataFrame's columns into finite float features (see the module docstring).

    Parameters
    ----------
    drop : sequence of str
        Columns never used as features.
    categorical : sequence of str
        Columns one-hot encoded whatever their type.
    id_column : str, optional
        The id column (otherwise the first id-like column found, if any).
    max_levels : int
        A string column with more distinct values than this (and mostly unique, or with long
        multi-word values) is free text or an id, not a category; categories keep at most this
        many one-hot levels (the rest share an ``infrequent`` column).
    min_frequency : int
        Levels seen fewer times in training rows go to the ``infrequent`` column.
    scale : bool
        Standardise numeric columns (off by default: tasks and :func:`assay.audit.audit`
        standardise all features with training statistics afterwards, so a numeric-only table
        gives exactly its raw values).
    """

    def __init__(
        self,
        *,
        drop: Sequence[str] = (),
        categorical: Sequence[str] = (),
        id_column: str | None = None,
        max_levels: int = 50,
        min_frequency: int = 5,
        scale: bool = False,
    ) -> None:
        if max_levels < 2:
            raise InvalidParameterError(f"max_levels must be >= 2, got {max_levels}")
        if min_frequency < 1:
            raise InvalidParameterError(f"min_frequency must be >= 1, got {min_frequency}")
        self.drop = list(drop)
        self.categorical = list(categorical)
        self.id_column = id_column
        self.max_levels = max_levels
        self.min_frequency = min_frequency
        self.scale = scale
        self.target: str | None = None
        self.columns: list[ColumnPlan] = []

    # ------------------------------------------------------------------ fitting
    def _guess(self, name: str, col: pd.Series, n: int) -> ColumnPlan:
        nonmissing = col.dropna()
        nunique = int(nonmissing.nunique())
        if name in self.drop:
            return ColumnPlan(name, "dropped", "--drop")
        if nonmissing.empty:
            return ColumnPlan(name, "dropped", "all missing")
        if name in self.categorical:
            return ColumnPlan(name, "categorical")
        if nunique == 1:
            return ColumnPlan(name, "dropped", f"constant ({str(nonmissing.iloc[0])!r})")
        if _looks_boolean(col):
            return ColumnPlan(name, "boolean")
        if _looks_date(col):
            return ColumnPlan(name, "date")
        gaps = _numeric_with_gaps(col)
        if gaps:
            shown = ", ".join(repr(g) for g in gaps)
            return ColumnPlan(name, "numeric", f"{shown} read as missing")
        all_unique = nunique == n and len(nonmissing) == n
        numeric = pd.api.types.is_numeric_dtype(col.dtype) or gaps is not None
        if numeric:
            vals = pd.to_numeric(nonmissing, errors="coerce")
            integer = pd.api.types.is_integer_dtype(col.dtype) or bool(
                (vals == np.round(vals)).all()
            )
            if all_unique and integer and ID_NAME.search(str(name)):
                return ColumnPlan(name, "id", "all unique integers named like an id")
            return ColumnPlan(name, "numeric")
        if nunique <= self.max_levels and not all_unique:
            return ColumnPlan(name, "categorical")
        text = nonmissing.astype(str)
        if all_unique and not text.str.contains(r"\s").mean() > 0.5:
            return ColumnPlan(name, "id", "all unique strings")
        if nunique > self.max_levels and (
            nunique > 0.5 * len(nonmissing) or float(text.map(lambda t: len(t.split())).mean()) > 3
        ):
            return ColumnPlan(
                name, "dropped", f"free text / identifiers ({nunique} distinct values)"
            )
        return ColumnPlan(name, "categorical")

    def fit(
        self, frame: pd.DataFrame, target: str | None = None, *, progress: bool = False
    ) -> TableEncoder:
        """Learn the column roles and transforms from the (training) rows of ``frame``
        (``progress``: a bar over the columns, stderr)."""
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        from tqdm.auto import tqdm

        if len(frame) == 0:
            raise InvalidDataError("the table is empty (0 rows)")
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            dup = sorted({c for c in names if names.count(c) > 1})
            raise InvalidDataError(f"duplicated column names: {dup[:10]}")
        for role, col in (
            ("id", self.id_column),
            *((("--drop"), c) for c in self.drop),
            *(("--categorical", c) for c in self.categorical),
        ):
            if col is not None and col not in names:
                raise InvalidDataError(
                    f"{role} column {col!r} not found; columns are: {', '.join(names[:20])}"
                )
        self.target = target
        plans: list[ColumnPlan] = []
        have_id = self.id_column is not None
        for c in tqdm(frame.columns, desc="column roles", unit="column", disable=not progress):
            name = str(c)
            if name == target:
                plans.append(ColumnPlan(name, "target"))
                continue
            if name == self.id_column:
                plans.append(ColumnPlan(name, "id", "--id-column"))
                continue
            plan = self._guess(name, frame[c], len(frame))
            if plan.kind == "id":
                if have_id:
                    plan = ColumnPlan(name, "dropped", f"id-like ({plan.reason})")
                else:
                    have_id, self.id_column = True, name
            plans.append(plan)
        for plan in tqdm(plans, desc="fit encoder", unit="column", disable=not progress):
            series = frame[plan.name]
            if plan.kind in ("numeric", "boolean", "date"):
                x = _to_float(series, plan.kind)[:, None]
                if np.isinf(x).any():
                    raise InvalidDataError(f"inf values in column {plan.name!r}")
                imp = SimpleImputer(strategy="median", add_indicator=True).fit(x)
                plan.fill = float(imp.statistics_[0])
                plan.indicator = imp.indicator_ is not None and len(imp.indicator_.features_) > 0
                width = 1 + int(plan.indicator)
                if self.scale:
                    sc = StandardScaler().fit(imp.transform(x))
                    plan.mean = [float(v) for v in sc.mean_]
                    plan.scale = [float(v) for v in sc.scale_]
                else:
                    plan.mean, plan.scale = [0.0] * width, [1.0] * width
            elif plan.kind == "categorical":
                ohe = OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=self.min_frequency,
                    max_categories=self.max_levels,
                    sparse_output=False,
                )
                # fitted on codes of the sorted strings: the same levels, order and
                # frequencies as on the strings themselves
                codes, uniques = _string_codes(series)
                ohe.fit(codes[:, None])
                infrequent = ohe.infrequent_categories_[0]
                rare = set() if infrequent is None else set(infrequent.tolist())
                plan.levels = [str(uniques[v]) for v in ohe.categories_[0] if v not in rare]
                plan.infrequent = bool(rare)
        self.columns = plans
        if not self.feature_names:
            raise InvalidDataError(
                "no feature columns left: " + "; ".join(p.describe() for p in plans)
            )
        return self

    # ------------------------------------------------------------------ applying
    @property
    def input_columns(self) -> list[str]:
        return [p.name for p in self.columns if p.kind != "target"]

    @property
    def feature_names(self) -> list[str]:
        return [f for p in self.columns for f in p.outputs()]

    @property
    def feature_columns(self) -> list[str]:
        """The input columns that make features (not ids, dropped columns or the target)."""
        return [p.name for p in self.columns if p.outputs()]

    def check_columns(
        self, frame: pd.DataFrame, what: str = "table", new_rows: bool = False
    ) -> None:
        """Refuse a table whose columns differ by name from the training table's.

        With ``new_rows`` (rows to predict or attribute), only the columns that make features
        are required; the id, dropped and target columns may be there or not.
        """
        if not self.columns:
            raise InvalidParameterError("this TableEncoder is not fitted; call fit first")
        have = [str(c) for c in frame.columns]
        need = self.feature_columns if new_rows else self.input_columns
        missing = [c for c in need if c not in have]
        extra = [c for c in have if c not in self.input_columns and c != self.target]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing columns {missing[:10]}")
            if extra:
                parts.append(f"columns the training table does not have {extra[:10]}")
            raise InvalidDataError(f"{what} does not match the training table: " + "; ".join(parts))

    def transform(
        self,
        frame: pd.DataFrame,
        what: str = "table",
        new_rows: bool = False,
        *,
        dtype: Any = np.float64,
        progress: bool = False,
    ) -> NDArray[Any]:
        """Features of ``frame`` (columns matched by name), shape (n, len(feature_names)).

        ``new_rows``: see :meth:`check_columns`. ``dtype`` (float64 or float32) is the output's;
        each column is written into one preallocated array, so the table is never held twice.
        ``progress`` shows a bar over the columns (stderr).
        """
        from tqdm.auto import tqdm

        self.check_columns(frame, what, new_rows)
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.float32):
            raise InvalidParameterError(f"dtype must be float64 or float32, got {dtype}")
        width = len(self.feature_names)
        out = np.empty((len(frame), width), dtype=dtype)
        j = 0
        plans = [p for p in self.columns if p.outputs()]
        for p in tqdm(plans, desc="encode", unit="column", disable=not progress):
            for block in self._column_blocks(frame, p, what):
                out[:, j] = block
                j += 1
        return out

    def _column_blocks(
        self, frame: pd.DataFrame, p: ColumnPlan, what: str
    ) -> list[NDArray[np.float64]]:
        """The float64 output columns of one input column (``p.outputs()`` of them)."""
        blocks: list[NDArray[np.float64]] = []
        if p.kind in ("numeric", "boolean", "date"):
            x = _to_float(frame[p.name], p.kind)
            if np.isinf(x).any():
                raise InvalidDataError(f"inf values in column {p.name!r} of the {what}")
            miss = np.isnan(x)
            cols = [np.where(miss, p.fill, x)] + ([miss.astype(np.float64)] if p.indicator else [])
            blocks.extend((c - m) / s for c, m, s in zip(cols, p.mean, p.scale, strict=True))
        elif p.kind == "categorical":
            codes, uniques = _string_codes(frame[p.name])
            width = len(p.levels) + int(p.infrequent)
            out = np.zeros((len(codes), width))
            pos = pd.Index(p.levels, dtype=object).get_indexer(pd.Index(uniques))[codes]
            known = pos >= 0
            out[np.flatnonzero(known), pos[known]] = 1.0
            if p.infrequent:
                out[~known, -1] = 1.0
            blocks.extend(out.T)
        return blocks

    def fit_transform(self, frame: pd.DataFrame, target: str | None = None) -> NDArray[np.float64]:
        return self.fit(frame, target).transform(frame)

    def ids(self, frame: pd.DataFrame) -> NDArray[Any] | None:
        """The id column's values (None when there is no id column)."""
        if self.id_column is None:
            return None
        ids = frame[self.id_column]
        if ids.isna().any():
            raise InvalidDataError(
                f"id column {self.id_column!r} has {int(ids.isna().sum())} missing ids"
            )
        return ids.to_numpy()

    # ------------------------------------------------------------------ reporting, saving
    def report(self) -> list[str]:
        """One line per column: what was done to it."""
        return [p.describe() for p in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "assay.TableEncoder/1",
            "params": {
                "drop": self.drop,
                "categorical": self.categorical,
                "id_column": self.id_column,
                "max_levels": self.max_levels,
                "min_frequency": self.min_frequency,
                "scale": self.scale,
            },
            "target": self.target,
            "columns": [asdict(p) for p in self.columns],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableEncoder:
        if not isinstance(d, dict) or d.get("format") != "assay.TableEncoder/1":
            raise InvalidDataError("not a saved TableEncoder (format assay.TableEncoder/1)")
        try:
            enc = cls(**d["params"])
            enc.target = d["target"]
            enc.columns = [ColumnPlan(**c) for c in d["columns"]]
        except (KeyError, TypeError) as exc:
            raise InvalidDataError(f"corrupt TableEncoder description: {exc}") from exc
        return enc

    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Write the encoder's JSON to ``path`` atomically (refused if it exists, unless
        ``overwrite``)."""
        from assay.runs import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=1), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> TableEncoder:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InvalidDataError(f"cannot read TableEncoder file {str(path)!r}: {exc}") from exc
        return cls.from_dict(d)

    def __repr__(self) -> str:
        return (
            f"TableEncoder({len(self.input_columns)} columns -> {len(self.feature_names)} features)"
        )


def split_labels(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, NDArray[Any], int]:
    """Rows with a label, their labels (strings, integers, booleans kept), and the rows dropped."""
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:20]))
        raise InvalidDataError(f"target column {target!r} not found; columns are: {cols}")
    if list(map(str, frame.columns)).count(target) > 1:
        raise InvalidDataError(f"the target column {target!r} appears more than once")
    y = frame[target]
    keep = y.notna().to_numpy()
    kept = frame if keep.all() else frame.loc[keep]  # a full mask would copy every column
    labels = kept[target]
    if isinstance(labels.dtype, pd.CategoricalDtype):
        labels = labels.astype(labels.cat.categories.dtype)
    values = labels.to_numpy()
    if values.dtype == object:
        kinds = {type(v) for v in values}
        if len(kinds) > 1:
            values = values.astype(str)
    if values.dtype.kind == "f" and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    return kept, values, int((~keep).sum())
