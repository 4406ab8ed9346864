"""The common machinery of valuation methods: games, running moments, the sampling loop.

A *game* is anything with ``n_players`` and ``__call__(masks) -> scores`` (a (B, n) 0/1 matrix to
(B,) utilities); :class:`assay.utility.Utility` is one, and so are the analytic games in
:mod:`assay.valuation.games`. Sampling methods draw one *round* of samples at a time from a
generator seeded by ``(seed, round index)``, fold them into running moments, write a checkpoint, and
ask the stopping rule. A run killed between rounds and resumed from its checkpoint therefore draws
exactly the samples an uninterrupted run draws, and returns the same numbers.
"""

from __future__ import annotations

import inspect
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidParameterError, corrupt
from assay.parallel import task_rng
from assay.progress import progress_bar
from assay.result import DIRECTIONS, HIGHER_IS_BETTER, ValuationResult
from assay.runs import RESTART_HINT, read_checkpoint, run_identity, write_checkpoint
from assay.valuation.stopping import MaxSamples, Status, StoppingRule

log = logging.getLogger(__name__)
CHECKPOINT_KIND = "sampling"


@runtime_checkable
class Game(Protocol):
    """A cooperative game over ``n_players`` players (the training points)."""

    @property
    def n_players(self) -> int: ...

    def __call__(self, subsets: Any) -> NDArray[np.float64]: ...


def player_ids(game: Game) -> NDArray[Any]:
    """Ids of the players: the training set's ids for a utility, positions otherwise."""
    train = getattr(game, "train", None)
    return np.asarray(train.ids) if train is not None else np.arange(game.n_players)


def check_game(game: Any, method: str) -> Game:
    """``game`` if it is a game (``n_players``, callable), else :class:`InvalidParameterError`."""
    n = getattr(game, "n_players", None)
    if not callable(game) or not isinstance(n, int | np.integer) or isinstance(n, bool):
        raise InvalidParameterError(
            f"{method} values the players of a game (a Utility, or an object with n_players and "
            f"__call__(masks)); got {type(game).__name__}"
        )
    if n < 1:
        raise InvalidParameterError(f"{method}: the game has {n} players")
    return game


def check_utility(game: Any, method: str) -> Any:
    """``game`` if it is a utility (learner, training and validation data), else an error."""
    missing = [a for a in ("learner", "train", "valid") if getattr(game, a, None) is None]
    if missing:
        raise InvalidParameterError(
            f"{method} needs a Utility (a learner with training and validation data), got "
            f"{type(game).__name__} (no {', '.join(missing)})"
        )
    return game


def game_key(game: Game) -> str:
    """A string that identifies the game (the utility's cache key when it has one)."""
    return str(getattr(game, "key", type(game).__qualname__ + f"/{game.n_players}"))


Estimate = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]
"""(values, stderr, counts) of every player."""


class RunningMoments:
    """Per-player running mean and variance (Chan et al.'s batched Welford update)."""

    def __init__(self, n: int) -> None:
        self.count = np.zeros(n, np.int64)
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)

    def update(self, samples: NDArray[np.float64], mask: NDArray[np.bool_] | None = None) -> None:
        """Fold in a (B, n) block of samples; ``mask`` (B, n) marks which entries are samples."""
        x = np.asarray(samples, dtype=np.float64)
        m = np.ones_like(x, dtype=bool) if mask is None else np.asarray(mask, bool)
        nb = m.sum(0)
        sel = nb > 0
        if not sel.any():
            return
        xs = np.where(m, x, 0.0)
        mean_b = np.divide(xs.sum(0), nb, out=np.zeros_like(self.mean), where=sel)
        m2_b = np.where(m, (x - mean_b) ** 2, 0.0).sum(0)
        total = self.count + nb
        delta = mean_b - self.mean
        frac = np.divide(nb, total, out=np.zeros_like(self.mean), where=total > 0)
        self.mean = self.mean + delta * frac
        self.m2 = self.m2 + m2_b + delta**2 * self.count * frac
        self.count = total

    @property
    def variance(self) -> NDArray[np.float64]:
        return np.divide(
            self.m2, self.count - 1, out=np.full_like(self.m2, np.nan), where=self.count > 1
        )

    @property
    def stderr(self) -> NDArray[np.float64]:
        return np.sqrt(
            np.divide(
                self.variance, self.count, out=np.full_like(self.m2, np.nan), where=self.count > 0
            )
        )

    def arrays(self, prefix: str) -> dict[str, NDArray[Any]]:
        return {f"{prefix}count": self.count, f"{prefix}mean": self.mean, f"{prefix}m2": self.m2}

    def load(self, arrays: Any, prefix: str) -> None:
        self.count = np.array(arrays[f"{prefix}count"])
        self.mean = np.array(arrays[f"{prefix}mean"])
        self.m2 = np.array(arrays[f"{prefix}m2"])


