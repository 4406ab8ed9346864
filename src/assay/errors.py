"""One exception hierarchy for everything assay refuses to do.

Every message names the problem and the offending value, and where it can, says what to do instead.
The command line prints these as one line (no stack trace); library users catch :class:`AssayError`.
"""

from __future__ import annotations


class AssayError(Exception):
    """Base class of every error assay raises on purpose."""


class InvalidDataError(AssayError, ValueError):
    """The data cannot be used: NaN or inf, wrong shape, one class, unknown labels, empty."""


class DataFileError(InvalidDataError):
    """A data file cannot be read: empty, header only, binary, wrong encoding, ragged rows."""


class CorruptArtifactError(InvalidDataError):
    """A file assay wrote (values, sidecar, checkpoint, cache part, explainer) is corrupt."""


class StaleDataError(InvalidDataError):
    """The data a result was computed on has changed since (its fingerprint differs)."""


class InvalidParameterError(AssayError, ValueError):
    """An argument is out of range or names something unknown (method, learner, scorer)."""


class OutputPathError(InvalidParameterError):
    """An output path cannot be written: empty, under a file, or a directory given for a file."""


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


def corrupt(what: str, path: object, exc: BaseException | str, fresh: str) -> CorruptArtifactError:
    """The error for an unreadable artifact: names the file, the cause and how to start afresh."""
    return CorruptArtifactError(f"{what} {str(path)!r} is corrupt or unreadable ({exc}); {fresh}")


def check_output_path(path: object, *, what: str = "output file") -> None:
    """Refuse an output path that cannot be written, before any work is done.

    Parameters
    ----------
    path : str or os.PathLike
        The file to be written (it may not exist yet; missing parent folders are fine).
    what : str
        How the message refers to the file.

    Raises
    ------
    OutputPathError
        The path is empty, is an existing directory, or lies under an existing regular file.
    """
    from pathlib import Path

    if path is None or str(path).strip() in ("", "."):
        raise OutputPathError(f"{what} path is empty; give a file name")
    p = Path(str(path))
    if p.is_dir():
        raise OutputPathError(f"{what} {str(p)!r} is a directory; give a file name inside it")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(
                    f"cannot write {what} {str(p)!r}: {str(parent)!r} is a file, not a directory"
                )
            break


def check_output_dir(path: object, *, what: str = "output directory") -> None:
    """Refuse an output directory that cannot be created (empty, a file, or under a file)."""
    from pathlib import Path

    if path is None or str(path).strip() == "":
        raise OutputPathError(f"{what} path is empty; give a directory name")
    p = Path(str(path))
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{what} {str(p)!r} is a file, not a directory")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"cannot create {what} {str(p)!r}: {str(parent)!r} is a file")
            break


#: parameters that must be positive integers wherever they appear
POSITIVE_INT_PARAMS = frozenset(
    {
        "k",
        "n_clusters",
        "clusters",
        "max_iter",
        "batch_size",
        "n_models",
        "n_estimators",
        "epochs",
        "hidden",
        "width",
        "max_players",
        "n_neighbors",
        "rank",
        "budget",
        "stop",
    }
)
#: parameters that must be non-negative integers
NONNEGATIVE_INT_PARAMS = frozenset({"repeats", "n_repeats", "warmup", "patience"})
#: seeds are unsigned 32-bit integers (NumPy's and torch's common range)
SEED_LIMIT = 2**32


def check_seed(seed: object, what: str = "seed") -> int:
    """``seed`` as an int in ``[0, 2**32)`` or :class:`InvalidParameterError`."""
    if isinstance(seed, bool) or not isinstance(seed, int | _np_integer()):
        raise InvalidParameterError(f"{what} must be an integer in [0, 2**32), got {seed!r}")
    if not 0 <= int(seed) < SEED_LIMIT:  # type: ignore[call-overload]
        raise InvalidParameterError(f"{what} must lie in [0, 2**32), got {seed}")
    return int(seed)  # type: ignore[call-overload]


def _np_integer() -> type:
    import numpy as np

    return np.integer


def check_params(params: dict[str, object], owner: str) -> None:
    """Refuse NaN / inf numbers, bad seeds and non-positive counts among ``params``.

    ``owner`` names the method or learner in the message. Names in :data:`POSITIVE_INT_PARAMS`
    must be integers >= 1 (each element, for a list such as ``hidden``), names in
    :data:`NONNEGATIVE_INT_PARAMS` integers >= 0, ``seed`` / ``random_state`` in ``[0, 2**32)``.
    """
    import math

    for key, value in params.items():
        values = list(value) if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidParameterError(f"{owner}: parameter {key}={v} must be finite")
        if key in ("seed", "random_state") and value is not None:
            check_seed(value, f"{owner}: {key}")
        lower = 1 if key in POSITIVE_INT_PARAMS else 0 if key in NONNEGATIVE_INT_PARAMS else None
        if lower is None:
            continue
        for v in values:
            if v is None or not isinstance(v, int | float) or isinstance(v, bool):
                continue
            if v < lower or (isinstance(v, float) and not v.is_integer()):
                need = "a positive integer" if lower == 1 else "an integer >= 0"
                raise InvalidParameterError(f"{owner}: {key} must be {need}, got {value!r}")


class OutputExistsError(AssayError, FileExistsError):
    """An output file already exists and replacing it was not asked for."""


class RunMismatchError(InvalidParameterError):
    """A checkpoint or resume state on disk belongs to another run (other data or parameters)."""
