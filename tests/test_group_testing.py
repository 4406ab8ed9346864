"""Group-testing Shapley: the closed form solves Jia et al.'s feasibility problem, and the
estimate converges to exact Shapley values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from assay.errors import InvalidParameterError
from assay.utility import Utility
from assay.valuation import AdditiveGame, ExactShapley, make_method
from assay.valuation.group_testing import (
    GroupTestingShapley,
    group_testing_values,
    required_tests,
    sample_tests,
    size_distribution,
)
from tests.conftest import tiny_task
from tests.test_explain_support import one_thread  # noqa: F401


def test_size_distribution_is_jias() -> None:
    n = 7
    z, q = size_distribution(n)
    k = np.arange(1, n)
    assert z == pytest.approx(2 * np.sum(1 / k))
    np.testing.assert_allclose(q, (1 / k + 1 / (n - k)) / z)
    assert q.sum() == pytest.approx(1.0)


def test_closed_form_solves_the_feasibility_problem_of_the_paper() -> None:
    rng = np.random.default_rng(0)
    n, T, total = 6, 300, 0.7
    tests = sample_tests(rng, T, n)
    u = rng.random(T)
    Z, _ = size_distribution(n)
    # the literal pairwise differences C_ij = Z / T sum_t u_t (beta_ti - beta_tj)
    B = tests.astype(float)
    C = Z / T * np.einsum("t,tij->ij", u, B[:, :, None] - B[:, None, :])
    v = group_testing_values(u, tests, total)
    assert v.sum() == pytest.approx(total)
    np.testing.assert_allclose(v[:, None] - v[None, :], C, atol=1e-12)
    # a linear program minimising the largest violation t of |v_i - v_j - C_ij| <= t subject to
    # sum v = total reaches t = 0: the problem is feasible for every epsilon >= 0, and our point
    # is feasible with zero slack
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    A, b = [], []
    for i, j in pairs:
        row = np.zeros(n + 1)
        row[i], row[j], row[n] = 1, -1, -1
        A.append(row.copy())
        b.append(C[i, j])
        row[i], row[j] = -1, 1
        A.append(row)
        b.append(-C[i, j])
    eq = np.r_[np.ones(n), 0.0][None]
    lp = linprog(
        np.r_[np.zeros(n), 1.0],
        A_ub=np.array(A),
        b_ub=b,
        A_eq=eq,
        b_eq=[total],
        bounds=[(None, None)] * n + [(0, None)],
    )
    assert lp.status == 0 and lp.fun == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(lp.x[:n], v, atol=1e-7)  # the zero-slack point is unique


def test_the_method_computes_the_closed_form_on_its_own_tests() -> None:
    from assay.parallel import task_rng

    w = np.array([0.5, -0.2, 0.1, 0.8, 0.0])
    game = AdditiveGame(w)
    result = GroupTestingShapley(1000, batch_size=1000, seed=3).fit(game)
    tests = sample_tests(task_rng(3, 0), 1000, 5)  # the draws of round 0
    expected = group_testing_values(game(tests), tests, float(w.sum()))
    np.testing.assert_allclose(result.values, expected, atol=1e-12)


def test_converges_to_exact_shapley_on_an_additive_game() -> None:
    w = np.array([0.5, -0.2, 0.1, 0.8, 0.0])
    result = GroupTestingShapley(20_000, batch_size=5000, seed=1).fit(AdditiveGame(w))
    assert result.values.sum() == pytest.approx(w.sum())
    err = np.abs(result.values - w)
    assert (err < 5 * result.stderr + 1e-3).all(), (err, result.stderr)


def test_converges_to_exact_shapley_on_a_retraining_utility() -> None:
    train, valid = tiny_task(n_train=6, n_valid=60, seed=3)
    u = Utility("logistic", train, valid, scorer="log_likelihood")
    exact = ExactShapley().fit(u).values
    result = GroupTestingShapley(20_000, batch_size=5000, seed=0).fit(u)
    # efficiency holds exactly; each value within 5 standard errors (plus the shift's noise)
    assert result.values.sum() == pytest.approx(exact.sum(), abs=1e-9)
    err = np.abs(result.values - exact)
    assert (err < 5 * result.stderr + 1e-3).all(), (result.values, exact, result.stderr)
    assert np.corrcoef(result.values, exact)[0, 1] > 0.95


def test_resume_from_checkpoint_gives_the_same_values(tmp_path) -> None:
    game = AdditiveGame([0.3, 0.1, -0.4, 0.2])
    full = GroupTestingShapley(400, batch_size=100, seed=5).fit(game)
    ckpt = tmp_path / "gt.npz"
    GroupTestingShapley(200, batch_size=100, seed=5, checkpoint=ckpt).fit(game)
    resumed = GroupTestingShapley(400, batch_size=100, seed=5, checkpoint=ckpt).fit(game)
    np.testing.assert_allclose(resumed.values, full.values)


def test_required_tests_and_registry() -> None:
    t1 = required_tests(100, 0.1, 0.05)
    assert isinstance(t1, int) and t1 > 0
    assert required_tests(100, 0.05, 0.05) > t1
    with pytest.raises(InvalidParameterError):
        required_tests(10, 0.0, 0.05)
    method = make_method("group-testing-shapley", budget=50)
    assert isinstance(method, GroupTestingShapley) and method.stop.n == 50  # type: ignore[attr-defined]
