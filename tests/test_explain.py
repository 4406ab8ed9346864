"""Fast-DataShapley: the per-prediction game, the explainer against exact Shapley values,
efficiency, save / load, resume, and the grouped variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assay.errors import InvalidDataError, InvalidParameterError
from assay.explain import (
    DataExplainer,
    FastDataShapley,
    PredictionUtility,
    efficient_normalise,
    k_epoch_learner,
)
from assay.explain.metrics import error_vs_exact
from assay.explain.training import Objective, group_means
from assay.learners import MLPClassifier
from assay.utility import Utility
from assay.valuation import ExactShapley
from assay.valuation.exact import all_subsets
from tests.test_explain_support import one_thread, tiny_task, trained_explainer  # noqa: F401


def exact_values(task, X, y) -> np.ndarray:
    putil = PredictionUtility("logistic", task.train)
    return np.array([ExactShapley().fit(g).values for g in putil.column_games(X, y)])


# --------------------------------------------------------------------- the game v_{x,y}
def test_prediction_utility_is_eq2_through_the_utility() -> None:
    task = tiny_task()
    putil = PredictionUtility("logistic", task.train)
    masks = all_subsets(task.train.n)
    X, y = task.test.X[:5], task.test.y[:5]
    P = putil.proba(masks, X)  # (256, 5, 2)
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-6)
    # trainable subsets: the confidence scores of assay's Utility for the same points
    ref = Utility("logistic", task.train, task.test.subset(range(5)), "confidence")
    trainable = np.array([len(np.unique(task.train.y[m])) == 2 for m in masks])
    np.testing.assert_allclose(
        P[trainable][:, np.arange(5), y], ref(masks[trainable]), rtol=1e-5, atol=1e-7
    )
    # v(0): the untrained model, 1/K for logistic regression
    np.testing.assert_allclose(P[0], 0.5)
    # one-class subsets predict their class with probability 1
    single = np.flatnonzero((masks.sum(1) > 0) & ~trainable)
    for s in single[:5]:
        c = task.train.y[masks[s]][0]
        np.testing.assert_allclose(P[s, :, c], 1.0)
    # v(1) is the grand model's prediction
    grand = putil.grand_model().proba(torch.tensor(X)).numpy()
    np.testing.assert_allclose(P[-1], grand, rtol=1e-6)


def test_point_games_and_column_games_agree() -> None:
    task = tiny_task()
    putil = PredictionUtility("logistic", task.train)
    X, y = task.test.X[:3], task.test.y[:3]
    masks = np.random.default_rng(0).random((40, task.train.n)) < 0.5
    masks[0] = False
    columns = putil.column_games(X, y)
    for j in range(3):
        point = putil.point_game(X[j], int(y[j]))
        np.testing.assert_allclose(point(masks), columns[j](masks), rtol=1e-6)
        assert columns[j](masks)[0] == pytest.approx(0.5)  # v(0)
    assert len({g.key for g in columns}) == 3


def test_network_null_model_is_the_seeded_initialisation() -> None:
    task = tiny_task()
    learner = MLPClassifier(hidden=(8,), epochs=3, seed=4)
    putil = PredictionUtility(learner, task.train)
    X = task.test.X[:4]
    empty = putil.proba(np.zeros((1, task.train.n)), X)[0]
    init = learner.initial_state(putil.utility.train_data, 1)
    module = learner.architecture(2, 2)
    logits = torch.func.functional_call(
        module, {k: v[0] for k, v in init.items()}, (torch.tensor(X, dtype=torch.float32),)
    )
    np.testing.assert_allclose(empty, torch.softmax(logits, -1).detach().numpy(), rtol=1e-5)
    assert not np.allclose(empty, 0.5)  # an untrained network is not exactly uniform
    # a trained network's v is the softmax of all its K outputs (Eq. 2)
    mask = np.zeros((1, task.train.n), bool)
    mask[0, np.flatnonzero(task.train.y == 0)] = True
    mask[0, np.flatnonzero(task.train.y == 1)[0]] = True
    P = putil.proba(mask, X)[0]
    fitted = putil.utility.fit(mask)
    ref = torch.softmax(fitted.logits(torch.tensor(X, dtype=torch.float32)), -1)[0]
    np.testing.assert_allclose(P, ref.numpy(), rtol=1e-5)


def test_k_epoch_learner_scales_epochs_and_learning_rate() -> None:
    base = MLPClassifier(hidden=(8,), epochs=50, lr=1e-3)
    fast = k_epoch_learner(base, 10, 10.0)
    assert isinstance(fast, MLPClassifier)
    assert fast.epochs == 10 and fast.lr == pytest.approx(1e-2) and fast.hidden == (8,)
    with pytest.raises(InvalidParameterError, match="network"):
        k_epoch_learner(PredictionUtility("logistic", tiny_task().train).learner, 10)


# --------------------------------------------------------------------- the explainer
def test_explainer_approaches_exact_shapley_values_on_a_tiny_game() -> None:
    explainer, task = trained_explainer()
    X = task.test.X
    y = explainer.predict(X)
    values = explainer.values(X)
    exact = exact_values(task, X, y)
    err = error_vs_exact(values, exact)
    # n = 8, exhaustive kernel pool, 80 epochs: measured mean relative l2 error 0.009 (max
    # 0.027) on 30 held-out predictions; the bound leaves room for platform differences
    rel = np.linalg.norm(values - exact, axis=1) / np.linalg.norm(exact, axis=1)
    assert err["relative_l2"] < 0.05 and rel.max() < 0.10, rel
    assert err["spearman"] > 0.95
    # efficiency is exact after normalisation: sum_i phi_i = v(1) - v(0)
    np.testing.assert_allclose(values.sum(1), exact.sum(1), atol=1e-5)


def test_values_for_every_label_are_efficient_and_labels_are_checked() -> None:
    explainer, task = trained_explainer()
    X = task.test.X[:6]
    allv = explainer.values_all(X)  # (6, 8, 2)
    Xt = torch.tensor(X, dtype=torch.float32)
    gap = (explainer.grand.proba(Xt) - explainer.null.proba(Xt)).numpy()
    np.testing.assert_allclose(allv.sum(1), gap, atol=1e-6)
    np.testing.assert_allclose(explainer.values(X, [1] * 6), allv[:, :, 1])
    with pytest.raises(InvalidDataError, match="shape"):
        explainer.values(np.zeros((2, 3)))
    with pytest.raises(InvalidDataError, match="non-finite"):
        explainer.values(np.array([[np.nan, 0.0]]))
    with pytest.raises(InvalidDataError, match="class codes"):
        explainer.values(X, [2] * 6)
    with pytest.raises(InvalidDataError, match="labels"):
        explainer.encode_labels(["cat"])


def test_efficient_normalisation_is_exact_for_any_output() -> None:
    phi = torch.randn(5, 7, 3)
    delta = torch.randn(5, 3)
    out = efficient_normalise(phi, delta)
    torch.testing.assert_close(out.sum(1), delta)
    torch.testing.assert_close(out - phi, (out - phi)[:, :1].expand_as(out))  # one shift per (x, y)


def test_save_and_load_round_trip(tmp_path) -> None:
    explainer, task = trained_explainer()
    folder = explainer.save(tmp_path / "expl")
    loaded = DataExplainer.load(folder)
    X = task.test.X
    np.testing.assert_array_equal(loaded.values(X), explainer.values(X))
    np.testing.assert_array_equal(loaded.predict(X), explainer.predict(X))
    assert loaded.info == explainer.info and loaded.ids.tolist() == explainer.ids.tolist()
    assert sorted(p.name for p in folder.iterdir()) == [
        "explainer.json",
        "explainer.safetensors",
        "models.safetensors",
    ]
    names, pv = loaded.provider_values(loaded.values(X[:2]))
    assert names.tolist() == ["p0", "p1", "p2", "p3"] and pv.shape == (2, 4)
    with pytest.raises(InvalidDataError, match="missing"):
        DataExplainer.load(tmp_path / "nothing")


def test_killed_training_resumes_to_the_same_weights(tmp_path, monkeypatch) -> None:
    task = tiny_task(seed=1)
    args = dict(hidden=(16,), lr=3e-3, epochs=8, patience=50, n_subsets=64, seed=2)
    reference = FastDataShapley("logistic", **args).fit(task.train, task.inputs, task.valid)

    import assay.explain.training as training

    real = training.evaluate_loss
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(training, "evaluate_loss", dying)
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        FastDataShapley("logistic", work_dir=work, **args).fit(task.train, task.inputs, task.valid)
    monkeypatch.setattr(training, "evaluate_loss", real)
    assert (work / "checkpoint.npz").exists() and any((work / "pool").iterdir())
    resumed = FastDataShapley("logistic", work_dir=work, **args).fit(
        task.train, task.inputs, task.valid
    )
    for k, v in reference.net.state_dict().items():
        torch.testing.assert_close(resumed.net.state_dict()[k], v, rtol=0, atol=0)
    assert resumed.info["epochs_run"] == 8
    # a checkpoint of another run is refused
    other = dict(args, lr=1e-3)
    with pytest.raises(InvalidParameterError, match=r"belongs to another run.*--restart"):
        FastDataShapley("logistic", work_dir=work, **other).fit(task.train, task.inputs, task.valid)


def test_pool_utilities_are_read_back_from_the_cache(tmp_path, monkeypatch) -> None:
    from assay.explain.pool import make_pool, pool_targets
    from assay.explain.sampling import SubsetSampler

    task = tiny_task()
    putil = PredictionUtility("logistic", task.train)
    pool = make_pool(SubsetSampler(8), 300, np.random.default_rng(0), exhaustive="never")
    first = pool_targets(putil, pool, task.valid, cache_dir=tmp_path, chunk=64)
    # 300 draws over 254 subsets repeat some: each distinct subset is trained once
    np.testing.assert_allclose(first, putil.proba(pool.masks, task.valid), rtol=1e-6)
    assert len(list(next(tmp_path.iterdir()).iterdir())) < 300 / 64 + 1
    monkeypatch.setattr(putil, "proba", lambda *a, **k: pytest.fail("retrained a cached chunk"))
    again = pool_targets(putil, pool, task.valid, cache_dir=tmp_path, chunk=64)
    np.testing.assert_array_equal(first, again)


# --------------------------------------------------------------------- GFDS, GFDS+, AFDS
def test_settings_are_chosen_from_n_and_given_ones_kept() -> None:
    from assay.explain.recipes import POINT_PLAYERS_MAX, choose_explain_settings

    small = choose_explain_settings(POINT_PLAYERS_MAX)
    assert (small.variant, small.n_subsets, small.epochs) == ("afds", 2048, 200)
    big = choose_explain_settings(40_000)
    assert (big.variant, big.grouping, big.n_groups) == ("gfds+", "clusters", 100)
    assert 256 <= big.n_subsets < 2048 and big.n_subsets * 40_000 <= 12_000_000
    huge = choose_explain_settings(10_000_000)
    assert (huge.n_groups, huge.n_subsets) == (128, 256)  # both clipped
    kept = choose_explain_settings(40_000, variant="afds", n_subsets=64, epochs=5)
    assert (kept.variant, kept.n_subsets, kept.epochs) == ("afds", 64, 5)
    assert kept.chosen == ("grouping", "n_groups")
    line = kept.describe(40_000)
    assert "afds: players 40,000 points, pool 64" in line and "variant" not in line


def group_shapley(task, X, y, groups) -> np.ndarray:
    """Exact Shapley values of the groups (as players), shared evenly within each group."""
    putil = PredictionUtility("logistic", task.train)
    G = int(groups.max()) + 1
    out = []
    for game in putil.column_games(X, y):
        values = ExactShapley().fit(_GroupGame(game, groups, G)).values
        out.append(values[groups] / np.bincount(groups)[groups])
    return np.array(out)


class _GroupGame:
    def __init__(self, game, groups, G) -> None:
        self.game, self.groups, self.n_players = game, groups, G

    def __call__(self, masks):
        return self.game(np.atleast_2d(masks)[:, self.groups])


def test_gfds_plus_shares_group_values_and_approaches_group_shapley() -> None:
    task = tiny_task()
    # logistic regression has no epochs: GFDS+ with the exact utility (utility_epochs=None)
    fds = FastDataShapley(
        "logistic",
        variant="gfds+",
        grouping="provider",
        utility_epochs=None,
        hidden=(64, 64),
        lr=3e-3,
        epochs=80,
        patience=20,
        batch_size=64,
    )
    explainer = fds.fit(task.train, task.inputs, task.valid)
    X = task.test.X
    y = explainer.predict(X)
    values = explainer.values(X)
    groups = explainer.groups
    assert groups is not None and explainer.info["pool_exhaustive"]
    assert explainer.config["n_players"] == 4 and explainer.n_players == task.train.n  # group head
    for g in range(4):  # equal values within every provider
        block = values[:, groups == g]
        np.testing.assert_allclose(block, block[:, :1].repeat(block.shape[1], 1), atol=1e-7)
    exact = group_shapley(task, X, y, groups)
    np.testing.assert_allclose(values.sum(1), exact.sum(1), atol=1e-5)
    assert error_vs_exact(values, exact)["relative_l2"] < 0.08


def test_gfds_runs_algorithm_1_and_is_efficient() -> None:
    task = tiny_task()
    fds = FastDataShapley(
        "logistic",
        variant="gfds",
        grouping="label",
        utility_epochs=None,
        hidden=(32,),
        lr=3e-3,
        epochs=30,
        n_subsets=200,
        batch_size=64,
    )
    explainer = fds.fit(task.train, task.inputs, task.valid)
    assert not explainer.info["pool_exhaustive"] and explainer.info["n_groups"] == 2
    X = task.test.X
    values = explainer.values(X)
    exact = exact_values(task, X, explainer.predict(X))
    np.testing.assert_allclose(values.sum(1), exact.sum(1), atol=1e-5)
    assert error_vs_exact(values, exact)["spearman"] > 0.6


def test_afds_uses_k_epoch_sub_models() -> None:
    task = tiny_task()
    learner = MLPClassifier(hidden=(8,), epochs=20, lr=1e-2, batch_size=None)
    fds = FastDataShapley(learner, variant="afds", hidden=(16,), epochs=3, n_subsets=64)
    explainer = fds.fit(task.train, task.inputs[:100], task.valid[:20])
    assert explainer.info["utility_epochs"] == 10 and explainer.info["lr_scale"] == 10.0
    assert explainer.grand.spec["params"]["epochs"] == 10
    assert explainer.grand.spec["params"]["lr"] == pytest.approx(0.1)
    assert explainer.service.spec["params"]["epochs"] == 20
    with pytest.raises(InvalidParameterError, match="network"):
        FastDataShapley("logistic", variant="afds", epochs=1).fit(task.train, task.inputs)


def test_group_objective_equals_the_point_objective_with_shared_values() -> None:
    """GFDS+'s group head: a value per group, counted once per member, is the point-level loss
    and normalisation of the same values shared evenly within groups."""
    groups = torch.tensor([0, 0, 1, 1, 1, 2])
    sizes = torch.bincount(groups).float()
    gen = torch.Generator().manual_seed(0)
    group_masks = (torch.rand(6, 3, generator=gen) > 0.5).float()
    weights = torch.full((6,), 1 / 6)
    raw = torch.randn(4, 3, 2, generator=gen)
    delta, gaps = torch.randn(4, 2, generator=gen), torch.randn(4, 6, 2, generator=gen)
    by_group = Objective(group_masks, weights, paired=False, sizes=sizes)
    by_point = Objective(group_masks[:, groups], weights, paired=False)
    phi_group = by_group.values(raw, delta)
    phi_point = by_point.values(raw[:, groups], delta)
    torch.testing.assert_close(phi_group[:, groups], phi_point)
    torch.testing.assert_close(phi_point.sum(1), delta)
    torch.testing.assert_close(
        by_group.data_loss(phi_group, gaps), by_point.data_loss(phi_point, gaps)
    )
    rows = torch.tensor([[0, 3], [1, 1], [5, 2], [4, 0]])
    picked = gaps[torch.arange(4)[:, None], rows]
    torch.testing.assert_close(
        by_group.data_loss(phi_group, picked, rows), by_point.data_loss(phi_point, picked, rows)
    )
    shared = group_means(raw[:, groups], groups, 3)  # saved point-head explainers still share
    torch.testing.assert_close(shared, raw[:, groups])
    with pytest.raises(InvalidParameterError, match="one entry per player"):
        Objective(group_masks, weights, paired=False, sizes=sizes[:2])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="variant"):
        FastDataShapley(variant="fast")
    with pytest.raises(InvalidParameterError, match="image_shape"):
        FastDataShapley("logistic", explainer="cnn", epochs=1, n_subsets=8).fit(
            tiny_task().train, tiny_task().inputs
        )
    with pytest.raises(InvalidDataError, match="features"):
        FastDataShapley("logistic", epochs=1, n_subsets=8).fit(tiny_task().train, np.zeros((5, 3)))


def test_cnn_explainer_shapes() -> None:
    from assay.explain.networks import build_explainer, explainer_config

    cfg = explainer_config(
        "cnn",
        n_features=64,
        n_players=5,
        n_classes=3,
        hidden=(16,),
        channels=(4,),
        image_shape=(1, 8, 8),
    )
    net = build_explainer(cfg)
    assert net(torch.zeros(2, 64)).shape == (2, 5, 3)
    with pytest.raises(InvalidParameterError, match="pixels"):
        explainer_config("cnn", n_features=60, n_players=5, n_classes=3, image_shape=(1, 8, 8))


def test_subsampled_subsets_keep_pairs_and_efficiency() -> None:
    masks = torch.tensor(np.random.default_rng(0).random((10, 6)) < 0.5, dtype=torch.float32)
    masks[1::2] = 1 - masks[0::2]
    obj = Objective(masks, torch.full((10,), 0.1), paired=True)
    rows = obj.sample_rows(4, 6, torch.Generator().manual_seed(0))
    assert rows.shape == (4, 6)
    assert bool(((rows[:, 1::2] - rows[:, 0::2]) == 1).all()) and bool(
        (rows[:, 0::2] % 2 == 0).all()
    )
    task = tiny_task()
    explainer = FastDataShapley(
        "logistic", hidden=(16,), epochs=5, n_subsets=64, subsets_per_input=8
    ).fit(task.train, task.inputs, task.valid)
    X = task.test.X[:5]
    Xt = torch.tensor(X, dtype=torch.float32)
    gap = (explainer.grand.proba(Xt) - explainer.null.proba(Xt)).numpy()
    np.testing.assert_allclose(explainer.values_all(X).sum(1), gap, atol=1e-6)


def test_grouping_functions() -> None:
    from assay.explain.grouping import make_grouping

    task = tiny_task()
    np.testing.assert_array_equal(make_grouping("label", task.train), task.train.y)
    np.testing.assert_array_equal(make_grouping("provider", task.train), np.arange(8) // 2)
    rep = np.r_[np.zeros((4, 2)), np.ones((4, 2))] + 0.01 * np.arange(8)[:, None]
    km = make_grouping("kmeans", task.train, n_groups=2, representation=rep)
    assert len(set(km[:4])) == 1 and len(set(km[4:])) == 1 and km[0] != km[4]
    with pytest.raises(InvalidParameterError, match="representation"):
        make_grouping("kmeans", task.train)
    # clusters: k-means within labels, every group of one label, groups in proportion
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(30, int)]
    X = np.r_[rng.normal(size=(60, 2)), rng.normal(size=(30, 2))]
    X[::2] += 8.0  # two well-separated blobs inside each label
    blobs = type(task.train).from_arrays(X, y)
    cl = make_grouping("clusters", blobs, n_groups=6)
    assert all(len(set(y[cl == g])) == 1 for g in np.unique(cl))
    assert len(np.unique(cl[y == 0])) == 4 and len(np.unique(cl[y == 1])) == 2
    far = X[:, 0] > 4
    assert all(len(set(far[cl == g])) == 1 for g in np.unique(cl))  # blobs never mixed
    with pytest.raises(InvalidParameterError, match="the labels"):
        make_grouping("clusters", blobs, n_groups=1)
    with pytest.raises(InvalidParameterError, match="unknown grouping"):
        make_grouping("colour", task.train)
    no_providers = type(task.train).from_arrays(task.train.X, task.train.y)
    with pytest.raises(InvalidDataError, match="provider ids"):
        make_grouping("provider", no_providers)
    # GFDS with k-means on the service model's probabilities runs end to end
    explainer = FastDataShapley(
        "logistic",
        variant="gfds",
        grouping="kmeans",
        n_groups=3,
        utility_epochs=None,
        hidden=(8,),
        epochs=2,
        n_subsets=32,
    ).fit(task.train, task.inputs[:50])
    assert explainer.info["n_groups"] == 3
