"""What a learner is to assay: something that trains **B models at once** from B weight vectors.

A subset S of the training set is a 0/1 weight vector over its rows; a bootstrap sample is a vector
of counts. ``BatchLearner.fit(data, weights)`` trains one independent model per row of ``weights``
and returns :class:`FittedModels`, whose ``predict_proba`` gives every model's class probabilities
for a set of inputs in one call. A single model is the case B = 1.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from assay.data.dataset import Dataset

State = dict[str, torch.Tensor]
"""Parameters of B models, each tensor with a leading dimension B (used for warm starts)."""


@dataclass(frozen=True)
class TrainingData:
    """A dataset as tensors on the learner's device and dtype, prepared once and reused."""

    X: torch.Tensor  # (n, d)
    y: torch.Tensor  # (n,) long; for regression the float targets in the learner's dtype
    n_classes: int  # 0 for regression
    onehot: torch.Tensor  # (n, K); (n, 0) for regression

    @classmethod
    def from_dataset(
        cls, data: Dataset, dtype: torch.dtype, device: torch.device | str
    ) -> TrainingData:
        X = torch.tensor(np.asarray(data.X), dtype=dtype, device=device)
        if data.is_regression:
            y = torch.tensor(np.asarray(data.y), dtype=dtype, device=device)
            return cls(X, y, 0, torch.zeros((data.n, 0), dtype=dtype, device=device))
        y = torch.tensor(np.asarray(data.y), dtype=torch.long, device=device)
        onehot = torch.nn.functional.one_hot(y, data.n_classes).to(dtype)
        return cls(X, y, data.n_classes, onehot)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


