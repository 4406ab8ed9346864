"""Choose a fine-tuning subset of a corpus under an example or token budget (issue 13.6).

``select_corpus`` scores the examples by one method and takes them greedily until the budget
(:class:`assay.llm.budget.Budget`: a share of the examples, or a number of response tokens) is
spent, skipping an example that would overflow the budget or its group's cap.

===============  ==========================================================  ====================
method           rank by                                                     keeps
===============  ==========================================================  ====================
``perplexity``   response perplexity given the prompt                        lowest
``loss``         mean response token loss                                    lowest
``ifd``          instruction-following difficulty (Li et al. 2024)           highest below 1 [1]
``grand``        exact per-example gradient norm                             highest
``less``         cosine of gradients to a target's, after a warm-up [2]      highest
``kcenter``      farthest-point order on the embeddings                      pick order
``sensitivity``  sensitivity sampling on the embeddings (seeds 001-002)      representatives, then
                                                                             drawn by probability
``mix``          quality + diversity (:mod:`assay.llm.diverse`)              greedy gain
===============  ==========================================================  ====================

[1] The paper keeps high-IFD examples but drops those with IFD >= 1 (the prompt does not help);
here they are ranked after every example below 1.
[2] The max over the target examples by default (``reduce``); with ``warmup_epochs`` the sum
over the warm-up checkpoints of the learning rate times the cosine of the Adam-preconditioned
gradient (Xia et al. 2024, :mod:`assay.llm.warmup`).

``embedding`` (kcenter, sensitivity, mix) is ``"hidden"`` (mean last hidden state,
:func:`assay.llm.embeddings.hidden_embeddings`) or ``"gradient"`` (the projected gradient
features). ``sensitivity`` clusters the embeddings into ``clusters`` groups (default 20% of the
expected number of examples), queries the response loss, keeps the representatives and orders the
other examples by a draw without replacement with the sensitivity probabilities
(:class:`assay.select.sensitivity.SensitivitySampler`; Efraimidis-Spirakis keys), which the
budget then cuts. ``mix`` takes ``quality`` (``less`` when a target is given, else ``ifd``) and
``diversity`` (the weight ``w`` of the rule). With ``replay`` (continual learning), ``replay_share``
of the budget is filled from the old corpus by a seeded uniform draw (the classic replay buffer:
it needs no target and does not favour what the current model finds easy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from assay.errors import InvalidDataError, InvalidParameterError, unknown_name
from assay.llm.budget import Budget, Filler, group_codes
from assay.llm.corpus import Corpus, write_corpus
from assay.llm.diverse import diverse_pick, quality_rank
from assay.llm.embeddings import hidden_embeddings
from assay.llm.gradients import GradientFeatures
from assay.llm.scores import IFD, Perplexity, ResponseLoss
from assay.llm.targeted import REDUCE, less_scores
from assay.llm.tokens import Encoded, encode
from assay.llm.warmup import checkpoint_less_scores, warmup_checkpoints
from assay.runs import atomic_write_json, check_new

METHODS = ("perplexity", "loss", "ifd", "grand", "less", "kcenter", "sensitivity", "mix")
QUALITY = ("perplexity", "loss", "ifd", "grand", "less")
HIGHER_IS_BETTER = {"perplexity": False, "loss": False, "ifd": True, "grand": True, "less": True}
EMBEDDINGS = ("hidden", "gradient")


@dataclass(frozen=True)
class CorpusSelection:
    """Chosen positions (in pick order), every example's score, and the tokens spent.

    ``replay_positions`` are the rows taken from the replay corpus (empty without one);
    ``tokens`` counts both parts.
    """

    positions: NDArray[np.int64]
    scores: NDArray[np.float64]
    tokens: int
    method: str
    replay_positions: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    params: dict[str, Any] = field(default_factory=dict)


def select_corpus(
    corpus: Corpus,
    model: Any,
    tokenizer: Any,
    *,
    method: str,
    budget: float | int,
    target: Corpus | None = None,
    params: Any = "lora",
    dim: int = 256,
    seed: int = 0,
    max_length: int = 1024,
    batch_size: int = 8,
    out: str | Path | None = None,
    features_path: str | Path | None = None,
    cap_column: str | None = None,
    cap: float | None = None,
    embedding: str = "hidden",
    quality: str | None = None,
    diversity: float = 0.5,
    clusters: int | None = None,
    replay: Corpus | None = None,
    replay_share: float = 0.0,
    warmup_epochs: int = 0,
    warmup_share: float = 0.05,
    warmup_lr: float = 2e-4,
    reduce: str = "max",
    center: bool = False,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> CorpusSelection:
    """Score ``corpus`` by ``method`` and keep a budget of it; write it to ``out`` if given.

    Parameters
    ----------
    corpus : Corpus
    model, tokenizer
        A causal LM and its tokenizer (a peft model for ``params="lora"`` gradients).
    method : str
        One of :data:`METHODS` (see the module docstring).
    budget : float or int
        A share of the examples in ``(0, 1]`` or a token budget (an int ``>= 1``).
    target : Corpus, optional
        The target examples (needed by ``less``, and by ``mix`` with ``quality="less"``).
    params : "lora" or list of str
        Differentiated parameters of the gradient methods.
    dim, seed, max_length, batch_size
        Projection size, seed (projection, k-center start, sampling, replay), tokenisation and
        inference batch size.
    out : path, optional
        Write the chosen rows (corpus format by suffix) with a ``{method}_score`` column (and a
        ``replay`` column with ``replay``), plus a sidecar ``out + ".json"`` with the parameters.
    features_path : path, optional
        ``.npy`` where gradient features are stored resumably.
    cap_column, cap : str, float, optional
        No value of ``cap_column`` takes more than ``cap`` of the (main part of the) budget.
    embedding : {"hidden", "gradient"}
    quality : str, optional
        ``mix``'s quality score (one of :data:`QUALITY`).
    diversity : float, default 0.5
        ``mix``'s diversity weight in ``[0, 1]``.
    clusters : int, optional
        ``sensitivity``'s number of clusters.
    replay : Corpus, optional
        An old corpus; ``replay_share`` in ``[0, 1)`` of the budget is drawn from it uniformly.
    warmup_epochs, warmup_share, warmup_lr : int, float, float
        LESS's warm-up (:mod:`assay.llm.warmup`): with ``warmup_epochs >= 1`` the ``params`` are
        first trained for that many epochs on a seeded ``warmup_share`` of the corpus (AdamW,
        ``warmup_lr`` decaying linearly) and the LESS score is the learning-rate-weighted sum over
        the epochs' checkpoints of the cosines of Adam-preconditioned gradients to the target's.
        0 (default) scores with the model as given. Only LESS scores use the warm-up.
    reduce : {"max", "mean", "mean-gradient"}
        How LESS reduces the cosines over the target examples
        (:func:`assay.llm.targeted.less_scores`).
    center : bool, default False
        LESS cosines of features centred on the corpus mean (not in the paper; see
        :func:`assay.llm.targeted.less_scores`).
    meta : dict, optional
        Extra entries of the sidecar (e.g. the model and corpus paths).
    overwrite : bool, default False
        An existing ``out`` (or its sidecar) is refused, before any scoring, unless True.

    Returns
    -------
    CorpusSelection
    """
    if method not in METHODS:
        raise unknown_name("selection method", method, METHODS)
    if out is not None:
        check_new(out, sidecar_of(out), overwrite=overwrite, what="selected corpus")
    if embedding not in EMBEDDINGS:
        raise unknown_name("embedding", embedding, EMBEDDINGS)
    if quality is not None and quality not in QUALITY:
        raise unknown_name("quality score", quality, QUALITY)
    if method == "mix" and quality is None:
        quality = "less" if target is not None else "ifd"
    if (method == "less" or quality == "less") and target is None:
        raise InvalidParameterError(f"method {method!r} with LESS scores needs a target corpus")
    if replay is None and replay_share:
        raise InvalidParameterError("replay_share needs a replay corpus")
    if replay is not None and replay.kind != corpus.kind:
        raise InvalidDataError(
            f"the replay corpus has {replay.kind} examples, the corpus {corpus.kind} examples"
        )
    enc = encode(tokenizer, corpus, max_length=max_length)
    tokens = np.array([e.n_scored for e in enc], np.int64)
    total = Budget.parse(budget, len(corpus), int(tokens.sum()))
    main, back = total.split(replay_share) if replay is not None else (total, None)
    groups = None if cap_column is None else group_codes(corpus.table, cap_column)[0]
    if cap is not None and cap_column is None:
        raise InvalidParameterError("cap needs cap_column (the column whose values are capped)")
    filler = Filler(tokens, main, groups, cap)
    if reduce not in REDUCE:
        raise unknown_name("LESS reduction", reduce, REDUCE)
    if isinstance(center, str) and center.lower() in ("true", "false"):  # --param center=true
        center = center.lower() == "true"
    if not isinstance(center, bool | np.bool_):
        raise InvalidParameterError(f"center must be True or False, got {center!r}")
    if isinstance(warmup_epochs, bool) or int(warmup_epochs) != warmup_epochs:
        raise InvalidParameterError(f"warmup_epochs must be a whole number, got {warmup_epochs!r}")
    warm = Warmup(int(warmup_epochs), float(warmup_share), float(warmup_lr))
    warm.check()
    ctx = _Context(corpus, model, tokenizer, enc, target, params, dim, seed, max_length,
                   batch_size, features_path, warm, reduce, bool(center))  # fmt: skip
    if method in QUALITY:
        scores = ctx.score(method)
        positions = filler.walk(_ranking(method, scores))
    elif method == "sensitivity":
        loss = ctx.score("loss")
        k = clusters or max(1, round(0.2 * _expected_count(main, tokens)))
        scores, order = _sensitivity_order(ctx.embed(embedding), loss, min(k, len(corpus)), seed)
        positions = filler.walk(order)
    else:
        E = ctx.embed(embedding)
        if method == "kcenter":
            q, w = None, 1.0
            scores = np.full(len(corpus), np.nan)
        else:
            assert quality is not None
            scores = ctx.score(quality)
            q, w = quality_rank(_ranked_value(quality, scores), True), diversity
        positions = diverse_pick(E, filler, quality=q, diversity=w, seed=seed)
        if method == "kcenter":  # pick order as the score: 0 = first
            scores[positions] = np.arange(len(positions), dtype=np.float64)
    if len(positions) == 0:
        raise InvalidParameterError(
            f"no example fits a budget of {main.limit} {main.unit} (the shortest example has "
            f"{int(tokens.min())} tokens)"
        )
    replay_pos = np.zeros(0, np.int64)
    spent = int(tokens[positions].sum())
    if replay is not None and back is not None and back.limit > 0:
        r_tok = np.array([e.n_scored for e in encode(tokenizer, replay, max_length=max_length)])
        if back.unit == "examples" and back.limit > len(replay):
            raise InvalidParameterError(
                f"the replay share asks for {back.limit} examples; the replay corpus has "
                f"{len(replay)}"
            )
        order = np.random.default_rng(seed).permutation(len(replay))
        replay_pos = Filler(r_tok, back).walk(order)
        spent += int(r_tok[replay_pos].sum())
    sel_params = {
        "method": method,
        "budget": {"unit": total.unit, "limit": total.limit},
        "n_chosen": len(positions),
        "n_replay": len(replay_pos),
        "tokens": spent,
        "seed": seed,
        "max_length": max_length,
        "cap_column": cap_column,
        "cap": cap,
    }
    if method in ("grand", "less") or embedding == "gradient" or quality in ("grand", "less"):
        sel_params.update(dim=dim, params=params if isinstance(params, str) else list(params))
    if method == "less" or quality == "less":
        sel_params.update(reduce=reduce, center=bool(center), warmup_epochs=warm.epochs)
        if warm.epochs:
            sel_params.update(warmup_share=warm.share, warmup_lr=warm.lr)
    if method in ("kcenter", "sensitivity", "mix"):
        sel_params["embedding"] = embedding
    if method == "mix":
        sel_params.update(quality=quality, diversity=diversity)
    if replay is not None:
        sel_params.update(replay_share=replay_share, replay_rule="uniform")
    chosen = CorpusSelection(positions, scores, spent, method, replay_pos, sel_params)
    if out is not None:
        side = {**sel_params, **(meta or {})}
        _write(chosen, corpus, replay, out, side, groups, cap_column, overwrite)
    return chosen


@dataclass(frozen=True)
class Warmup:
    """LESS warm-up settings (``epochs = 0``: none)."""

    epochs: int
    share: float
    lr: float

    def check(self) -> None:
        if self.epochs < 0:
            raise InvalidParameterError(f"warmup_epochs must be >= 0, got {self.epochs}")
        if self.epochs and not (0.0 < self.share <= 1.0 and self.lr > 0):
            raise InvalidParameterError(
                f"warmup_share must lie in (0, 1] and warmup_lr be > 0, got {self.share}, {self.lr}"
            )


@dataclass
class _Context:
    """What the scores of one selection share (the gradient features are computed once)."""

    corpus: Corpus
    model: Any
    tokenizer: Any
    enc: list[Encoded]
    target: Corpus | None
    params: Any
    dim: int
    seed: int
    max_length: int
    batch_size: int
    features_path: str | Path | None
    warmup: Warmup
    reduce: str
    center: bool
    _gf: GradientFeatures | None = None
    _feats: tuple[NDArray[np.float32], NDArray[np.float64]] | None = None

    def gradients(self) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        if self._feats is None:
            self._gf = GradientFeatures(
                self.model, params=self.params, dim=self.dim, seed=self.seed
            )
            self._feats = self._gf.compute(self.enc, self.features_path)
        return self._feats

    def score(self, name: str) -> NDArray[np.float64]:
        if name in ("perplexity", "loss", "ifd"):
            cls = {"perplexity": Perplexity, "loss": ResponseLoss, "ifd": IFD}[name]
            scorer = cls(
                self.model, self.tokenizer, batch_size=self.batch_size, max_length=self.max_length
            )
            return np.asarray(scorer.fit(self.corpus).values)
        if name == "grand":
            return np.asarray(self.gradients()[1], np.float64)
        assert self.target is not None
        tenc = encode(self.tokenizer, self.target, max_length=self.max_length)
        if not self.warmup.epochs:
            feats = self.gradients()[0]
            assert self._gf is not None
            target = self._gf.compute(tenc)[0]
            return less_scores(feats, target, reduce=self.reduce, center=self.center)
        w = self.warmup
        checkpoints = warmup_checkpoints(
            self.model, self.enc, params=self.params, share=w.share, epochs=w.epochs, lr=w.lr,
            batch_size=self.batch_size, pad_id=int(self.tokenizer.pad_token_id or 0),
            seed=self.seed,
        )  # fmt: skip
        return checkpoint_less_scores(
            self.model, checkpoints, self.enc, tenc, dim=self.dim, seed=self.seed,
            reduce=self.reduce, center=self.center, features_path=self.features_path,
        )  # fmt: skip

    def embed(self, kind: str) -> NDArray[np.float64]:
        if kind == "gradient":
            return np.asarray(self.gradients()[0], np.float64)
        pad = int(self.tokenizer.pad_token_id)
        return hidden_embeddings(self.model, self.enc, pad_id=pad, batch_size=self.batch_size)


def _ranked_value(method: str, scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scores turned so that higher is kept (IFD >= 1 below every IFD < 1)."""
    if method == "ifd":
        return np.where(scores < 1.0, scores, -scores)
    return scores if HIGHER_IS_BETTER[method] else -scores


