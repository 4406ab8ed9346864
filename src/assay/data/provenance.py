"""What data a result was computed on: absolute file paths, file hashes, a content fingerprint.

Every result written through :func:`assay.valuation.run.value_task` records :func:`provenance` of
its task in its sidecar. ``assay evaluate`` and ``assay report`` compare it with the data they are
given (:func:`check_provenance`) and refuse stale data instead of scoring values against rows they
were not computed on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from assay.errors import StaleDataError
from assay.runs import new_hash


def file_hash(path: str | Path) -> str:
    """assay's hash (:func:`assay.runs.new_hash`) of a file's bytes (read in blocks)."""
    h = new_hash()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def task_fingerprint(task: Any) -> str:
    """Hash of the built task's datasets (:meth:`Dataset.fingerprint` of train / valid / test).

    It changes when the rows, labels (flips included), split or scaling change, whatever file or
    bundled set they came from.
    """
    h = new_hash()
    for name in ("train", "valid", "test"):
        ds = getattr(task, name, None)
        h.update(f"{name}:{'-' if ds is None else ds.fingerprint()};".encode())
    return h.hexdigest()


def absolute_spec(spec: Any) -> Any:
    """``spec`` with its file paths made absolute (a result can be evaluated from anywhere)."""
    changes = {
        f: str(Path(getattr(spec, f)).resolve())
        for f in ("source", "valid", "test")
        if getattr(spec, f, None) is not None and Path(getattr(spec, f)).is_file()
    }
    return dataclasses.replace(spec, **changes)


def provenance(task: Any) -> dict[str, Any]:
    """``{"files": {absolute path: hash}, "fingerprint": ..., "encoder": ...}`` of a task.

    ``encoder`` is the fitted :class:`~assay.data.encode.TableEncoder` state of a data file's
    task (None for bundled data): the columns' roles and transforms, so new rows can be encoded
    exactly as the valued rows were (:func:`encoder_of`).
    """
    spec = task.spec
    files = {
        str(Path(p).resolve()): file_hash(p)
        for p in (spec.source, spec.valid, spec.test)
        if p is not None and Path(p).is_file()
    }
    encoder = getattr(task, "encoder", None)
    return {
        "files": files,
        "fingerprint": task_fingerprint(task),
        "encoder": None if encoder is None else encoder.to_dict(),
    }


def encoder_of(params: dict[str, Any]) -> Any:
    """The :class:`~assay.data.encode.TableEncoder` a result's sidecar recorded, or None.

    Parameters
    ----------
    params : dict
        A result's ``params`` (its JSON sidecar), as written by ``assay value`` or
        :func:`assay.valuation.run.value_task`.
    """
    from assay.data.encode import TableEncoder

    state = (params.get("data") or {}).get("encoder")
    return None if state is None else TableEncoder.from_dict(state)


def check_provenance(recorded: Any, task: Any, *, what: str) -> None:
    """Refuse ``task`` when it is not the data ``recorded`` (a :func:`provenance` dict) names.

    Results without a record (written by older versions or by hand) pass unchecked.

    Raises
    ------
    StaleDataError
        If a recorded file's bytes changed, or the rebuilt task's content differs.
    """
    if not isinstance(recorded, dict):
        return
    for path, digest in dict(recorded.get("files", {})).items():
        if Path(path).is_file() and file_hash(path) != digest:
            raise StaleDataError(
                f"{path!r} changed since {what} was computed (its hash is no longer {digest}); "
                "rerun `assay value` on the current file"
            )
    expected = recorded.get("fingerprint")
    actual = task_fingerprint(task)
    if expected is not None and actual != expected:
        raise StaleDataError(
            f"the data given for {what} is not the data it was computed on (fingerprint {actual} "
            f"!= {expected}): other rows, labels, split or seed; pass the original data or rerun "
            "`assay value`"
        )


def check_same_data(results: dict[str, Any]) -> None:
    """Refuse results computed on different data (their recorded fingerprints differ)."""
    seen: dict[str, str] = {}
    for name, r in results.items():
        fp = dict(r.params.get("data", {}) or {}).get("fingerprint")
        if fp is not None:
            seen.setdefault(fp, name)
    if len(seen) > 1:
        names = ", ".join(f"{n!r} ({fp[:8]})" for fp, n in seen.items())
        raise StaleDataError(
            f"these results were computed on different data: {names}; evaluate them separately"
        )
