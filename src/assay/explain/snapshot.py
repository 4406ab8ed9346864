"""One trained (or untrained) model of a batched learner, frozen for inference and for disk.

An explainer needs three models at inference time: the *service* model (it predicts the label y
that is paid for), the *grand* model v(1) and the *null* model v(0) of the utility (the additive
efficient normalisation makes the values of every prediction sum to v(1) - v(0)). A
:class:`ModelSnapshot` holds one of them as a learner spec (registry name and parameters, JSON)
and its parameter tensors (safetensors), and predicts class probabilities without the learner's
training machinery. Supported learners: ``logistic``, ``mlp`` and ``cnn``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.func import functional_call

from assay.errors import InvalidParameterError
from assay.learners.base import BatchLearner, FittedModels, TrainingData
from assay.learners.logistic import FittedLogistic, LogisticRegression
from assay.learners.networks import CNNClassifier, FittedNetworks, MLPClassifier, NetworkClassifier
from assay.learners.registry import make_learner

Tensor = torch.Tensor
SUPPORTED = ("logistic", "mlp", "cnn")


def _network_params(learner: NetworkClassifier) -> dict[str, Any]:
    """Constructor parameters of an ``mlp`` / ``cnn`` learner, read from its attributes.

    Used when ``get_params`` fails: ``NetworkClassifier.get_params`` evaluates
    ``repr(self.architecture)`` eagerly, which recurses for the bound ``_build`` of
    ``MLPClassifier`` and ``CNNClassifier`` (a foundation bug, reported).
    """
    params: dict[str, Any] = {
        "dropout": learner.dropout,  # type: ignore[attr-defined]
        "epochs": learner.epochs,
        "lr": learner.lr,
        "weight_decay": learner.weight_decay,
        "batch_size": learner.batch_size,
        "seed": learner.seed,
        "dtype": learner.dtype_name,
        "device": learner.device_name,
    }
    if learner.optimizer != "adam":  # the default is left out, as get_params does
        params["optimizer"] = learner.optimizer
    if isinstance(learner, CNNClassifier):
        params.update(
            image_shape=list(learner.image_shape),
            channels=list(learner.channels),
            hidden=learner.hidden,
        )
    else:
        params["hidden"] = list(learner.hidden)  # type: ignore[attr-defined]
    return params


def learner_spec(learner: BatchLearner) -> dict[str, Any]:
    """``{"name": ..., "params": ...}`` that :func:`make_learner` rebuilds the learner from."""
    name = getattr(learner, "name", "")
    ok = isinstance(learner, (LogisticRegression, MLPClassifier | CNNClassifier))
    if name not in SUPPORTED or not ok:
        raise InvalidParameterError(
            f"explainers support the learners {', '.join(SUPPORTED)}; got {type(learner).__name__}"
        )
    try:
        params = learner.get_params()
    except RecursionError:
        assert isinstance(learner, NetworkClassifier)
        params = _network_params(learner)
    return {"name": name, "params": params}


def rebuild_learner(spec: dict[str, Any]) -> BatchLearner:
    """The learner of a :func:`learner_spec`."""
    params = dict(spec["params"])
    if "random_state" in params:  # written before the seed parameter was renamed
        params["seed"] = params.pop("random_state")
    for key in ("hidden", "image_shape", "channels"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return make_learner(str(spec["name"]), **params)


@dataclass
class ModelSnapshot:
    """A single model: learner spec, parameters and the classes its training data contained.

    Parameters
    ----------
    spec : dict
        ``{"name", "params"}`` of the learner (see :func:`learner_spec`).
    state : dict of str to Tensor
        Parameters of the one model (no leading model dimension).
    present : Tensor of shape (K,), bool
        Classes the model may predict (absent ones get probability 0).
    n_features : int
    """

    spec: dict[str, Any]
    state: dict[str, Tensor]
    present: Tensor
    n_features: int
    _module: Any = field(default=None, repr=False)

    @property
    def n_classes(self) -> int:
        return int(self.present.numel())

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_fitted(
        cls, learner: BatchLearner, fitted: FittedModels, data: TrainingData, b: int = 0
    ) -> ModelSnapshot:
        """Model ``b`` of a learner's fit."""
        spec = learner_spec(learner)
        if isinstance(fitted, FittedNetworks):
            state = {k: v[b].detach().clone() for k, v in fitted.params.items()}
        elif isinstance(fitted, FittedLogistic):
            state = {"coef": fitted.coef[b].detach().clone()}
        else:  # pragma: no cover - learner_spec already refused
            raise InvalidParameterError(f"cannot snapshot {type(fitted).__name__}")
        present = fitted.present[b].detach().cpu().clone()
        return cls(spec, state, present, int(data.X.shape[1]))

    @classmethod
    def initial(cls, learner: BatchLearner, data: TrainingData) -> ModelSnapshot:
        """The learner's untrained model (its seeded initialisation): the null model f_{D_0}.

        For networks this is the shared initialisation every subset model starts from (what the
        authors' code uses as the null model); for logistic regression the zero coefficients,
        i.e. the uniform prediction 1/K.
        """
        spec = learner_spec(learner)
        init = learner.initial_state(data, 1)
        assert init is not None
        state = {k: v[0].detach().clone() for k, v in init.items()}
        present = torch.ones(data.n_classes, dtype=torch.bool)
        return cls(spec, state, present, int(data.X.shape[1]))

    # ----------------------------------------------------------------- inference
    def _net(self) -> Any:
        if self._module is None:
            learner = rebuild_learner(self.spec)
            assert isinstance(learner, NetworkClassifier)
            module = learner.architecture(self.n_features, self.n_classes)
            self._module = module.to(learner.dtype).eval()
        return self._module

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.state.values())).dtype

    def logits(self, X: Tensor) -> Tensor:
        """Logits (m, K) for inputs (m, d); absent classes are -inf."""
        X = X.to(self.dtype)
        with torch.no_grad():
            if self.spec["name"] == "logistic":
                coef = self.state["coef"]
                if bool(self.spec["params"].get("fit_intercept", True)):
                    X = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)
                z = X @ coef.T
                if self.n_classes == 2 and coef.shape[0] == 1:
                    z = torch.cat([torch.zeros_like(z), z], dim=1)
            else:
                z = functional_call(self._net(), self.state, (X,))
        return z.masked_fill(~self.present[None, :], float("-inf"))

    def proba(self, X: Tensor) -> Tensor:
        """Class probabilities (m, K)."""
        return torch.softmax(self.logits(X), dim=-1)

    # ----------------------------------------------------------------- disk
    def tensors(self, prefix: str) -> dict[str, Tensor]:
        """Flat tensors for a safetensors file, keys prefixed by ``prefix``."""
        out = {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in self.state.items()}
        out[f"{prefix}.__present__"] = self.present.to(torch.uint8)
        return out

    def meta(self) -> dict[str, Any]:
        return {"spec": self.spec, "n_features": self.n_features, "keys": sorted(self.state)}

    @classmethod
    def from_parts(
        cls, meta: dict[str, Any], tensors: dict[str, Tensor], prefix: str
    ) -> ModelSnapshot:
        state = {k: tensors[f"{prefix}.{k}"] for k in meta["keys"]}
        present = tensors[f"{prefix}.__present__"].to(torch.bool)
        return cls(dict(meta["spec"]), state, present, int(meta["n_features"]))
