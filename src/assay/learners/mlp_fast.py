"""Mini-batch training of B plain ReLU MLPs with a hand-written batched forward and backward.

:class:`~assay.learners.networks.NetworkClassifier` trains any architecture with ``vmap`` and
autograd. For a plain MLP (``Linear, ReLU, ..., Linear``, no dropout) the same training is a few
batched matrix products per step, which this module computes directly, so the cost is the
arithmetic and little else:

* the rows of every model's mini-batch are gathered into one preallocated (B, m, d) block (no
  masked passes over all n rows);
* weights are kept as (B, in, out) so that the forward product ``a @ W`` and the weight gradient
  ``a^T @ dz`` are both ``bmm`` calls on contiguous operands, written into preallocated buffers;
  no gradient with respect to the inputs is formed;
* Adam is ``torch.optim.Adam`` (fused kernel on CPU and CUDA: one pass over p, g, m, v) over
  per-model views of the stacked tensors, so each model keeps its own step count; a model whose
  subset is used up for the epoch has no gradient (``grad = None``) and is skipped by the
  optimiser, exactly as if it were trained alone.

The semantics are the module docstring's of :mod:`assay.learners.networks` (each model steps
through its own rows in the shared key order, weighted mean cross-entropy, L2 added to the
gradient); ``tests/test_learners.py`` checks this path against the autograd one.
"""

from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor
State = dict[str, Tensor]


def plain_mlp_layers(module: nn.Module) -> list[tuple[str, str]] | None:
    """(weight, bias) parameter names of each layer if ``module`` is a plain ReLU MLP, else None.

    A plain MLP is an ``nn.Sequential`` of ``Linear`` (with bias) layers joined by ``ReLU``; any
    other module (dropout, convolutions, other activations) returns None.
    """
    if not isinstance(module, nn.Sequential):
        return None
    children = list(module.named_children())
    if len(children) % 2 == 0:
        return None
    names: list[tuple[str, str]] = []
    for i, (name, layer) in enumerate(children):
        if i % 2 == 1:
            if type(layer) is not nn.ReLU:
                return None
        elif type(layer) is not nn.Linear or layer.bias is None:
            return None
        else:
            names.append((f"{name}.weight", f"{name}.bias"))
    return names


