"""Batched learners against scikit-learn and against themselves one model at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression as SkLogistic

from assay.data import load_dataset
from assay.errors import InvalidParameterError
from assay.learners import LogisticRegression, MLPClassifier, SklearnLearner, make_learner


def sklearn_proba(X, y, mask, X_eval, n_classes, C=1.0, weights=None):
    idx = mask > 0
    sk = SkLogistic(C=C, tol=1e-12, max_iter=100_000)
    sk.fit(X[idx], y[idx], sample_weight=None if weights is None else weights[idx])
    out = np.zeros((len(X_eval), n_classes))
    out[:, sk.classes_] = sk.predict_proba(X_eval)
    return out


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
@pytest.mark.parametrize("solver", ["auto", "newton-cg"])
def test_logistic_matches_sklearn(name: str, solver: str) -> None:
    train, valid, _ = load_dataset(name, seed=1)
    rng = np.random.default_rng(0)
    masks = (rng.random((5, train.n)) < 0.4).astype(float)
    if name == "wine":  # a multiclass subset with only two classes: sklearn fits a binary model
        masks[0] = train.y != 2
    lr = LogisticRegression(C=0.5, solver=solver)
    fitted = lr.fit(lr.prepare(train), torch.as_tensor(masks))
    P = fitted.predict_proba(lr.prepare(valid).X).numpy()
    for b in range(len(masks)):
        ref = sklearn_proba(train.X, train.y, masks[b], valid.X, train.n_classes, C=0.5)
        np.testing.assert_allclose(P[b], ref, atol=1e-4)
    assert bool(fitted.report.converged.all())


def test_logistic_sample_weights_match_sklearn(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    rng = np.random.default_rng(3)
    counts = rng.multinomial(train.n, np.full(train.n, 1 / train.n), size=3).astype(float)
    lr = LogisticRegression()
    P = (
        lr.fit(lr.prepare(train), torch.as_tensor(counts))
        .predict_proba(lr.prepare(valid).X)
        .numpy()
    )
    for b in range(3):
        ref = sklearn_proba(train.X, train.y, counts[b], valid.X, 2, weights=counts[b])
        np.testing.assert_allclose(P[b], ref, atol=1e-4)


def test_logistic_float32_close_to_float64(breast_cancer) -> None:
    train, valid, _ = breast_cancer
    masks = torch.as_tensor((np.random.default_rng(1).random((4, train.n)) < 0.5).astype(float))
    p = {}
    for dt in ("float64", "float32"):
        lr = LogisticRegression(dtype=dt)
        p[dt] = lr.fit(lr.prepare(train), masks).predict_proba(lr.prepare(valid).X).double()
    assert float((p["float64"] - p["float32"]).abs().max()) < 1e-3


def test_logistic_warm_start_reaches_the_same_optimum(breast_cancer) -> None:
    train, _, _ = breast_cancer
    lr = LogisticRegression()
    data = lr.prepare(train)
    m1 = torch.zeros(2, train.n, dtype=torch.float64)
    m1[:, :100] = 1
    m2 = m1.clone()
    m2[:, 100:120] = 1
    warm = lr.fit(data, m2, lr.fit(data, m1).state())
    cold = lr.fit(data, m2)
    torch.testing.assert_close(warm.coef, cold.coef, atol=1e-7, rtol=0)
    assert int(warm.report.iterations.max()) < int(cold.report.iterations.max())


def test_untrainable_subsets_are_marked_not_crashed(breast_cancer) -> None:
    train, _, _ = breast_cancer
    lr = LogisticRegression()
    masks = torch.zeros(3, train.n, dtype=torch.float64)
    masks[1, np.flatnonzero(train.y == 0)[:5]] = 1  # one class only
    masks[2, :50] = 1
    fitted = lr.fit(lr.prepare(train), masks)
    assert fitted.trained.tolist() == [False, False, True]


def test_mlp_batch_equals_models_trained_alone() -> None:
    train, valid, _ = load_dataset("moons", seed=0)
    mlp = MLPClassifier(hidden=(16,), epochs=60, lr=0.02)
    data = mlp.prepare(train)
    masks = torch.as_tensor(
        (np.random.default_rng(0).random((4, train.n)) < 0.5).astype(np.float32)
    )
    together = mlp.fit(data, masks).predict_proba(mlp.prepare(valid).X)
    alone = mlp.fit(data, masks[2:3]).predict_proba(mlp.prepare(valid).X)
    torch.testing.assert_close(together[2], alone[0], atol=1e-5, rtol=0)
    acc = (together.argmax(-1) == torch.as_tensor(np.array(valid.y))).float().mean(1)
    assert float(acc.min()) > 0.8


def test_mlp_minibatches_and_dropout_free_training_is_seeded() -> None:
    train, valid, _ = load_dataset("moons", seed=0)
    mlp = MLPClassifier(hidden=(8,), epochs=5, batch_size=64, seed=3)
    data = mlp.prepare(train)
    masks = torch.ones(2, train.n)
    a = mlp.fit(data, masks).predict_proba(mlp.prepare(valid).X)
    b = mlp.fit(data, masks).predict_proba(mlp.prepare(valid).X)
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_masked_adam_step_is_torch_adam_for_active_models_and_a_no_op_otherwise() -> None:
    from assay.learners.networks import _masked_adam_step

    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    grads = [torch.randn(3, 4, 2, generator=gen, dtype=torch.float64) for _ in range(6)]
    ref = p0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ref], lr=0.05, weight_decay=0.1)
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    steps = torch.zeros(3, dtype=torch.long)
    active = torch.tensor([True, True, False])
    for g in grads:
        ref.grad = g.clone()
        opt.step()
        steps += active
        _masked_adam_step(p, g, m, v, steps, active, 0.05, 0.1)
    torch.testing.assert_close(p[:2], ref.detach()[:2], atol=1e-12, rtol=0)
    torch.testing.assert_close(p[2], p0[2], atol=0, rtol=0)
    assert steps.tolist() == [6, 6, 0]


def test_sgd_full_batch_is_a_plain_torch_sgd_loop() -> None:
    train, valid, _ = load_dataset("moons", seed=0)
    mlp = MLPClassifier(hidden=(8,), epochs=7, lr=0.1, weight_decay=0.01, optimizer="sgd", seed=2)
    data = mlp.prepare(train)
    got = mlp.fit(data, torch.ones(2, train.n)).predict_proba(mlp.prepare(valid).X)
    module = mlp._module(data)  # the learner's seeded initialisation, trained alone
    opt = torch.optim.SGD(module.parameters(), lr=0.1, weight_decay=0.01)
    for _ in range(7):
        loss = torch.nn.functional.cross_entropy(module(data.X), data.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    want = torch.softmax(module(mlp.prepare(valid).X), -1).detach()
    torch.testing.assert_close(got[0], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1], want, atol=1e-5, rtol=0)
    adam = MLPClassifier(hidden=(8,), epochs=7, lr=0.1, seed=2).fit(data, torch.ones(1, train.n))
    assert not torch.allclose(adam.predict_proba(mlp.prepare(valid).X)[0], want, atol=1e-3)
    with pytest.raises(InvalidParameterError, match="optimizer"):
        MLPClassifier(optimizer="rmsprop")
    from assay.explain.snapshot import learner_spec, rebuild_learner

    spec = learner_spec(mlp)  # explainers save and rebuild the service learner from its spec
    assert spec["params"]["optimizer"] == "sgd"
    assert rebuild_learner(spec).optimizer == "sgd"  # type: ignore[attr-defined]
    assert "optimizer" not in learner_spec(MLPClassifier())["params"]  # old specs still match


def test_masked_sgd_step_is_torch_sgd_for_active_models_and_a_no_op_otherwise() -> None:
    from assay.learners.networks import _masked_sgd_step

    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    ref = p0.clone().requires_grad_(True)
    opt = torch.optim.SGD([ref], lr=0.05, weight_decay=0.1)
    p, active = p0.clone(), torch.tensor([True, False, True])
    for _ in range(5):
        g = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
        ref.grad = g.clone()
        opt.step()
        _masked_sgd_step(p, g, active, 0.05, 0.1)
    torch.testing.assert_close(p[[0, 2]], ref.detach()[[0, 2]], atol=1e-12, rtol=0)
    torch.testing.assert_close(p[1], p0[1], atol=0, rtol=0)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_minibatch_models_step_through_their_own_rows_only(optimizer: str) -> None:
    train, valid, _ = load_dataset("moons", seed=0)
    mlp = MLPClassifier(hidden=(8,), epochs=4, lr=0.02, batch_size=16, optimizer=optimizer, seed=1)
    data = mlp.prepare(train)
    rng = np.random.default_rng(0)
    masks = torch.as_tensor((rng.random((4, train.n)) < [[0.1], [0.3], [0.6], [1.0]]) * 1.0)
    fitted = mlp.fit(data, masks)
    sizes = masks.sum(1).numpy()
    assert fitted.steps.tolist() == (4 * np.ceil(sizes / 16)).astype(int).tolist()
    Xv = mlp.prepare(valid).X
    together = fitted.predict_proba(Xv)
    for b in (0, 2):  # batching does not change any model
        alone = mlp.fit(data, masks[b : b + 1]).predict_proba(Xv)
        torch.testing.assert_close(together[b], alone[0], atol=1e-5, rtol=0)
    # rows outside a model's subset have no effect at all: scramble them and refit
    noisy_X = data.X.clone()
    outside = masks[1] == 0
    noisy_X[outside] = 100 * torch.randn(int(outside.sum()), data.X.shape[1], dtype=data.X.dtype)
    import dataclasses

    noisy = dataclasses.replace(data, X=noisy_X)
    scrambled = mlp.fit(noisy, masks[1:2]).predict_proba(Xv)
    torch.testing.assert_close(together[1], scrambled[0], atol=1e-6, rtol=0)


def test_sklearn_adapter_uses_weights_and_maps_classes() -> None:
    train, valid, _ = load_dataset("wine", seed=0)
    learner = make_learner("sklearn:sklearn.linear_model.LogisticRegression", max_iter=2000)
    assert isinstance(learner, SklearnLearner)
    masks = np.ones((2, train.n))
    masks[1] = train.y != 0  # class 0 absent: its probability column must be 0
    P = learner.fit(learner.prepare(train), torch.as_tensor(masks)).predict_proba(
        learner.prepare(valid).X
    )
    assert P.shape == (2, valid.n, 3)
    assert float(P[1, :, 0].abs().max()) == 0.0
    torch.testing.assert_close(P.sum(-1), torch.ones(2, valid.n, dtype=P.dtype))


def test_learner_registry_errors_list_valid_names() -> None:
    with pytest.raises(InvalidParameterError, match=r"valid learners: .*logistic.*mlp"):
        make_learner("forest")
    with pytest.raises(InvalidParameterError, match="cannot import"):
        make_learner("sklearn:sklearn.nope.Nothing")
    with pytest.raises(InvalidParameterError, match="C must be > 0"):
        LogisticRegression(C=0)


def test_network_learners_describe_themselves_for_cache_keys() -> None:
    from assay.learners import CNNClassifier
    from assay.utility import Utility

    train, valid, _ = load_dataset("moons", seed=0)
    params = MLPClassifier(hidden=(8,), epochs=3).get_params()
    assert params["hidden"] == [8] and params["epochs"] == 3
    assert CNNClassifier(channels=(4,)).get_params()["channels"] == [4]
    keys = {Utility(MLPClassifier(hidden=(h,), epochs=3), train, valid).key for h in (8, 9)}
    assert len(keys) == 2


def test_chunks_are_sized_from_available_memory(monkeypatch, breast_cancer) -> None:
    import assay.learners.base as base

    lr = LogisticRegression()
    train, _, _ = breast_cancer
    data = lr.prepare(train)
    monkeypatch.setattr(base, "available_memory", lambda device="cpu": 2**40)
    assert lr.batch_size_hint(data) == 512  # the speed cap
    monkeypatch.setattr(base, "available_memory", lambda device="cpu": 4 * 2**20)
    small = lr.batch_size_hint(data)
    q, n = data.X.shape[1] + 1, data.n
    per_model = 8 * (n * 10 + 3 * q * q)
    assert small == int(base.MEMORY_FRACTION * 4 * 2**20 // per_model) < 512
    monkeypatch.setattr(base, "available_memory", lambda device="cpu": 1)
    assert lr.batch_size_hint(data) == 1


def test_available_memory_reads_the_system() -> None:
    from assay.learners.base import available_memory

    free = available_memory()
    assert 2**20 < free < 2**50


def test_multiclass_bootstrap_models_warm_started_from_the_full_fit_match_sklearn() -> None:
    """Data-OOB's path on digits-sized data (10 classes, 64 features, Newton-CG)."""
    train, valid, _ = load_dataset("digits", seed=0)
    rng = np.random.default_rng(2)
    counts = rng.multinomial(train.n, np.full(train.n, 1 / train.n), size=3).astype(float)
    lr = LogisticRegression()
    data = lr.prepare(train)
    full = lr.fit(data, torch.ones(1, train.n, dtype=torch.float64))
    init = {"coef": full.coef.expand(3, -1, -1).clone()}
    warm = lr.fit(data, torch.as_tensor(counts), init)
    assert bool(warm.report.converged.all())
    P = warm.predict_proba(lr.prepare(valid).X).numpy()
    for b in range(3):
        ref = sklearn_proba(train.X, train.y, counts[b], valid.X, 10, weights=counts[b])
        np.testing.assert_allclose(P[b], ref, atol=1e-4)


