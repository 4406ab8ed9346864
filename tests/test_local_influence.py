"""FI: the fast implementation against the literal Algorithms 1 and 2, Theorem 1, aggregation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.data import Dataset
from assay.errors import InvalidParameterError
from assay.learners import LogisticRegression, MLPClassifier
from assay.second_order.derivatives import input_log_prob_jacobians, metric_pinv_factor, mixed_vjp
from assay.second_order.differentiable import differentiable
from assay.second_order.inverse import make_solver
from assay.utility import Utility
from assay.valuation import make_method
from assay.valuation.local_influence import (
    LocalInfluence,
    aggregate,
    fi_active,
    fi_pairs,
    fi_util,
    validation_gradient,
)
from assay.valuation.local_influence_literal import (
    literal_fi_active,
    literal_fi_pairs,
    literal_fi_util,
)


def blobs(n: int, d: int, seed: int, classes: int = 2, shift: float = 1.5) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = np.random.default_rng(99).normal(size=(classes, d)) * shift
    return Dataset.from_arrays(rng.normal(size=(n, d)) + centres[y], y, classes=range(classes))


CASES = {
    "binary-logistic": (LogisticRegression(C=1.0), 2, 0.0),
    "multiclass-logistic": (LogisticRegression(C=1.0), 3, 0.0),  # intercept gauge
    "logistic-no-intercept": (LogisticRegression(C=2.0, fit_intercept=False), 3, 0.0),
    "mlp": (MLPClassifier(hidden=(5,), epochs=25, dtype="float64", weight_decay=1e-2), 3, 0.6),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_fi_equals_the_literal_algorithms(case: str) -> None:
    learner, K, damping = CASES[case]
    train, valid, pool = blobs(24, 4, 0, K), blobs(15, 4, 1, K), blobs(9, 4, 2, K)
    m = differentiable(learner, train)
    solver = make_solver(m, "dense", damping=damping)
    Xv, Yv, Xq = m.inputs(valid), m.onehot(valid.y), m.inputs(pool)
    lam = m.n * damping
    fast = fi_util(m, solver, Xv, Yv, chunk=5)
    slow = literal_fi_util(m, Xv, Yv, damping_sum=lam)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=0)
    assert bool((fast >= 0).all())  # 0 where every ReLU is off: x does not move the model
    torch.testing.assert_close(
        fi_pairs(m, solver, Xq, chunk=7),
        literal_fi_pairs(m, Xq, damping_sum=lam),
        rtol=1e-6,
        atol=0,
    )
    for how in ("trimmed_mean", "mean"):
        torch.testing.assert_close(
            fi_active(m, solver, Xq, how=how, block=4, cache_numbers=0),
            literal_fi_active(m, Xq, how=how, damping_sum=lam),
            rtol=1e-6,
            atol=0,
        )


def test_fi_active_is_the_aggregate_of_the_pairs_whatever_the_blocks() -> None:
    train, pool = blobs(40, 3, 3), blobs(25, 3, 4)
    m = differentiable(LogisticRegression(), train)
    solver = make_solver(m)
    Xq = m.inputs(pool)
    pairs = fi_pairs(m, solver, Xq)
    ref = aggregate(pairs, "trimmed_mean", (0.1, 0.9))
    for block, cache in ((4, 0), (7, 2**25), (25, 0)):
        got = fi_active(m, solver, Xq, block=block, cache_numbers=cache, chunk=6)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)


def test_trimmed_mean_keeps_the_middle_eighty_percent() -> None:
    v = torch.arange(20, dtype=torch.float64).flip(0)[None]  # 19 .. 0
    assert float(aggregate(v)) == float(np.mean(np.arange(2, 18)))
    assert float(aggregate(v, "mean")) == 9.5
    assert float(aggregate(v, "trimmed_mean", (0.0, 1.0))) == 9.5
    with pytest.raises(InvalidParameterError):
        aggregate(v, "max")
    with pytest.raises(InvalidParameterError):
        aggregate(v, "trimmed_mean", (0.9, 0.1))


def _fi(train: Dataset, valid: Dataset, learner: LogisticRegression) -> torch.Tensor:
    m = differentiable(learner, train)
    return fi_util(m, make_solver(m), m.inputs(valid), m.onehot(valid.y))


def test_theorem1_invariance_to_rotating_the_features() -> None:
    # an orthogonal change of features is an orthogonal reparametrisation of omega; the L2
    # penalty is rotation invariant, so the refitted model is the same model and FI is unchanged
    train, valid = blobs(40, 4, 5), blobs(30, 4, 6)
    Q = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    rot = [train.with_features(train.X @ Q), valid.with_features(valid.X @ Q)]
    a = _fi(train, valid, LogisticRegression(C=1.0))
    b = _fi(*rot, LogisticRegression(C=1.0))
    torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def test_theorem1_invariance_to_rescaling_a_feature() -> None:
    # with G nonsingular (d = 2 features, K = 3 classes: rank K - 1 = d) FI is invariant under any
    # diffeomorphism of omega; rescaling feature 0 by 50 is one (the nearly unpenalised model
    # rescales its weights to match)
    train, valid = blobs(60, 2, 7, classes=3, shift=1.0), blobs(30, 2, 8, classes=3, shift=1.0)
    s = np.array([50.0, 1.0])
    scaled = [train.with_features(train.X * s), valid.with_features(valid.X * s)]
    a = _fi(train, valid, LogisticRegression(C=1e8))
    b = _fi(*scaled, LogisticRegression(C=1e8))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=0)
    # the Euclidean alternative ||d_omega L(V)||^2 (no metric) changes by up to 50^2
    ratio = _euclidean(train, valid) / _euclidean(*scaled)
    assert float(ratio.max()) > 100


def _euclidean(train: Dataset, valid: Dataset) -> torch.Tensor:
    m = differentiable(LogisticRegression(C=1e8), train)
    g = validation_gradient(m, m.inputs(valid), m.onehot(valid.y))
    return mixed_vjp(m.fn, m.theta, m.X, m.Y, make_solver(m).solve(g)).pow(2).sum(1)


def test_self_influence_collapses_but_fi_util_does_not() -> None:
    # Shu & Zhu's FI with f = log P_y at the perturbed point is (1 - p_y) / p_y for any model;
    # FI^util's objective (the validation loss) is not a tangent vector, so it does not collapse
    train, valid = blobs(30, 3, 9, classes=3), blobs(20, 3, 10, classes=3)
    m = differentiable(LogisticRegression(), train)
    E = input_log_prob_jacobians(m.fn, m.theta, m.X)  # metric of the input perturbation only
    P = m.probabilities(m.X)
    W = metric_pinv_factor(P.sqrt()[..., None] * E, 1e-10)
    y = m.Y.argmax(1)
    fy = E[torch.arange(m.n), y]
    self_fi = (W @ fy[..., None]).squeeze(-1).pow(2).sum(-1)
    py = P[torch.arange(m.n), y]
    torch.testing.assert_close(self_fi, (1 - py) / py, rtol=1e-8, atol=1e-10)
    fi = _fi(train, valid, LogisticRegression())
    assert float(np.corrcoef(fi.numpy(), ((1 - py) / py).numpy())[0, 1]) < 0.99


def test_local_influence_method_values_and_chunking() -> None:
    train, valid = blobs(50, 3, 11), blobs(20, 3, 12)
    u = Utility(LogisticRegression(), train, valid)
    r = make_method("fi-util", chunk=7).fit(u)
    m = differentiable(LogisticRegression(), train)
    ref = fi_util(m, make_solver(m), m.inputs(valid), m.onehot(valid.y), chunk=1000)
    np.testing.assert_allclose(r.values, ref.numpy(), rtol=1e-12)
    assert r.method == "fi-util" and r.direction == "higher-is-suspect"
    np.testing.assert_array_equal(r.ids, train.ids)
    last = LocalInfluence(scope="last", damping=0.1).fit(
        Utility(MLPClassifier(hidden=(4,), epochs=10), train, valid)
    )
    assert np.isfinite(last.values).all() and last.params["scope"] == "last"
    with pytest.raises(InvalidParameterError, match="scope"):
        LocalInfluence(scope="middle")


@pytest.mark.gpu
def test_fi_on_a_gpu_equals_the_cpu() -> None:
    train, valid, pool = blobs(40, 3, 13), blobs(20, 3, 14), blobs(10, 3, 15)
    out = {}
    for device in ("cpu", "cuda"):
        m = differentiable(LogisticRegression(device=device), train)
        solver = make_solver(m)
        util = fi_util(m, solver, m.inputs(valid), m.onehot(valid.y)).cpu()
        active = fi_active(m, solver, m.inputs(pool)).cpu()
        out[device] = (util, active)
    torch.testing.assert_close(out["cuda"][0], out["cpu"][0], rtol=1e-6, atol=0)
    torch.testing.assert_close(out["cuda"][1], out["cpu"][1], rtol=1e-6, atol=0)
