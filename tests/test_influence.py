"""Influence functions against leave-one-out retraining, IV against NumPy, the H^-1 solvers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.errors import ConvergenceError, InvalidDataError, InvalidParameterError
from assay.learners import LogisticRegression, MLPClassifier, SklearnLearner
from assay.second_order.differentiable import differentiable
from assay.second_order.inverse import make_solver
from assay.second_order.solvers import CGInverse, LiSSAInverse
from assay.utility import Utility
from assay.valuation import LeaveOneOut, make_method
from assay.valuation.games import AdditiveGame
from assay.valuation.influence import InfluenceFunction, InfluenceValue


def blobs(n: int, d: int, seed: int, shift: float = 1.0, classes: int = 2) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(size=(classes, d)) * shift
    return Dataset.from_arrays(rng.normal(size=(n, d)) + centres[y], y)


def test_influence_predicts_leave_one_out_retraining() -> None:
    train, valid = blobs(60, 3, 0, shift=0.8), blobs(200, 3, 1, shift=0.8)
    valid = Dataset.from_arrays(valid.X, valid.y, classes=train.classes)
    learner = LogisticRegression(C=0.2)  # strongly convex: the L2 term bounds H below
    # LOO value = U(N) - U(N - i) with U = mean validation log-likelihood = increase in the loss
    loo = LeaveOneOut().fit(Utility(learner, train, valid, "log_likelihood")).values
    infl = InfluenceFunction().fit(Utility(learner, train, valid)).values
    assert np.corrcoef(loo, infl)[0, 1] > 0.99
    assert np.linalg.norm(infl - loo) < 0.15 * np.linalg.norm(loo)  # first-order error


def test_iv_is_chhabra_et_al_formula_in_numpy() -> None:
    train, valid = blobs(60, 4, 2), blobs(30, 4, 3)
    valid = Dataset.from_arrays(valid.X, valid.y, classes=train.classes)
    lam = 0.7
    learner = LogisticRegression(C=1 / lam, fit_intercept=False)
    iv = InfluenceValue().fit(Utility(learner, train, valid))
    w = learner.fit(learner.prepare(train), torch.ones(1, train.n)).coef[0, 0].numpy()
    X, y, Xv, yv = train.X, train.y, valid.X, valid.y
    s = 1 / (1 + np.exp(-X @ w))
    g = (s - y)[:, None] * X  # per-sample gradients, no regulariser
    H = (X * (s * (1 - s))[:, None]).T @ X + lam * np.eye(X.shape[1])
    sv = 1 / (1 + np.exp(-Xv @ w))
    g_val = ((sv - yv)[:, None] * Xv).sum(0)  # summed over validation points
    np.testing.assert_allclose(iv.values, g @ np.linalg.solve(H, g_val), rtol=1e-9, atol=1e-12)
    assert iv.method == "iv" and "harmful" in iv.params["sign"]


def test_iv_of_a_network_refits_the_last_layer() -> None:
    train, valid = blobs(50, 3, 4), blobs(30, 3, 5)
    valid = Dataset.from_arrays(valid.X, valid.y, classes=train.classes)
    mlp = MLPClassifier(hidden=(6,), epochs=20)
    iv = make_method("iv").fit(Utility(mlp, train, valid))
    assert iv.values.shape == (50,) and np.isfinite(iv.values).all()
    assert iv.params["embedding"] == 6


def test_iv_as_trained_is_the_softmax_formula_at_the_sgd_parameters() -> None:
    train, valid = blobs(40, 3, 8), blobs(25, 3, 9)
    valid = Dataset.from_arrays(valid.X, valid.y, classes=train.classes)
    wd = 0.01
    net = MLPClassifier(hidden=(), epochs=15, lr=0.05, weight_decay=wd, optimizer="sgd")
    iv = InfluenceValue(network="as-trained").fit(Utility(net, train, valid))
    _, params = net.fit(net.prepare(train), torch.ones(1, train.n)).functional(0)
    W = next(v.double().numpy() for k, v in params.items() if k.endswith("weight"))  # (2, d)
    b = next(v.double().numpy() for k, v in params.items() if k.endswith("bias"))
    d = W.shape[1]

    def softmax_parts(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        logits = data.X @ W.T + b
        P = np.exp(logits - logits.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        R = P - np.eye(2)[data.y]  # d loss / d logits
        # per-sample gradients in the (W row-major, b) layout, no regulariser
        return np.concatenate([(R[:, :, None] * data.X[:, None, :]).reshape(data.n, -1), R], 1), P

    g, P = softmax_parts(train)
    g_val = softmax_parts(valid)[0].sum(0)  # summed over validation points
    H = wd * train.n * np.eye(2 * d + 2)  # weight decay on the mean loss = L2 of the sum
    for i in range(train.n):
        J = np.zeros((2, 2 * d + 2))  # d logits / d theta
        for k in range(2):
            J[k, k * d : (k + 1) * d], J[k, 2 * d + k] = train.X[i], 1.0
        H += J.T @ (np.diag(P[i]) - np.outer(P[i], P[i])) @ J
    want = g @ np.linalg.solve(H, g_val)
    np.testing.assert_allclose(iv.values, want, rtol=1e-5, atol=1e-8)
    refit = InfluenceValue().fit(Utility(net, train, valid)).values
    assert not np.allclose(refit, want, rtol=1e-2)  # the default refits the last layer
    with pytest.raises(InvalidParameterError, match="network"):
        InfluenceValue(network="frozen")


@pytest.mark.parametrize("solver", ["cg", "lissa", "kfac"])
def test_iterative_solvers_agree_with_the_dense_one(solver: str) -> None:
    train, valid = blobs(80, 4, 6), blobs(40, 4, 7)
    valid = Dataset.from_arrays(valid.X, valid.y, classes=train.classes)
    u = Utility(LogisticRegression(C=0.5), train, valid)
    dense = InfluenceFunction(solver="dense").fit(u).values
    kwargs = {"lissa_depth": 400} if solver == "lissa" else {}
    other = InfluenceFunction(solver=solver, **kwargs).fit(u).values
    if solver == "kfac":  # an approximation: the ranking survives
        assert np.corrcoef(dense, other)[0, 1] > 0.9
    elif solver == "lissa":  # stochastic mini-batch Hessians
        assert np.corrcoef(dense, other)[0, 1] > 0.99
        assert np.linalg.norm(other - dense) < 0.1 * np.linalg.norm(dense)
    else:
        np.testing.assert_allclose(other, dense, rtol=1e-7, atol=1e-10)


def test_full_batch_lissa_is_the_neumann_series() -> None:
    gen = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64)).Q
    H = (Q * torch.linspace(1, 3, 6, dtype=torch.float64)) @ Q.T
    v = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    lissa = LiSSAInverse(lambda V, rows: V @ H, 6, 10, scale=4.0, depth=200, batch_size=10)
    torch.testing.assert_close(lissa.solve(v), torch.linalg.solve(H, v.T).T)
    with pytest.raises(ConvergenceError, match="raise scale"):
        LiSSAInverse(lambda V, rows: V @ H, 6, 10, scale=1.0, depth=5000).solve(v)


def test_singular_hessian_without_damping_is_a_clear_error() -> None:
    data = blobs(40, 3, 9)
    X = data.X.copy()
    X[:, 0] = 0.0  # a dead feature: no curvature along its weight
    dead = Dataset.from_arrays(X, data.y)
    u = Utility(LogisticRegression(C=1e15), dead, dead)
    with pytest.raises(InvalidDataError, match=r"singular.*damping"):
        InfluenceFunction(solver="dense").fit(u)
    assert np.isfinite(InfluenceFunction(damping=1e-3).fit(u).values).all()
    # a network far from a minimum has negative curvature: the message names the damping
    net = Utility(MLPClassifier(hidden=(5,), epochs=5, dtype="float64"), data, data)
    with pytest.raises(InvalidDataError, match=r"not positive definite.*raise damping"):
        InfluenceFunction(solver="dense").fit(net)


def test_cg_that_cannot_converge_says_so() -> None:
    H = torch.diag(torch.logspace(0, 8, 50, dtype=torch.float64))
    cg = CGInverse(lambda V: V @ H, 50, max_iter=3)
    with pytest.raises(ConvergenceError, match="max_iter"):
        cg.solve(torch.ones(50, dtype=torch.float64))


def test_bad_inputs_are_clear_errors() -> None:
    train, valid = blobs(30, 3, 10), blobs(20, 3, 11)
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(InvalidParameterError, match="differentiable"):
        InfluenceFunction().fit(Utility(SklearnLearner(DecisionTreeClassifier()), train, valid))
    with pytest.raises(InvalidParameterError, match="Utility"):
        InfluenceFunction().fit(AdditiveGame(np.ones(4)))
    with pytest.raises(InvalidParameterError, match="solver"):
        InfluenceFunction(solver="magic")
    one = Dataset.from_arrays(train.X, np.zeros(30, dtype=int), classes=[0, 1])
    with pytest.raises(InvalidDataError, match="single class"):
        differentiable(LogisticRegression(), one)


def test_woodbury_solver_is_exact_for_a_last_layer() -> None:
    train = blobs(5, 3, 12, classes=3)
    mlp = MLPClassifier(hidden=(16,), epochs=5, dtype="float64", weight_decay=1e-2)
    m = differentiable(mlp, train, scope="last")
    assert m.n * m.n_classes < m.p
    v = torch.randn(4, m.p, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dense = make_solver(m, "dense", damping=0.01).solve(v)
    auto = make_solver(m, "auto", damping=0.01)
    assert auto.name == "woodbury"
    torch.testing.assert_close(auto.solve(v), dense, rtol=1e-8, atol=1e-12)
    with pytest.raises(InvalidParameterError, match="woodbury"):
        make_solver(differentiable(LogisticRegression(), train), "woodbury")
