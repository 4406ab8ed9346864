"""Batched neural networks: B independent networks trained together with ``torch.func``.

The B models share one architecture and one seeded initialisation (common random numbers: two
subsets differ only in their data, which lowers the variance of marginal contributions). Their
parameters are stacked along a leading dimension, the forward pass is ``vmap``-ed over that stack,
and each model minimises its own weighted mean cross-entropy. Because the summed loss separates
over models and Adam is element-wise, one ``torch.optim.Adam`` over the stacked tensors is exactly
B independent Adam runs. Architectures: :func:`make_mlp`, :func:`make_cnn`, or any callable
``(n_features, n_classes) -> nn.Module`` mapping flat features (m, d) to logits (m, K).

Mini-batches (``batch_size``): each model steps through *its own* rows, as if trained alone on
its subset S: every epoch shuffles the rows (one seeded random key per row, shared by all
models, so a row's place depends only on its key) and model b takes ceil(|S_b| / batch_size)
Adam steps over its selected rows in that order. Models whose subset is used up wait: a step
moves only the models that have rows in it, and each model keeps its own Adam step count. That
needs per-model masking, which ``torch.optim.Adam`` cannot do, hence :func:`_masked_adam_step`.
Rows with positive weight are selected; their weights scale their loss (a bootstrap count c
weighs a row c times within its batch rather than repeating it in c batches).

A plain ReLU MLP (``Linear, ReLU, ..., Linear``: :class:`MLPClassifier` without dropout) trained
in mini-batches takes :mod:`assay.learners.mlp_fast`, a hand-written batched forward / backward
with the same semantics (tested against this module's autograd path to float64 round-off).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from assay.errors import InvalidParameterError
from assay.learners.base import (
    FittedModels,
    State,
    TorchLearner,
    TrainingData,
    classes_present,
    models_per_chunk,
    scoped_seed,
)
from assay.learners.mlp_fast import fit_plain_mlp, plain_mlp_layers
from assay.learners.mlp_fast import masked_sgd_step as _masked_sgd_step

#: CPU chunk budget of full-batch network fits: more models per chunk gain no speed once each
#: model's products are this large (measured: benchmarks/results/mlp_chunks.json) but hold memory
FULL_BATCH_CPU_BYTES = 2**30

Tensor = torch.Tensor
Architecture = Callable[[int, int], nn.Module]
OPTIMIZERS = ("adam", "sgd")


def make_mlp(
    n_features: int, hidden: tuple[int, ...], n_classes: int, dropout: float = 0.0
) -> nn.Module:
    """A ReLU MLP ``n_features -> hidden... -> n_classes`` (logits)."""
    layers: list[nn.Module] = []
    width = n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def make_cnn(
    image_shape: tuple[int, int, int],
    n_classes: int,
    channels: tuple[int, ...] = (16, 32),
    hidden: int = 64,
    dropout: float = 0.0,
) -> nn.Module:
    """A small CNN on flat inputs: unflatten to ``image_shape`` (C, H, W), conv-ReLU-maxpool
    blocks, then a hidden dense layer and the logits."""
    c, h, w = image_shape
    layers: list[nn.Module] = [nn.Unflatten(1, image_shape)]
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, n_classes))
    return nn.Sequential(*layers)


class FittedNetworks(FittedModels):
    """B trained networks of one architecture, stacked.

    ``steps`` (B,): the Adam steps each model took in mini-batch training (None: full batch,
    one step per epoch for every model).
    """

    def __init__(
        self,
        module: nn.Module,
        params: State,
        buffers: State,
        trained: Tensor,
        present: Tensor,
        steps: Tensor | None = None,
    ) -> None:
        self.module, self.params, self.buffers = module.eval(), params, buffers
        self.trained, self.present, self.steps = trained, present, steps

    @property
    def n_models(self) -> int:
        return int(next(iter(self.params.values())).shape[0])

    def logits(self, X: Tensor) -> Tensor:
        """Logits (B, m, K) of every model for inputs X (m, d)."""

        def one(p: State, b: State, x: Tensor) -> Tensor:
            return functional_call(self.module, (p, b), (x,))

        with torch.no_grad():
            return vmap(one, in_dims=(0, 0, None))(self.params, self.buffers, X)

    def predict_proba(self, X: Tensor) -> Tensor:
        z = self.logits(X.to(next(iter(self.params.values())).dtype))
        z = z.masked_fill(~self.present[:, None, :], float("-inf"))
        return torch.softmax(z, dim=-1)

    def state(self) -> State:
        return self.params

    def functional(self, b: int = 0) -> tuple[Callable[[State, Tensor], Tensor], State]:
        buffers = {k: v[b] for k, v in self.buffers.items()}

        def logits(params: State, X: Tensor) -> Tensor:
            return functional_call(self.module, (params, buffers), (X,))

        return logits, {k: v[b].detach() for k, v in self.params.items()}


class NetworkClassifier(TorchLearner):
    """A network classifier trained by Adam (or plain SGD) on weighted cross-entropy, many at once.

    Parameters
    ----------
    architecture : callable ``(n_features, n_classes) -> nn.Module``
        Builds the network (flat features in, logits out).
    epochs : int
        Passes over the training data (one optimiser step per mini-batch).
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty coefficient (added to each model's gradient, as torch's optimisers do).
    optimizer : {"adam", "sgd"}
        ``"sgd"`` is plain SGD (no momentum), as papers that train under-fitted base models use.
    batch_size : int, optional
        Mini-batch size; ``None`` trains on the full (weighted) set each step. With mini-batches
        each model steps through its own rows only (see the module docstring).
    seed : int
        Seeds the shared initialisation, the mini-batch order and dropout.
    dtype, device : str
    """

    name = "network"
    supports_warm_start = True

    def __init__(
        self,
        architecture: Architecture,
        *,
        epochs: int = 200,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        batch_size: int | None = None,
        optimizer: str = "adam",
        seed: int = 0,
        dtype: str = "float32",
        device: str = "cpu",
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise InvalidParameterError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        self.optimizer = optimizer
        self.architecture = architecture
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.seed = seed
        self._place(dtype, device)
        if epochs < 1 or lr <= 0:
            raise InvalidParameterError(f"epochs must be >= 1 and lr > 0, got {epochs}, {lr}")
        if batch_size is not None and batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")

    def get_params(self) -> dict[str, Any]:
        params = {
            "architecture": getattr(self.architecture, "__qualname__", None)
            or repr(self.architecture),
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "dtype": self.dtype_name,
            "device": self.device_name,
        }
        # the default is left out, so that specs and fingerprints saved before it existed match
        return params if self.optimizer == "adam" else {**params, "optimizer": self.optimizer}

    def batch_size_hint(self, data: TrainingData) -> int:
        module = self._module(data)
        n_params = sum(p.numel() for p in module.parameters())
        itemsize = torch.finfo(self.dtype).bits // 8
        if self.batch_size is not None and self.batch_size < data.n and plain_mlp_layers(module):
            # fast path: parameters, gradients, Adam moments and a transposed copy; the gathered
            # rows and activations of one step; the per-epoch shuffle (float64 keys, int64 order)
            width = sum(p.shape[-1] for name, p in module.named_parameters() if "weight" in name)
            per_model = 5 * n_params + 3 * self.batch_size * (width + 16) + 10 * data.n
            # CPU: the batched products run at full speed from ~32 models on; a GPU wants many
            hi = 1024 if self.device.type == "cuda" else 64
            return models_per_chunk(per_model * itemsize, device=self.device, lo=1, hi=hi)
        # full batch: each Linear keeps its input, output and ReLU output for the backward pass
        # (n x (d + 3 * widths) per model) + parameters, gradients and Adam moments
        width = sum(p.shape[0] for name, p in module.named_parameters() if "weight" in name)
        per_model = data.n * (max(data.X.shape[1], 64) + 3 * width) + 8 * n_params
        # CPU: once a model's products span FULL_BATCH_CPU_BYTES / chunk they run at full speed
        cap = None if self.device.type == "cuda" else FULL_BATCH_CPU_BYTES
        return models_per_chunk(
            per_model * itemsize, device=self.device, lo=1, hi=256, max_bytes=cap
        )

    def _module(self, data: TrainingData) -> nn.Module:
        with scoped_seed(self.seed, self.device):  # default initialisation draws globally
            module = self.architecture(data.X.shape[1], data.n_classes)
        return module.to(self.device, self.dtype)

    def initial_state(self, data: TrainingData, n_models: int) -> State:
        module = self._module(data)
        return {
            k: v.detach()[None].expand(n_models, *v.shape).clone()
            for k, v in module.named_parameters()
        }

    def fit(self, data: TrainingData, weights: Tensor, init: State | None = None) -> FittedNetworks:
        """Train one network per row of ``weights`` (B, n)."""
        weights = weights.to(self.dtype).to(self.device)
        B, n = weights.shape
        present = classes_present(weights, data.onehot)
        trained = present.sum(1) >= 2
        module = self._module(data).train()
        _, buffers = stack_module_state([module] * B)
        start = init if init is not None else self.initial_state(data, B)
        params = {
            k: v.detach().clone().to(self.dtype).requires_grad_(True) for k, v in start.items()
        }
        X = data.X.to(self.dtype)
        gen = torch.Generator().manual_seed(self.seed)
        with scoped_seed(self.seed, self.device):  # dropout masks: the global stream, scoped
            size = n if self.batch_size is None else min(self.batch_size, n)

            def one(p: State, b: State, x: Tensor) -> Tensor:
                return functional_call(module, (p, b), (x,))

            train_w = weights * trained[:, None]
            if size >= n:  # full batch: every model steps every time; torch's optimiser is exact
                make = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
                opt = make(params.values(), lr=self.lr, weight_decay=self.weight_decay)
                forward = vmap(one, in_dims=(0, 0, None), randomness="different")
                for _ in range(self.epochs):
                    logits = forward(params, buffers, X)  # (B, n, K)
                    loss = _weighted_ce(logits, data.y.expand(B, n), train_w)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                final = {k: v.detach() for k, v in params.items()}
                return FittedNetworks(module, final, buffers, trained, present, None)
            layers = plain_mlp_layers(module)
            if layers is not None:  # a plain ReLU MLP: the hand-written batched fast path
                final, steps = fit_plain_mlp(
                    params,
                    layers,
                    X,
                    data.onehot.to(self.dtype),
                    train_w,
                    epochs=self.epochs,
                    batch_size=size,
                    lr=self.lr,
                    weight_decay=self.weight_decay,
                    optimizer=self.optimizer,
                    gen=gen,
                )
                return FittedNetworks(module, final, buffers, trained, present, steps)
            forward_own = vmap(one, in_dims=(0, 0, 0), randomness="different")
            selected = train_w > 0
            counts = selected.sum(1)  # (B,)
            moments = {k: (torch.zeros_like(v), torch.zeros_like(v)) for k, v in params.items()}
            steps = torch.zeros(B, dtype=torch.long, device=self.device)
            for _ in range(self.epochs):
                keys = torch.rand(n, generator=gen, dtype=torch.float64).to(self.device)
                # each model's selected rows first, in key order; unselected rows after them
                order = torch.argsort(torch.where(selected, keys, keys + 2.0), dim=1)
                for start_i in range(0, int(counts.max()), size):
                    idx = order[:, start_i : start_i + size]  # (B, m)
                    inside = torch.arange(start_i, start_i + idx.shape[1], device=self.device)
                    w = torch.gather(train_w, 1, idx) * (inside[None, :] < counts[:, None])
                    active = w.sum(1) > 0
                    logits = forward_own(params, buffers, X[idx])  # (B, m, K)
                    loss = _weighted_ce(logits, data.y[idx], w)
                    grads = torch.autograd.grad(loss, list(params.values()))
                    steps += active
                    with torch.no_grad():
                        for (key, p), g in zip(params.items(), grads, strict=True):
                            if self.optimizer == "sgd":
                                _masked_sgd_step(p, g, active, self.lr, self.weight_decay)
                                continue
                            _masked_adam_step(
                                p, g, *moments[key], steps, active, self.lr, self.weight_decay
                            )
            final = {k: v.detach() for k, v in params.items()}
            return FittedNetworks(module, final, buffers, trained, present, steps)


def _weighted_ce(logits: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """Sum over models of each model's weighted mean cross-entropy; logits (B, m, K)."""
    B, m, K = logits.shape
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, K), y.reshape(-1), reduction="none"
    ).view(B, m)
    return ((ce * w).sum(1) / w.sum(1).clamp_min(1.0)).sum()