def classes_present(weights: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """(B, K) boolean: which classes have positive weight in each model's training subset."""
    return (weights @ onehot) > 0


class FittedModels(ABC):
    """B trained models (``n_models``), queried together.

    ``trained`` (B,) says which models were fitted (a subset with fewer than two classes is not);
    ``present`` (B, K) says which classes each model's subset contained.
    """

    trained: torch.Tensor
    present: torch.Tensor

    @property
    @abstractmethod
    def n_models(self) -> int: ...

    @abstractmethod
    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        """Class probabilities, shape (B, m, K), for inputs ``X`` of shape (m, d)."""

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Regression predictions, shape (B, m) (regressors only)."""
        from assay.errors import InvalidParameterError

        raise InvalidParameterError(f"{type(self).__name__} is a classifier: it has no predict")

    def state(self) -> State | None:
        """Parameters for warm-starting another fit (None if the learner cannot warm-start)."""
        return None

    def functional(self, b: int = 0) -> tuple[Callable[[State, torch.Tensor], torch.Tensor], State]:
        """Model ``b`` as a pure function ``logits(params, X) -> (m, K)`` and its parameters.

        This is what :mod:`assay.second_order.derivatives` differentiates (per-sample gradients,
        Hessians).
        """
        from assay.errors import InvalidParameterError

        raise InvalidParameterError(
            f"{type(self).__name__} has no differentiable form; use a torch learner "
            "(logistic, mlp, cnn)"
        )


class BatchLearner(ABC):
    """Trains many independent classifiers (or regressors, ``task = "regression"``) at once.

    Subclasses keep ``__init__`` to storing parameters (scikit-learn convention) and expose them
    through :meth:`get_params`, which also feeds the utility's cache key.
    """

    name: str = "learner"
    #: ``"classification"`` (``predict_proba``) or ``"regression"`` (``predict``)
    task: str = "classification"
    #: whether ``fit`` accepts ``init`` (a :data:`State`) to warm-start
    supports_warm_start: bool = False

    @abstractmethod
    def fit(
        self, data: TrainingData, weights: torch.Tensor, init: State | None = None
    ) -> FittedModels:
        """Train one model per row of ``weights`` (shape (B, n), non-negative)."""

    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-friendly), for reports and cache keys."""

    def initial_state(self, data: TrainingData, n_models: int) -> State | None:
        """The cold-start state of ``n_models`` models (None if not warm-startable)."""
        return None

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def prepare(self, data: Dataset) -> TrainingData:
        """Tensors for ``data`` on this learner's device and dtype."""
        return TrainingData.from_dataset(data, self.dtype, self.device)

    def batch_size_hint(self, data: TrainingData) -> int:
        """How many models to train per call for good speed within memory."""
        return 256

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


#: Share of the currently available memory one batched fit may use for its per-model tensors.
#: The rest is left to the data, the caller (scores, caches) and other processes; with joblib
#: workers each worker sizes its chunks from what is available when it starts fitting.
MEMORY_FRACTION = 0.25


def available_memory(device: torch.device | str = "cpu") -> int:
    """Bytes available for new allocations now: free GPU memory, or the OS's ``MemAvailable``.

    Reads psutil when installed, else ``/proc/meminfo``; falls back to 4 GiB where neither works.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def models_per_chunk(
    bytes_per_model: float,
    *,
    device: torch.device | str = "cpu",
    lo: int = 1,
    hi: int = 512,
    fraction: float = MEMORY_FRACTION,
    max_bytes: float | None = None,
) -> int:
    """How many models fit in ``fraction`` of the available memory, clipped to ``[lo, hi]``.

    ``hi`` is the learner's speed optimum (larger chunks stop paying off); ``max_bytes`` caps
    the budget where the learner knows a chunk that large gains no speed; ``lo`` wins over
    memory only when a single model's tensors are already larger than the budget.
    """
    budget = fraction * available_memory(device)
    if max_bytes is not None:
        budget = min(budget, max_bytes)
    return int(max(lo, min(hi, budget // max(bytes_per_model, 1.0))))


DTYPES = {"float64": torch.float64, "float32": torch.float32}


class TorchLearner(BatchLearner):
    """A batched learner whose models live in torch tensors of one dtype on one device."""

    def _place(self, dtype: str, device: str) -> None:
        """Store and validate the dtype and device names (called by ``__init__``)."""
        from assay.errors import InvalidParameterError

        if dtype not in DTYPES:
            raise InvalidParameterError(f"dtype must be float64 or float32, got {dtype!r}")
        self.dtype_name = dtype
        self.device_name = device

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.dtype_name]

    @property
    def device(self) -> torch.device:
        return torch.device(self.device_name)


@contextmanager
def scoped_seed(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Seed torch's global generators for the block only, then restore their previous state.

    For code that can only draw from the global stream (``nn.Module`` default initialisation,
    dropout under ``vmap``): the draws are those of ``torch.manual_seed(seed)``, bit for bit, and
    the caller's random state (and ``torch.initial_seed()``) is the same after the block as
    before it. The CPU generator and, when CUDA is in use, every CUDA device's are forked.
    """
    cuda = torch.cuda.is_available() and (
        torch.cuda.is_initialized() or torch.device(device or "cpu").type == "cuda"
    )
    devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def configure_process() -> None:
    """Set assay's process-wide numerical state once, at a program's entry point.

    The command line calls it first thing; Python users who train many small models (TMC,
    Banzhaf, Data-OOB on CPU) should call ``assay.configure_process()`` once at start-up too.
    Nothing inside ``fit`` changes process state. Today it turns on :func:`flush_denormals`.
    """
    flush_denormals()


def flush_denormals() -> None:
    """Turn on flush-to-zero for subnormal floats (process-wide, as TensorFlow does by default).

    Logistic losses of points far from a small subset's decision boundary underflow into subnormal
    numbers, and x86 CPUs compute with those up to 100 times slower: on the breast-cancer TMC run
    this alone took the float64 fits from 66 s to 3 s. Values below 2.2e-308 (float64) or 1.2e-38
    (float32) become 0, which changes no result assay computes.
    """
    torch.set_flush_denormal(True)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available else CPU; otherwise the named device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def to_numpy(t: torch.Tensor) -> NDArray[Any]:
    return t.detach().cpu().numpy()
