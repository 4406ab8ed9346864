"""A trained explainer: values of every training point for new predictions, in one forward pass.

A :class:`DataExplainer` holds the explainer network and the three models its outputs depend on
(service, grand, null; see :mod:`assay.explain.snapshot`). For inputs X it returns, for the label
y each prediction is paid for (the service model's prediction unless given), the values
phi(x, y) in R^n, made efficient: they sum to v_{x,y}(1) - v_{x,y}(0) exactly. GFDS+ explainers
share each group's value evenly among its points.

On disk (``save(folder)`` / ``DataExplainer.load(folder)``), never pickled:

- ``explainer.json``: network config, variant and its settings, player ids and providers, label
  classes, grouping, training facts;
- ``explainer.safetensors``: the network's weights;
- ``models.safetensors``: the service, grand and null models' parameters (their learner specs are
  in the JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from assay.data.encode import TableEncoder
from assay.errors import AssayError, InvalidDataError, check_output_dir, corrupt
from assay.explain.networks import ExplainerNet, build_explainer
from assay.explain.snapshot import ModelSnapshot
from assay.explain.training import efficient_normalise, group_means
from assay.runs import atomic_write_bytes, check_new

if TYPE_CHECKING:
    import pandas as pd

Tensor = torch.Tensor
FORMAT = 1
MODELS = ("service", "grand", "null")


def _plain(obj: Any) -> Any:
    """JSON fallback for NumPy scalars and arrays."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def explainer_files(folder: str | Path) -> tuple[Path, ...]:
    """The files :meth:`DataExplainer.save` writes in ``folder`` (``explainer.json`` last)."""
    return tuple(
        Path(folder) / f for f in ("explainer.safetensors", "models.safetensors", "explainer.json")
    )


