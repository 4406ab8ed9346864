"""Where work runs: in-process, local processes (joblib/loky) or Ray (joblib's Ray backend).

assay never runs its own pool. Work is a list of tasks mapped with ``joblib.Parallel`` under the
caller's :func:`joblib.parallel_config`; :func:`backend` is a shortcut that also starts Ray
locally. Randomness never depends on where a task runs: per-task seeds come from one
:class:`numpy.random.SeedSequence` (:func:`task_seeds`), and tasks are cut the same way on every
backend, so one seed gives identical numbers in-process, with joblib and with Ray.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from assay.errors import MissingDependencyError, unknown_name

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
    joblib's overhead. Results come back in task order.
    """
    from joblib import Parallel, delayed
    from joblib.parallel import get_active_backend

    backend, active_jobs = get_active_backend()
    configured = type(backend).__name__ != "SequentialBackend" or active_jobs not in (None, 1)
    if len(tasks) <= 1 or (not configured and n_jobs in (None, 1)):
        return [fn(t) for t in tasks]
    return list(Parallel(n_jobs=n_jobs)(delayed(fn)(t) for t in tasks))


@contextlib.contextmanager
def backend(name: str = "sequential", n_jobs: int | None = None) -> Iterator[None]:
    """Run work on a backend: ``sequential``, ``loky`` (processes), ``threading`` or ``ray``.

    ``ray`` starts a local Ray runtime with ``ray.init()`` when none is running (install the
    ``assay[ray]`` extra) and routes joblib through ``ray.util.joblib``.
    """
    from joblib import parallel_config

    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKENDS)
    if name == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError as exc:
            raise MissingDependencyError("the ray backend needs: pip install 'assay[ray]'") from exc
        if not ray.is_initialized():
            ray.init(num_cpus=n_jobs, include_dashboard=False, log_to_driver=False)
        register_ray()
    jobs = 1 if name == "sequential" else (n_jobs if n_jobs is not None else -1)
    with parallel_config(backend=name if name != "sequential" else "sequential", n_jobs=jobs):
        yield


def chunked(n: int, size: int) -> list[slice]:
    """Slices cutting ``range(n)`` into pieces of ``size`` (the last may be shorter)."""
    size = max(1, int(size))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def describe_backend() -> dict[str, Any]:
    """The active joblib backend and job count (for run metadata)."""
    from joblib.parallel import get_active_backend

    b, jobs = get_active_backend()
    return {"backend": type(b).__name__, "n_jobs": jobs}