class ValuationMethod(ABC):
    """A valuation method: ``__init__`` stores parameters, ``fit(utility)`` returns the values.

    The contract every registered method keeps (tested over the whole registry by
    ``tests/test_method_contract.py``):

    - ``fit(utility) -> ValuationResult``, one positional argument; extra inputs (embeddings, a
      target set) are ``__init__`` parameters. Input a method cannot value raises an
      :class:`~assay.errors.AssayError` naming what it needs.
    - ``direction`` (class attribute) declares which end of the values is suspect; the result
      carries it (see :mod:`assay.result`).
    - scikit-learn's parameter rule: ``__init__`` stores every argument under its own name, so
      :meth:`get_params` reads them by the signature and :meth:`set_params` (which re-runs
      ``__init__``'s validation) and :meth:`clone` rebuild an equal method.
    - the seed parameter is called ``seed``.
    """

    name: str = "method"
    direction: ClassVar[str] = HIGHER_IS_BETTER

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.direction not in DIRECTIONS:
            raise TypeError(f"{cls.__name__}.direction must be one of {DIRECTIONS}")

    @abstractmethod
    def fit(self, game: Game) -> ValuationResult:
        """Value every player of ``game``."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind not in kinds]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The ``__init__`` parameters by name (``deep`` is accepted for scikit-learn parity)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> ValuationMethod:
        """Change parameters in place (validated as ``__init__`` validates them); returns self.

        Raises
        ------
        InvalidParameterError
            For a name that is not a parameter of this method, or a value ``__init__`` refuses.
        """
        names = self._param_names()
        bad = sorted(set(params) - set(names))
        if bad:
            raise InvalidParameterError(
                f"{type(self).__name__} has no parameter {', '.join(map(repr, bad))}; "
                f"its parameters are {names}"
            )
        merged = {**self.get_params(), **params}
        try:
            type(self).__init__(self, **merged)
        except TypeError as exc:
            raise InvalidParameterError(f"bad parameters for {type(self).__name__}: {exc}") from exc
        return self

    def clone(self) -> ValuationMethod:
        """A new, unfitted method with the same parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _short(v: Any) -> str:
    """``repr`` of a parameter, arrays shortened to their shape."""
    shape = getattr(v, "shape", None)
    return f"<array {tuple(shape)}>" if shape is not None else repr(v)


@dataclass
class RoundState:
    """Where a sampling run stands: rounds done, samples drawn, seconds spent."""

    rounds: int = 0
    samples: int = 0
    seconds: float = 0.0


