"""Labelling rounds through files: the person-in-the-loop side of ``assay active``.

A pool table whose target column is empty for the unlabelled rows is read by :func:`read_pool`;
:func:`label_round` then (optionally) teaches the labels of a filled-in CSV, trains, scores the
remaining rows and writes the next batch to ``OUT/to_label.csv`` (id, an empty target column to
fill, the row's contents, the acquisition score, the model's guess and why the row was chosen).
The rounds so far live in ``OUT/label_state.npz`` (an :mod:`assay.runs` checkpoint of kind
``labelling-rounds``), so labelled rows accumulate across calls; ``OUT/labelled.csv`` lists every
label given so far.

Ids are the ``id_column`` (or a column named ``id``) or else the row number in the pool file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.data.dataset import Dataset
from assay.data.io import from_pandas, read_frame
from assay.data.splits import Standardizer
from assay.errors import InvalidDataError, InvalidParameterError, check_output_dir
from assay.learners.base import BatchLearner
from assay.runs import atomic_write_bytes, read_checkpoint, run_identity, write_checkpoint
from assay.select.acquisition import Acquisition
from assay.select.human import ActiveLearner, _is_missing, _label_value

STATE_FILE = "label_state.npz"
CHECKPOINT_KIND = "labelling-rounds"
BATCH_FILE = "to_label.csv"


@dataclass(frozen=True)
class PoolTable:
    """A pool file split into its labelled rows and its unlabelled rows (features standardised)."""

    frame: pd.DataFrame
    target: str
    id_name: str
    ids: np.ndarray
    labelled: Dataset
    pool_X: np.ndarray
    pool_ids: np.ndarray
    fingerprint: str


def _blank(col: pd.Series) -> np.ndarray:
    values = col.astype(object).tolist()
    return np.asarray([_is_missing(v) or (isinstance(v, str) and not v.strip()) for v in values])


def has_blank_target(path: str | Path, target: str | None) -> bool:
    """Whether ``path`` is a table whose ``target`` column is empty on some rows (to label)."""
    if target is None or not Path(path).is_file():
        return False
    frame = read_frame(path)
    return target in frame.columns and bool(_blank(frame[target]).any())


def read_pool(
    path: str | Path,
    target: str,
    *,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> PoolTable:
    """Read a pool table whose ``target`` is empty on the rows still to label (``drop`` and
    ``categorical`` as in :class:`~assay.data.encode.TableEncoder`).

    Raises
    ------
    InvalidDataError
        Missing target / id column, duplicate ids, non-numeric features, no labelled or no
        unlabelled rows.
    """
    frame = read_frame(path)
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:20]))
        raise InvalidDataError(f"target column {target!r} not found; columns are: {cols}")
    if id_column is None and "id" in frame.columns and target != "id":
        id_column = "id"
    id_name = id_column or "id"
    ids = np.arange(len(frame)) if id_column is None else frame[id_column].to_numpy()
    if id_column is not None and id_column not in frame.columns:
        raise InvalidDataError(f"id column {id_column!r} not found in {str(path)!r}")
    blank = _blank(frame[target])
    if blank.all():
        raise InvalidDataError(
            f"no row of {str(path)!r} has a label in {target!r}; label a few rows of each class "
            "to start"
        )
    if not blank.any():
        raise InvalidDataError(f"every row of {str(path)!r} is labelled; nothing to ask about")
    feats = frame.drop(columns=[target]).assign(__label__=0)
    if id_column is None:
        feats = feats.assign(__id__=ids)
    full = from_pandas(
        feats, "__label__", id_column=id_column or "__id__", drop=drop, categorical=categorical
    )
    scaled = Standardizer.fit(full).transform(full)
    classes_present = [_label_value(v, False) for v in frame[target][~blank].tolist()]
    numeric = all(isinstance(v, int | float) for v in classes_present)
    labels = [_label_value(v, numeric) for v in classes_present]
    keep = np.flatnonzero(~blank)
    labelled = Dataset.from_arrays(
        scaled.X[keep],
        np.asarray(labels, dtype=object if not numeric else None),
        ids=ids[keep],
        feature_names=scaled.feature_names,
        name=Path(path).stem,
    )
    fp = run_identity(scaled.fingerprint(), labelled.fingerprint(), Path(path).name)
    return PoolTable(
        frame, target, id_name, ids, labelled, scaled.X[blank], ids[blank], fingerprint=fp
    )


def read_labels(
    path: str | Path, *, id_column: str, label_column: str, pool_ids: np.ndarray
) -> tuple[list[Any], list[Any]]:
    """(ids, labels) of the filled-in rows of a label file (rows with an empty label skipped).

    Raises
    ------
    InvalidDataError
        Missing id / label column, or no row with a label.
    """
    df = read_frame(path)
    for role, col in (("id", id_column), ("label", label_column)):
        if col not in df.columns:
            cols = ", ".join(map(str, list(df.columns)[:20]))
            raise InvalidDataError(
                f"{role} column {col!r} not found in {str(path)!r}; columns are: {cols}"
            )
    filled = ~_blank(df[label_column])
    if not filled.any():
        raise InvalidDataError(
            f"{str(path)!r} has no filled-in label in column {label_column!r} ({len(df)} rows); "
            "write a label next to each id"
        )
    ids = df[id_column][filled].tolist()
    if np.asarray(pool_ids).dtype.kind in "OUS":
        ids = [str(v) for v in ids]
    return ids, df[label_column][filled].tolist()


def _identity(table: PoolTable, learner: ActiveLearner, batch: int) -> str:
    spec = {
        "pool": table.fingerprint,
        "learner": [type(learner.learner).__name__, learner.learner.get_params()],
        "acquisition": [learner.acquisition.name, learner.acquisition.get_params()],
        "seed": learner.seed,
        "batch": batch,
    }
    return run_identity(spec)


@dataclass(frozen=True)
class RoundResult:
    """One call of :func:`label_round`: the batch written, how many labels were taught."""

    batch: pd.DataFrame
    learner: ActiveLearner
    taught: int
    path: Path


def label_round(
    table: PoolTable,
    out: str | Path,
    *,
    learner: BatchLearner | str,
    acquisition: Acquisition | str,
    batch: int,
    labels: str | Path | None = None,
    seed: int = 0,
    restart: bool = False,
) -> RoundResult:
    """Teach the labels in ``labels`` (if given), train, and write the next batch to label.

    The state in ``out`` is replayed first, so each call continues the rounds before it; a call
    without ``labels`` on an unfinished round writes the same pending batch again. A state of
    another run (other pool, learner, acquisition, batch or seed) is refused unless ``restart``,
    which discards it.
    """
    if batch < 1:
        raise InvalidParameterError(f"--batch must be >= 1, got {batch}")
    check_output_dir(out, what="labelling folder")
    out = Path(out)
    al = ActiveLearner(
        learner, acquisition, table.labelled, table.pool_X, table.pool_ids, seed=seed
    )
    ident = _identity(table, al, batch)
    state_path = out / STATE_FILE
    saved = read_checkpoint(state_path, kind=CHECKPOINT_KIND, identity=ident, restart=restart)
    if saved is not None:
        al.restore(saved.header["state"])
    taught = 0
    if labels is not None:
        ids, values = read_labels(
            labels, id_column=table.id_name, label_column=table.target, pool_ids=table.pool_ids
        )
        al.teach(ids, values)
        taught = len(ids)
    if al.pending is None or taught:
        al.query(batch)
    assert al.pending is not None
    batch_df = _batch_table(table, al.pending)
    out.mkdir(parents=True, exist_ok=True)
    path = out / BATCH_FILE
    # the round's files are its state: each call replaces them
    atomic_write_bytes(path, batch_df.to_csv(index=False).encode(), overwrite=True)
    given = al.labelled
    done = pd.DataFrame({table.id_name: given.ids, table.target: given.labels})
    atomic_write_bytes(out / "labelled.csv", done.to_csv(index=False).encode(), overwrite=True)
    state = json.loads(json.dumps(al.state(), default=_json_default))
    write_checkpoint(state_path, kind=CHECKPOINT_KIND, identity=ident, header={"state": state})
    return RoundResult(batch_df, al, taught, path)


def _json_default(o: Any) -> Any:
    return o.item() if hasattr(o, "item") else (o.tolist() if hasattr(o, "tolist") else str(o))


def _batch_table(table: PoolTable, pending: pd.DataFrame) -> pd.DataFrame:
    """id, the empty target to fill, the row's other columns, then score / guess / reason."""
    pos = {v: i for i, v in enumerate(table.ids.tolist())}
    rows = table.frame.iloc[[pos[v] for v in pending["id"].tolist()]].reset_index(drop=True)
    contents = rows.drop(columns=[c for c in (table.target, table.id_name) if c in rows.columns])
    head = pd.DataFrame({table.id_name: pending["id"].to_numpy(), table.target: ""})
    extra = pending.drop(columns=["id"]).rename(columns={"score": "acquisition_score"})
    return pd.concat([head, contents, extra.reset_index(drop=True)], axis=1)


def label_pool_file(
    pool: str | Path,
    target: str,
    out: str | Path,
    *,
    acquisition: str,
    batch: int,
    labels: str | Path | None = None,
    id_column: str | None = None,
    learner: str = "logistic",
    learner_params: dict[str, Any] | None = None,
    acquisition_params: dict[str, Any] | None = None,
    seed: int = 0,
    restart: bool = False,
    drop: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> RoundResult:
    """One labelling round on a pool file, by names (``assay active`` with a person).

    Reads the pool (:func:`read_pool`), builds the learner and the acquisition from their names
    and parameters, and runs :func:`label_round` in ``out``.
    """
    from assay.learners import make_learner
    from assay.select.acquisition import make_acquisition

    table = read_pool(pool, target, id_column=id_column, drop=drop, categorical=categorical)
    return label_round(
        table,
        out,
        learner=make_learner(learner, **(learner_params or {})),
        acquisition=make_acquisition(acquisition, **(acquisition_params or {})),
        batch=batch,
        labels=labels,
        seed=seed,
        restart=restart,
    )
