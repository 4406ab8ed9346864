"""In-Run Data Shapley overhead: a training step with the ghost-trick values vs the plain step.

A 2-layer GPT-2 (from a config, random init) trains with AdamW on random token sequences; the plain
step is forward + backward + optimizer step on the training batch. The In-Run step adds the
validation batch's forward and output-gradient backward and the per-layer dot products (the
paper's target: close to the cost of training itself; issue 13's: under 2x). Writes
benchmarks/results/inrun_overhead.json.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/inrun_overhead.py [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from assay.llm.inrun import InRunShapley

OUT = Path(__file__).resolve().parent / "results" / "inrun_overhead.json"


def lm_loss(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Per-example mean token cross-entropy."""
    logits = model(input_ids=ids).logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    )
    return ce.view(ids.shape[0], -1).mean(1)


def make_model(args: argparse.Namespace) -> torch.nn.Module:
    cfg = transformers.GPT2Config(
        vocab_size=args.vocab,
        n_positions=args.seq,
        n_embd=args.embd,
        n_layer=2,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(cfg)


def run(args: argparse.Namespace, inrun: bool) -> tuple[float, float]:
    model = make_model(args)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    n = args.batch * args.steps
    data = torch.randint(0, args.vocab, (n, args.seq), generator=g)
    val = torch.randint(0, args.vocab, (args.val_size, args.seq), generator=g)
    tracker = InRunShapley(model, n) if inrun else None
    times = []
    for s in range(args.steps + args.warmup):
        idx = np.arange(s % args.steps * args.batch, (s % args.steps + 1) * args.batch)
        t0 = time.perf_counter()
        opt.zero_grad()
        if tracker is None:
            lm_loss(model, data[idx]).mean().backward()
        else:
            with tracker.record("val"):
                val_loss = lm_loss(model, val).mean()
            with tracker.record("train"):
                loss = lm_loss(model, data[idx]).mean()
            tracker.backward(loss, val_loss, idx, lr=1e-3)
        opt.step()
        if s >= args.warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.mean(times))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--val", type=int, nargs="+", default=[16, 4])
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--embd", type=int, default=128)
    p.add_argument("--vocab", type=int, default=512)
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    args.val_size = args.val[0]
    plain_med, plain_mean = run(args, inrun=False)
    rows = []
    for v in args.val:
        args.val_size = v
        med, mean = run(args, inrun=True)
        rows.append(
            {
                "val_batch": v,
                "inrun_step_s": {"median": med, "mean": mean},
                "overhead_median": med / plain_med,
                "met": med / plain_med < 2.0,
            }
        )
    del args.val_size
    out = {
        "config": vars(args),
        "threads": torch.get_num_threads(),
        "plain_step_s": {"median": plain_med, "mean": plain_mean},
        "inrun": rows,
        "target": "< 2x the plain training step",
        "note": "the In-Run step includes the validation batch's own forward and backward",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
