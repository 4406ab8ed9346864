"""The explainer network phi_theta(x, y) -> R^n, for every label y at once.

Like the paper (Section 4.1.3: "the output shape is |D| x |Y|") and the authors' code, the network
maps an input x to an (n, K) matrix, one column of training-point values per label; phi(x, y) is
column y. Training regresses all K columns at once, which is the expectation over the uniformly
drawn label y of Eq. 3 (no sampling noise from y).

Two bodies, both followed by a linear head to n * K outputs whose weights start at zero (so the
untrained explainer, after efficient normalisation, gives every point (v(1) - v(0)) / n):

- ``mlp``: ReLU layers of ``hidden`` widths, for tabular inputs;
- ``cnn``: conv-ReLU-maxpool blocks of ``channels`` over an ``image_shape`` (C, H, W) image, then
  the ``hidden`` layers. The paper uses a pretrained ResNet-50 backbone; no pretrained weights can
  be had offline here, so this small CNN is trained from scratch with the explainer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from assay.errors import InvalidParameterError
from assay.learners.base import scoped_seed

KINDS = ("mlp", "cnn")


def explainer_config(
    kind: str,
    *,
    n_features: int,
    n_players: int,
    n_classes: int,
    hidden: tuple[int, ...] = (256, 256),
    channels: tuple[int, ...] = (32, 64),
    image_shape: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    """A JSON-friendly description that :func:`build_explainer` turns into a network."""
    if kind not in KINDS:
        raise InvalidParameterError(f"explainer kind must be 'mlp' or 'cnn', got {kind!r}")
    if kind == "cnn":
        if image_shape is None or len(image_shape) != 3:
            raise InvalidParameterError(
                f"a cnn explainer needs image_shape (C, H, W), got {image_shape}"
            )
        c, h, w = (int(s) for s in image_shape)
        if c * h * w != n_features:
            raise InvalidParameterError(
                f"image_shape {tuple(image_shape)} has {c * h * w} pixels, the inputs {n_features}"
            )
    if any(int(h) < 1 for h in hidden) or any(int(c) < 1 for c in channels):
        raise InvalidParameterError(f"layer widths must be >= 1, got {hidden}, {channels}")
    return {
        "kind": kind,
        "n_features": int(n_features),
        "n_players": int(n_players),
        "n_classes": int(n_classes),
        "hidden": [int(h) for h in hidden],
        "channels": [int(c) for c in channels],
        "image_shape": None if image_shape is None else [int(s) for s in image_shape],
    }


class ExplainerNet(nn.Module):
    """Body + zero-initialised linear head; ``forward(x)`` has shape (m, n_players, n_classes)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.n_players = int(config["n_players"])
        self.n_classes = int(config["n_classes"])
        layers: list[nn.Module] = []
        if config["kind"] == "cnn":
            c, h, w = config["image_shape"]
            layers.append(nn.Unflatten(1, (c, h, w)))
            for out in config["channels"]:
                layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                c, h, w = out, h // 2, w // 2
            layers.append(nn.Flatten())
            width = c * h * w
        else:
            width = int(config["n_features"])
        for size in config["hidden"]:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, self.n_players * self.n_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1, self.n_players, self.n_classes)


def build_explainer(config: dict[str, Any], seed: int = 0) -> ExplainerNet:
    """The network of a config, initialised from ``seed`` (float32)."""
    explainer_config(
        config["kind"],
        n_features=config["n_features"],
        n_players=config["n_players"],
        n_classes=config["n_classes"],
        hidden=tuple(config["hidden"]),
        channels=tuple(config["channels"]),
        image_shape=None if config.get("image_shape") is None else tuple(config["image_shape"]),
    )
    with scoped_seed(seed):  # default initialisation draws globally: seeded for this block only
        return ExplainerNet(config).float()
