"""The run folder: how assay writes files, names runs and keeps checkpoints.

Everything assay writes to disk goes through this module (it imports nothing of assay but its
errors, so every layer may use it).

Atomic writes
    :func:`atomic_write_bytes` (and the text, JSON and table helpers built on it) writes a
    temporary file in the target's folder, flushes and fsyncs it, gives it the user's umask
    permissions (``0o666 & ~umask``; ``tempfile.mkstemp`` alone would leave ``0600``) and renames
    it over the target with ``os.replace``. A reader sees the old file or the new one, never half
    of one. An existing output is refused with :class:`~assay.errors.OutputExistsError` unless
    ``overwrite=True`` (``--overwrite`` on the command line); checkpoints and caches, which exist
    to be replaced, pass ``overwrite=True``.

Values and their sidecar, written as a pair
    :func:`write_pair` writes ``run.parquet`` and ``run.json``. The sidecar's JSON is also stored
    in the Parquet file's schema metadata (key ``assay``), together with a random ``pair`` token
    that the sidecar repeats, so the Parquet file describes itself and :func:`read_pair` prefers
    its embedded copy. Both files are written to temporary files first; then the Parquet file is
    renamed into place, then the sidecar. If the second rename fails, the first is rolled back
    (the previous Parquet file is restored, or the new one removed) and the error is raised: no
    values are left without their sidecar. A process killed between the two renames (a window of
    microseconds) leaves a Parquet file that still carries its metadata; :func:`read_pair` then
    uses the embedded copy and warns that the sidecar on disk is stale (its token differs).

Run identity
    One hash function and one digest size for every fingerprint, cache key and run identity:
    BLAKE2b with a 16-byte digest (:func:`new_hash`, :func:`digest`, :func:`run_identity`).

Checkpoints
    One format for every resumable loop (sampling methods, active learning, explainer training):
    an ``.npz`` of named arrays plus an entry ``__header__`` holding a JSON object with the
    format name and version, the kind of run, its identity and any JSON state. It is one file,
    written atomically, read without pickle (:func:`write_checkpoint`, :func:`read_checkpoint`).
    A checkpoint of another run, or an unreadable one, is refused with a message that names the
    file and says to pass ``--restart`` (``restart=True``), which discards it and starts afresh.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import ArrayLike, NDArray

from assay.errors import (
    CorruptArtifactError,
    InvalidDataError,
    InvalidParameterError,
    OutputExistsError,
    OutputPathError,
    RunMismatchError,
    check_output_path,
    corrupt,
)

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "DIGEST_SIZE",
    "OVERWRITE_HINT",
    "PAIR_KEY",
    "RESTART_HINT",
    "Checkpoint",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_table",
    "atomic_write_text",
    "check_new",
    "copy_pair",
    "digest",
    "new_hash",
    "pair_outputs",
    "read_checkpoint",
    "read_pair",
    "run_identity",
    "sibling",
    "sidecar_path",
    "with_extension",
    "write_checkpoint",
    "write_pair",
]

DIGEST_SIZE = 16
"""Bytes of every assay digest (BLAKE2b); hex strings are twice as long."""
PAIR_KEY = b"assay"
"""Parquet schema-metadata key that holds a values file's sidecar JSON."""
CHECKPOINT_FORMAT = "assay-checkpoint"
CHECKPOINT_VERSION = 1
_HEADER = "__header__"
OVERWRITE_HINT = "pass --overwrite (overwrite=True) to replace it"
RESTART_HINT = "pass --restart (restart=True) or delete it to start afresh"


# --------------------------------------------------------------------------- hashing
def new_hash() -> Any:
    """A fresh BLAKE2b hasher with assay's digest size (feed it with ``update``)."""
    return hashlib.blake2b(digest_size=DIGEST_SIZE)


