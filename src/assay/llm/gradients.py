"""Projected per-example gradients of a causal LM, on disk and resumable (LESS, GraNd, TRAK).

For a chunk of examples, the per-example gradients of the response loss with respect to a chosen
set of parameters (the LoRA parameters of a peft model by default, or any names) come from
``torch.func``: ``vmap(grad(loss))`` over :func:`torch.func.functional_call`. Each is projected to
``dim`` dimensions by a seeded random matrix (Rademacher +-1 or Gaussian, scaled by
``1 / sqrt(dim)`` so inner products are kept in expectation) that is generated block by block
(one parameter, ``block_rows`` rows at a time, from ``(seed, parameter, block)``): the projection
for the whole model is never held, and no gradient of the parameters outside the chosen set is
formed. Sequences in a chunk are right-padded and run without an attention mask (a mask, and the
"padding without a mask?" check that a set ``pad_token_id`` triggers, are data-dependent control
flow that vmap refuses, so ``pad_token_id`` is unset during the call): causal attention never lets
a real token see the padding after it, and only real response tokens enter the loss.

The features go to a memory-mapped ``.npy`` (float32, (n, dim)) with the exact gradient norms
beside it (``*.norms.npy``, GraNd) and one completion marker per chunk, written atomically after the
chunk is flushed; a killed run started again with the same arguments skips the finished chunks and
gives the same arrays. Optional Adam preconditioning (LESS): each gradient is divided by
``sqrt(v) + eps`` (``v`` the optimizer's ``exp_avg_sq``) before the projection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from assay.errors import InvalidDataError, InvalidParameterError
from assay.runs import atomic_write_text, new_hash

if TYPE_CHECKING:  # not at run time: tokens imports the corpus code, hence pandas
    from assay.llm.tokens import Encoded

Tensor = torch.Tensor
KINDS = ("rademacher", "gaussian")


def projection_block(
    seed: int, param: int, block: int, rows: int, dim: int, kind: str = "rademacher"
) -> Tensor:
    """Rows ``block * block_rows ..`` of parameter ``param``'s projection (rows, dim), float64."""
    if kind not in KINDS:
        raise InvalidParameterError(f"projection kind must be one of {KINDS}, got {kind!r}")
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + param) * 1_000_033 + block)
    if kind == "gaussian":
        P = torch.randn(rows, dim, generator=g, dtype=torch.float64)
    else:
        P = torch.randint(0, 2, (rows, dim), generator=g).to(torch.float64) * 2 - 1
    return P / dim**0.5


def select_parameters(model: torch.nn.Module, names: Sequence[str] | str = "lora") -> list[str]:
    """Names of the parameters to differentiate: ``"lora"`` (peft's ``lora_`` ones) or a list.

    A list entry selects every parameter whose name equals it or starts with ``entry + "."``.
    """
    all_names = [n for n, _ in model.named_parameters()]
    if names == "lora":
        out = [n for n in all_names if "lora_" in n]
        if not out:
            raise InvalidParameterError(
                "the model has no LoRA parameters; wrap it with peft.get_peft_model or pass "
                "parameter names"
            )
        return out
    if isinstance(names, str):
        names = [names]
    out = [n for n in all_names if any(n == p or n.startswith(p + ".") for p in names)]
    if not out:
        raise InvalidParameterError(f"no parameter of the model matches {list(names)!r}")
    return out


def adam_preconditioner(
    optimizer: torch.optim.Optimizer, model: torch.nn.Module
) -> dict[str, Tensor]:
    """``exp_avg_sq`` of every parameter of ``model`` that ``optimizer`` (Adam/AdamW) holds."""
    out = {}
    for name, p in model.named_parameters():
        state = optimizer.state.get(p, {})
        if "exp_avg_sq" in state:
            out[name] = state["exp_avg_sq"].detach()
    if not out:
        raise InvalidParameterError("the optimizer holds no exp_avg_sq (is it Adam and stepped?)")
    return out


