"""The pool of sampled subsets and their utilities, computed once and reused by every epoch.

Training the explainer needs v_{x,y}(s) for many (x, s) pairs. The costly part is training the
sub-model of s; evaluating it at one more input is cheap. So a pool of M subsets is drawn once
from the sampler (Shapley kernel, paired), each sub-model is trained once, and it is evaluated at
every explainer input (training and validation) for every label: a (M, m, K) array of targets that
all epochs reuse. (FastSHAP draws fresh subsets every step; the Fast-DataShapley code draws one
coalition per mini-batch and retrains for it. Reusing a fixed pool trades fresh draws for
far fewer retrainings; the pool size sets the number of trained sub-models.)

When the sampler's player space is small (GFDS+ with 10 groups: 1,022 subsets) the pool is
*exhaustive*: every subset, weighted by its kernel probability, which makes the loss the exact
expectation of Eq. 3 over s.

Computing the targets is resumable: with a ``cache_dir`` each chunk of sub-models is written to
``cache_dir/<key>/chunk-<i>.npz`` as soon as it is done, and a rerun reads finished chunks back.
The key hashes the learner, the training data, the subsets and the inputs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.explain.game import PredictionUtility
from assay.explain.sampling import SubsetSampler
from assay.parallel import chunked
from assay.progress import progress_bar
from assay.runs import atomic_write_bytes, digest, new_hash, run_identity


@dataclass(frozen=True)
class SubsetPool:
    """M subsets of the training points and the probability of each in the loss.

    ``masks`` (M, n) bool; ``weights`` (M,) sums to 1; with ``paired`` rows 2j and 2j + 1 are
    a complementary pair (in the sampler's player space) of equal weight.
    """

    masks: NDArray[np.bool_]
    weights: NDArray[np.float64]
    paired: bool
    exhaustive: bool

    @property
    def size(self) -> int:
        return int(self.masks.shape[0])

    def fingerprint(self) -> str:
        h = new_hash()
        h.update(np.packbits(self.masks, axis=1).tobytes())
        h.update(str(self.masks.shape).encode())
        return h.hexdigest()


def make_pool(
    sampler: SubsetSampler, size: int, rng: np.random.Generator, *, exhaustive: str = "auto"
) -> SubsetPool:
    """Draw a pool of ``size`` subsets, or take every subset when there are at most ``size``.

    Parameters
    ----------
    exhaustive : {"auto", "always", "never"}
        ``auto`` enumerates whenever the player space has no more than ``size`` subsets.
    """
    if exhaustive not in ("auto", "always", "never"):
        raise InvalidParameterError(f"exhaustive must be auto, always or never, got {exhaustive!r}")
    if size < 2:
        raise InvalidParameterError(f"the subset pool needs at least 2 subsets, got {size}")
    distinct = sampler.n_distinct()
    if exhaustive == "always" or (
        exhaustive == "auto" and distinct is not None and distinct <= size
    ):
        masks, probs = sampler.exhaustive()
        return SubsetPool(masks, probs / probs.sum(), True, True)
    if sampler.paired and size % 2:
        size += 1  # keep every pair whole
    masks = sampler.sample(rng, size)
    return SubsetPool(masks, np.full(len(masks), 1.0 / len(masks)), sampler.paired, False)


def pool_key(putil: PredictionUtility, pool: SubsetPool, X: NDArray[np.float64]) -> str:
    spec = {
        "utility": putil.key,
        "pool": pool.fingerprint(),
        "inputs": digest(np.ascontiguousarray(X).tobytes()).hex(),
        "shape": list(X.shape),
    }
    return run_identity(spec)


def pool_targets(
    putil: PredictionUtility,
    pool: SubsetPool,
    X: NDArray[np.float64],
    *,
    cache_dir: str | Path | None = None,
    chunk: int = 64,
    progress: bool = False,
) -> NDArray[np.float32]:
    """softmax(f_{D_s}(x)) for every pool subset s and input x: (M, m, K), float32.

    Each distinct subset trains one sub-model; chunks of ``chunk`` sub-models train together;
    with ``cache_dir`` each finished chunk is kept on disk (in a folder per chunk size) and reused
    by a rerun (a killed run resumes where it stopped). Chunks of 64 keep the progress bar and
    the resume points moving on large tables (a 40,000-row sub-model takes ~0.65 s).
    """
    X = np.asarray(X, dtype=np.float64)
    rows, inverse = distinct_rows(pool.masks)
    masks = pool.masks[rows]
    pieces = chunked(len(rows), chunk)
    out = np.empty((len(rows), X.shape[0], putil.n_classes), dtype=np.float32)
    folder = (
        None if cache_dir is None else Path(cache_dir) / pool_key(putil, pool, X) / f"by-{chunk}"
    )
    bar = progress_bar(len(rows), "sub-models", progress, "model")
    for i, piece in enumerate(pieces):
        path = None if folder is None else folder / f"chunk-{i:05d}.npz"
        if path is not None and path.exists():
            with np.load(path) as z:
                out[piece] = z["proba"]
        else:
            out[piece] = putil.proba(masks[piece], X)
            if path is not None:
                buf = io.BytesIO()
                np.savez(buf, proba=out[piece])
                atomic_write_bytes(path, buf.getvalue(), overwrite=True)
        bar.update(piece.stop - piece.start)
    bar.close()
    return out[inverse]


def distinct_rows(masks: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First occurrence of every distinct row, and each row's index into them (a subset drawn
    twice, as small and large ones often are, trains one model)."""
    packed = np.packbits(masks, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep draw order, so chunks fill in the order of the pool
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inverse.reshape(-1)].astype(np.int64)
