"""Embeddings of numeric data: validation, raw features, PCA, and any torch feature extractor.

Every function returns a C-contiguous ``float32`` (or, when asked, ``float64``) matrix with one row
per input row. Validation is chunked, so checking a 1,000,000 x 384 matrix for NaN never allocates
a second matrix of the same size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from assay.embed.cache import EmbeddingCache, array_fingerprint, module_fingerprint
from assay.errors import InvalidDataError, InvalidParameterError

_CHECK_ROWS = 65_536


def check_embeddings(
    X: ArrayLike,
    *,
    n_rows: int | None = None,
    what: str = "embeddings",
    dtype: Any = None,
) -> NDArray[np.floating[Any]]:
    """Validate an embedding matrix: 2-D, numeric, finite, and ``n_rows`` rows when given.

    Parameters
    ----------
    X : array-like of shape (n, d)
    n_rows : int, optional
        The number of rows the data has (a mismatch is an error naming both counts).
    what : str
        Name used in error messages.
    dtype : numpy dtype, optional
        Convert to this floating dtype; by default float32 and float64 are kept, any other numeric
        type becomes float32.

    Returns
    -------
    ndarray of shape (n, d)
        C-contiguous floating matrix (the input itself when no conversion was needed).

    Raises
    ------
    InvalidDataError
        Not 2-D, not numeric, empty, a NaN / inf entry (the first one's row is named), or a row
        count different from ``n_rows``.
    """
    arr = np.asarray(X)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InvalidDataError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidDataError(f"{what} must be a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidDataError(f"{what} is empty: shape {arr.shape}")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InvalidDataError(
            f"shape mismatch: {what} has {arr.shape[0]} rows but the data has {n_rows}"
        )
    target = np.dtype(dtype) if dtype is not None else None
    if target is None:
        target = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    arr = np.ascontiguousarray(arr, dtype=target)
    for lo in range(0, arr.shape[0], _CHECK_ROWS):
        block = arr[lo : lo + _CHECK_ROWS]
        if not np.isfinite(block).all():
            row, col = np.argwhere(~np.isfinite(block))[0]
            kind = "NaN" if np.isnan(block[row, col]) else "inf"
            raise InvalidDataError(
                f"{what} has non-finite values ({kind} first at row {lo + row}, column {col}); "
                "drop or re-embed those rows"
            )
    return arr


def embed_features(
    X: ArrayLike,
    *,
    method: str = "raw",
    dim: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
) -> NDArray[np.float32]:
    """Raw features or their PCA projection, as float32 embeddings.

    Parameters
    ----------
    X : array-like of shape (n, d)
    method : {"raw", "pca"}
        ``raw`` returns the features; ``pca`` projects them on the top ``dim`` principal
        components (scikit-learn's randomized solver when ``dim`` is small against ``d``).
    dim : int, optional
        Number of components for ``pca`` (default ``min(50, d)``).
    seed : int
        Seed of the randomized PCA solver.
    cache_dir : path, optional
        Cache the result on disk keyed by the data's hash and the parameters.
    """
    arr = check_embeddings(X, what="features")
    if method == "raw":
        return arr.astype(np.float32, copy=False)
    if method != "pca":
        raise InvalidParameterError(f"method must be 'raw' or 'pca', got {method!r}")
    d = arr.shape[1]
    k = min(50, d) if dim is None else int(dim)
    if not 1 <= k <= min(arr.shape):
        raise InvalidParameterError(f"dim must lie in [1, {min(arr.shape)}], got {dim}")
    cache = EmbeddingCache(cache_dir)
    key = cache.key({"kind": "pca", "dim": k, "seed": seed, "data": array_fingerprint(arr)})
    hit = cache.get(key, arr.shape[0])
    if hit is not None:
        return hit
    from sklearn.decomposition import PCA

    solver = "randomized" if k < 0.5 * min(arr.shape) else "full"
    pca = PCA(n_components=k, svd_solver=solver, random_state=seed)
    out = np.ascontiguousarray(pca.fit_transform(arr), dtype=np.float32)
    cache.put(key, out)
    return out


def embed_with_model(
    X: ArrayLike,
    model: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
    *,
    input_shape: tuple[int, ...] | None = None,
    batch_size: int = 1024,
    device: str = "cpu",
    progress: bool = False,
    cache_dir: str | None = None,
) -> NDArray[np.float32]:
    """Run a torch feature extractor over the rows of ``X`` in batches (no gradients).

    Parameters
    ----------
    X : array-like of shape (n, d)
        Flat rows (images are reshaped with ``input_shape``).
    model : torch.nn.Module or callable
        Maps a batch (b, *input_shape) to features (b, ...); outputs are flattened per row.
        A module is put in ``eval`` mode; its dtype decides the input dtype.
    input_shape : tuple, optional
        Shape of one input, e.g. ``(1, 28, 28)`` for Fashion-MNIST images stored flat.
    batch_size : int
        Rows per forward pass.
    device : str
    progress : bool
        Show a tqdm progress bar.
    cache_dir : path, optional
        Cache keyed by the data hash and the model's fingerprint (architecture and weights);
        a plain callable is not cached (it has no fingerprint).
    """
    arr = check_embeddings(X, what="inputs")
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
    is_module = isinstance(model, torch.nn.Module)
    cache = EmbeddingCache(cache_dir if is_module else None)
    key = ""
    if is_module:
        assert isinstance(model, torch.nn.Module)
        spec = {
            "kind": "torch",
            "model": module_fingerprint(model),
            "input_shape": list(input_shape) if input_shape else None,
            "data": array_fingerprint(arr),
        }
        key = cache.key(spec)
        hit = cache.get(key, arr.shape[0])
        if hit is not None:
            return hit
        model.eval()
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None else torch.float32
    else:
        dtype = torch.float32
    from tqdm.auto import tqdm

    parts: list[NDArray[np.float32]] = []
    starts = range(0, arr.shape[0], batch_size)
    with torch.no_grad():
        for lo in tqdm(starts, disable=not progress, desc="embed", unit="batch"):
            block = np.require(arr[lo : lo + batch_size], requirements=["C", "W"])
            xb = torch.as_tensor(block, dtype=dtype, device=device)
            if input_shape is not None:
                xb = xb.reshape(xb.shape[0], *input_shape)
            out = model(xb)
            parts.append(out.reshape(out.shape[0], -1).float().cpu().numpy())
    result = check_embeddings(np.concatenate(parts), what="model outputs", dtype=np.float32)
    if is_module:
        cache.put(key, result)
    return result


def penultimate_embeddings(fitted: Any, X: ArrayLike, *, b: int = 0) -> NDArray[np.float32]:
    """Last-hidden-layer features of model ``b`` of fitted batched networks (``FittedNetworks``).

    The network is an ``nn.Sequential`` whose last module is the output layer; its prefix is run
    with the fitted parameters (the paper's "last-layer embeddings" of the warm-start model).
    """
    from torch.func import functional_call

    module = getattr(fitted, "module", None)
    if not isinstance(module, torch.nn.Sequential) or len(module) < 2:
        raise InvalidParameterError(
            "penultimate_embeddings needs fitted batched networks (mlp, cnn) built as "
            f"nn.Sequential, got {type(fitted).__name__}"
        )
    body = module[:-1]
    names = {n for n, _ in body.named_parameters()}
    params = {k: v[b] for k, v in fitted.params.items() if k in names}
    buffers = {k: v[b] for k, v in fitted.buffers.items() if k in names}

    pdtype = next(iter(params.values())).dtype

    def run(xb: torch.Tensor) -> torch.Tensor:
        return functional_call(body, (params, buffers), (xb.to(pdtype),))

    return embed_with_model(X, run)
