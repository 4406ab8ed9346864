"""Training the explainer: the loss of Eq. 3 with additive efficient normalisation, resumable.

For an input x with gap Delta = v(1) - v(0) (one per label), the network's raw output phi (n, K)
is first made efficient (Ruiz et al.'s additive normalisation, Section 3.1),

    phi_hat = phi + (Delta - 1^T phi) / n,

so that the values of every prediction sum to v(1) - v(0) exactly, and the loss is

    L = E_x E_y E_s [(v_{x,y}(s) - v_{x,y}(0) - s^T phi_hat(x, y))^2]

with s from the subset pool (kernel-distributed, paired) and y uniform over the labels (all K
columns are regressed at once, which is that expectation). The gap is not detached (as in the
PyTorch FastSHAP and the authors' code). GFDS+ shares values evenly within groups, the limit
gamma -> inf of Eq. 6's penalty gamma * sum_groups ||phi_G - mean(phi_G)||^2: its players are the N
groups, the network outputs one value per group (each of a group's points gets it), s is a subset
of groups and s^T phi counts each group's value once per member (``sizes``), so the head is N x K
wide instead of n x K. That makes the explainer's cost independent of n (40,000 players cost what
64 do).

Optimisation follows the paper and FastSHAP: Adam (lr 2e-4), ReduceLROnPlateau on the validation
loss (factor 0.5, patience ``patience // 2``, min_lr 1e-5), early stopping after ``patience``
epochs without improvement, best weights restored. The validation loss is the same objective over
the whole pool at the validation inputs (deterministic). With a ``checkpoint`` file the full
training state (weights, best weights, Adam moments, scheduler, random generator, history) is
written after every epoch as one assay checkpoint (:func:`assay.runs.write_checkpoint`: the
tensors as arrays, the rest in the JSON header); a rerun continues and ends with the same weights.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assay.errors import InvalidParameterError, corrupt
from assay.progress import progress_bar
from assay.runs import RESTART_HINT, read_checkpoint, write_checkpoint

log = logging.getLogger(__name__)
Tensor = torch.Tensor


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of the explainer's optimisation (defaults: the paper / FastSHAP)."""

    epochs: int = 200
    lr: float = 2e-4
    batch_size: int = 32
    patience: int = 20
    min_lr: float = 1e-5
    subsets_per_input: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise InvalidParameterError(
                f"epochs, batch_size and patience must be >= 1, got {self.epochs}, "
                f"{self.batch_size}, {self.patience}"
            )
        if not self.lr > 0 or self.min_lr < 0:
            raise InvalidParameterError(f"need lr > 0, min_lr >= 0; got {self.lr}, {self.min_lr}")
        if self.subsets_per_input is not None and self.subsets_per_input < 2:
            raise InvalidParameterError(
                f"subsets_per_input must be >= 2 or None (all), got {self.subsets_per_input}"
            )


@dataclass
class Targets:
    """Explainer inputs and their utilities over the pool.

    ``X`` (m, d); ``gaps`` (m, M, K) = v(s) - v(0) for every pool subset s; ``delta`` (m, K) =
    v(1) - v(0).
    """

    X: Tensor
    gaps: Tensor
    delta: Tensor

    @property
    def m(self) -> int:
        return int(self.X.shape[0])


def efficient_normalise(phi: Tensor, delta: Tensor, sizes: Tensor | None = None) -> Tensor:
    """Additive efficient normalisation: (b, p, K), (b, K) -> values that sum to ``delta``.

    With ``sizes`` (p,), player j stands for ``sizes[j]`` points that each get ``phi[:, j]``:
    the points' values sum to ``delta`` and the shift is spread over all ``sizes.sum()`` points.
    """
    if sizes is None:
        return phi + ((delta - phi.sum(1)) / phi.shape[1])[:, None, :]
    total = torch.einsum("p,bpk->bk", sizes, phi)
    return phi + ((delta - total) / sizes.sum())[:, None, :]


def group_means(phi: Tensor, groups: Tensor, n_groups: int) -> Tensor:
    """Each point's group mean of ``phi`` (b, n, K), broadcast back to (b, n, K)."""
    sums = torch.zeros(phi.shape[0], n_groups, phi.shape[2], dtype=phi.dtype, device=phi.device)
    sums.index_add_(1, groups, phi)
    sizes = torch.bincount(groups, minlength=n_groups).to(phi.dtype)
    return (sums / sizes[None, :, None])[:, groups]


