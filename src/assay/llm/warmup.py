"""LESS's warm-up: train the LoRA adapters briefly, keep a checkpoint per epoch (Xia et al. 2024).

Fresh LoRA adapters start with ``B = 0``, so their gradients only describe the first step of
training. The paper instead trains the adapters on a random share of the data (5%, four epochs,
AdamW, linearly decaying learning rate) and scores each training example ``z`` against each target
example ``z'`` by ``sum_i lr_i * cos(Adam(grad_i z), grad_i z')``, over the checkpoints ``i``
saved at the end of each epoch, with ``lr_i`` the mean learning rate of that epoch and
``Adam(g) = g / (sqrt(v_i) + eps)`` (``v_i`` the optimizer's second moments at the checkpoint);
the target gradients are not preconditioned. :func:`warmup_checkpoints` runs that training and
:func:`checkpoint_less_scores` the sum.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from assay.errors import InvalidParameterError
from assay.llm.gradients import GradientFeatures, adam_preconditioner, select_parameters
from assay.llm.targeted import less_scores
from assay.llm.tokens import Encoded, pad_batch, response_losses

Tensor = torch.Tensor


@dataclass(frozen=True)
class Checkpoint:
    """The trained parameters at the end of one warm-up epoch, their Adam moments and lr."""

    state: dict[str, Tensor]
    second_moments: dict[str, Tensor]
    lr: float


def warmup_checkpoints(
    model: torch.nn.Module,
    encoded: Sequence[Encoded],
    *,
    params: Sequence[str] | str = "lora",
    share: float = 0.05,
    epochs: int = 4,
    lr: float = 2e-4,
    batch_size: int = 8,
    pad_id: int = 0,
    seed: int = 0,
) -> list[Checkpoint]:
    """Train ``params`` of ``model`` on a seeded ``share`` of ``encoded``; one checkpoint an epoch.

    AdamW (no weight decay), the learning rate decaying linearly from ``lr`` to 0 over all
    steps, batches drawn in a seeded order. ``model``'s parameters are restored afterwards (the
    checkpoints hold the trained ones); it is left in eval mode.

    Returns
    -------
    list of Checkpoint
        ``epochs`` checkpoints, in training order.
    """
    if not 0.0 < share <= 1.0:
        raise InvalidParameterError(f"warm-up share must lie in (0, 1], got {share}")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise InvalidParameterError(
            f"warm-up needs epochs >= 1, batch_size >= 1 and lr > 0, got {epochs}, "
            f"{batch_size}, {lr}"
        )
    names = select_parameters(model, params)
    named = dict(model.named_parameters())
    trained = [named[n] for n in names]
    rng = np.random.default_rng([seed, 31])
    rows = rng.choice(len(encoded), max(1, round(share * len(encoded))), replace=False)
    per_epoch = -(-len(rows) // batch_size)
    total = per_epoch * epochs
    opt = torch.optim.AdamW(trained, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / total)
    initial = {n: p.detach().clone() for n, p in zip(names, trained, strict=True)}
    out = []
    with _only_trainable(model, set(names)), _restored(named, initial):
        for _ in range(epochs):
            model.train()
            lrs = []
            order = rows[rng.permutation(len(rows))]
            for s in range(0, len(order), batch_size):
                batch = pad_batch([encoded[i] for i in order[s : s + batch_size]], pad_id)
                lrs.append(opt.param_groups[0]["lr"])
                opt.zero_grad()
                response_losses(model, batch).mean().backward()
                opt.step()
                sched.step()
            model.eval()
            out.append(Checkpoint(
                {n: named[n].detach().clone() for n in names},
                {n: v.clone() for n, v in adam_preconditioner(opt, model).items()},
                float(np.mean(lrs)),
            ))  # fmt: skip
    return out


def checkpoint_less_scores(
    model: torch.nn.Module,
    checkpoints: Sequence[Checkpoint],
    train: Sequence[Encoded],
    target: Sequence[Encoded],
    *,
    dim: int = 256,
    seed: int = 0,
    reduce: str = "max",
    center: bool = False,
    features_path: str | Path | None = None,
) -> NDArray[np.float64]:
    """``sum_i lr_i * cos(Adam_i(grad z), grad z')`` (n,), reduced over the target examples.

    ``reduce`` and ``center`` as in :func:`assay.llm.targeted.less_scores`.

    With ``features_path`` (``.npy``) each checkpoint's features are stored
    (resumably) beside it as ``STEM-ckpt{i}.npy``. ``model``'s parameters are restored after.
    """
    if not checkpoints:
        raise InvalidParameterError("no warm-up checkpoints to score with")
    names = list(checkpoints[0].state)
    named = dict(model.named_parameters())
    saved = {n: named[n].detach().clone() for n in names}
    total = np.zeros(len(train))
    with _restored(named, saved):
        for i, ck in enumerate(checkpoints):
            _load(named, ck.state)
            path = None
            if features_path is not None:
                p = Path(features_path)
                path = p.with_name(f"{p.stem}-ckpt{i}{p.suffix}")
            pre = GradientFeatures(model, params=names, dim=dim, seed=seed,
                                   preconditioner=ck.second_moments)  # fmt: skip
            A = pre.compute(train, path)[0]
            B = GradientFeatures(model, params=names, dim=dim, seed=seed).compute(target)[0]
            total += ck.lr * less_scores(A, B, reduce=reduce, center=center)
    return total


def _load(named: dict[str, torch.nn.Parameter], state: dict[str, Tensor]) -> None:
    with torch.no_grad():
        for n, v in state.items():
            named[n].copy_(v)


@contextmanager
def _restored(named: dict[str, torch.nn.Parameter], state: dict[str, Tensor]) -> Iterator[None]:
    try:
        yield
    finally:
        _load(named, state)


@contextmanager
def _only_trainable(model: torch.nn.Module, names: set[str]) -> Iterator[None]:
    """``requires_grad`` on ``names`` only (restored after), so backward skips the frozen rest."""
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    try:
        for n, p in model.named_parameters():
            p.requires_grad_(n in names)
        yield
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