def digest(data: bytes) -> bytes:
    """The raw digest of ``data`` (``DIGEST_SIZE`` bytes)."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


def run_identity(*parts: Any) -> str:
    """Hex digest of JSON-able parts (dict keys sorted; other objects by ``str``).

    The identity of a run, a cache namespace or a spec: equal parts give equal identities.
    """
    blob = json.dumps(list(parts), sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=DIGEST_SIZE).hexdigest()


# --------------------------------------------------------------------------- paths
def with_extension(path: str | Path, ext: str) -> Path:
    """``path`` ending in ``ext``: appended, never replacing a suffix (``run.v1`` ->
    ``run.v1.parquet``; ``run.parquet`` stays)."""
    p = Path(path)
    if not ext.startswith("."):
        raise InvalidParameterError(f"an extension starts with a dot, got {ext!r}")
    return p if p.name.lower().endswith(ext.lower()) else p.with_name(p.name + ext)


def sibling(path: str | Path, ext: str, base_ext: str = ".parquet") -> Path:
    """A companion of ``path``: its ``base_ext`` removed (when present) and ``ext`` appended.

    ``run.v1.parquet`` -> ``run.v1.json`` (``ext=".json"``) or ``run.v1.flipped.csv``.
    """
    p = Path(path)
    name = p.name
    if name.lower().endswith(base_ext.lower()) and len(name) > len(base_ext):
        name = name[: -len(base_ext)]
    return p.with_name(name + ext)


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of a Parquet file: ``values.parquet`` -> ``values.json``."""
    return sibling(path, ".json")


def pair_outputs(path: str | Path, what: str = "values file") -> tuple[Path, Path]:
    """The two files :func:`write_pair` writes for ``path``: ``.parquet`` appended unless
    present, and its sidecar (``run.v1`` -> ``run.v1.parquet``, ``run.v1.json``).

    Raises
    ------
    OutputPathError
        ``path`` is empty, a directory, or under a file.
    """
    check_output_path(path, what=what)
    p = with_extension(path, ".parquet")
    return p, sidecar_path(p)


def check_new(*paths: str | Path, overwrite: bool = False, what: str = "output file") -> None:
    """Refuse outputs that cannot be written, before any work is done.

    Parameters
    ----------
    *paths : str or os.PathLike
        Files to be written (missing parent folders are fine).
    overwrite : bool
        Allow replacing files that exist.
    what : str
        How the message refers to the files.

    Raises
    ------
    OutputPathError
        A path is empty, is a directory or lies under a regular file
        (:func:`assay.errors.check_output_path`, the one output-path check).
    OutputExistsError
        A path exists and ``overwrite`` is false.
    """
    for path in paths:
        check_output_path(path, what=what)
        if Path(path).exists() and not overwrite:
            raise OutputExistsError(f"{what} {str(path)!r} already exists; {OVERWRITE_HINT}")


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would race with other threads)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _stage(path: Path, data: bytes | Callable[[BinaryIO], None]) -> str:
    """Write ``data`` (bytes, or a function that writes to an open binary file) to a temporary
    file next to ``path``, synced, with umask permissions."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OutputPathError(f"cannot write {str(path)!r}: {exc}") from exc
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


# --------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(
    path: str | Path, data: bytes | Callable[[BinaryIO], None], *, overwrite: bool = False
) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, umask mode, ``os.replace``).

    ``data`` may be a function writing to the open temporary file instead (a large table written
    piece by piece, never held as one bytes object).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    OutputPathError
        ``path`` is a directory, has no name or lies under a file.
    """
    p = Path(path)
    check_new(p, overwrite=overwrite)
    tmp = _stage(p, data)
    try:
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def atomic_write_json(
    path: str | Path, obj: Any, *, overwrite: bool = False, indent: int | None = 2, **kw: Any
) -> Path:
    """:func:`atomic_write_bytes` of ``json.dumps(obj, indent=indent, **kw)``."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, **kw), overwrite=overwrite)


def _parquet_bytes(table: Any, meta: Mapping[str, Any] | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
    if meta is not None:
        schema_meta = dict(t.schema.metadata or {})
        schema_meta[PAIR_KEY] = json.dumps(meta).encode()
        t = t.replace_schema_metadata(schema_meta)
    sink = pa.BufferOutputStream()
    pq.write_table(t, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def atomic_write_table(path: str | Path, table: Any, *, overwrite: bool = False) -> Path:
    """Write a pandas DataFrame or pyarrow Table atomically: CSV when ``path`` ends in ``.csv``,
    Parquet otherwise (no index)."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        df = table if not hasattr(table, "to_pandas") else table.to_pandas()
        return atomic_write_text(p, df.to_csv(index=False), overwrite=overwrite)
    if not hasattr(table, "schema") and len(table) > PARQUET_SLICE_ROWS:
        write = functools.partial(_write_parquet_slices, table)
        return atomic_write_bytes(p, write, overwrite=overwrite)
    return atomic_write_bytes(p, _parquet_bytes(table), overwrite=overwrite)


#: rows per slice when a large DataFrame is written to Parquet (one row group each)
PARQUET_SLICE_ROWS = 262_144