class Objective:
    """The explainer's output transform and loss over a fixed subset pool.

    Parameters
    ----------
    masks : Tensor (M, p) float
        Pool subsets over the p players (points, or groups with ``sizes``).
    weights : Tensor (M,)
        Probability of each pool row (sums to 1).
    paired : bool
        Rows 2j, 2j + 1 are complementary pairs (subsampling keeps pairs together).
    sizes : Tensor (p,) float, optional
        Points each player stands for (GFDS+: the group sizes); None: players are points.
    """

    def __init__(
        self, masks: Tensor, weights: Tensor, *, paired: bool, sizes: Tensor | None = None
    ) -> None:
        if sizes is not None and sizes.shape != (masks.shape[1],):
            raise InvalidParameterError(
                f"sizes must have one entry per player ({masks.shape[1]}), got {tuple(sizes.shape)}"
            )
        self.masks, self.weights, self.paired, self.sizes = masks, weights, paired, sizes
        # s^T phi over points = (masks * sizes) @ phi over groups
        self._counts = masks if sizes is None else masks * sizes[None, :]

    def values(self, raw: Tensor, delta: Tensor) -> Tensor:
        """Efficient values (per point of each player) from the raw output."""
        return efficient_normalise(raw, delta, self.sizes)

    def data_loss(self, phi: Tensor, gaps: Tensor, rows: Tensor | None = None) -> Tensor:
        """Weighted squared error over pool rows: all rows, or ``rows`` (b, s) per input."""
        if rows is None:
            approx = torch.einsum("mn,bnk->bmk", self._counts, phi)
            err = (approx - gaps).pow(2).mean(-1)  # (b, M)
            return (err * self.weights[None, :]).sum(1).mean()
        S = self._counts[rows]  # (b, s, n)
        approx = torch.einsum("bsn,bnk->bsk", S, phi)
        return (approx - gaps).pow(2).mean()

    def sample_rows(self, b: int, s: int, gen: torch.Generator) -> Tensor:
        """``s`` pool rows per input drawn by weight (pairs kept together when paired)."""
        if self.paired:
            pw = self.weights[0::2] + self.weights[1::2]
            half = torch.multinomial(
                pw.expand(b, -1), (s + 1) // 2, replacement=True, generator=gen
            )
            return torch.stack([2 * half, 2 * half + 1], dim=2).reshape(b, -1)[:, :s]
        return torch.multinomial(self.weights.expand(b, -1), s, replacement=True, generator=gen)


