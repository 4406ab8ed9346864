"""A trained classifier as a twice-differentiable function of one flat parameter vector.

:class:`TwiceDifferentiable` bundles what influence methods need from a fitted learner: the model
``fn(theta, X) -> logits`` over the classes present in training, the fitted ``theta``, the L2
regulariser of the training objective in *sum form* (so that ``H = sum_i d^2 L_i + diag(reg)``
is the Hessian of exactly what the learner minimised), the training inputs (in the space the
perturbation omega lives in), and, for linear and MLP models, the layer structure K-FAC needs.

Scopes: ``"all"`` differentiates every parameter with respect to the raw features; ``"last"``
(networks) keeps the body fixed, embeds the inputs with it, and differentiates the last linear
layer with respect to the embedding, as the seed does for its CNNs ("we utilize the outputs from
the last layer ... and focus on the parameters of that layer", Sec. 6.2) and as Chhabra et al.'s
``NNLastLayerIF`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from assay.data.dataset import Dataset
from assay.errors import InvalidDataError, InvalidParameterError
from assay.learners.base import BatchLearner, FittedModels
from assay.learners.logistic import FittedLogistic, LogisticRegression
from assay.learners.networks import FittedNetworks, NetworkClassifier
from assay.second_order.derivatives import FlatFn, flat_model, gauss_newton, hessian, hvp

Tensor = torch.Tensor
SCOPES = ("all", "last")
_ELEMENTWISE = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.LeakyReLU,
    nn.ELU,
    nn.Dropout,
    nn.Identity,
)


@dataclass(frozen=True)
class LinearOp:
    """A linear layer inside ``theta``: ``s = a @ W^T + b`` with W, b gathered by index."""

    weight: Tensor  # (out, in) long indices into theta
    bias: Tensor | None  # (out,) long indices, or None


@dataclass(frozen=True)
class Layers:
    """Forward structure for K-FAC: linear ops and elementwise modules, then ``head(s)``."""

    ops: list[LinearOp | nn.Module]
    head: Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class TwiceDifferentiable:
    """A fitted classifier in the form influence methods differentiate.

    Attributes
    ----------
    fn : callable ``(theta (p,), X (m, d)) -> logits (m, K)`` over the K present classes
    theta : (p,) fitted parameters
    reg : (p,) sum-form L2 coefficients (Hessian diagonal of the regulariser)
    X : (n, d) training inputs as ``fn`` sees them (embeddings for scope ``"last"``)
    Y : (n, K) one-hot training labels over the present classes
    present : class codes of the K present classes, in ``fn``'s column order
    embed : raw features (m, d_raw) -> inputs of ``fn`` (identity for scope ``"all"``)
    gauge : (g, p) orthonormal rows spanning exact symmetries of the loss (a shift shared by
        all classes' weights and intercepts leaves a softmax unchanged), or None. Every gradient
        is orthogonal to them, so ``H + n * gauge^T gauge`` inverts H exactly on the vectors
        influence needs while making a softmax with an unpenalised intercept invertible
    layers : structure for K-FAC, or None when the model is not linear / MLP
    linear : whether the logits are linear in theta (then the Hessian is the Gauss-Newton matrix,
        computed from per-sample Jacobians)
    """

    fn: FlatFn
    theta: Tensor
    reg: Tensor
    X: Tensor
    Y: Tensor
    present: NDArray[np.int64]
    embed: Callable[[Tensor], Tensor]
    scope: str = "all"
    gauge: Tensor | None = None
    layers: Layers | None = None
    linear: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.theta.numel())

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.Y.shape[1])

    def inputs(self, data: Dataset | NDArray[np.float64]) -> Tensor:
        """Features of ``data`` (a Dataset or an (m, d_raw) array) as ``fn`` sees them: (m, d)."""
        X = data.X if isinstance(data, Dataset) else data
        t = torch.tensor(np.asarray(X, dtype=np.float64), dtype=self.theta.dtype)
        t = t.to(self.theta.device)
        return self.embed(t)

    def onehot(self, y: NDArray[np.int64], what: str = "labels") -> Tensor:
        """One-hot labels (m, K) over the present classes; unknown classes are an error."""
        lookup = np.full(int(max(self.present.max(), np.max(y, initial=0))) + 1, -1)
        lookup[self.present] = np.arange(len(self.present))
        codes = lookup[np.asarray(y, dtype=np.int64)]
        if (codes < 0).any():
            bad = sorted(set(np.asarray(y)[codes < 0].tolist()))
            raise InvalidDataError(
                f"{what} has classes {bad[:10]} that the training data lacks "
                f"(training classes: {self.present.tolist()})"
            )
        t = torch.as_tensor(codes, device=self.theta.device)
        return torch.nn.functional.one_hot(t, self.n_classes).to(self.theta.dtype)

    def probabilities(self, X: Tensor) -> Tensor:
        """``P(c | x, theta)`` of inputs already embedded: (m, K)."""
        with torch.no_grad():
            return torch.softmax(self.fn(self.theta, X), dim=-1)

    # ------------------------------------------------------------------ curvature
    def hessian(self, damping_sum: float = 0.0) -> Tensor:
        """Dense ``H = sum_i d^2 L_i + diag(reg) + damping_sum * I`` (+ the gauge fix): (p, p)."""
        if self.linear:
            H = gauss_newton(self.fn, self.theta, self.X, self.reg)
        else:
            H = hessian(self.fn, self.theta, self.X, self.Y, self.reg)
        H = H + damping_sum * torch.eye(self.p, dtype=H.dtype, device=H.device)
        if self.gauge is not None:
            H = H + self.n * self.gauge.T @ self.gauge
        return H

    def square_root_factor(self) -> Tensor | None:
        """``A`` with ``H = lam I + A^T A`` (lam the L2 coefficient) when the logits are linear in
        theta and the L2 term is isotropic; None otherwise. Rows: ``Lambda_i^{1/2} J_i`` per
        sample (K rows each; ``Lambda = diag(P) - P P^T``), then the gauge rows times sqrt(n).
        """
        if not self.linear or not bool((self.reg == self.reg[0]).all()):
            return None
        jac = torch.func.vmap(torch.func.jacrev(lambda t, x: self.fn(t, x[None])[0]), (None, 0))
        J = jac(self.theta, self.X)  # (n, K, p)
        P = self.probabilities(self.X)
        mu, Q = torch.linalg.eigh(torch.diag_embed(P) - P[:, :, None] * P[:, None, :])
        root = (Q * mu.clamp_min(0).sqrt()[:, None, :]) @ Q.transpose(1, 2)
        A = (root @ J).reshape(-1, self.p)
        if self.gauge is not None:
            A = torch.cat([A, self.n**0.5 * self.gauge])
        return A

    def hvp(self, V: Tensor, damping_sum: float = 0.0, rows: Tensor | None = None) -> Tensor:
        """``H V`` for the rows of V; with ``rows``, the data term of those rows times n / b."""
        X, Y, scale = self.X, self.Y, 1.0
        if rows is not None:
            X, Y, scale = X[rows], Y[rows], self.n / len(rows)
        out = scale * hvp(self.fn, self.theta, X, Y, V) + (self.reg + damping_sum) * V
        if self.gauge is not None:
            out = out + self.n * (V @ self.gauge.T) @ self.gauge
        return out


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise InvalidParameterError(f"scope must be one of {SCOPES}, got {scope!r}")
    return scope


def differentiable(
    learner: BatchLearner,
    train: Dataset,
    *,
    fitted: FittedModels | None = None,
    scope: str = "all",
    dtype: torch.dtype | None = torch.float64,
) -> TwiceDifferentiable:
    """Fit ``learner`` on all of ``train`` (unless ``fitted`` is given) and differentiate it.

    Parameters
    ----------
    learner : LogisticRegression or a network learner (MLP, CNN, any NetworkClassifier)
    train : Dataset
    fitted : FittedModels, optional
        A model already trained on ``train`` (model 0 is used).
    scope : {"all", "last"}
    dtype : torch dtype, optional
        Compute in this dtype (float64 by default: derivatives of float32 networks lose digits).

    Raises
    ------
    InvalidParameterError
        For learners with no differentiable form (scikit-learn adapters) or a bad scope.
    InvalidDataError
        If the training set has fewer than two classes.
    """
    check_scope(scope)
    if not isinstance(learner, LogisticRegression | NetworkClassifier):
        raise InvalidParameterError(
            f"influence measures need a differentiable torch learner (logistic, mlp, cnn), got "
            f"{type(learner).__name__}"
        )
    counts = train.class_counts()
    if int((counts > 0).sum()) < 2:
        raise InvalidDataError(
            f"the training set has a single class ({np.flatnonzero(counts > 0).tolist()}); "
            "influence measures need at least two"
        )
    if fitted is None:
        data = learner.prepare(train)
        fitted = learner.fit(
            data, torch.ones(1, train.n, dtype=learner.dtype, device=data.X.device)
        )
    if not bool(fitted.trained[0]):
        raise InvalidDataError("the model could not be trained on this training set")
    present = np.flatnonzero(fitted.present[0].cpu().numpy())
    dt = dtype or learner.dtype
    if isinstance(fitted, FittedLogistic):
        return _logistic(learner, fitted, train, present, dt)  # type: ignore[arg-type]
    if isinstance(fitted, FittedNetworks):
        return _network(learner, fitted, train, present, dt, scope)  # type: ignore[arg-type]
    raise InvalidParameterError(f"cannot differentiate {type(fitted).__name__}")


def _labels(train: Dataset, present: NDArray[np.int64], dt: torch.dtype, dev: Any) -> Tensor:
    lookup = np.full(int(train.n_classes), -1)
    lookup[present] = np.arange(len(present))
    codes = torch.as_tensor(lookup[np.asarray(train.y)], device=dev)
    return torch.nn.functional.one_hot(codes, len(present)).to(dt)


def _logistic(
    lr: LogisticRegression,
    fitted: FittedLogistic,
    train: Dataset,
    present: NDArray[np.int64],
    dt: torch.dtype,
) -> TwiceDifferentiable:
    coef = fitted.coef[0].detach().to(dt)  # (R, q)
    R, q = coef.shape
    dev = coef.device
    binary, icpt = fitted.binary, fitted.fit_intercept
    cols = torch.as_tensor(present, device=dev)

    def logits(params: dict[str, Tensor], X: Tensor) -> Tensor:
        W = params["coef"]
        z = X @ W[:, : X.shape[1]].T
        if icpt:
            z = z + W[:, -1]
        return torch.cat([torch.zeros_like(z), z], dim=-1) if binary else z[:, cols]

    fn, theta = flat_model(logits, {"coef": coef})
    reg = torch.full((R, q), 1.0 / lr.C, dtype=dt, device=dev)
    if icpt:
        reg[:, -1] = 0.0
    gauge = None
    if not binary:
        if len(present) == 2:
            reg = 2 * reg  # the learner doubles the penalty of a two-class multiclass model
        absent = torch.ones(R, dtype=torch.bool, device=dev)
        absent[cols] = False
        reg[absent] = 1.0  # rows of absent classes: identity, as the learner does
        # the softmax is invariant to one shift of every present class's weights and intercept
        g = torch.zeros(q, R, q, dtype=dt, device=dev)
        for j in range(q):
            g[j, cols, j] = 1.0 / len(present) ** 0.5
        gauge = g.reshape(q, R * q)
    idx = torch.arange(R * q, device=dev).view(R, q)
    d = q - int(icpt)
    op = LinearOp(idx[:, :d], idx[:, -1] if icpt else None)
    head = (
        (lambda s: torch.cat([torch.zeros_like(s), s], dim=-1))
        if binary
        else (lambda s: s[:, cols])
    )
    X = torch.tensor(np.asarray(train.X), dtype=dt, device=dev)
    return TwiceDifferentiable(
        fn,
        theta,
        reg.reshape(-1),
        X,
        _labels(train, present, dt, dev),
        present,
        lambda t: t.to(dt),
        "all",
        gauge,
        Layers([op], head),
        True,
        {"model": "logistic", "C": lr.C, "fit_intercept": icpt},
    )


def _network(
    net: NetworkClassifier,
    fitted: FittedNetworks,
    train: Dataset,
    present: NDArray[np.int64],
    dt: torch.dtype,
    scope: str,
) -> TwiceDifferentiable:
    module = fitted.module
    logits_fn, params = fitted.functional(0)
    params = {k: v.to(dt) for k, v in params.items()}
    dev = next(iter(params.values())).device
    cols = torch.as_tensor(present, device=dev)
    X_raw = torch.tensor(np.asarray(train.X), dtype=dt, device=dev)
    wd = float(net.weight_decay) * train.n  # Adam's weight_decay is an L2 term of the mean loss
    if scope == "all":
        fn0, theta = flat_model(lambda p, X: logits_fn(p, X)[:, cols], params)
        layers = _sequential_layers(module, params, cols)
        reg = torch.full_like(theta, wd)
        return TwiceDifferentiable(
            lambda t, X: fn0(t, X.to(dt)),
            theta,
            reg,
            X_raw,
            _labels(train, present, dt, dev),
            present,
            lambda t: t.to(dt),
            "all",
            None,
            layers,
            False,
            {"model": "network", "weight_decay": net.weight_decay},
        )
    if not isinstance(module, nn.Sequential) or not isinstance(module[-1], nn.Linear):
        raise InvalidParameterError(
            "scope='last' needs an nn.Sequential network ending in an nn.Linear layer"
        )
    last = list(module._modules)[-1]
    body = module[:-1]
    body_params = {k: v for k, v in params.items() if not k.startswith(f"{last}.")}
    buffers = {k: v[0].to(dt) for k, v in fitted.buffers.items()}

    def embed(X: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.func.functional_call(body, (body_params, buffers), (X.to(dt),))

    W, b = params[f"{last}.weight"], params[f"{last}.bias"]
    fn, theta = flat_model(lambda p, E: (E @ p["w"].T + p["b"])[:, cols], {"w": W, "b": b})
    out, width = W.shape
    idx = torch.arange(out * width + out, device=dev)
    op = LinearOp(idx[: out * width].view(out, width), idx[out * width :])
    return TwiceDifferentiable(
        fn,
        theta,
        torch.full_like(theta, wd),
        embed(X_raw),
        _labels(train, present, dt, dev),
        present,
        embed,
        "last",
        None,
        Layers([op], lambda s: s[:, cols]),
        True,
        {"model": "network", "weight_decay": net.weight_decay, "embedding": width},
    )


def _sequential_layers(module: nn.Module, params: dict[str, Tensor], cols: Tensor) -> Layers | None:
    """Linear / elementwise structure of an MLP (None for anything else, e.g. convolutions)."""
    if not isinstance(module, nn.Sequential):
        return None
    ops: list[LinearOp | nn.Module] = []
    offset = 0
    sizes = {k: v.numel() for k, v in params.items()}
    starts = {}
    for k in params:
        starts[k] = offset
        offset += sizes[k]
    for name, layer in module._modules.items():
        if isinstance(layer, nn.Linear):
            w = f"{name}.weight"
            wi = torch.arange(starts[w], starts[w] + sizes[w]).view(layer.out_features, -1)
            bi = None
            if layer.bias is not None:
                bname = f"{name}.bias"
                bi = torch.arange(starts[bname], starts[bname] + sizes[bname])
            ops.append(LinearOp(wi.to(cols.device), None if bi is None else bi.to(cols.device)))
        elif isinstance(layer, _ELEMENTWISE):
            ops.append(nn.Identity() if isinstance(layer, nn.Dropout) else layer)
        else:
            return None
    return Layers(ops, lambda s: s[:, cols])
