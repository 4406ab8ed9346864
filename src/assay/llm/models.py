"""Load a Hugging Face causal language model and its tokenizer from a local directory.

Nothing is downloaded: ``local_files_only=True`` is passed to every ``from_pretrained``, so a
directory that is not a saved model fails with an :class:`~assay.errors.InvalidDataError` that
names it, never with a network call. A tokenizer without a pad token gets its end-of-sequence
token as pad (the usual choice for GPT-style models); padding is always on the right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.errors import InvalidDataError, InvalidParameterError, MissingDependencyError


def require_transformers() -> Any:
    """Import and return ``transformers``, or say which extra to install."""
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(
            "language-model support needs the llm extra: pip install 'assay[llm]'"
        ) from exc
    return transformers


def resolve_device(device: str | None) -> str:
    """``"auto"`` / None -> ``"cuda"`` when available else ``"cpu"``; other names pass through."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or not device:
        raise InvalidParameterError(f"device must be a torch device name, got {device!r}")
    return device


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer saved in ``path`` (right padding; pad = eos when the tokenizer has none)."""
    transformers = require_transformers()
    folder = _model_dir(path)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"no tokenizer could be loaded from {str(folder)!r}: {exc}") from exc
    tok.padding_side = "right"
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise InvalidDataError(
                f"the tokenizer in {str(folder)!r} has neither a pad nor an eos token; "
                "save it with pad_token set"
            )
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(
    path: str | Path, *, device: str | None = "cpu", dtype: Any = None
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a directory written by ``save_pretrained``.

    Parameters
    ----------
    path : str or Path
        Directory holding the model's ``config.json`` and weights, and its tokenizer files.
    device : str, default "cpu"
        Torch device for the model; ``"auto"`` picks CUDA when available.
    dtype : torch.dtype, optional
        Parameter dtype (e.g. ``torch.float64`` for exact comparisons); the saved one if None.

    Returns
    -------
    model, tokenizer
        The model in eval mode on ``device``, and its tokenizer.
    """
    transformers = require_transformers()
    folder = _model_dir(path)
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(
            f"no causal language model could be loaded from {str(folder)!r}: {exc}"
        ) from exc
    model.to(resolve_device(device))
    model.eval()
    return model, load_tokenizer(folder)


def _model_dir(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidDataError(f"model directory {str(folder)!r} does not exist")
    if not (folder / "config.json").is_file():
        raise InvalidDataError(
            f"{str(folder)!r} has no config.json; pass a directory written by save_pretrained"
        )
    return folder