def evaluate_loss(net: torch.nn.Module, obj: Objective, data: Targets, batch: int = 256) -> float:
    """Mean data loss over all inputs and the whole pool (no gradients)."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, data.m, batch):
            sl = slice(i, i + batch)
            phi = obj.values(net(data.X[sl]), data.delta[sl])
            total += float(obj.data_loss(phi, data.gaps[sl])) * (min(i + batch, data.m) - i)
    return total / max(1, data.m)


# --------------------------------------------------------------------- checkpoints
def _flat_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    for pid, st in sd["state"].items():
        for name, val in st.items():
            t = val if isinstance(val, Tensor) else torch.tensor(val)
            tensors[f"opt.{pid}.{name}"] = t.detach().reshape(-1).clone()
    return tensors, {"param_groups": sd["param_groups"]}


def _load_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    shapes = [p.shape for g in opt.param_groups for p in g["params"]]
    for key, val in tensors.items():
        if not key.startswith("opt."):
            continue
        _, pid, name = key.split(".", 2)
        i = int(pid)
        state.setdefault(i, {})[name] = (
            val.reshape(()) if name == "step" else val.reshape(shapes[i])
        )
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


class Checkpoint:
    """The training state in one assay checkpoint file (kind ``explainer-training``)."""

    kind = "explainer-training"

    def __init__(self, path: str | Path, identity: str, *, restart: bool = False) -> None:
        self.path, self.identity, self.restart = Path(path), identity, restart

    def save(
        self,
        net: torch.nn.Module,
        best: dict[str, Tensor],
        opt: torch.optim.Optimizer,
        sched: Any,
        gen: torch.Generator,
        progress: dict[str, Any],
    ) -> None:
        tensors = {f"net.{k}": v.detach() for k, v in net.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in best.items()})
        opt_tensors, opt_meta = _flat_optimizer(opt)
        tensors.update(opt_tensors)
        tensors["rng"] = gen.get_state()
        header = {"optimizer": opt_meta, "scheduler": sched.state_dict(), **progress}
        arrays = {k: v.detach().cpu().numpy().copy() for k, v in tensors.items()}
        write_checkpoint(
            self.path, kind=self.kind, identity=self.identity, arrays=arrays, header=header
        )

    def load(
        self, net: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, gen: torch.Generator
    ) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        """Restore the state into ``net``, ``opt``, ``sched`` and ``gen``; None when there is
        no checkpoint (or ``restart`` discarded one of another run)."""
        ckpt = read_checkpoint(
            self.path, kind=self.kind, identity=self.identity, restart=self.restart
        )
        if ckpt is None:
            return None
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ckpt.arrays.items()}
        try:
            net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
            best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
            _load_optimizer(opt, tensors, ckpt.header["optimizer"])
            sched.load_state_dict(ckpt.header["scheduler"])
            gen.set_state(tensors["rng"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise corrupt(
                "checkpoint", self.path, f"does not fit this explainer: {exc}", RESTART_HINT
            ) from exc
        return best, ckpt.header


# --------------------------------------------------------------------- the loop
def train_explainer(
    net: torch.nn.Module,
    obj: Objective,
    train: Targets,
    valid: Targets,
    config: TrainingConfig,
    *,
    checkpoint: str | Path | None = None,
    identity: str = "",
    restart: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit ``net`` in place; return the history (losses per epoch, best epoch, stop reason).

    With ``checkpoint`` (a file) the state is saved after every epoch and a rerun with the same
    ``identity`` resumes; ``restart`` discards a checkpoint of another run.
    """
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=max(1, config.patience // 2), min_lr=config.min_lr
    )
    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
    state: dict[str, Any] = {
        "epoch": 0,
        "best_val": math.inf,
        "best_epoch": 0,
        "bad_epochs": 0,
        "train_loss": [],
        "val_loss": [],
        "stopped": "max_epochs",
    }
    ckpt = None if checkpoint is None else Checkpoint(checkpoint, identity, restart=restart)
    loaded = None if ckpt is None else ckpt.load(net, opt, sched, gen)
    if loaded is not None:
        assert ckpt is not None
        best, meta = loaded
        state.update({k: meta[k] for k in state})
        log.info("explainer: resumed from %s at epoch %d", ckpt.path, state["epoch"])
    bar = progress_bar(config.epochs, "explainer", progress, "epoch", state["epoch"])
    done = state["bad_epochs"] >= config.patience
    while state["epoch"] < config.epochs and not done:
        net.train()
        order = torch.randperm(train.m, generator=gen)
        total = 0.0
        for i in range(0, train.m, config.batch_size):
            idx = order[i : i + config.batch_size]
            raw = net(train.X[idx])
            phi = obj.values(raw, train.delta[idx])
            if config.subsets_per_input is None:
                loss = obj.data_loss(phi, train.gaps[idx])
            else:
                rows = obj.sample_rows(len(idx), config.subsets_per_input, gen)
                loss = obj.data_loss(phi, train.gaps[idx[:, None], rows], rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        val = evaluate_loss(net, obj, valid)
        sched.step(val)
        state["epoch"] += 1
        state["train_loss"].append(total / train.m)
        state["val_loss"].append(val)
        if val < state["best_val"]:
            state.update(best_val=val, best_epoch=state["epoch"], bad_epochs=0)
            best = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        done = state["bad_epochs"] >= config.patience
        if done:
            state["stopped"] = "early_stopping"
        if ckpt is not None:
            ckpt.save(net, best, opt, sched, gen, state)
        bar.set_postfix(train=f"{state['train_loss'][-1]:.3g}", val=f"{val:.3g}")
        bar.update(1)
    bar.close()
    net.load_state_dict(best)
    net.eval()
    return {**state, "config": asdict(config)}
