"""Where work runs: in-process, local processes (joblib/loky) or Ray (joblib's Ray backend).

assay never runs its own pool. Work is a list of tasks mapped with ``joblib.Parallel`` under the
caller's :func:`joblib.parallel_config`; :func:`backend` is a shortcut that also starts Ray
locally. Randomness never depends on where a task runs: per-task seeds come from one
:class:`numpy.random.SeedSequence` (:func:`task_seeds`), and tasks are cut the same way on every
backend, so one seed gives identical numbers in-process, with joblib and with Ray.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from assay.errors import InvalidParameterError, MissingDependencyError, unknown_name

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("sequential", "loky", "threading", "ray")


def task_seeds(
    seed: int | np.random.SeedSequence | None, n: int, *, offset: int = 0
) -> list[np.random.SeedSequence]:
    """Seeds of tasks ``offset .. offset + n - 1``, children of one root seed.

    Child ``i`` is the same whatever ``n`` and ``offset`` are, so a resumed run continues with the
    seeds an uninterrupted one would have used.
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [
        np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, offset + i))
        for i in range(n)
    ]


def task_rng(seed: int | np.random.SeedSequence | None, index: int) -> np.random.Generator:
    """The generator of task ``index`` under root ``seed``."""
    return np.random.default_rng(task_seeds(seed, 1, offset=index)[0])


def map_tasks(fn: Callable[[T], R], tasks: Sequence[T], *, n_jobs: int | None = None) -> list[R]:
    """``[fn(t) for t in tasks]``, spread by joblib under the active ``parallel_config``.

    With no active configuration and ``n_jobs`` in (None, 1), tasks run in this process without
    joblib's overhead. Under the Ray backend each task is a Ray task with ``max_retries``
    (:data:`RAY_TASK_RETRIES`), so a task lost with a dead worker node is rerun by Ray elsewhere.
    Results come back in task order.
    """
    from joblib import Parallel, delayed
    from joblib.parallel import get_active_backend

    backend, active_jobs = get_active_backend()
    configured = type(backend).__name__ != "SequentialBackend" or active_jobs not in (None, 1)
    if len(tasks) <= 1 or (not configured and n_jobs in (None, 1)):
        return [fn(t) for t in tasks]
    if type(backend).__name__ == "RayBackend":
        return _ray_map(fn, tasks)
    return list(Parallel(n_jobs=n_jobs)(delayed(fn)(t) for t in tasks))


RAY_TASK_RETRIES = 3
"""How often Ray reruns a task whose worker died (node lost, process killed)."""


def _call(fn: Callable[[T], R], task: T) -> R:
    return fn(task)


def _ray_map(fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
    """Tasks as Ray tasks (one CPU each, retried by Ray on worker failure), in task order."""
    import ray

    remote: Any = ray.remote(num_cpus=1, max_retries=RAY_TASK_RETRIES)(_call)
    fn_ref = ray.put(fn)
    return list(ray.get([remote.remote(fn_ref, t) for t in tasks]))


@contextlib.contextmanager
def backend(
    name: str = "sequential", n_jobs: int | None = None, *, address: str | None = None
) -> Iterator[None]:
    """Run work on a backend: ``sequential``, ``loky`` (processes), ``threading`` or ``ray``.

    ``ray`` connects to the cluster at ``address`` (``HOST:PORT`` of a head started with
    ``ray start --head``; also read from ``RAY_ADDRESS``), or starts a local Ray runtime when
    neither is given and none is running (install the ``assay[ray]`` extra). Work is spread over
    every node of the cluster; see :func:`map_tasks` for retries.
    """
    from joblib import parallel_config

    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKENDS)
    if address is not None and name != "ray":
        raise InvalidParameterError(f"an address is only used by the ray backend, not {name!r}")
    if name == "ray":
        address = address or os.environ.get("RAY_ADDRESS")
        if address is not None:
            _use_cluster_token()
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError as exc:
            raise MissingDependencyError("the ray backend needs: pip install 'assay[ray]'") from exc
        if not ray.is_initialized():
            _ray_init(ray, address, n_jobs)
        register_ray()
    jobs = 1 if name == "sequential" else (n_jobs if n_jobs is not None else -1)
    # each loky worker gets one BLAS / OpenMP (hence torch) thread: n_jobs workers, not n_jobs**2
    inner = {"inner_max_num_threads": 1} if name == "loky" else {}
    with parallel_config(backend=name, n_jobs=jobs, **inner):
        yield


