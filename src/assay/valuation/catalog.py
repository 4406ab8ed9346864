"""The names of the registered valuation methods, importable without torch.

The command line lists these in ``--help`` (which must not load the methods themselves);
``tests/test_startup.py`` checks that they equal :data:`assay.valuation.registry.METHODS`.
"""

from __future__ import annotations

METHOD_NAMES: tuple[str, ...] = (
    "loo",
    "exact-shapley",
    "tmc-shapley",
    "beta-shapley",
    "banzhaf",
    "data-oob",
    "knn-shapley",
    "influence",
    "iv",
    "fi-util",
    "fi-kfsvd",
    "fi-subsample",
    "group-testing-shapley",
    "cs-shapley",
    "kcenter",
    "nearest-distance",
    "representative",
    "loss",
    "margin",
    "entropy",
    "confidence",
    "el2n",
    "grand",
    "gradmatch",
)


def methods_help(prefix: str = "") -> str:
    """``prefix`` followed by every registered method name, comma-separated (for ``--help``)."""
    return prefix + ", ".join(METHOD_NAMES)