def _write_parquet_slices(frame: Any, fh: BinaryIO) -> None:
    """Write a DataFrame to ``fh`` as Parquet one slice of rows at a time: converting the whole
    frame to Arrow and then to bytes held three copies of a million-row table at once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(fh, schema, compression="zstd") as writer:
        for lo in range(0, len(frame), PARQUET_SLICE_ROWS):
            part = frame.iloc[lo : lo + PARQUET_SLICE_ROWS]
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


# --------------------------------------------------------------------------- pairs
def _backup(path: Path) -> str | None:
    """A second name for the current ``path`` (to roll back to), or None when there is none."""
    if not path.exists():
        return None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".bak")
    os.close(fd)
    os.unlink(tmp)
    try:
        os.link(path, tmp)
    except OSError:  # no hard links here: a copy does
        import shutil

        shutil.copy2(path, tmp)
    return tmp


def write_pair(
    path: str | Path, table: Any, meta: Mapping[str, Any], *, overwrite: bool = False
) -> Path:
    """Write the Parquet file ``path`` and its JSON sidecar (:func:`sidecar_path`) as a pair.

    ``meta`` (JSON-able) is the sidecar; it is also embedded in the Parquet schema metadata with a
    ``pair`` token both files share. See the module docstring for the crash guarantees.
    Returns the Parquet path.
    """
    p = Path(path)
    side = sidecar_path(p)
    if side == p:
        raise InvalidParameterError(f"a values file must end in .parquet, got {str(p)!r}")
    check_new(p, side, overwrite=overwrite)
    full = {**dict(meta), "pair": uuid.uuid4().hex}
    side_bytes = json.dumps(full, indent=2).encode("utf-8")
    _install_pair(p, side, _parquet_bytes(table, full), side_bytes)
    return p


def copy_pair(src: str | Path, dest: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a values file and its sidecar (when it has one) to ``dest``, as a pair, atomically."""
    s, d = Path(src), Path(dest)
    if not s.is_file():
        raise InvalidDataError(f"values file not found: {str(s)!r}")
    check_new(d, sidecar_path(d), overwrite=overwrite)
    side = sidecar_path(s)
    if side.is_file():
        _install_pair(d, sidecar_path(d), s.read_bytes(), side.read_bytes())
    else:
        atomic_write_bytes(d, s.read_bytes(), overwrite=overwrite)
        sidecar_path(d).unlink(missing_ok=True)  # an old sidecar would describe other values
    return d


def _install_pair(p: Path, side: Path, values: bytes, side_bytes: bytes) -> None:
    """Stage both files, then rename the values file and the sidecar into place; roll the
    first rename back if the second fails."""
    staged = _stage(p, values)
    tmp_values: str | None = staged
    tmp_side: str | None = None
    backup: str | None = None
    try:
        tmp_side = _stage(side, side_bytes)
        backup = _backup(p)
        os.replace(staged, p)
        tmp_values = None
        try:
            os.replace(tmp_side, side)
            tmp_side = None
        except BaseException:
            if backup is not None:  # roll the values file back: never new values, old sidecar
                os.replace(backup, p)
                backup = None
            else:
                p.unlink(missing_ok=True)
            raise
    finally:
        for leftover in (tmp_values, tmp_side, backup):
            if leftover is not None:
                Path(leftover).unlink(missing_ok=True)


def read_pair(
    path: str | Path,
    what: str = "values file",
    *,
    fresh: str = "write it again",
) -> tuple[Any, dict[str, Any] | None]:
    """``(DataFrame, metadata or None)`` of a Parquet file written by :func:`write_pair`.

    The metadata embedded in the Parquet file is preferred; the sidecar's is used for files
    without it (written by older versions or by other tools). A sidecar whose ``pair`` token
    differs from the embedded one is stale (an interrupted write) and is ignored with a warning;
    a sidecar that is not a JSON object (with a ``params`` object, if any) is refused.

    Parameters
    ----------
    path : str or os.PathLike
        The Parquet file.
    what : str
        How messages refer to it.
    fresh : str
        How to start afresh, said in the message of a corrupt file.

    Raises
    ------
    InvalidDataError
        The file is missing or a directory.
    CorruptArtifactError
        The Parquet file, its embedded metadata or (for a file without metadata) its sidecar
        cannot be read.
    """
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        raise InvalidDataError(f"{what} not found: {str(p)!r}")
    if p.is_dir():
        raise InvalidDataError(f"{str(p)!r} is a directory, not a {what}")
    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise corrupt(what, p, f"{type(exc).__name__}: {exc}", fresh) from exc
    embedded = (table.schema.metadata or {}).get(PAIR_KEY)
    meta: dict[str, Any] | None = None
    if embedded is not None:
        meta = _json_object(embedded.decode("utf-8", "replace"), f"metadata of {what}", p, fresh)
    side = sidecar_path(p)
    if side != p and side.exists():
        # assay writes sidecars atomically, so one that is not a JSON object was damaged by hand:
        # refuse it even when the values file carries its own copy
        try:
            text = side.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise corrupt("sidecar", side, exc, f"delete it or {fresh}") from exc
        side_meta = _json_object(text, "sidecar", side, f"delete it or {fresh}")
        if not isinstance(side_meta.get("params", {}), dict):
            raise corrupt("sidecar", side, "its params are not a JSON object", fresh)
        if meta is None:
            meta = side_meta
        elif side_meta.get("pair") != meta.get("pair"):
            log.warning(
                "sidecar %s does not belong to %s (an interrupted write?); using the "
                "metadata stored in the values file",
                side,
                p,
            )
    return table.to_pandas(), meta