def _ranking(method: str, scores: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.argsort(-_ranked_value(method, scores), kind="stable")


def _expected_count(budget: Budget, tokens: NDArray[np.int64]) -> float:
    return budget.limit if budget.unit == "examples" else budget.limit / float(tokens.mean())


def _sensitivity_order(
    E: NDArray[np.float64], loss: NDArray[np.float64], k: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Sensitivity probabilities (1 for a representative) and the order they give."""
    from assay.select.sensitivity import SensitivitySampler

    sampler = SensitivitySampler(k, budget=len(E), backend="sklearn", seed=seed)
    sampler.fit(E.astype(np.float32), loss)
    dist = sampler.distribution_
    p = dist.probabilities
    keys = np.full(len(E), -np.inf)
    live = p > 0
    u = np.random.default_rng(seed + 1).random(len(E))
    keys[live] = np.log(u[live]) / p[live]  # Efraimidis-Spirakis: u ** (1 / p), in logs
    keys[dist.kept] = np.inf
    scores = p.copy()
    scores[dist.kept] = 1.0
    return scores, np.argsort(-keys, kind="stable")


def _write(
    sel: CorpusSelection,
    corpus: Corpus,
    replay: Corpus | None,
    out: str | Path,
    meta: dict[str, Any],
    groups: NDArray[np.int64] | None,
    cap_column: str | None,
    overwrite: bool,
) -> None:
    col = f"{sel.method}_score"
    if replay is None:
        scores = {col: sel.scores[sel.positions]}
        write_corpus(corpus.subset(sel.positions), out, scores, overwrite=overwrite)
    else:
        new = corpus.table.iloc[sel.positions].copy()
        new[col] = sel.scores[sel.positions]
        old = replay.table.iloc[sel.replay_positions].copy()
        old[col] = np.nan
        both = pd.concat([new.assign(replay=False), old.assign(replay=True)], ignore_index=True)
        both = both.convert_dtypes()  # a column only one corpus has stays integer, with gaps
        write_corpus(Corpus.from_frame(both, "selection"), out, overwrite=overwrite)
    if groups is not None and cap_column is not None:
        levels = corpus.table[cap_column].iloc[sel.positions].astype(str)
        meta = {**meta, "per_group": levels.value_counts().to_dict()}
    atomic_write_json(sidecar_of(out), meta, overwrite=overwrite, default=str)


def sidecar_of(out: str | Path) -> Path:
    """The parameters file written beside a selected corpus: ``out + ".json"``."""
    return Path(str(out) + ".json")
