"""Embeddings for clustering and selection: raw / PCA features, torch feature extractors, text.

- :func:`embed_features`: the features themselves or a PCA projection;
- :func:`embed_with_model`: any torch module (an image or table encoder), batched, no gradients;
- :func:`penultimate_embeddings`: last hidden layer of a fitted batched network;
- :func:`embed_text`: all-MiniLM-L6-v2 sentence embeddings, offline (extra ``assay[text]``).

All are cached on disk when given ``cache_dir`` (key: hash of the data and of the model), and
:func:`check_embeddings` validates any matrix (shape, finiteness, row count) in chunks.
"""

from assay.embed.cache import EmbeddingCache
from assay.embed.features import (
    check_embeddings,
    embed_features,
    embed_with_model,
    penultimate_embeddings,
)
from assay.embed.text import MINILM, embed_text, load_text_model, minilm_path

__all__ = [
    "MINILM",
    "EmbeddingCache",
    "check_embeddings",
    "embed_features",
    "embed_text",
    "embed_with_model",
    "load_text_model",
    "minilm_path",
    "penultimate_embeddings",
]
