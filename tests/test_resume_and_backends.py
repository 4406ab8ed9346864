"""Long runs resume after a kill with the same numbers; every backend gives the same values."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from assay.parallel import backend, task_seeds
from assay.utility import Utility
from assay.valuation import MSRBanzhaf, TMCShapley

RUN = textwrap.dedent(
    """
    import sys
    from assay.data import flip_labels, load_dataset
    from assay.utility import Utility
    from assay.valuation import {cls}
    train, valid, _ = load_dataset("breast_cancer", seed=0)
    train, _ = flip_labels(train, 0.1, seed=0)
    u = Utility("logistic", train, valid, cache_dir=sys.argv[2])
    {cls}({budget}, batch_size={batch}, seed=7, checkpoint=sys.argv[1]).fit(u)
    """
)


def _rounds_done(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with np.load(path) as z:
            return int(json.loads(str(z["__header__"]))["rounds"])
    except (OSError, ValueError, KeyError):  # being replaced right now
        return 0


def _kill_after(path: Path, cache: Path, cls: str, budget: int, batch: int, rounds: int) -> int:
    script = RUN.format(cls=cls, budget=budget, batch=batch)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(cache)],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    deadline = time.time() + 120
    while _rounds_done(path) < rounds and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    done = _rounds_done(path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return done


@pytest.mark.parametrize(
    ("cls", "budget", "batch"), [("TMCShapley", 32, 4), ("MSRBanzhaf", 3000, 100)]
)
def test_killed_run_resumes_to_identical_values(
    tmp_path, noisy_breast_cancer, cls, budget, batch
) -> None:
    (train, valid, _), _ = noisy_breast_cancer
    ckpt, cache = tmp_path / "run.npz", tmp_path / "cache"
    done = _kill_after(ckpt, cache, cls, budget, batch, rounds=3)
    total_rounds = budget // batch
    assert 3 <= done < total_rounds, f"the subprocess was killed after {done} rounds"
    method = {"TMCShapley": TMCShapley, "MSRBanzhaf": MSRBanzhaf}[cls]
    u = Utility("logistic", train, valid, cache_dir=str(cache))
    resumed = method(budget, batch_size=batch, seed=7, checkpoint=ckpt).fit(u)
    assert resumed.params["rounds"] == total_rounds
    fresh = method(budget, batch_size=batch, seed=7).fit(Utility("logistic", train, valid))
    np.testing.assert_array_equal(resumed.values, fresh.values)
    np.testing.assert_array_equal(resumed.counts, fresh.counts)
    np.testing.assert_allclose(resumed.stderr, fresh.stderr, rtol=1e-12)


def test_checkpoint_of_another_run_is_refused(tmp_path, breast_cancer) -> None:
    from assay.errors import InvalidParameterError

    train, valid, _ = breast_cancer
    u = Utility("logistic", train, valid)
    MSRBanzhaf(100, seed=1, checkpoint=tmp_path / "c.npz").fit(u)
    with pytest.raises(InvalidParameterError, match="belongs to another run"):
        MSRBanzhaf(100, seed=2, checkpoint=tmp_path / "c.npz").fit(u)


def test_task_seeds_do_not_depend_on_how_work_is_cut() -> None:
    whole = task_seeds(11, 6)
    parts = task_seeds(11, 2) + task_seeds(11, 4, offset=2)
    for a, b in zip(whole, parts, strict=True):
        assert a.generate_state(4).tolist() == b.generate_state(4).tolist()


def _values_under(name: str, train, valid) -> dict[str, np.ndarray]:
    with backend(name, n_jobs=2):
        u = Utility("logistic", train, valid, batch_size=250)
        return {
            "tmc": TMCShapley(12, batch_size=6, seed=3).fit(u).values,
            "banzhaf": MSRBanzhaf(1000, batch_size=500, seed=3).fit(u).values,
        }


def test_joblib_processes_give_the_same_values(noisy_breast_cancer) -> None:
    (train, valid, _), _ = noisy_breast_cancer
    seq = _values_under("sequential", train, valid)
    loky = _values_under("loky", train, valid)
    for key in seq:
        np.testing.assert_array_equal(seq[key], loky[key])


@pytest.mark.slow
def test_ray_gives_the_same_values(noisy_breast_cancer) -> None:
    pytest.importorskip("ray")
    import ray

    (train, valid, _), _ = noisy_breast_cancer
    seq = _values_under("sequential", train, valid)
    try:
        ray_values = _values_under("ray", train, valid)
    finally:
        ray.shutdown()
    for key in seq:
        np.testing.assert_array_equal(seq[key], ray_values[key])
