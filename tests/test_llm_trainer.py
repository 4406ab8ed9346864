"""The Trainer callback's In-Run values equal explicit per-example gradient dot products."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from assay.errors import InvalidDataError, InvalidParameterError  # noqa: E402
from assay.llm.inrun import linear_layers  # noqa: E402
from assay.llm.trainer import InRunCallback, WithExampleIds  # noqa: E402

V, L = 19, 6


def _model() -> torch.nn.Module:
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(cfg).double()


def _collate(features):
    ids = torch.tensor([f["input_ids"] for f in features])
    return {"input_ids": ids, "labels": ids.clone()}


class ExplicitReference(transformers.TrainerCallback):
    """At every optimizer step: lr * <grad of (sum_t CE_i,t / N), grad of val loss> per example.

    Gradients one example at a time by autograd (not the ghost trick); N = the batch's label
    items (the Trainer's num_items_in_batch); it also checks that the per-example gradients
    add up to the Trainer's own ``.grad``.
    """

    def __init__(self, n, val):
        self.values, self.val, self.batch = np.zeros(n), val, None

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.params = [p for m in linear_layers(model) for p in m.parameters(recurse=False)]
        model.register_forward_pre_hook(self._grab, with_kwargs=True)

    def _grab(self, module, args, kwargs):
        if "example_id" in kwargs:
            n_items = kwargs.get("num_items_in_batch")  # as the Trainer counts them
            n_items = kwargs["input_ids"][:, 1:].numel() if n_items is None else int(n_items)
            self.batch = (kwargs["input_ids"], kwargs["example_id"], n_items)

    def on_substep_end(self, args, state, control, model=None, optimizer=None, **kw):
        self._micro(model, optimizer)

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kw):
        self._micro(model, optimizer)
        for t, p in zip(self.total, self.params, strict=True):
            torch.testing.assert_close(t, p.grad, rtol=1e-9, atol=1e-12)
        self.total = None

    def _micro(self, model, optimizer):
        x, ids, n_items = self.batch
        gval = torch.autograd.grad(model(**self.val).loss, self.params)
        if getattr(self, "total", None) is None:
            self.total = [torch.zeros_like(p) for p in self.params]
        lr = optimizer.param_groups[0]["lr"]
        for i, xi in zip(ids.tolist(), x, strict=True):
            logits = model(input_ids=xi[None]).logits[0, :-1]
            li = torch.nn.functional.cross_entropy(logits, xi[1:], reduction="sum") / n_items
            g = torch.autograd.grad(li, self.params)
            self.values[i] += lr * sum(float((a * b).sum()) for a, b in zip(g, gval, strict=True))
            self.total = [t + a for t, a in zip(self.total, g, strict=True)]


def _loss64(outputs, labels, num_items_in_batch=None):
    """The Trainer's causal-LM loss (shifted CE sum / num_items_in_batch), kept in float64.

    transformers' own loss casts the logits to float32, which would limit the comparison to
    float32 rounding.
    """
    logits, t = outputs.logits[:, :-1], labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), t.reshape(-1), reduction="sum")
    return ce / (t.numel() if num_items_in_batch is None else num_items_in_batch)


def _args(tmp_path, **kw):
    base = {"per_device_train_batch_size": 3, "max_steps": 4, "learning_rate": 0.5,
            "optim": "sgd", "lr_scheduler_type": "linear", "max_grad_norm": 0.0,
            "weight_decay": 0.0, "report_to": [], "save_strategy": "no", "use_cpu": True,
            "remove_unused_columns": False, "disable_tqdm": True, "seed": 0}  # fmt: skip
    return transformers.TrainingArguments(str(tmp_path / "run"), **{**base, **kw})


@pytest.mark.parametrize("accumulate", [1, 2])
def test_trainer_callback_equals_explicit_per_example_gradients(tmp_path, accumulate) -> None:
    gen = torch.Generator().manual_seed(1)
    X = torch.randint(0, V, (7, L), generator=gen)
    train = [{"input_ids": X[i].tolist(), "example_id": i} for i in range(7)]
    xv = torch.randint(0, V, (3, L), generator=gen)
    val = {"input_ids": xv, "labels": xv.clone()}
    model = _model()
    ref = ExplicitReference(7, val)
    cb = InRunCallback(7, val)
    args = _args(tmp_path, gradient_accumulation_steps=accumulate, max_steps=4 // accumulate)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train,
                                   data_collator=WithExampleIds(_collate),
                                   callbacks=[ref, cb], compute_loss_func=_loss64)  # fmt: skip
    trainer.train()
    res = cb.result()
    # micro-batches of 3, 3, 1 (7 examples), then 3; with accumulation the epoch's end syncs
    micro = [3, 3, 1, 3] if accumulate == 1 else [3, 3, 1]
    assert res.counts.sum() == sum(micro) and cb.tracker.steps == len(micro)
    assert trainer.state.global_step == 4 // accumulate
    assert np.abs(ref.values).max() > 0
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-6, atol=1e-12)
    assert res.direction == "higher-is-better"


def test_callback_refuses_a_pipeline_without_ids(tmp_path) -> None:
    xv = torch.randint(0, V, (2, L))
    with pytest.raises(InvalidParameterError, match="labels"):
        InRunCallback(3, {"input_ids": xv})
    cb = InRunCallback(3, {"input_ids": xv, "labels": xv})
    with pytest.raises(InvalidDataError, match="no 'example_id' field"):
        WithExampleIds(_collate)([{"input_ids": [1, 2, 3]}])
    train = [{"input_ids": [1, 2, 3, 4], "example_id": i} for i in range(3)]
    trainer = transformers.Trainer(model=_model(), train_dataset=train, callbacks=[cb],
                                   args=_args(tmp_path, remove_unused_columns=True, max_steps=1),
                                   data_collator=WithExampleIds(_collate))  # fmt: skip
    with pytest.raises(InvalidParameterError, match="remove_unused_columns=False"):
        trainer.train()
