"""``assay select CORPUS --model DIR``: files in, a subset file out (the CLI's recipe).

:func:`select_for_model` loads the causal LM and its tokenizer from a local directory, the corpus
(and the target and replay corpora), wraps the model in fresh LoRA adapters when a gradient method
needs them and it has none (seeded; ``lora_r`` rank, peft's default target modules for the
architecture unless ``lora_targets`` names them), and runs :func:`assay.llm.select.select_corpus`.
Fresh adapters scored by LESS are first warmed up as in the paper (``warmup_epochs``, default
:data:`WARMUP_EPOCHS`, on ``warmup_share`` = 5% of the corpus; pass ``warmup_epochs=0`` to score
the untrained adapters); adapters the model already has are used as they are.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from assay.errors import InvalidParameterError, check_output_path
from assay.llm.corpus import corpus_format, load_corpus
from assay.llm.models import load_causal_lm
from assay.llm.select import CorpusSelection, select_corpus, sidecar_of
from assay.runs import check_new

#: options of :func:`select_for_model` beyond the files (``--param key=value`` on the CLI)
OPTIONS = (
    "dim",
    "max_length",
    "batch_size",
    "embedding",
    "quality",
    "diversity",
    "clusters",
    "lora_r",
    "lora_targets",
    "features_path",
    "warmup_epochs",
    "warmup_share",
    "warmup_lr",
    "reduce",
    "center",
)

#: LESS's warm-up epochs when the recipe adds fresh adapters (the paper's four)
WARMUP_EPOCHS = 4


def _quality(method: str, options: dict[str, Any]) -> Any:
    quality = options.get("quality")
    if method == "mix" and quality is None:
        quality = "less" if options.get("has_target") else "ifd"
    return quality


def uses_less(method: str, options: dict[str, Any]) -> bool:
    """Whether ``method`` with these options scores by LESS (and so warms fresh adapters up)."""
    return method == "less" or _quality(method, options) == "less"


def needs_gradients(method: str, options: dict[str, Any]) -> bool:
    """Whether ``method`` with these options differentiates the model."""
    quality = _quality(method, options)
    return (
        method in ("grand", "less")
        or quality in ("grand", "less")
        or (method in ("kcenter", "sensitivity", "mix") and options.get("embedding") == "gradient")
    )


def with_lora(model: Any, *, rank: int = 8, targets: Any = None, seed: int = 0) -> Any:
    """``model`` wrapped in fresh, seeded LoRA adapters (peft), unless it already has some."""
    import torch

    if any("lora_" in n for n, _ in model.named_parameters()):
        return model
    try:
        import peft
    except ImportError as exc:  # pragma: no cover - peft is part of the llm extra
        from assay.errors import MissingDependencyError

        raise MissingDependencyError("LoRA gradients need peft: pip install 'assay[llm]'") from exc
    if int(rank) < 1:
        raise InvalidParameterError(f"lora_r must be >= 1, got {rank}")
    cfg = peft.LoraConfig(r=int(rank), lora_alpha=2 * int(rank), lora_dropout=0.0,
                          target_modules=targets)  # fmt: skip
    torch.manual_seed(seed)
    try:
        with warnings.catch_warnings():  # peft sets fan_in_fan_out for GPT-2's Conv1D itself
            warnings.filterwarnings("ignore", message="fan_in_fan_out")
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing")
            return peft.get_peft_model(model, cfg)
    except ValueError as exc:
        raise InvalidParameterError(
            f"LoRA adapters could not be added ({exc}); pass --param lora_targets=[...] "
            "with the names of the model's linear layers"
        ) from exc


def select_for_model(
    corpus: str | Path,
    model: str | Path,
    *,
    method: str,
    budget: float | int,
    out: str | Path,
    target: str | Path | None = None,
    replay: str | Path | None = None,
    replay_share: float = 0.0,
    cap_column: str | None = None,
    cap: float | None = None,
    device: str | None = "cpu",
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
    **options: Any,
) -> CorpusSelection:
    """Select a budget of the corpus file ``corpus`` with the model in ``model``; write ``out``.

    Parameters
    ----------
    corpus, target, replay : path
        Corpus files (JSONL, Parquet or CSV); ``target`` for LESS, ``replay`` an old corpus.
    model : path
        A directory written by ``save_pretrained`` (model and tokenizer).
    method, budget, replay_share, cap_column, cap, seed
        As :func:`assay.llm.select.select_corpus`.
    out : path
        The subset, in the format of its suffix, and its sidecar ``out + ".json"``.
    device : str, default "cpu"
        ``"auto"`` picks CUDA when available.
    progress : bool, default False
        Show transformers' loading bars.
    overwrite : bool, default False
        Replace an existing ``out`` (refused before any work otherwise).
    **options
        Any of :data:`OPTIONS`.

    Returns
    -------
    CorpusSelection
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidParameterError(f"unknown option(s) {unknown}; valid: {', '.join(OPTIONS)}")
    check_output_path(out, what="subset file")
    corpus_format(out)
    check_new(out, sidecar_of(out), overwrite=overwrite, what="selected corpus")
    if replay is None and replay_share:
        raise InvalidParameterError("--replay-share needs --replay OLD_CORPUS")
    if not 0.0 <= replay_share < 1.0:
        raise InvalidParameterError(f"replay share must lie in [0, 1), got {replay_share}")
    if target is None and (method == "less" or options.get("quality") == "less"):
        raise InvalidParameterError(f"method {method!r} with LESS scores needs a target corpus")
    data = load_corpus(corpus)
    target_corpus = None if target is None else load_corpus(target)
    replay_corpus = None if replay is None else load_corpus(replay)
    lm, tok = _load(model, device, progress)
    rank = options.pop("lora_r", 8)
    targets = options.pop("lora_targets", None)
    asked = {**options, "has_target": target is not None}
    if needs_gradients(method, asked):
        fresh = not any("lora_" in n for n, _ in lm.named_parameters())
        lm = with_lora(lm, rank=rank, targets=targets, seed=seed)
        if fresh and uses_less(method, asked):
            options.setdefault("warmup_epochs", WARMUP_EPOCHS)
    meta = {
        "corpus": str(Path(corpus).resolve()),
        "model": str(Path(model).resolve()),
        "target": None if target is None else str(Path(target).resolve()),
        "replay": None if replay is None else str(Path(replay).resolve()),
        "lora_r": rank,
    }
    with warnings.catch_warnings():  # torch's vmap fallback notice (the attention kernel)
        warnings.filterwarnings("ignore", message="There is a performance drop")
        return select_corpus(
            data,
            lm,
            tok,
            method=method,
            budget=budget,
            target=target_corpus,
            seed=seed,
            out=out,
            cap_column=cap_column,
            cap=cap,
            replay=replay_corpus,
            replay_share=replay_share,
            meta=meta,
            overwrite=overwrite,
            **options,
        )


def _load(model: str | Path, device: str | None, progress: bool) -> tuple[Any, Any]:
    """:func:`load_causal_lm`, without transformers' loading bar unless ``progress``."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        return load_causal_lm(model, device=device)
    finally:
        if was:
            hf_logging.enable_progress_bar()
