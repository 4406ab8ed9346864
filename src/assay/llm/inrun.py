"""First-order In-Run Data Shapley (Wang et al., ICLR 2025) with the ghost dot-product trick.

During one ordinary training run, every step ``s`` that uses training example ``i`` adds
``lr_s * <grad_theta l_i, grad_theta L_val>`` to the value of ``i``: the first-order drop of the
validation loss that the step owes to ``i`` (``l_i`` is the example's own term of the loss that is
backpropagated, so with a mean over the batch it carries the ``1 / B``). Higher = better.

No per-example gradient is formed. For a linear layer ``y_t = W a_t (+ b)`` (``nn.Linear``, and
GPT-2's ``Conv1D`` with the transposed weight) the gradient of example ``i`` is
``sum_t g_{i,t} a_{i,t}^T``, so with the validation batch's activations ``a_v`` and output
gradients ``g_v`` (all of its tokens)::

    <G_i, G_val> = sum_{t, t'} (a_{i,t} . a_{v,t'}) (g_{i,t} . g_{v,t'})     (ghost)
                 = sum_t g_{i,t}^T G_val a_{i,t}                              (direct)

and each layer takes whichever is cheaper for the batch (``B * T * T_val * (d_in + d_out)``
against ``(B * T + T_val) * d_in * d_out``: the direct way forms ``G_val`` once a batch); a bias
adds ``(sum_t g_{i,t}) . (sum_t' g_{v,t'})``. The activations and
output gradients come from forward hooks and tensor hooks on the tracked layers during the training
step's own forward and backward, plus one forward / backward of the validation batch (which does not
touch ``.grad``). Only the tracked layers' parameters count (by default every Linear / Conv1D whose
weight is not tied to an embedding); embeddings and norms are left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from assay.errors import InvalidDataError, InvalidParameterError
from assay.result import HIGHER_IS_BETTER, ValuationResult

Tensor = torch.Tensor


def linear_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Linear and GPT-2 Conv1D modules of ``model`` whose weight is not an embedding's."""
    tied = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return [m for m in model.modules() if _is_linear(m) and id(m.weight) not in tied]


def _is_linear(m: torch.nn.Module) -> bool:
    return isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D"


