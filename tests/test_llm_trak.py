"""TRAK kernel solve against a direct formula; TRAK on a batched logistic learner scored by LDS."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from assay.evaluate.lds import linear_datamodeling_score  # noqa: E402
from assay.learners.logistic import LogisticRegression  # noqa: E402
from assay.llm.trak import classifier_features, trak_scores  # noqa: E402
from tests.conftest import tiny_task  # noqa: E402


def test_kernel_solve_matches_formula() -> None:
    rng = np.random.default_rng(0)
    Phi = [rng.normal(size=(10, 4)) for _ in range(2)]
    Psi = [rng.normal(size=(3, 4)) for _ in range(2)]
    Q = [rng.random(10) for _ in range(2)]
    got = trak_scores(Phi, Psi, lam=0.1, train_weights=Q)
    want = np.mean(
        [
            (te @ np.linalg.inv(tr.T @ tr + 0.1 * np.eye(4)) @ tr.T) * q[None]
            for tr, te, q in zip(Phi, Psi, Q, strict=True)
        ],
        axis=0,
    )
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_trak_on_logistic_regression_has_positive_lds() -> None:
    train, test = tiny_task(n_train=30, n_valid=8, seed=1)
    learner = LogisticRegression()
    data = learner.prepare(train)
    W = torch.ones(3, train.n, dtype=data.X.dtype)
    W[1:] = torch.poisson(
        torch.ones(2, train.n, dtype=data.X.dtype), generator=torch.Generator().manual_seed(0)
    )
    fitted = learner.fit(data, W)
    tr, te, q = [], [], []
    for b in range(3):
        f_tr, q_b = classifier_features(fitted, train, b=b, dim=16, seed=b)
        f_te, _ = classifier_features(fitted, test, b=b, dim=16, seed=b)
        tr.append(f_tr)
        te.append(f_te)
        q.append(q_b)
    scores = trak_scores(tr, te, lam=1e-2, train_weights=q)
    assert scores.shape == (test.n, train.n)
    res = linear_datamodeling_score(scores, learner, train, test, n_subsets=40, seed=0)
    assert res.lds > 0.2, res.lds
