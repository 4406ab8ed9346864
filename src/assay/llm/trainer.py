"""In-Run Data Shapley during a Hugging Face ``Trainer`` run: a callback and a collator.

:class:`InRunCallback` wraps :class:`assay.llm.inrun.InRunShapley`. The per-example values need
to know which examples each batch holds, so every training example carries an integer
``example_id`` (its position, 0..n_train-1) through the data pipeline:

- the dataset's examples have an ``example_id`` field beside ``input_ids``;
- :class:`WithExampleIds` wraps the data collator: it sets the ids aside, collates the rest with
  the wrapped collator and puts them back as one tensor ``batch["example_id"]``;
- ``TrainingArguments(remove_unused_columns=False)``, or the Trainer drops the field (the model's
  forward has no such argument) before the collator sees it;
- the callback puts a forward pre-hook on the model that takes ``example_id`` out of the call's
  keyword arguments (the model never sees it) and records that forward's tracked layers.

After each micro-batch's backward (``on_substep_end``, and ``on_pre_optimizer_step`` for the last
one, before the optimizer moves the weights) the callback runs the validation batch forward and
backward once per optimizer step (in eval mode, without touching ``.grad``) and adds
``lr * <grad of the example's term of the backpropagated loss, validation gradient>`` to each
example, ``lr`` the optimizer's current learning rate. The values are the first-order In-Run
Shapley values of an SGD run; with gradient clipping (``max_grad_norm > 0``, on by default in
``TrainingArguments``) or an adaptive optimizer they use the unclipped, unpreconditioned gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from assay.errors import InvalidDataError, InvalidParameterError
from assay.llm.inrun import InRunShapley
from assay.llm.models import require_transformers
from assay.result import ValuationResult

ID_KEY = "example_id"


class WithExampleIds:
    """A data collator that carries each feature's ``example_id`` into the batch as a tensor.

    Parameters
    ----------
    collator : callable
        The collator of the rest of the fields (e.g. ``DataCollatorForLanguageModeling``).
    key : str, default "example_id"
    """

    def __init__(self, collator: Callable[[list[dict[str, Any]]], Any], key: str = ID_KEY) -> None:
        self.collator = collator
        self.key = key

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        missing = [i for i, f in enumerate(features) if self.key not in f]
        if missing:
            raise InvalidDataError(
                f"feature {missing[0]} of the batch has no {self.key!r} field; give every "
                "training example its position as example_id (and remove_unused_columns=False)"
            )
        ids = torch.tensor([int(f[self.key]) for f in features], dtype=torch.long)
        batch = self.collator([{k: v for k, v in f.items() if k != self.key} for f in features])
        batch[self.key] = ids
        return batch


def _callback_base() -> type:
    return require_transformers().TrainerCallback


class InRunCallback(_callback_base()):  # type: ignore[misc]
    """Accumulate In-Run Data Shapley values of every training example during ``Trainer.train``.

    Parameters
    ----------
    n_train : int
        Number of training examples (``example_id`` in ``0 .. n_train - 1``).
    val_batch : dict of str to tensor
        The validation batch, as the model takes it (``input_ids``, ``attention_mask``,
        ``labels``): its ``loss`` is the validation loss whose gradient the values follow.
    layers : sequence of modules, optional
        Linear / Conv1D layers that count (:func:`assay.llm.inrun.linear_layers` if None).
    key : str, default "example_id"

    Attributes
    ----------
    tracker : InRunShapley
        Set at ``on_train_begin``; ``values`` / ``counts`` hold the running totals.

    Examples
    --------
    >>> cb = InRunCallback(len(train), val_batch)                             # doctest: +SKIP
    >>> args = TrainingArguments("out", remove_unused_columns=False, max_grad_norm=0,
    ...                          optim="sgd")                                 # doctest: +SKIP
    >>> Trainer(model, args, train_dataset=train, callbacks=[cb],
    ...         data_collator=WithExampleIds(collator)).train()               # doctest: +SKIP
    >>> cb.result().values                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        n_train: int,
        val_batch: dict[str, torch.Tensor],
        *,
        layers: Sequence[torch.nn.Module] | None = None,
        key: str = ID_KEY,
    ) -> None:
        if "labels" not in val_batch:
            raise InvalidParameterError("val_batch needs labels (the model then returns its loss)")
        self.n_train = int(n_train)
        self.val_batch = val_batch
        self.layers = layers
        self.key = key
        self.tracker: InRunShapley | None = None
        self._ids: torch.Tensor | None = None
        self._val: Any = None
        self._val_step = -1
        self._handles: list[Any] = []

    # ------------------------------------------------------------------ hooks on the model
    def _pre(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ids = kwargs.pop(self.key, None)
        if ids is not None and module.training and torch.is_grad_enabled():
            assert self.tracker is not None
            self._ids = ids
            self.tracker.begin("train")
        return args, kwargs

    def _post(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self.tracker is not None and self.tracker._mode == "train":
            self.tracker.end()

    # ------------------------------------------------------------------ Trainer events
    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if args.remove_unused_columns:
            raise InvalidParameterError(
                f"InRunCallback needs TrainingArguments(remove_unused_columns=False): the "
                f"Trainer would drop the {self.key!r} field before the collator"
            )
        model = kw["model"]
        self.tracker = InRunShapley(model, self.n_train, self.layers)
        self._handles = [
            model.register_forward_pre_hook(self._pre, with_kwargs=True),
            model.register_forward_hook(self._post),
        ]

    def on_substep_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._consume(state, kw)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._consume(state, kw)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if self.tracker is not None:
            self.tracker.close()

    def _consume(self, state: Any, kw: dict[str, Any]) -> None:
        tracker = self.tracker
        if tracker is None or self._ids is None:
            raise InvalidDataError(
                f"the training batch had no {self.key!r}: wrap the collator in WithExampleIds"
            )
        model = kw["model"]
        if self._val_step != state.global_step:  # one validation gradient per optimizer step
            dev = next(model.parameters()).device
            was = model.training
            model.eval()
            try:
                with tracker.record("val"):
                    out = model(**{k: v.to(dev) for k, v in self.val_batch.items()})
                self._val = tracker.validation(out.loss)
            finally:
                model.train(was)
            self._val_step = state.global_step
        lr = float(kw["optimizer"].param_groups[0]["lr"])
        tracker.add(self._ids.cpu().numpy(), tracker.train_dots(self._val), lr=lr)
        self._ids = None

    def result(self, ids: Any = None) -> ValuationResult:
        """The accumulated values (higher = better)."""
        if self.tracker is None:
            raise InvalidParameterError("the callback has not seen a training run yet")
        return self.tracker.result(None if ids is None else np.asarray(ids))
