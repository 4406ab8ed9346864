"""On-disk cache of embeddings, keyed by a hash of the data and of the model.

An entry is one ``.npy`` file named by the run identity (:func:`assay.runs.run_identity`) of a
JSON spec (kind of embedding, model fingerprint, parameters, data fingerprint), written
atomically, so a crash never leaves a half file and a changed model or changed data never reads a
stale entry. No pickle: ``np.load`` is called with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from assay.runs import atomic_write_bytes, new_hash, run_identity

log = logging.getLogger(__name__)


def array_fingerprint(arr: NDArray[Any]) -> str:
    """Hash of an array's dtype, shape and bytes."""
    h = new_hash()
    a = np.ascontiguousarray(arr)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    flat = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)
    for lo in range(0, flat.shape[0], 65_536):  # bounded copies, whatever the array's size
        h.update(flat[lo : lo + 65_536].tobytes())
    return h.hexdigest()


def texts_fingerprint(texts: Iterable[str]) -> str:
    """Hash of a sequence of strings (order matters; each is length-prefixed)."""
    h = new_hash()
    count = 0
    for t in texts:
        b = str(t).encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
        count += 1
    h.update(count.to_bytes(8, "little"))
    return h.hexdigest()


def module_fingerprint(module: torch.nn.Module) -> str:
    """Hash of a module's architecture (its repr) and every parameter and buffer."""
    h = new_hash()
    h.update(repr(module).encode())
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def file_fingerprint(path: Path) -> str:
    """Hash of a file's bytes (model weights): :func:`assay.data.provenance.file_hash`."""
    from assay.data.provenance import file_hash

    return file_hash(path)


class EmbeddingCache:
    """Embeddings stored as ``<dir>/<key>.npy``; a ``None`` directory caches nothing.

    Parameters
    ----------
    directory : path, optional
    """

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = None if directory is None else Path(directory)

    @staticmethod
    def key(spec: dict[str, Any]) -> str:
        """The entry name of a spec (any JSON-able dict)."""
        return run_identity(spec)

    def path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.npy"

    def get(self, key: str, n_rows: int | None = None) -> NDArray[np.float32] | None:
        """The cached matrix, or ``None`` (also when the entry is unreadable or has other rows)."""
        p = self.path(key)
        if p is None or not p.exists():
            return None
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:  # a damaged entry is recomputed, not trusted
            log.warning("ignoring unreadable embedding cache entry %s: %s", p, exc)
            return None
        if arr.ndim != 2 or (n_rows is not None and arr.shape[0] != n_rows):
            return None
        log.info("embeddings read from cache %s", p)
        return np.ascontiguousarray(arr)

    def put(self, key: str, arr: NDArray[Any]) -> Path | None:
        """Store ``arr`` atomically; returns the file written (``None`` without a directory)."""
        p = self.path(key)
        if p is None:
            return None
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        atomic_write_bytes(p, buf.getvalue(), overwrite=True)  # a damaged entry is replaced
        return p
