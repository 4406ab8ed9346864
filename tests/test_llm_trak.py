"""TRAK: the kernel solve against explicit inverses, the margin features against explicit gradients
of a linear softmax model, and TRAK on a batched logistic learner scored by LDS."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from assay.errors import InvalidDataError, InvalidParameterError  # noqa: E402
from assay.evaluate.lds import linear_datamodeling_score  # noqa: E402
from assay.learners.logistic import LogisticRegression  # noqa: E402
from assay.llm.gradients import projection_block  # noqa: E402
from assay.llm.trak import (  # noqa: E402
    classifier_features,
    margin_features,
    trak_attribution,
    trak_scores,
)
from tests.conftest import tiny_task  # noqa: E402


def _reference_scores(Phi, Psi, Q, damping):  # type: ignore[no-untyped-def]
    """TRAK's Algorithm 1 with explicit inverses: mean kernel products, then the mean Q."""
    kernels = []
    for tr, te in zip(Phi, Psi, strict=True):
        K = tr.T @ tr
        lam = damping * np.trace(K) / K.shape[0]
        kernels.append(te @ np.linalg.inv(K + lam * np.eye(K.shape[0])) @ tr.T)
    return np.mean(kernels, axis=0) * np.mean(Q, axis=0)[None]


def test_kernel_solve_matches_formula() -> None:
    rng = np.random.default_rng(0)
    Phi = [rng.normal(size=(10, 4)) for _ in range(2)]
    Psi = [rng.normal(size=(3, 4)) for _ in range(2)]
    Q = [rng.random(10) for _ in range(2)]
    for damping in (0.0, 0.1, 1.0):
        got = trak_scores(Phi, Psi, damping=damping, train_weights=Q)
        np.testing.assert_allclose(got, _reference_scores(Phi, Psi, Q, damping), rtol=1e-10)


def test_damping_is_relative_to_the_kernel_scale() -> None:
    rng = np.random.default_rng(1)
    Phi, Psi = rng.normal(size=(12, 5)), rng.normal(size=(4, 5))
    base = trak_scores([Phi], [Psi], damping=0.5)
    # scaling both feature sets by s scales the kernel by s^2 and leaves the scores unchanged
    np.testing.assert_allclose(trak_scores([3 * Phi], [3 * Psi], damping=0.5), base, rtol=1e-10)


def test_undamped_singular_kernel_falls_back_to_least_squares() -> None:
    rng = np.random.default_rng(2)
    Phi, Psi = rng.normal(size=(3, 6)), rng.normal(size=(2, 6))  # rank 3 < k = 6
    got = trak_scores([Phi], [Psi], damping=0.0)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, Psi @ np.linalg.pinv(Phi.T @ Phi) @ Phi.T, atol=1e-8)


def test_trak_input_errors() -> None:
    with pytest.raises(InvalidParameterError, match="damping"):
        trak_scores([np.ones((3, 2))], [np.ones((1, 2))], damping=-1.0)
    with pytest.raises(InvalidDataError, match="one weight vector per model"):
        trak_scores([np.ones((3, 2))], [np.ones((1, 2))], train_weights=[])


def _linear_problem():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    W = torch.tensor(rng.normal(size=(3, 4)), dtype=torch.float64)
    b = torch.tensor(rng.normal(size=3), dtype=torch.float64)
    X, y = rng.normal(size=(7, 4)), np.array([0, 1, 2, 0, 1, 2, 0])
    net = torch.nn.Linear(4, 3).double()

    def logits(p, X):  # type: ignore[no-untyped-def]
        return torch.func.functional_call(net, p, (X,))

    return logits, {"weight": W, "bias": b}, X, y


def test_margin_features_match_explicit_gradients() -> None:
    logits, params, X, y = _linear_problem()
    W, b = params["weight"].numpy(), params["bias"].numpy()
    # margin z_y - logsumexp(z_{-y}) of z = W x + b: d/dz_k = 1 for k = y, else
    # -softmax over the other classes; then the chain rule to W (outer product with x) and b
    rows_w, rows_b, q_ref = [], [], []
    for x, t in zip(X, y, strict=True):
        z = W @ x + b
        other = np.exp(z - z.max()) * (np.arange(3) != t)
        dz = -other / other.sum()
        dz[t] = 1.0
        rows_w.append(np.outer(dz, x).ravel())
        rows_b.append(dz)
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        q_ref.append(1 - p[t])
    dim, seed = 5, 7
    # sorted parameter names: "bias" is parameter 0, "weight" parameter 1
    P_b = projection_block(seed, 0, 0, 3, dim).numpy()
    P_w = projection_block(seed, 1, 0, 12, dim).numpy()
    want = np.array(rows_b) @ P_b + np.array(rows_w) @ P_w
    got, q = margin_features(logits, params, X, y, dim=dim, seed=seed)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(q, q_ref, rtol=1e-10)


def test_trak_attribution_composes_features_and_scores_in_any_chunking() -> None:
    logits, params, X, y = _linear_problem()
    second = {k: v * 0.5 for k, v in params.items()}
    got = trak_attribution(logits, [params, second], X, y, X[:3], y[:3], dim=4, seed=2)
    parts = [
        (
            margin_features(logits, p, X, y, dim=4, seed=2 + c),
            margin_features(logits, p, X[:3], y[:3], dim=4, seed=2 + c),
        )
        for c, p in enumerate([params, second])
    ]
    want = trak_scores(
        [tr[0] for tr, _ in parts],
        [te[0] for _, te in parts],
        train_weights=[tr[1] for tr, _ in parts],
    )
    np.testing.assert_allclose(got, want, rtol=1e-10)
    chunked = trak_attribution(
        logits, [params, second], X, y, X[:3], y[:3], dim=4, seed=2, batch_size=2
    )
    np.testing.assert_allclose(chunked, got, rtol=1e-10)


def test_confident_float32_examples_keep_finite_features() -> None:
    # p_y rounds to 1 in float32: log(1 - p_y) was -inf and its gradient NaN
    net = torch.nn.Linear(2, 2)
    params = {"weight": torch.tensor([[40.0, 0.0], [-40.0, 0.0]]), "bias": torch.zeros(2)}

    def logits(p, X):  # type: ignore[no-untyped-def]
        return torch.func.functional_call(net, p, (X,))

    X, y = np.array([[1.0, 0.0], [-1.0, 0.5]], np.float32), np.array([0, 1])
    phi, q = margin_features(logits, params, X, y, dim=3)
    assert np.isfinite(phi).all() and np.all(q > 0)
    assert q[0] == pytest.approx(np.exp(-80.0) / (1 + np.exp(-80.0)), rel=1e-4)


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
    scores = trak_scores(tr, te, train_weights=q)
    assert scores.shape == (test.n, train.n)
    res = linear_datamodeling_score(scores, learner, train, test, n_subsets=40, seed=0)
    assert res.lds > 0.2, res.lds


def test_trak_imports_without_pandas_or_the_llm_stack() -> None:
    """``assay.llm.trak`` (and the package's lazy ``__init__``) loads torch and numpy only."""
    import subprocess
    import sys

    code = (
        "import sys, assay.llm.trak, assay.llm\n"
        "heavy = ('pandas', 'pyarrow', 'transformers', 'sklearn', 'scipy', 'assay.llm.corpus')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from assay.llm import Corpus\n"
        "print(Corpus.__module__, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "assay.llm.corpus True"]