def _masked_adam_step(
    p: Tensor,
    grad: Tensor,
    m: Tensor,
    v: Tensor,
    steps: Tensor,
    active: Tensor,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """``torch.optim.Adam`` (L2 added to the gradient) for the models where ``active``, in place.

    Tensors are stacked over models (leading dim B); ``steps`` (B,) counts each model's own
    steps (bias correction). Per-model factors make the update an exact no-op for inactive
    models (decay 1, step 0) without gathering rows: a few in-place passes, like torch's Adam.
    """
    b1, b2 = betas
    shape = (-1,) + (1,) * (p.dim() - 1)
    on = active.to(p.dtype).view(shape)
    t = steps.clamp_min(1).to(p.dtype).view(shape)
    g = grad.add(p, alpha=weight_decay)
    m.mul_(1 - on * (1 - b1)).addcmul_(g, on * (1 - b1))  # m <- b1 m + (1 - b1) g where on
    v.mul_(1 - on * (1 - b2)).addcmul_(g.mul_(g), on * (1 - b2))
    step = on * lr / (1 - b1**t)
    denom = v.sqrt().div_((1 - b2**t).sqrt()).add_(eps)
    p.sub_(denom.reciprocal_().mul_(m).mul_(step))


class MLPClassifier(NetworkClassifier):
    """A ReLU MLP (``hidden`` widths, optional ``dropout``); see :class:`NetworkClassifier`."""

    name = "mlp"

    def __init__(
        self, hidden: tuple[int, ...] = (64, 64), *, dropout: float = 0.0, **training: Any
    ) -> None:
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = dropout
        super().__init__(self._build, **training)

    def _build(self, n_features: int, n_classes: int) -> nn.Module:
        return make_mlp(n_features, self.hidden, n_classes, self.dropout)

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params.pop("architecture")
        return {"hidden": list(self.hidden), "dropout": self.dropout, **params}


class CNNClassifier(NetworkClassifier):
    """A small CNN on images stored as flat rows of ``image_shape`` (C, H, W)."""

    name = "cnn"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        *,
        channels: tuple[int, ...] = (16, 32),
        hidden: int = 64,
        dropout: float = 0.0,
        **training: Any,
    ) -> None:
        self.image_shape = tuple(int(s) for s in image_shape)
        self.channels = tuple(int(c) for c in channels)
        self.hidden = hidden
        self.dropout = dropout
        super().__init__(self._build, **training)

    def _build(self, n_features: int, n_classes: int) -> nn.Module:
        c, h, w = self.image_shape
        if c * h * w != n_features:
            raise InvalidParameterError(
                f"image_shape {self.image_shape} has {c * h * w} pixels, the data {n_features}"
            )
        return make_cnn((c, h, w), n_classes, self.channels, self.hidden, self.dropout)

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params.pop("architecture")
        return {
            "image_shape": list(self.image_shape),
            "channels": list(self.channels),
            "hidden": self.hidden,
            "dropout": self.dropout,
            **params,
        }