def fit_plain_mlp(
    params: State,
    layers: list[tuple[str, str]],
    X: Tensor,
    onehot: Tensor,
    train_w: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    optimizer: str,
    gen: torch.Generator,
) -> tuple[State, Tensor]:
    """Train B plain MLPs by mini-batches; return their parameters and Adam / SGD step counts.

    Parameters
    ----------
    params : dict of str to Tensor
        Stacked starting parameters, ``nn.Linear`` layout: weights (B, out, in), biases (B, out).
    layers : list of (str, str)
        :func:`plain_mlp_layers` of the module.
    X : Tensor (n, d)
    onehot : Tensor (n, K)
        One-hot labels in X's dtype.
    train_w : Tensor (B, n)
        Row weights per model; rows with positive weight are the model's subset.
    epochs, batch_size, lr, weight_decay, optimizer
        As :class:`~assay.learners.networks.NetworkClassifier`.
    gen : torch.Generator
        Draws one key per row per epoch (the shared shuffle).

    Returns
    -------
    params : dict of str to Tensor
        Trained parameters in the input's layout.
    steps : Tensor (B,) long
        Optimiser steps each model took.
    """
    B, n = train_w.shape
    d = X.shape[1]
    dev = X.device
    size = min(batch_size, n)
    selected = train_w > 0
    counts = selected.sum(1)  # (B,)
    # a model takes k = ceil(|S| / size) steps per epoch, so its step count after any step is a
    # function of k alone: sorted by k, models of one k form a block that steps together (one
    # Adam tensor per block, not per model), and the models still stepping are a suffix
    per_epoch = (counts + size - 1) // size
    perm = torch.argsort(per_epoch, stable=True)
    per_epoch, counts, train_w = per_epoch[perm], counts[perm], train_w[perm]
    selected = selected[perm]
    k_host = per_epoch.tolist()
    # (B, in, out) weights: forward a @ W and gradient a^T @ dz are plain bmm calls
    weights = [params[w].detach()[perm].transpose(1, 2).contiguous() for w, _ in layers]
    biases = [params[b].detach()[perm].contiguous() for _, b in layers]
    g_weights = [torch.zeros_like(w) for w in weights]
    g_biases = [torch.zeros_like(b) for b in biases]
    tensors = [t for pair in zip(weights, biases, strict=True) for t in pair]
    grads = [t for pair in zip(g_weights, g_biases, strict=True) for t in pair]
    ks, sizes = torch.unique_consecutive(per_epoch, return_counts=True)
    bounds = [0, *torch.cumsum(sizes, 0).tolist()]
    blocks = [(int(k), lo, hi) for k, lo, hi in zip(ks.tolist(), bounds, bounds[1:], strict=False)]
    # per-block leaves sharing the stacked storage: the optimiser updates the stack in place
    leaves = [[t[lo:hi].detach() for t in tensors] for _, lo, hi in blocks]
    leaf_grads = [[g[lo:hi] for g in grads] for _, lo, hi in blocks]
    opt: torch.optim.Optimizer | None = None
    if optimizer == "adam":
        flat = [p for block in leaves for p in block]
        fused = True if dev.type in ("cpu", "cuda") else None
        opt = torch.optim.Adam(flat, lr=lr, weight_decay=weight_decay, fused=fused)
    steps = torch.zeros(B, dtype=torch.long, device=dev)
    x_buf = torch.empty((B * size, d), dtype=X.dtype, device=dev)
    has_grad = [False] * len(blocks)
    for _ in range(epochs):
        keys = torch.rand(n, generator=gen, dtype=torch.float64).to(dev)
        # each model's selected rows first, in key order; unselected rows after them
        order = torch.argsort(torch.where(selected, keys, keys + 2.0), dim=1)
        for step in range(max(k_host, default=0)):
            lo = next(b for b, k in enumerate(k_host) if k > step)  # models still stepping
            start = step * size
            idx = order[lo:, start : start + size]  # (B - lo, m)
            nb, m = idx.shape
            inside = torch.arange(start, start + m, device=dev)
            w = torch.gather(train_w[lo:], 1, idx) * (inside[None, :] < counts[lo:, None])
            xb = torch.index_select(X, 0, idx.reshape(-1), out=x_buf[: nb * m]).view(nb, m, d)
            # forward: keep every layer's input (post-ReLU activations) for the backward
            inputs = [xb]
            for i, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
                z = torch.baddbmm(bias[lo:, None, :], inputs[-1], weight[lo:])
                if i < len(weights) - 1:
                    inputs.append(z.clamp_min_(0.0))
            # d(weighted mean CE)/dz = (softmax - onehot) * w / max(sum w, 1), per model
            scale = w / w.sum(1, keepdim=True).clamp_min(1.0)
            dz = torch.softmax(z, dim=-1).sub_(onehot[idx]).mul_(scale[:, :, None])
            for i in range(len(weights) - 1, -1, -1):
                a = inputs[i]
                torch.bmm(a.transpose(1, 2), dz, out=g_weights[i][lo:])
                torch.sum(dz, dim=1, out=g_biases[i][lo:])
                if i > 0:  # through the ReLU: gradient where its output was positive
                    dz = torch.ops.aten.threshold_backward(
                        torch.bmm(dz, weights[i][lo:].transpose(1, 2)), a, 0.0
                    )
            steps[lo:] += 1
            if opt is None:
                for p, g in zip(tensors, grads, strict=True):
                    masked_sgd_step(p[lo:], g[lo:], None, lr, weight_decay)
                continue
            for j, (k, _, _) in enumerate(blocks):  # blocks done for the epoch are not stepped
                on = k > step
                if on != has_grad[j]:
                    for p, g in zip(leaves[j], leaf_grads[j], strict=True):
                        p.grad = g if on else None
                    has_grad[j] = on
            opt.step()
    inverse = torch.argsort(perm)
    out: State = {}
    for (wname, bname), weight, bias in zip(layers, weights, biases, strict=True):
        out[wname] = weight.transpose(1, 2)[inverse].contiguous()
        out[bname] = bias[inverse].contiguous()
    return out, steps[inverse]


def masked_sgd_step(
    p: Tensor, grad: Tensor, active: Tensor | None, lr: float, weight_decay: float
) -> None:
    """``torch.optim.SGD`` (no momentum, L2 added to the gradient) where ``active``, in place.

    ``active`` (B,) selects the models along the leading dimension; None steps all of them.
    """
    step = grad.add(p, alpha=weight_decay)
    if active is not None:
        step.mul_(active.to(p.dtype).view((-1,) + (1,) * (p.dim() - 1)))
    p.sub_(step, alpha=lr)