class InRunShapley:
    """Accumulate first-order In-Run Data Shapley values over a plain PyTorch training loop.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained.
    n_train : int
        Number of training examples (values are indexed by position 0..n_train-1).
    layers : sequence of modules, optional
        Linear / Conv1D layers whose parameters count; :func:`linear_layers` if None.

    Examples
    --------
    >>> tracker = InRunShapley(model, n_train)                       # doctest: +SKIP
    >>> for idx, batch in loader:                                    # doctest: +SKIP
    ...     with tracker.record("val"):
    ...         val_loss = loss_fn(model, val_batch)
    ...     with tracker.record("train"):
    ...         loss = loss_fn(model, batch)          # mean of per-example losses
    ...     optimizer.zero_grad()
    ...     tracker.backward(loss, val_loss, idx, lr=lr)   # fills .grad like loss.backward()
    ...     optimizer.step()
    """

    def __init__(
        self,
        model: torch.nn.Module,
        n_train: int,
        layers: Sequence[torch.nn.Module] | None = None,
    ) -> None:
        if n_train < 1:
            raise InvalidParameterError(f"n_train must be >= 1, got {n_train}")
        self.layers = list(linear_layers(model) if layers is None else layers)
        bad = [type(m).__name__ for m in self.layers if not _is_linear(m)]
        if bad or not self.layers:
            raise InvalidParameterError(
                f"layers must be nn.Linear or Conv1D modules (at least one), got {bad or 'none'}"
            )
        self.values = np.zeros(n_train)
        self.counts = np.zeros(n_train, dtype=np.int64)
        self.steps = 0
        self._mode: str | None = None
        self._acts: dict[str, list[list[Tensor]]] = {}
        self._outs: dict[str, list[list[Tensor]]] = {}
        self._train_grads: list[list[Tensor | None]] = []
        self._handles = [m.register_forward_hook(self._hook(k)) for k, m in enumerate(self.layers)]

    def _hook(self, k: int) -> Any:
        def hook(module: torch.nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if self._mode is None:
                return
            self._acts[self._mode][k].append(inputs[0].detach())
            self._outs[self._mode][k].append(output)
            if self._mode == "train":  # the output gradient arrives with the step's backward
                j = len(self._train_grads[k])
                self._train_grads[k].append(None)
                if output.requires_grad:
                    output.register_hook(self._grab(self._train_grads, k, j))

        return hook

    @contextmanager
    def record(self, mode: str) -> Iterator[None]:
        """Record the tracked layers' inputs and outputs of the forward pass run inside."""
        self.begin(mode)
        try:
            yield
        finally:
            self.end()

    def begin(self, mode: str) -> None:
        """Start recording a forward pass (``record`` without a ``with``; for callbacks)."""
        if mode not in ("train", "val"):
            raise InvalidParameterError(f"mode must be 'train' or 'val', got {mode!r}")
        self._mode = mode
        self._acts[mode] = [[] for _ in self.layers]
        self._outs[mode] = [[] for _ in self.layers]
        if mode == "train":
            self._train_grads = [[] for _ in self.layers]

    def end(self) -> None:
        """Stop recording."""
        self._mode = None

    def backward(self, loss: Tensor, val_loss: Tensor, idx: Any, *, lr: float) -> Tensor:
        """``loss.backward()`` plus the step's In-Run values; returns the per-example dots.

        ``loss`` must be a sum of independent per-example terms (a mean or sum over the batch)
        recorded under ``record("train")``; ``val_loss`` recorded under ``record("val")``.
        """
        if "train" not in self._outs or "val" not in self._outs:
            raise InvalidParameterError("record both a 'val' and a 'train' forward before backward")
        val = self.validation(val_loss)
        loss.backward()
        dots = self.train_dots(val)
        self.add(idx, dots, lr=lr)
        return dots

    def validation(self, val_loss: Tensor) -> list[tuple[Tensor, Tensor] | None]:
        """Per tracked layer, the validation batch's activations and output gradients.

        ``val_loss`` comes from a forward recorded under ``record("val")``; ``.grad`` is not
        touched. The result serves every micro-batch of one optimizer step.
        """
        if "val" not in self._outs:
            raise InvalidParameterError("record a 'val' forward before asking for its gradient")
        flat = [o for outs in self._outs["val"] for o in outs]
        g_flat = torch.autograd.grad(val_loss, flat, allow_unused=True)
        out: list[tuple[Tensor, Tensor] | None] = []
        pos = 0
        for outs, acts in zip(self._outs["val"], self._acts["val"], strict=True):
            gs = [
                torch.zeros_like(o) if g is None else g
                for o, g in zip(outs, g_flat[pos : pos + len(outs)], strict=True)
            ]
            pos += len(outs)
            if not outs:
                out.append(None)
                continue
            av = torch.cat([_3d(x) for x in acts], 1)
            out.append((av, torch.cat([_3d(g) for g in gs], 1)))
        del self._acts["val"], self._outs["val"]
        return out

    def train_dots(self, val: list[tuple[Tensor, Tensor] | None]) -> Tensor:
        """Per-example ``<grad l_i, grad L_val>`` of the recorded train forward, after its backward.

        The backward may be anyone's (``loss.backward()``, a Trainer's accelerator): the output
        gradients were caught by tensor hooks put on at forward time.
        """
        if "train" not in self._outs:
            raise InvalidParameterError("record a 'train' forward (and backward it) first")
        dots: Tensor | None = None
        for k, layer in enumerate(self.layers):
            acts, v = self._acts["train"][k], val[k]
            if not acts or v is None:
                continue
            a = torch.cat([_3d(x) for x in acts], 1)
            g = torch.cat(
                [
                    _3d(torch.zeros_like(o) if t is None else t)
                    for o, t in zip(self._outs["train"][k], self._train_grads[k], strict=True)
                ],
                1,
            )
            d = layer_dots(a, g, v[0], v[1], bias=getattr(layer, "bias", None) is not None)
            dots = d if dots is None else dots + d
        del self._acts["train"], self._outs["train"]
        self._train_grads = []
        if dots is None:
            raise InvalidDataError("no tracked layer was used by both the train and val forward")
        return dots

    def add(self, idx: Any, dots: Tensor, *, lr: float) -> None:
        """Add ``lr * dots`` to the values of the examples ``idx`` (one step)."""
        idx_arr = np.asarray(idx, dtype=np.int64).reshape(-1)
        if len(dots) != len(idx_arr):
            raise InvalidDataError(f"idx has {len(idx_arr)} entries, the batch has {len(dots)}")
        if len(idx_arr) and (idx_arr.min() < 0 or idx_arr.max() >= len(self.values)):
            raise InvalidDataError(
                f"example ids must lie in [0, {len(self.values)}), got {idx_arr.min()}.."
                f"{idx_arr.max()}"
            )
        np.add.at(self.values, idx_arr, float(lr) * dots.detach().double().cpu().numpy())
        np.add.at(self.counts, idx_arr, 1)
        self.steps += 1

    @staticmethod
    def _grab(store: list[list[Tensor | None]], k: int, j: int) -> Any:
        def hook(grad: Tensor) -> None:
            store[k][j] = grad.detach()

        return hook

    def result(self, ids: NDArray[Any] | None = None) -> ValuationResult:
        """The accumulated values (higher = better) as a :class:`ValuationResult`."""
        n = len(self.values)
        return ValuationResult(
            np.arange(n) if ids is None else np.asarray(ids),
            self.values.copy(),
            np.full(n, np.nan),
            self.counts.copy(),
            "inrun-shapley",
            {"steps": self.steps, "layers": len(self.layers), "direction": HIGHER_IS_BETTER},
            HIGHER_IS_BETTER,
        )

    def close(self) -> None:
        """Remove the hooks from the model."""
        for h in self._handles:
            h.remove()
        self._handles = []


def _3d(x: Tensor) -> Tensor:
    """(B, d) -> (B, 1, d); (B, T, d) unchanged; more token axes flattened into T."""
    if x.dim() == 2:
        return x[:, None]
    return x.reshape(x.shape[0], -1, x.shape[-1])


def cheaper_dots(batch: int, tokens: int, val_tokens: int, d_in: int, d_out: int) -> str:
    """``"ghost"`` or ``"direct"``, whichever takes fewer multiply-adds for the whole batch.

    Ghost: two token-by-token Gram matrices per example, ``B * T * S * (d_in + d_out)``. Direct:
    the validation weight gradient once (``S * d_in * d_out``, shared by the batch), then
    ``g^T G a`` per token, ``B * T * d_in * d_out``.
    """
    ghost = batch * tokens * val_tokens * (d_in + d_out)
    direct = (batch * tokens + val_tokens) * d_in * d_out
    return "ghost" if ghost < direct else "direct"


def layer_dots(
    a: Tensor, g: Tensor, av: Tensor, gv: Tensor, *, bias: bool, method: str = "auto"
) -> Tensor:
    """Per-example ``<grad_i, grad_val>`` of one linear layer from activations and output grads.

    ``a`` (B, T, d_in), ``g`` (B, T, d_out) of the training batch, ``av`` / ``gv`` of the validation
    batch (any leading shape, all of its tokens summed into one gradient). ``method`` is
    ``"ghost"``, ``"direct"`` or ``"auto"`` (the cheaper).
    """
    av2 = av.reshape(-1, av.shape[-1])
    gv2 = gv.reshape(-1, gv.shape[-1])
    if method == "auto":
        method = cheaper_dots(a.shape[0], a.shape[1], av2.shape[0], a.shape[-1], g.shape[-1])
    if method == "ghost":
        ka = torch.einsum("btd,sd->bts", a, av2)
        kg = torch.einsum("btd,sd->bts", g, gv2)
        out = (ka * kg).sum((1, 2))
    elif method == "direct":
        G = gv2.T @ av2  # (d_out, d_in): the validation gradient of the weight
        out = torch.einsum("bto,oi,bti->b", g, G, a)
    else:
        raise InvalidParameterError(f"method must be ghost, direct or auto, got {method!r}")
    if bias:
        out = out + g.sum(1) @ gv2.sum(0)
    return out