@dataclass
class DataExplainer:
    """A trained Fast-DataShapley explainer (FDS, AFDS, GFDS or GFDS+).

    Parameters
    ----------
    net : ExplainerNet
    config : dict
        The network config (see :func:`assay.explain.networks.explainer_config`).
    service, grand, null : ModelSnapshot
        The service model (predicts y), and the utility's v(1) and v(0) models.
    ids : ndarray (n,)
        Ids of the training points (the players).
    classes : ndarray (K,)
        Original label values.
    providers : ndarray (n,), optional
        Data provider of each point.
    groups : ndarray (n,) int, optional
        Group codes; with ``share`` the values are shared evenly within groups (GFDS+).
    info : dict
        Variant, settings and training facts (JSON-safe).
    input_scaler : (mean (d,), scale (d,)), optional
        Raw inputs are standardised as ``(x - mean) / scale`` before the networks see them
        (explainers trained on standardised data by ``assay explain``); None: inputs are used
        as given.
    feature_names : list of str, optional
        Names of the d input columns, in order (tables are matched to them by name).
    encoder : TableEncoder, optional
        The encoder fitted on the training table (``assay explain`` on a file): new rows are
        raw table rows (strings, gaps), encoded by it before the scaler (see :meth:`encode`).
    """

    net: ExplainerNet
    config: dict[str, Any]
    service: ModelSnapshot
    grand: ModelSnapshot
    null: ModelSnapshot
    ids: NDArray[Any]
    classes: NDArray[Any]
    providers: NDArray[Any] | None = None
    groups: NDArray[np.int64] | None = None
    share: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    input_scaler: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    feature_names: list[str] | None = None
    encoder: TableEncoder | None = None

    def __post_init__(self) -> None:
        self.net.eval()
        self._groups_t = (
            None if self.groups is None else torch.as_tensor(self.groups, dtype=torch.long)
        )
        self._sizes_t = (
            None if self._groups_t is None else torch.bincount(self._groups_t).to(torch.float32)
        )
        self._scaler_t = (
            None
            if self.input_scaler is None
            else tuple(torch.as_tensor(a, dtype=torch.float32) for a in self.input_scaler)
        )

    # ----------------------------------------------------------------- facts
    @property
    def n_players(self) -> int:
        """Training points valued (a GFDS+ network outputs one value per group of them)."""
        return len(self.ids)

    @property
    def n_features(self) -> int:
        return int(self.config["n_features"])

    @property
    def n_classes(self) -> int:
        return int(self.config["n_classes"])

    @property
    def variant(self) -> str:
        return str(self.info.get("variant", "fds"))

    def check_inputs(self, X: ArrayLike) -> Tensor:
        """Inputs as a float32 (m, d) tensor, or :class:`InvalidDataError` naming the problem."""
        arr = np.asarray(X)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise InvalidDataError(f"inputs must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise InvalidDataError(
                f"inputs must have shape (m, {self.n_features}), got {tuple(np.shape(X))}"
            )
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise InvalidDataError(
                f"inputs have {int((~np.isfinite(arr)).sum())} non-finite values"
            )
        return torch.as_tensor(arr, dtype=torch.float32)

    def prepare(self, X: ArrayLike) -> Tensor:
        """Checked inputs, standardised when the explainer carries an input scaler."""
        Xt = self.check_inputs(X)
        if self._scaler_t is None:
            return Xt
        mean, scale = self._scaler_t
        return (Xt - mean) / scale

    def check_labels(self, y: ArrayLike, m: int) -> NDArray[np.int64]:
        """Label codes 0..K-1 of length ``m``."""
        yy = np.atleast_1d(np.asarray(y))
        if yy.shape != (m,):
            raise InvalidDataError(f"labels must have shape ({m},), got {yy.shape}")
        if yy.dtype.kind not in "iu" or (yy < 0).any() or (yy >= self.n_classes).any():
            raise InvalidDataError(
                f"labels must be class codes in [0, {self.n_classes}), got {yy.tolist()[:10]}"
            )
        return yy.astype(np.int64)

    def encode_labels(self, labels: ArrayLike) -> NDArray[np.int64]:
        """Codes of original label values (e.g. ``"cat"``), or a clear error for unknown ones."""
        from assay.data.dataset import encode_labels

        codes, _ = encode_labels(np.atleast_1d(np.asarray(labels)), self.classes, what="labels")
        return codes

    # ----------------------------------------------------------------- inference
    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """The service model's class probabilities (m, K)."""
        return self.service.proba(self.prepare(X)).cpu().numpy().astype(np.float64)

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """The service model's predicted label codes (m,)."""
        return self.predict_proba(X).argmax(1)

    def _values_all(self, Xt: Tensor) -> Tensor:
        with torch.no_grad():
            delta = (self.grand.proba(Xt) - self.null.proba(Xt)).to(torch.float32)
            raw = self.net(Xt)
            if not self.share or self._groups_t is None or self._sizes_t is None:
                return efficient_normalise(raw, delta)
            if raw.shape[1] == len(self._groups_t):  # saved before GFDS+ had a group head
                raw = group_means(raw, self._groups_t, len(self._sizes_t))
                return efficient_normalise(raw, delta)
            return efficient_normalise(raw, delta, self._sizes_t)[:, self._groups_t]

    def values_all(self, X: ArrayLike) -> NDArray[np.float64]:
        """Values of every training point for every label: (m, n, K)."""
        return self._values_all(self.prepare(X)).numpy().astype(np.float64)

    def values(self, X: ArrayLike, y: ArrayLike | None = None) -> NDArray[np.float64]:
        """phi(x, y) for each input: (m, n); ``y`` codes default to the service prediction."""
        Xt = self.prepare(X)
        with torch.no_grad():
            if y is None:
                yy = self.service.logits(Xt).argmax(1).numpy()
            else:
                yy = self.check_labels(y, Xt.shape[0])
            phi = self._values_all(Xt)
        return phi[torch.arange(Xt.shape[0]), :, torch.as_tensor(yy)].numpy().astype(np.float64)

    def provider_values(self, values: ArrayLike) -> tuple[NDArray[Any], NDArray[np.float64]]:
        """Sums of point values per provider: (providers (P,), values (m, P))."""
        if self.providers is None:
            raise InvalidDataError("this explainer has no provider ids (train with Dataset groups)")
        v = np.atleast_2d(np.asarray(values, dtype=np.float64))
        names, codes = np.unique(self.providers.astype(str), return_inverse=True)
        out = np.zeros((v.shape[0], len(names)))
        np.add.at(out.T, codes, v.T)
        return names, out

    def encode(self, rows: pd.DataFrame, what: str = "inputs") -> NDArray[np.float64]:
        """Raw table rows (columns by name) to the (m, d) features the explainer takes.

        With an :attr:`encoder`, the training table's columns that make features are required
        (strings and gaps encoded as in training); otherwise :attr:`feature_names` are taken,
        in order, as numbers (see :func:`assay.explain.inputs.table_features`).
        """
        from assay.explain.inputs import table_features

        if self.encoder is None and self.feature_names is None:
            raise InvalidDataError(
                "this explainer was trained without feature names; give inputs as arrays of "
                f"{self.n_features} numbers"
            )
        return table_features(rows, what, self.feature_names, self.encoder)

    # ----------------------------------------------------------------- disk
    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the explainer to ``folder`` (created); returns the folder.

        ``explainer.json`` is written last, so a folder with it is complete; an existing
        explainer is refused unless ``overwrite``.
        """
        check_output_dir(folder, what="explainer folder")
        path = Path(folder)
        check_new(*explainer_files(path), overwrite=overwrite, what="explainer file")
        models: dict[str, Tensor] = {}
        for name in MODELS:
            models.update(getattr(self, name).tensors(name))
        meta = {
            "format": FORMAT,
            "config": self.config,
            "models": {name: getattr(self, name).meta() for name in MODELS},
            "ids": self.ids.tolist(),
            "classes": self.classes.tolist(),
            "providers": None if self.providers is None else self.providers.tolist(),
            "groups": None if self.groups is None else self.groups.tolist(),
            "share": self.share,
            "info": self.info,
            "input_scaler": None
            if self.input_scaler is None
            else {"mean": self.input_scaler[0].tolist(), "scale": self.input_scaler[1].tolist()},
            "feature_names": self.feature_names,
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
        }
        state = {k: v.contiguous() for k, v in self.net.state_dict().items()}
        (path / "explainer.json").unlink(missing_ok=True)  # incomplete until written again
        atomic_write_bytes(path / "explainer.safetensors", st_save(state), overwrite=True)
        atomic_write_bytes(path / "models.safetensors", st_save(models), overwrite=True)
        blob = json.dumps(meta, indent=1, default=_plain).encode()
        atomic_write_bytes(path / "explainer.json", blob, overwrite=True)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> DataExplainer:
        """Read an explainer written by :meth:`save`."""
        path = Path(folder)
        files = [
            path / f for f in ("explainer.json", "explainer.safetensors", "models.safetensors")
        ]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise InvalidDataError(f"not an explainer folder, missing: {missing}")
        fresh = "train the explainer again (`assay explain`) to write it afresh"
        try:
            return cls._read(path, files)
        except AssayError:
            raise
        except Exception as exc:  # JSON, safetensors, key and shape errors of a damaged folder
            raise corrupt("explainer folder", path, f"{type(exc).__name__}: {exc}", fresh) from exc

    @classmethod
    def _read(cls, path: Path, files: list[Path]) -> DataExplainer:
        meta = json.loads(files[0].read_text())
        if meta.get("format") != FORMAT:
            raise InvalidDataError(f"unsupported explainer format {meta.get('format')!r}")
        net = build_explainer(meta["config"])
        net.load_state_dict(st_load(files[1].read_bytes()))
        tensors = st_load(files[2].read_bytes())
        snaps = {n: ModelSnapshot.from_parts(meta["models"][n], tensors, n) for n in MODELS}
        return cls(
            net,
            meta["config"],
            snaps["service"],
            snaps["grand"],
            snaps["null"],
            np.asarray(meta["ids"]),
            np.asarray(meta["classes"]),
            None if meta["providers"] is None else np.asarray(meta["providers"]),
            None if meta["groups"] is None else np.asarray(meta["groups"], dtype=np.int64),
            bool(meta["share"]),
            dict(meta["info"]),
            _scaler(meta.get("input_scaler")),
            meta.get("feature_names"),
            None if meta.get("encoder") is None else TableEncoder.from_dict(meta["encoder"]),
        )


def _scaler(d: dict[str, Any] | None) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    if d is None:
        return None
    return np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64)
