"""The estimated cost of a run, said before it starts: model counts, the pilot, the warning."""

from __future__ import annotations

import numpy as np
import pytest

from assay.data.task import TaskSpec
from assay.valuation import estimate
from assay.valuation.estimate import estimate_run, planned_models, seconds_per_model
from assay.valuation.registry import make_method
from assay.valuation.run import value_task


class CountingGame:
    """A game that records the subsets it was asked for (each call sleeps ``delay`` s)."""

    def __init__(self, n: int) -> None:
        self.n_players = n
        self.calls: list[np.ndarray] = []

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        self.calls.append(np.asarray(masks))
        return np.asarray(masks, float).sum(1)


@pytest.mark.parametrize(
    ("name", "budget", "want"),
    [
        ("tmc-shapley", 10, (10 * 50, 0.5, True)),
        ("beta-shapley", 3, (3 * 50, 0.5, True)),
        ("banzhaf", 200, (200, 0.5, False)),
        ("data-oob", 40, (40, 1.0, False)),
        ("loo", None, (51, 1.0, False)),
        ("knn-shapley", None, None),
        ("exact-shapley", None, None),  # 50 players: refused before any work
    ],
)
def test_planned_models_follow_the_method_and_budget(name, budget, want) -> None:
    assert planned_models(make_method(name, budget=budget), 50) == want


def test_the_pilot_trains_a_few_subsets_of_the_asked_size_apart_from_the_run() -> None:
    game = CountingGame(400)
    seconds = seconds_per_model(game, 0.5, seed=3)
    few, batch = game.calls  # a quick first pilot is followed by a batch as big as a run's
    assert few.shape == (estimate.PILOT_MODELS, 400) and (few.sum(1) == 200).all()
    assert batch.shape == (estimate.BATCHED_PILOT_MODELS, 400) and (batch.sum(1) == 200).all()
    masks = np.concatenate([few, batch])
    assert len({m.tobytes() for m in masks}) == len(masks) and seconds >= 0
    again = CountingGame(400)
    seconds_per_model(again, 0.5, seed=3)
    np.testing.assert_array_equal(again.calls[0], few)  # seeded, not the run's generator


class SlowGame(CountingGame):
    """Each call takes ``delay`` seconds whatever its size (a step's fixed cost)."""

    def __init__(self, n: int, delay: float) -> None:
        super().__init__(n)
        self.delay = delay

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        import time

        time.sleep(self.delay)
        return super().__call__(masks)


def test_the_pilot_reports_the_batched_cost_of_quick_models_and_stops_at_slow_ones() -> None:
    quick = SlowGame(40, delay=0.02)
    per_model = seconds_per_model(quick, 0.5)
    assert len(quick.calls) == 2
    assert per_model < 0.02 / estimate.PILOT_MODELS  # the 64-model batch's share of its call
    slow = SlowGame(40, delay=estimate.PILOT_QUICK_SECONDS * 1.5)
    per_model = seconds_per_model(slow, 0.5)
    assert len(slow.calls) == 1 and per_model >= slow.delay / estimate.PILOT_MODELS


def test_the_estimate_multiplies_models_by_the_pilot_and_names_faster_ways(monkeypatch) -> None:
    monkeypatch.setattr(estimate, "seconds_per_model", lambda game, share, seed=0: 0.01)
    est = estimate_run("tmc-shapley", make_method("tmc-shapley", budget=100), CountingGame(1000))
    assert est is not None and est.models == 100_000 and est.seconds == pytest.approx(1000)
    assert est.long and est.upper_bound
    line = est.describe()
    assert "up to ~17 min" in line and "100,000 models" in line
    assert "--players clusters:64" in line and "~64 s" in line  # 100 permutations x 64 groups
    assert "data-oob (500 models, ~10 s)" in line and "knn-shapley" in line
    grouped = estimate_run(
        "banzhaf", make_method("banzhaf", budget=10), CountingGame(64), grouped=True
    )
    assert grouped is not None and not grouped.long and "clusters" not in grouped.describe()
    assert estimate_run("knn-shapley", make_method("knn-shapley"), CountingGame(10)) is None


def test_value_task_reports_the_estimate_before_it_runs() -> None:
    seen = []
    spec = TaskSpec("breast_cancer", valid_fraction=0.2, seed=0)
    run = value_task(spec, "data-oob", budget=20, on_estimate=seen.append)
    (est,) = seen
    assert est.models == 20 and est.n_players == run.task.train.n and not est.long
    plain = value_task(spec, "data-oob", budget=20)  # the pilot changes no value
    np.testing.assert_array_equal(run.result.values, plain.result.values)


def test_the_command_warns_before_a_long_run(monkeypatch, tmp_path, capsys) -> None:
    from assay.cli import main

    monkeypatch.setattr(estimate, "LONG_RUN_SECONDS", 0.0)
    out = tmp_path / "v"
    argv = ["value", "breast_cancer", "--method", "banzhaf", "--budget", "16", "-o", str(out)]
    argv += ["--valid-fraction", "0.2"]  # cross-fitting (the default) is not estimated
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code in (0, None)
    err = capsys.readouterr().err
    assert "estimate: banzhaf on" in err and "faster: " in err and "knn-shapley" in err


def test_a_cross_fitted_run_is_estimated_from_its_first_fold(monkeypatch) -> None:
    monkeypatch.setattr(estimate, "seconds_per_model", lambda game, share, seed=0: 0.5)
    seen = []
    spec = TaskSpec("breast_cancer", folds=3, seed=0)
    value_task(spec, "banzhaf", budget=8, on_estimate=seen.append)
    (est,) = seen
    assert est.models == 3 * 8 and est.seconds == pytest.approx(12.0)
    assert 0 < est.n_players < 0.4 * 569  # one fold's rows
    seen.clear()
    value_task(spec, "knn-shapley", on_estimate=seen.append)  # trains nothing: no estimate
    assert seen == []
