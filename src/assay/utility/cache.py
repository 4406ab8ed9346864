"""Memoisation of utility values, in memory and optionally on disk.

Keys are :func:`assay.runs.digest` digests (BLAKE2b, 16 bytes) of a subset (packed bits for 0/1
masks, raw float64 weights otherwise) inside a namespace that hashes the data, learner, its
parameters and the scorer. On disk each evaluated chunk is one ``.npz`` file written atomically
(temporary file + ``os.replace``), so a killed run loses at most the chunk in flight and the next
run starts from everything else.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import check_output_dir, corrupt
from assay.runs import DIGEST_SIZE, atomic_write_bytes, digest


def subset_keys(weights: NDArray[Any]) -> list[bytes]:
    """One digest per row of a (B, n) weight matrix."""
    W = np.asarray(weights)
    binary = bool(np.isin(W, (0, 1)).all())
    rows = np.packbits(W.astype(bool), axis=1) if binary else np.ascontiguousarray(W, np.float64)
    prefix = b"m" if binary else b"w"
    return [digest(prefix + r.tobytes()) for r in rows]


class UtilityCache:
    """Scores by subset key; ``directory`` (optional) makes them survive the process."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.memory: dict[bytes, NDArray[np.float64]] = {}
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            check_output_dir(self.directory, what="cache directory")
            self.directory.mkdir(parents=True, exist_ok=True)
            for part in sorted(self.directory.glob("part-*.npz")):
                try:
                    with np.load(part, allow_pickle=False) as z:
                        for k, v in zip(z["keys"], z["scores"], strict=True):
                            self.memory[bytes(k)] = np.asarray(v, dtype=np.float64)
                except Exception as exc:  # zipfile / key / length errors of a damaged part
                    raise corrupt(
                        "utility cache part", part, exc, "delete that file (the others are kept)"
                    ) from exc

    def __len__(self) -> int:
        return len(self.memory)

    def get(self, key: bytes) -> NDArray[np.float64] | None:
        return self.memory.get(key)

    def put_many(self, keys: list[bytes], scores: NDArray[np.float64]) -> None:
        """Store a chunk of results (and persist it as one file when on disk)."""
        for k, s in zip(keys, scores, strict=True):
            self.memory[k] = np.asarray(s, dtype=np.float64)
        if self.directory is not None and keys:
            buf = io.BytesIO()
            key_array = np.array(keys, dtype=f"S{DIGEST_SIZE}")
            np.savez(buf, keys=key_array, scores=np.asarray(scores, np.float64))
            part = self.directory / f"part-{uuid.uuid4().hex}.npz"
            atomic_write_bytes(part, buf.getvalue(), overwrite=True)