def _json_object(text: str, what: str, path: Path, fresh: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise corrupt(what, path, f"not valid JSON: {exc}", fresh) from exc
    if not isinstance(obj, dict):
        raise corrupt(what, path, f"not a JSON object but {type(obj).__name__}", fresh)
    return obj


# --------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back: its JSON ``header`` and its named ``arrays``."""

    header: dict[str, Any]
    arrays: dict[str, NDArray[Any]]

    def __getitem__(self, key: str) -> NDArray[Any]:
        return self.arrays[key]


def write_checkpoint(
    path: str | Path,
    *,
    kind: str,
    identity: str,
    arrays: Mapping[str, ArrayLike] | None = None,
    header: Mapping[str, Any] | None = None,
) -> Path:
    """Replace the checkpoint ``path`` atomically: ``arrays`` plus a JSON ``header``.

    ``kind`` names the loop (``"sampling"``, ``"active-learning"``, ``"explainer-training"``);
    ``identity`` (:func:`run_identity`) is what a resume must match.
    """
    head = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "kind": kind,
        "identity": identity,
        **dict(header or {}),
    }
    named: dict[str, Any] = {k: np.asarray(v) for k, v in (arrays or {}).items()}
    if _HEADER in named:
        raise InvalidParameterError(f"{_HEADER!r} is reserved in a checkpoint")
    buf = io.BytesIO()
    named[_HEADER] = np.array(json.dumps(head))
    np.savez(buf, **named)
    return atomic_write_bytes(path, buf.getvalue(), overwrite=True)


def read_checkpoint(
    path: str | Path, *, kind: str, identity: str, restart: bool = False
) -> Checkpoint | None:
    """The checkpoint at ``path``, or None when there is none (or ``restart`` discarded it).

    Raises
    ------
    RunMismatchError
        It belongs to another run (another identity) and ``restart`` is false.
    CorruptArtifactError
        It is unreadable or not an assay checkpoint of this ``kind``, and ``restart`` is false.
    """
    p = Path(path)
    if not p.exists():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in z.files}
        head = json.loads(str(arrays.pop(_HEADER)))
        if not isinstance(head, dict):
            raise ValueError("the header is not a JSON object")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        _discard(p, restart, f"checkpoint {str(p)!r} is corrupt or unreadable ({exc})", None)
        return None
    if head.get("format") != CHECKPOINT_FORMAT or head.get("kind") != kind:
        found = f"{head.get('format')!r} / {head.get('kind')!r}"
        _discard(p, restart, f"{str(p)!r} is not a {kind} checkpoint (found {found})", None)
        return None
    if int(head.get("version", 0)) > CHECKPOINT_VERSION:
        raise CorruptArtifactError(
            f"checkpoint {str(p)!r} has format version {head['version']}, newer than this "
            f"assay's {CHECKPOINT_VERSION}; upgrade assay or {RESTART_HINT}"
        )
    if head.get("identity") != identity:
        _discard(
            p,
            restart,
            f"checkpoint {str(p)!r} belongs to another run (different data, learner or parameters)",
            RunMismatchError,
        )
        return None
    return Checkpoint(head, arrays)


def _discard(path: Path, restart: bool, problem: str, error: type[Exception] | None) -> None:
    if not restart:
        raise (error or CorruptArtifactError)(f"{problem}; {RESTART_HINT}, or choose another path")
    log.warning("%s; discarded (restart)", problem)
    path.unlink(missing_ok=True)
