"""K-FAC: a Kronecker-factored Hessian per linear layer (Martens & Grosse 2015), and its inverse.

For a linear layer ``s = W a + b`` the Hessian block of the summed cross-entropy (its Gauss-Newton /
expected-Fisher part, exact for the last layer) is ``sum_i (a_i a_i^T) (x) Lambda_i`` with
``Lambda_i = sum_c P_ic g_ic g_ic^T`` and ``g_ic = d(-log P_c(x_i)) / d s``. K-FAC replaces the sum
of Kronecker products by the Kronecker product of the means,

    H_l ~ n * (A_l (x) S_l) + lambda_l I,   A_l = mean_i a_i a_i^T,   S_l = mean_i Lambda_i,

(``a`` with a trailing 1 when the layer has a bias) and ignores cross-layer blocks. ``lambda_l`` is
the layer's mean L2 coefficient plus the damping. The inverse is exact for this approximation:
with ``A = Q_A D_A Q_A^T`` and ``S = Q_S D_S Q_S^T``,
``H_l^{-1} V = Q_S [(Q_S^T V Q_A) / (n d_S d_A^T + lambda_l)] Q_A^T`` for V of shape (out, in + 1).
Memory is ``sum_l (out_l^2 + in_l^2)``: no p x p matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from assay.errors import InvalidDataError, InvalidParameterError
from assay.second_order.derivatives import chunks
from assay.second_order.differentiable import Layers, LinearOp, TwiceDifferentiable
from assay.second_order.solvers import InverseHessian

Tensor = torch.Tensor


@dataclass(frozen=True)
class KFACFactors:
    """The factors of one layer: ``A`` (in', in'), ``S`` (out, out), and its parameter indices."""

    A: Tensor
    S: Tensor
    op: LinearOp


def _forward(layers: Layers, theta: Tensor, X: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Logits, the inputs ``a_l`` (with a ones column for biases) and output probes of each layer.

    Each linear output is ``s_l = a_l W^T + b + z_l`` with ``z_l`` a zero leaf requiring grad, so
    ``d loss / d z_l`` is the per-sample gradient with respect to the layer's output.
    """
    h, acts, probes = X, [], []
    for op in layers.ops:
        if isinstance(op, LinearOp):
            W = theta[op.weight]
            a = h.detach()
            s = h @ W.T  # h, not a: the gradient must flow back to earlier layers' probes
            if op.bias is not None:
                s = s + theta[op.bias]
                a = torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype, device=a.device)], dim=1)
            z = torch.zeros_like(s, requires_grad=True)
            acts.append(a)
            probes.append(z)
            h = s + z
        else:
            h = op(h)
    return layers.head(h), acts, probes


def kfac_factors(model: TwiceDifferentiable, *, chunk: int = 4096) -> list[KFACFactors]:
    """Mean Kronecker factors of every linear layer of ``model`` (expected Fisher over classes).

    Raises
    ------
    InvalidParameterError
        If the model is not made of linear layers and elementwise activations.
    """
    if model.layers is None:
        raise InvalidParameterError(
            "K-FAC supports logistic regression and MLPs (linear layers with elementwise "
            "activations); use scope='last' for other networks, or solver='cg'"
        )
    theta = model.theta.detach()
    ops = [op for op in model.layers.ops if isinstance(op, LinearOp)]
    dt, dev = theta.dtype, theta.device
    widths = [op.weight.shape[1] + int(op.bias is not None) for op in ops]
    A = [torch.zeros(w, w, dtype=dt, device=dev) for w in widths]
    S = [torch.zeros(op.weight.shape[0], op.weight.shape[0], dtype=dt, device=dev) for op in ops]
    for sl in chunks(model.n, chunk):
        logits, acts, probes = _forward(model.layers, theta, model.X[sl])
        logp = torch.log_softmax(logits, dim=-1)
        P = logp.detach().exp()
        for c in range(logp.shape[1]):
            grads = torch.autograd.grad(-logp[:, c].sum(), probes, retain_graph=True)
            for layer, g in enumerate(grads):
                S[layer] += (g * P[:, c : c + 1]).T @ g
        for layer, a in enumerate(acts):
            A[layer] += a.T @ a
    return [KFACFactors(a / model.n, s / model.n, op) for a, s, op in zip(A, S, ops, strict=True)]


def _gather(V: Tensor, op: LinearOp) -> Tensor:
    """The rows of V (r, p) as layer matrices (r, out, in') with the bias as the last column."""
    W = V[:, op.weight]
    if op.bias is None:
        return W
    return torch.cat([W, V[:, op.bias][:, :, None]], dim=2)


def _scatter(out: Tensor, M: Tensor, op: LinearOp) -> None:
    if op.bias is None:
        out[:, op.weight] = M
    else:
        out[:, op.weight] = M[:, :, :-1]
        out[:, op.bias] = M[:, :, -1]


class KFACInverse(InverseHessian):
    """``H^{-1}`` under the K-FAC approximation (block-diagonal over layers).

    Parameters
    ----------
    model : TwiceDifferentiable
        A logistic regression, an MLP, or any network with ``scope="last"``.
    damping_sum : float
        Added to the sum-form Hessian's diagonal (``n * damping`` in mean units).

    Raises
    ------
    InvalidDataError
        If a layer's factorised Hessian is singular (no regulariser and no damping).
    """

    name = "kfac"

    def __init__(self, model: TwiceDifferentiable, damping_sum: float = 0.0) -> None:
        self.p, self.n = model.p, model.n
        self.factors = kfac_factors(model)
        self._eig = []
        covered = torch.zeros(self.p, dtype=torch.bool, device=model.theta.device)
        for f in self.factors:
            idx = f.op.weight.reshape(-1)
            if f.op.bias is not None:
                idx = torch.cat([idx, f.op.bias])
            covered[idx] = True
            lam = float(model.reg[idx].mean()) + damping_sum
            dA, QA = torch.linalg.eigh(f.A)
            dS, QS = torch.linalg.eigh(f.S)
            denom = self.n * dS.clamp_min(0)[:, None] * dA.clamp_min(0)[None, :] + lam
            if float(denom.min()) <= 1e-12 * float(denom.max()):
                raise InvalidDataError(
                    "the K-FAC Hessian of a layer is singular (no L2 regulariser); pass damping > 0"
                )
            self._eig.append((QA, QS, denom, f.op))
        self._rest = ~covered
        self._rest_diag = model.reg[self._rest] + damping_sum
        if bool(self._rest.any()) and float(self._rest_diag.min()) <= 0:
            raise InvalidDataError(
                "K-FAC leaves parameters outside linear layers; pass damping > 0"
            )

    def solve(self, V: Tensor) -> Tensor:
        single = V.dim() == 1
        B = V[None] if single else V
        out = torch.zeros_like(B)
        for QA, QS, denom, op in self._eig:
            M = _gather(B, op)
            T = QS.T @ M @ QA
            _scatter(out, QS @ (T / denom) @ QA.T, op)
        if bool(self._rest.any()):
            out[:, self._rest] = B[:, self._rest] / self._rest_diag
        return out[0] if single else out

    def dense(self) -> Tensor:
        """The approximated Hessian as a dense (p, p) matrix (for tests on small models)."""
        eye = torch.eye(self.p, dtype=self._eig[0][0].dtype, device=self._eig[0][0].device)
        return torch.linalg.inv(self.solve(eye))