class GradientFeatures:
    """Projected per-example response-loss gradients, computed in chunks and stored on disk.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM (a peft model for LoRA gradients).
    params : "lora" or sequence of str
        Which parameters (see :func:`select_parameters`).
    dim : int, default 1024
        Projected dimension.
    seed : int, default 0
        Seeds the projection.
    kind : {"rademacher", "gaussian"}
    chunk : int, default 16
        Examples per vmap call (and per completion marker).
    block_rows : int, default 65536
        Rows of a projection block generated at once.
    preconditioner : dict name -> tensor, optional
        Adam second moments (:func:`adam_preconditioner`); gradients are divided by
        ``sqrt(v) + eps``.
    eps : float, default 1e-8
    device : str, optional
    progress : bool, default False
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        params: Sequence[str] | str = "lora",
        dim: int = 1024,
        seed: int = 0,
        kind: str = "rademacher",
        chunk: int = 16,
        block_rows: int = 65536,
        preconditioner: dict[str, Tensor] | None = None,
        eps: float = 1e-8,
        device: str | None = None,
        progress: bool = False,
    ) -> None:
        if dim < 1 or chunk < 1 or block_rows < 1:
            raise InvalidParameterError(
                f"dim, chunk and block_rows must be >= 1, got {dim}, {chunk}, {block_rows}"
            )
        if kind not in KINDS:
            raise InvalidParameterError(f"projection kind must be one of {KINDS}, got {kind!r}")
        self.model = model
        self.names = select_parameters(model, params)
        self.dim, self.seed, self.kind = int(dim), int(seed), kind
        self.chunk, self.block_rows = int(chunk), int(block_rows)
        self.preconditioner = preconditioner
        self.eps = float(eps)
        self.device = device
        self.progress = progress
        missing = [n for n in self.names if preconditioner is not None and n not in preconditioner]
        if missing:
            raise InvalidParameterError(f"the preconditioner has no entry for {missing[:3]}")

    # ------------------------------------------------------------------ gradients
    def per_example_gradients(self, encoded: Sequence[Encoded]) -> dict[str, Tensor]:
        """Per-example gradients of the chosen parameters for one chunk: name -> (c, *shape)."""
        model = self.model
        dev = next(model.parameters()).device
        params = dict(model.named_parameters())
        frozen = {k: v.detach() for k, v in params.items() if k not in self.names}
        sub = {k: params[k].detach() for k in self.names}
        L = max(len(e.ids) for e in encoded)
        ids = torch.zeros((len(encoded), L), dtype=torch.long)
        w = torch.zeros((len(encoded), L - 1), dtype=torch.float64)
        for b, e in enumerate(encoded):
            ids[b, : len(e.ids)] = torch.tensor(e.ids)
            w[b, max(e.start, 1) - 1 : len(e.ids) - 1] = 1.0
        ids, w = ids.to(dev), w.to(dev)

        def loss(p: dict[str, Tensor], x: Tensor, wx: Tensor) -> Tensor:
            kwargs = {"input_ids": x[None]}
            logits = torch.func.functional_call(model, {**frozen, **p}, (), kwargs)
            logits = logits.logits if hasattr(logits, "logits") else logits[0]
            logp = torch.log_softmax(logits[0, :-1], -1)
            nll = -logp.gather(-1, x[1:, None])[:, 0]
            return (nll * wx.to(nll.dtype)).sum() / wx.sum().to(nll.dtype)

        was_training = model.training
        model.eval()
        configs = {
            id(c): c for m in model.modules() if (c := getattr(m, "config", None)) is not None
        }
        saved = {k: getattr(c, "pad_token_id", None) for k, c in configs.items()}
        try:
            for c in configs.values():
                if hasattr(c, "pad_token_id"):
                    c.pad_token_id = None
            grads = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(sub, ids, w)
        finally:
            model.train(was_training)
            for k, c in configs.items():
                if hasattr(c, "pad_token_id"):
                    c.pad_token_id = saved[k]
        if self.preconditioner is not None:
            grads = {
                k: g / (self.preconditioner[k].to(g).sqrt() + self.eps)[None]
                for k, g in grads.items()
            }
        return grads

    def project(self, grads: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Projected features (c, dim) and exact norms (c,) of a chunk of per-example gradients."""
        out: Tensor | None = None
        sq: Tensor | None = None
        for j, name in enumerate(self.names):
            G = grads[name].reshape(grads[name].shape[0], -1).to(torch.float64)
            sq = (G * G).sum(1) if sq is None else sq + (G * G).sum(1)
            for b, r0 in enumerate(range(0, G.shape[1], self.block_rows)):
                r1 = min(r0 + self.block_rows, G.shape[1])
                P = projection_block(self.seed, j, b, r1 - r0, self.dim, self.kind).to(G.device)
                part = G[:, r0:r1] @ P
                out = part if out is None else out + part
        assert out is not None and sq is not None
        return out, sq.sqrt()

    # ------------------------------------------------------------------ on disk
    def compute(
        self,
        encoded: Sequence[Encoded],
        path: str | Path | None = None,
        *,
        stop_after: int | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """Features (n, dim) and gradient norms (n,) of all examples; on disk when ``path``.

        With ``path`` (a ``.npy``) the arrays are memory-mapped there and finished chunks are
        skipped on a rerun. ``stop_after`` stops after that many new chunks (for tests of resume).
        """
        n = len(encoded)
        if n == 0:
            raise InvalidDataError("no examples to compute gradient features for")
        if path is None:
            feats = np.zeros((n, self.dim), np.float32)
            norms = np.zeros(n)
            done_dir = None
        else:
            feats, norms, done_dir = self._open(Path(path), encoded)
        starts = list(range(0, n, self.chunk))
        new = 0
        for c, s in enumerate(
            tqdm(starts, desc="gradients", unit="chunk", disable=not self.progress)
        ):
            if done_dir is not None and (done_dir / f"{c}.done").exists():
                continue
            if stop_after is not None and new >= stop_after:
                break
            rows = list(encoded[s : s + self.chunk])
            f, nr = self.project(self.per_example_gradients(rows))
            feats[s : s + len(rows)] = f.cpu().numpy().astype(np.float32)
            norms[s : s + len(rows)] = nr.cpu().numpy()
            if done_dir is not None:
                assert isinstance(feats, np.memmap) and isinstance(norms, np.memmap)
                feats.flush()
                norms.flush()
                _atomic_write(done_dir / f"{c}.done", "")
            new += 1
        return np.asarray(feats), np.asarray(norms)

    def fingerprint(self, encoded: Sequence[Encoded]) -> str:
        """A hash of everything the arrays depend on (a rerun must match it to resume)."""
        h = new_hash()
        meta = [self.names, self.dim, self.seed, self.kind, self.chunk, self.block_rows, self.eps]
        h.update(json.dumps(meta).encode())
        h.update(str(self.preconditioner is not None).encode())
        for e in encoded:
            h.update(np.asarray(e.ids, np.int64).tobytes() + b"|" + str(e.start).encode())
        for name in self.names:
            h.update(dict(self.model.named_parameters())[name].detach().cpu().numpy().tobytes())
        return h.hexdigest()

    def _open(self, path: Path, encoded: Sequence[Encoded]) -> tuple[np.memmap, np.memmap, Path]:
        if path.suffix != ".npy":
            raise InvalidParameterError(
                f"gradient features path must end in .npy, got {str(path)!r}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_path = path.with_suffix(".meta.json")
        norms_path = path.with_suffix(".norms.npy")
        done_dir = path.with_suffix(".done")
        fp = self.fingerprint(encoded)
        n = len(encoded)
        resume = (
            meta_path.exists()
            and path.exists()
            and norms_path.exists()
            and json.loads(meta_path.read_text()).get("fingerprint") == fp
        )
        if not resume:
            if done_dir.exists():
                for f in done_dir.glob("*.done"):
                    f.unlink()
            done_dir.mkdir(exist_ok=True)
            feats = np.lib.format.open_memmap(path, "w+", np.float32, (n, self.dim))
            norms = np.lib.format.open_memmap(norms_path, "w+", np.float64, (n,))
            feats.flush()
            norms.flush()
            _atomic_write(meta_path, json.dumps({"fingerprint": fp, "n": n, "dim": self.dim}))
        else:
            feats = np.lib.format.open_memmap(path, "r+")
            norms = np.lib.format.open_memmap(norms_path, "r+")
            if feats.shape != (n, self.dim):
                raise InvalidDataError(
                    f"{str(path)!r} has shape {feats.shape}, want {(n, self.dim)}"
                )
        return feats, norms, done_dir


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text, overwrite=True)  # markers and metadata are state, rewritten