def test_a_pipeline_works_as_a_learner_with_weights_routed_to_its_last_step(
    tmp_path, capsys
) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tests.cli_support import run

    train, valid, _ = load_dataset("wine", seed=0)
    name = "sklearn:sklearn.preprocessing.StandardScaler+sklearn.linear_model.LogisticRegression"
    learner = make_learner(name, C=0.5)
    assert isinstance(learner, SklearnLearner)
    assert learner._weight_argument == "logisticregression__sample_weight"
    weights = np.zeros((1, train.n))
    half = np.arange(0, train.n, 2)
    weights[0, half] = 2.0
    P = learner.fit(learner.prepare(train), torch.as_tensor(weights)).predict_proba(
        learner.prepare(valid).X
    )

    X, y = np.asarray(train.X)[half], np.asarray(train.y)[half]
    ref = make_pipeline(StandardScaler(), SkLogistic(C=0.5)).fit(
        X, y, logisticregression__sample_weight=np.full(len(half), 2.0)
    )
    np.testing.assert_allclose(P[0].numpy(), ref.predict_proba(np.asarray(valid.X)), atol=1e-10)
    with pytest.raises(InvalidParameterError, match="bad parameters"):
        make_learner(name, nope=1)
    with pytest.raises(InvalidParameterError, match="refusing to import"):
        make_learner("sklearn:sklearn.preprocessing.StandardScaler+os.System")
    # through the command line
    out = tmp_path / "v"
    code, _, err = run(
        ["value", "wine", "--method", "loo", "--learner", name, "--learner-param", "C=0.5",
         "--threads", "1", "-o", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_plain_mlp_fast_path_equals_the_autograd_path(monkeypatch, optimizer: str) -> None:
    """The hand-written batched MLP training gives autograd's models (float64, to 1e-9)."""
    from assay.learners import networks

    train, valid, _ = load_dataset("wine", seed=0)
    rng = np.random.default_rng(0)
    # subsets of different sizes, bootstrap counts, one single-class (untrainable) model
    masks = (rng.random((5, train.n)) < [[0.2], [0.5], [0.7], [1.0], [0.5]]) * 1.0
    masks[3] = rng.poisson(1.0, train.n)
    masks[4] = 0.0
    masks[4, np.flatnonzero(np.asarray(train.y) == 0)[:10]] = 1.0
    weights = torch.as_tensor(masks)
    mlp = MLPClassifier(
        hidden=(12, 7),
        epochs=3,
        lr=0.01,
        weight_decay=0.05,
        batch_size=16,
        optimizer=optimizer,
        seed=4,
        dtype="float64",
    )
    data = mlp.prepare(train)
    assert networks.plain_mlp_layers(mlp._module(data)) is not None
    fast = mlp.fit(data, weights)
    monkeypatch.setattr(networks, "plain_mlp_layers", lambda module: None)
    slow = mlp.fit(data, weights)
    assert fast.steps.tolist() == slow.steps.tolist()
    assert fast.steps[4] == 0 and not bool(fast.trained[4])
    for key, value in slow.params.items():
        torch.testing.assert_close(fast.params[key], value, atol=1e-9, rtol=0)
    Xv = mlp.prepare(valid).X
    torch.testing.assert_close(fast.predict_proba(Xv), slow.predict_proba(Xv), atol=1e-9, rtol=0)


def test_only_plain_relu_mlps_take_the_fast_path() -> None:
    from torch import nn

    from assay.learners.mlp_fast import plain_mlp_layers
    from assay.learners.networks import make_cnn, make_mlp

    assert plain_mlp_layers(make_mlp(4, (3,), 2)) == [
        ("0.weight", "0.bias"),
        ("2.weight", "2.bias"),
    ]
    assert plain_mlp_layers(make_mlp(4, (), 2)) == [("0.weight", "0.bias")]
    assert plain_mlp_layers(make_mlp(4, (3,), 2, dropout=0.1)) is None
    assert plain_mlp_layers(make_cnn((1, 4, 4), 2, channels=(2,), hidden=3)) is None
    assert plain_mlp_layers(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))) is None
    assert plain_mlp_layers(nn.Sequential(nn.Linear(4, 2, bias=False))) is None


