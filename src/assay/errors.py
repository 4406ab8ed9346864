"""One exception hierarchy for everything assay refuses to do.

Every message names the problem and the offending value, and where it can, says what to do instead.
The command line prints these as one line (no stack trace); library users catch :class:`AssayError`.
"""

from __future__ import annotations


class AssayError(Exception):
    """Base class of every error assay raises on purpose."""


class InvalidDataError(AssayError, ValueError):
    """The data cannot be used: NaN or inf, wrong shape, one class, unknown labels, empty."""


class InvalidParameterError(AssayError, ValueError):
    """An argument is out of range or names something unknown (method, learner, scorer)."""


class NotFittedError(AssayError, AttributeError):
    """A fitted attribute was read before ``fit`` was called."""


class ConvergenceError(AssayError, RuntimeError):
    """A solver did not converge and the result would be wrong if used silently."""


class MissingDependencyError(AssayError, ImportError):
    """An optional extra (ray, faiss, a dataset package) is needed and is not installed."""


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> InvalidParameterError:
    """Build the error for an unknown registry name, listing the valid choices."""
    choices = ", ".join(sorted(valid))
    return InvalidParameterError(f"unknown {kind} {name!r}; valid {kind}s: {choices}")
