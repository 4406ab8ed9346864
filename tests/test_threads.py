"""One thread policy: set_threads, --threads, one thread per worker process."""

from __future__ import annotations

import os

import pytest
import torch
from threadpoolctl import threadpool_info

from assay import parallel, set_threads
from assay.errors import InvalidParameterError
from assay.parallel import available_cpus, backend, map_tasks, threads_for_problem


@pytest.fixture
def restore_threads(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(parallel, "_threads_chosen", parallel._threads_chosen)
    before = torch.get_num_threads()
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    yield
    torch.set_num_threads(before)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=before)
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_default_is_the_cpus_this_process_may_use(restore_threads) -> None:  # type: ignore[no-untyped-def]
    assert available_cpus() == len(os.sched_getaffinity(0))
    assert set_threads() == available_cpus()
    assert torch.get_num_threads() == available_cpus()


def test_set_threads_sets_torch_blas_and_the_environment(restore_threads) -> None:  # type: ignore[no-untyped-def]
    assert set_threads(1) == 1
    assert torch.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())


def test_small_problems_run_on_one_thread_only_at_the_default(restore_threads) -> None:  # type: ignore[no-untyped-def]
    small, large = (341, 30, 1), (100_000, 50, 1)
    set_threads()  # the command line's default
    assert threads_for_problem(*large) == available_cpus()
    assert torch.get_num_threads() == available_cpus()
    assert threads_for_problem(*small) == 1
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    set_threads(2)  # a count the user chose is kept
    assert threads_for_problem(*small) == 2 and torch.get_num_threads() == 2
    parallel._threads_chosen = None  # set_threads never called: a library user's threads
    torch.set_num_threads(2)
    threads_for_problem(*small)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="threads must be a whole number"):
        set_threads(bad)  # type: ignore[arg-type]


def _worker_threads(_: int) -> tuple[str | None, int]:
    import torch as t

    return os.environ.get("OMP_NUM_THREADS"), t.get_num_threads()


def test_loky_workers_get_one_thread_each() -> None:
    with backend("loky", n_jobs=2):
        got = map_tasks(_worker_threads, [0, 1])
    assert got == [("1", 1), ("1", 1)]


def test_every_command_takes_threads() -> None:
    from assay.cli import app

    missing = []
    for command in app.registered_commands:
        params = command.callback.__code__.co_varnames if command.callback else ()
        if "threads" not in params:
            missing.append(command.name)
    assert not missing