def _train_one_alone(mlp: MLPClassifier, data, w: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """One network trained on its own with ``torch.optim.Adam``: the semantics, written out.

    Every epoch draws one key per row (the learner's seeded generator), the selected rows are
    visited in key order in batches of ``batch_size``, the loss is the batch's weighted mean
    cross-entropy.
    """
    module = mlp._module(data).train()
    opt = torch.optim.Adam(module.parameters(), lr=mlp.lr, weight_decay=mlp.weight_decay)
    gen = torch.Generator().manual_seed(mlp.seed)
    rows = torch.nonzero(w > 0).flatten()
    for _ in range(mlp.epochs):
        keys = torch.rand(data.n, generator=gen, dtype=torch.float64)
        visit = rows[torch.argsort(keys[rows])]
        for start in range(0, len(visit), mlp.batch_size):
            idx = visit[start : start + mlp.batch_size]
            ce = torch.nn.functional.cross_entropy(
                module(data.X[idx]), data.y[idx], reduction="none"
            )
            loss = (ce * w[idx]).sum() / w[idx].sum().clamp_min(1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach() for k, v in module.named_parameters()}


def test_plain_mlp_fast_path_equals_networks_trained_one_at_a_time() -> None:
    """Each batched model is the network a plain torch loop trains alone on its rows."""
    train, _, _ = load_dataset("wine", seed=1)
    rng = np.random.default_rng(3)
    masks = (rng.random((4, train.n)) < [[0.3], [0.5], [0.9], [1.0]]) * 1.0
    masks[1] *= rng.integers(1, 4, train.n)  # integer weights scale their rows' loss
    mlp = MLPClassifier(
        hidden=(10,), epochs=4, lr=0.02, weight_decay=0.01, batch_size=16, seed=2, dtype="float64"
    )
    data = mlp.prepare(train)
    fitted = mlp.fit(data, torch.as_tensor(masks))
    for b in range(len(masks)):
        alone = _train_one_alone(mlp, data, torch.as_tensor(masks[b]))
        for key, value in alone.items():
            torch.testing.assert_close(fitted.params[key][b], value, atol=1e-9, rtol=0)


def _toy_problem(n_classes: int, weights: torch.Tensor, seed: int = 0):
    from assay.learners import logistic_objective as lo
    from assay.learners.base import classes_present

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(weights.shape[1], 4))
    y = rng.integers(0, n_classes, size=weights.shape[1])
    y[:n_classes] = np.arange(n_classes)
    lr = LogisticRegression(C=0.7)
    from assay.data import Dataset

    data = lr.prepare(Dataset.from_arrays(X, y))
    Xa = lr._augmented(data)
    reg = torch.full((Xa.shape[1],), 1 / 0.7, dtype=torch.float64)
    reg[-1] = 0.0
    present = classes_present(weights, data.onehot)
    problem = lo.LogisticObjectives(Xa, data, weights, present, reg, n_classes == 2, True)
    return lr, data, problem