class SamplingValuation(ValuationMethod):
    """Base of Monte Carlo methods: rounds of samples, running moments, checkpoints, stopping.

    Parameters
    ----------
    stop : StoppingRule or int
        When to stop; an int means ``MaxSamples(int)``.
    batch_size : int
        Samples per round (one tensor program's worth, and the checkpoint granularity).
    seed : int
        Root seed; round r uses the generator of ``(seed, r)``.
    checkpoint : path, optional
        An assay checkpoint (:func:`assay.runs.write_checkpoint`, an ``.npz``) rewritten
        atomically after every round; a rerun with the same game and parameters continues from
        it (a different game or parameters is an error unless ``restart``).
    progress : bool
        Show a progress bar.
    restart : bool
        Discard a checkpoint that belongs to another run (or is unreadable) and start afresh.
    """

    #: names of the moment accumulators the method keeps
    accumulators: tuple[str, ...] = ("",)

    def __init__(
        self,
        stop: StoppingRule | int,
        *,
        batch_size: int = 100,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        progress: bool = False,
        restart: bool = False,
    ) -> None:
        self.stop = MaxSamples(stop) if isinstance(stop, int) else stop
        if not isinstance(self.stop, StoppingRule):
            raise InvalidParameterError(f"stop must be a StoppingRule or an int, got {stop!r}")
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.seed = seed
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.progress = progress
        self.restart = restart

    # ---------------------------------------------------------------- to implement
    @abstractmethod
    def _round(
        self, game: Game, rng: np.random.Generator, size: int, moments: dict[str, RunningMoments]
    ) -> None:
        """Draw ``size`` samples and fold them into ``moments``."""

    def _values(self, moments: dict[str, RunningMoments]) -> Estimate:
        """(values, stderr, counts) from the accumulators."""
        m = moments[""]
        return m.mean.copy(), m.stderr, m.count.copy()

    def _prepare(self, game: Game) -> None:
        """Per-fit set-up (e.g. the full-set utility for truncation)."""

    def method_params(self) -> dict[str, Any]:
        """Parameters that change the estimate (part of the checkpoint identity)."""
        return {"seed": self.seed, "batch_size": self.batch_size}

    # ---------------------------------------------------------------- the loop
    def fit(self, game: Game) -> ValuationResult:
        n = check_game(game, self.name).n_players
        moments = {a: RunningMoments(n) for a in self.accumulators}
        state = RoundState()
        ident = self._identity(game)
        resumed = self._load(ident, moments)
        if resumed is not None:
            state = resumed
            log.info(
                "%s: resumed from %s after %d samples", self.name, self.checkpoint, state.samples
            )
        self._prepare(game)
        total = self.stop.remaining(Status(0, 0.0, np.zeros(0), np.zeros(0, np.int64)))
        bar = progress_bar(total, self.name, self.progress, "sample", initial=state.samples)
        start = time.perf_counter() - state.seconds
        while True:
            values, _, counts = self._values(moments)
            status = Status(state.samples, time.perf_counter() - start, values, counts)
            if state.rounds > 0 and self.stop(status):
                state.seconds = status.seconds  # the time the rule saw (MaxSeconds: >= its cap)
                break
            cap = self.stop.remaining(status)
            size = self.batch_size if cap is None else min(self.batch_size, cap)
            if size <= 0:
                break
            self._round(game, task_rng(self.seed, state.rounds), size, moments)
            state.rounds += 1
            state.samples += size
            state.seconds = time.perf_counter() - start
            if self.checkpoint is not None:
                self._save(ident, moments, state)
            bar.update(size)
        bar.close()
        values, stderr, counts = self._values(moments)
        params = {
            **self.method_params(),
            "samples": state.samples,
            "rounds": state.rounds,
            "seconds": round(state.seconds, 4),
            "stop": self.stop.describe(),
        }
        return ValuationResult(
            player_ids(game), values, stderr, counts, self.name, params, self.direction
        )

    # ---------------------------------------------------------------- checkpoints
    def _identity(self, game: Game) -> str:
        spec = {
            "method": self.name,
            "params": self.method_params(),
            "game": game_key(game),
            "n": game.n_players,
        }
        return run_identity(spec)

    def _save(self, ident: str, moments: dict[str, RunningMoments], state: RoundState) -> None:
        assert self.checkpoint is not None
        arrays: dict[str, Any] = {}
        for name, m in moments.items():
            arrays.update(m.arrays(f"m{name}_"))
        header = {"rounds": state.rounds, "samples": state.samples, "seconds": state.seconds}
        write_checkpoint(
            self.checkpoint, kind=CHECKPOINT_KIND, identity=ident, arrays=arrays, header=header
        )

    def _load(self, ident: str, moments: dict[str, RunningMoments]) -> RoundState | None:
        if self.checkpoint is None:
            return None
        ckpt = read_checkpoint(
            self.checkpoint,
            kind=CHECKPOINT_KIND,
            identity=ident,
            restart=bool(getattr(self, "restart", False)),
        )
        if ckpt is None:
            return None
        n = len(next(iter(moments.values())).count)
        try:
            for name, m in moments.items():
                m.load(ckpt.arrays, f"m{name}_")
            h = ckpt.header
            state = RoundState(int(h["rounds"]), int(h["samples"]), float(h["seconds"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt("checkpoint", self.checkpoint, f"lacks {exc}", RESTART_HINT) from exc
        if any(len(m.count) != n or len(m.mean) != n for m in moments.values()):
            raise corrupt("checkpoint", self.checkpoint, "arrays of the wrong length", RESTART_HINT)
        return state