def _use_cluster_token() -> None:
    """Authenticate with the cluster's token (``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``).

    Ray reads ``RAY_AUTH_MODE`` when it is imported; a head started by ``ray start`` requires the
    token by default once one exists, and a client without it is refused.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    has_token = "RAY_AUTH_TOKEN" in os.environ or (Path.home() / ".ray" / "auth_token").exists()
    if not has_token:
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    if "ray" in sys.modules:  # imported already: its configuration must be read again
        with contextlib.suppress(ImportError, AttributeError):
            from ray._private.authentication import authentication_token_setup

            authentication_token_setup._enable_token_auth()


def _ray_init(ray: Any, address: str | None, n_jobs: int | None) -> None:
    """Connect to the cluster at ``address`` (clear error when none answers), or start one here."""
    if address is None:
        ray.init(
            address="local",  # a fresh runtime here, never a stale cluster `ray start` recorded
            num_cpus=n_jobs,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": WORKER_THREAD_ENV},
        )
        return
    try:
        ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": WORKER_THREAD_ENV})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InvalidParameterError(
            f"no Ray cluster answers at {address!r} ({exc}); start one with "
            "'ray start --head --port=PORT', check RAY_AUTH_MODE / the cluster's token, or leave "
            "--address out to run Ray locally"
        ) from exc


#: environment of worker processes: one thread each for OpenMP, BLAS and torch
WORKER_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cpus() -> int:
    """The number of CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """Set the number of threads assay's numeric libraries use in this process.

    One policy for the whole process, set once (the command line does it at start-up, from
    ``--threads``): torch's intra-op threads, and the OpenMP / BLAS pools of numpy and
    scikit-learn (through :mod:`threadpoolctl`). Libraries not yet imported read the same number
    from ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` when they load.
    Worker processes started by :func:`backend` get one thread each whatever this is.

    Parameters
    ----------
    n : int, optional
        Threads to use, at least 1. Default: :func:`available_cpus`, the CPUs this process may
        use (on a shared or containerised machine that is often fewer than ``os.cpu_count()``).

    Returns
    -------
    int
        The number of threads set.

    Raises
    ------
    InvalidParameterError
        If ``n`` is not a whole number >= 1.
    """
    global _threads_chosen
    _threads_chosen = n is not None
    if n is None:
        n = available_cpus()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameterError(f"threads must be a whole number >= 1, got {n!r}")
    _apply_threads(n)
    return n


def _apply_threads(n: int) -> None:
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)


#: rows x features x outputs below which a problem runs on one thread unless threads were set.
#: Beside CPU-bound work a second torch thread made the reference TMC (341 x 30) 2.59x slower
#: than idle against 1.58x on one thread (benchmarks/threads.py); the size where a second thread
#: starts to pay on an idle machine is not measured yet (its "sizes" case), so this is a guess.
SINGLE_THREAD_WORK = 2**22
_threads_chosen: bool | None = None  # None: set_threads never called, threads left alone


def threads_for_problem(rows: int, features: int, outputs: int = 1) -> int:
    """Drop to one thread for a small problem when threads are at :func:`set_threads`'s default.

    :func:`assay.valuation.run.value_task` (``assay value``) calls it once the task's size is
    known. A count given to :func:`set_threads` (``--threads``) is kept whatever the size, and
    a process that never called :func:`set_threads` is left alone.

    Parameters
    ----------
    rows, features, outputs : int
        The training rows, encoded features and model outputs (classes; 1 for binary or
        regression).

    Returns
    -------
    int
        The threads now in use.
    """
    work = rows * features * max(outputs, 1)
    if _threads_chosen is False and work < SINGLE_THREAD_WORK:
        _apply_threads(1)
        return 1
    return int(os.environ.get("OMP_NUM_THREADS", available_cpus()))


def chunked(n: int, size: int) -> list[slice]:
    """Slices cutting ``range(n)`` into pieces of ``size`` (the last may be shorter)."""
    size = max(1, int(size))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def describe_backend() -> dict[str, Any]:
    """The active joblib backend and job count (for run metadata)."""
    from joblib.parallel import get_active_backend

    b, jobs = get_active_backend()
    return {"backend": type(b).__name__, "n_jobs": jobs}