def _mean_model_hessian(pb, W: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """By autograd: the Hessian of the models' mean total weight spread evenly over the rows, at
    the mean parameters, every class present."""
    from assay.learners import logistic_objective as lo

    _, R, q = W.shape
    mean = object.__new__(lo.LogisticObjectives)
    mean.__dict__.update(pb.__dict__)
    n = pb.weights.shape[1]
    mean.weights = torch.full((1, n), float(pb.weights.sum(1).mean()) / n, dtype=torch.float64)
    mean.reg = pb.reg[:1]
    mean.log_mask = torch.zeros_like(pb.log_mask[:1])

    def f(w: torch.Tensor) -> torch.Tensor:
        return mean.objective_at(mean.logits(w.view(1, R, q)), w.view(1, R, q))[0]

    return torch.func.hessian(f)(W.mean(0).flatten())


def _as_matrix(apply, R: int, q: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    eye = torch.eye(R * q, dtype=torch.float64).view(R * q, R, q)
    return apply(eye).reshape(R * q, R * q)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_shared_preconditioner_is_the_inverse_of_the_mean_models_hessian(n_classes: int) -> None:
    from assay.learners import logistic_objective as lo

    rng = np.random.default_rng(1)
    weights = torch.as_tensor(rng.poisson(1.0, size=(4, 30)), dtype=torch.float64)
    _, _, pb = _toy_problem(n_classes, weights)
    R, q = (1 if n_classes == 2 else n_classes), pb.Xa.shape[1]
    W = torch.as_tensor(rng.normal(size=(4, R, q)))
    apply = lo.shared_preconditioner(pb, W, torch.float64)
    assert apply is not None
    H = _mean_model_hessian(pb, W)
    if n_classes > 2:  # the free shift of the softmax intercepts gets a typical curvature
        u = torch.zeros(R, q, dtype=torch.float64)
        u[:, -1] = R**-0.5
        H = H + H.diagonal().mean() * torch.outer(u.flatten(), u.flatten())
    torch.testing.assert_close(_as_matrix(apply, R, q), torch.linalg.inv(H), rtol=1e-8, atol=1e-10)


def test_nystrom_preconditioner_maps_the_sketched_spectrum_to_its_smallest_eigenvalue() -> None:
    from assay.learners import logistic_objective as lo

    rng = np.random.default_rng(2)
    weights = torch.as_tensor(rng.poisson(1.0, size=(3, 40)), dtype=torch.float64)
    _, _, pb = _toy_problem(2, weights)
    q = pb.Xa.shape[1]
    W = torch.as_tensor(rng.normal(size=(3, 1, q)))
    H = _mean_model_hessian(pb, W)
    lam = torch.linalg.eigvalsh(H)
    # full rank: M^-1 H = lam_min I (every direction scaled to the smallest eigenvalue)
    full = lo.nystrom_preconditioner(pb.mean_model(W), torch.float64, rank=q)
    torch.testing.assert_close(_as_matrix(full, 1, q) @ H, lam[0] * torch.eye(q, dtype=H.dtype))
    # low rank: symmetric positive definite, and the preconditioned spectrum is no wider
    low = _as_matrix(lo.nystrom_preconditioner(pb.mean_model(W), torch.float64, rank=3), 1, q)
    torch.testing.assert_close(low, low.T)
    root = torch.linalg.cholesky(low)
    ev = torch.linalg.eigvalsh(root.T @ H @ root)
    assert float(ev.min()) > 0 and float(ev.max() / ev.min()) <= float(lam[-1] / lam[0]) + 1e-9


def test_shared_preconditioner_is_skipped_for_models_of_very_different_sizes() -> None:
    from assay.learners import logistic_objective as lo

    weights = torch.zeros(3, 30, dtype=torch.float64)
    for b, t in enumerate((5, 15, 30)):  # prefixes, as TMC trains them
        weights[b, :t] = 1.0
    _, _, pb = _toy_problem(3, weights)
    W = torch.zeros(3, 3, pb.Xa.shape[1], dtype=torch.float64)
    assert lo.shared_preconditioner(pb, W, torch.float64) is None


@pytest.mark.parametrize("kind", ["dense", "nystrom"])
def test_preconditioned_cg_reaches_the_plain_cg_optimum(monkeypatch, kind: str) -> None:
    from assay.learners import logistic as lg
    from assay.learners import logistic_objective as lo

    train, _, _ = load_dataset("wine", seed=0)
    rng = np.random.default_rng(3)
    counts = torch.as_tensor(rng.multinomial(train.n, np.full(train.n, 1 / train.n), size=4))
    lr = LogisticRegression(solver="newton-cg")
    data = lr.prepare(train)
    used = []
    real = lg.shared_preconditioner
    monkeypatch.setattr(lg, "shared_preconditioner", lambda *a: used.append(real(*a)) or used[-1])
    if kind == "nystrom":  # wine's 42 parameters, sketched at rank 10
        monkeypatch.setattr(lo, "PRECONDITION_MAX", 0)
        monkeypatch.setattr(lo, "NYSTROM_RANK", 10)
    pre = lr.fit(data, counts.to(torch.float64))
    monkeypatch.setattr(lo, "PRECONDITION_MAX", 0)
    monkeypatch.setattr(lo, "NYSTROM_RANK", 0)
    plain = lr.fit(data, counts.to(torch.float64))
    assert used[0] is not None and used[-1] is None, "the preconditioner was not (only) used once"
    assert bool(pre.report.converged.all()) and bool(plain.report.converged.all())
    # the softmax intercepts are defined up to a shared shift: compare what the models predict
    X = lr.prepare(train).X
    torch.testing.assert_close(pre.predict_proba(X), plain.predict_proba(X), rtol=0, atol=1e-9)
    torch.testing.assert_close(pre.coef[..., :-1], plain.coef[..., :-1], rtol=0, atol=1e-7)


def test_row_outer_products_sum_to_the_weighted_gram_matrix() -> None:
    from assay.learners.logistic_objective import RowOuter

    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.normal(size=(20, 5)))
    c = torch.as_tensor(rng.random((3, 20)))
    got = RowOuter(X).weighted_sum(c).view(3, 5, 5)
    want = torch.einsum("bn,ni,nj->bij", c, X, X)
    torch.testing.assert_close(got, want)


def test_float32_fits_are_not_preconditioned() -> None:
    from assay.learners import logistic_objective as lo

    rng = np.random.default_rng(1)
    weights = torch.as_tensor(rng.poisson(1.0, size=(4, 30)), dtype=torch.float32)
    _, _, pb = _toy_problem(3, weights.double())
    W = torch.zeros(4, 3, pb.Xa.shape[1], dtype=torch.float64)
    assert lo.shared_preconditioner(pb, W, torch.float32) is not None  # float64 fit, f32 CG
    assert lo.shared_preconditioner(pb, W.float(), torch.float32) is None
