"""Benchmark 8(a): coreset quality of sensitivity sampling vs uniform, loss-only, distance-only.

For a fixed model, the quantity estimated is the model's mean loss over the pool,
``T / n = mean_e l(e)``. Every method spends ``m`` loss evaluations and returns a weighted subset
whose weighted loss sum estimates ``T``; the relative error ``|T^ - T| / T`` is averaged over 20
seeds (each seed re-runs k-means and the draws):

- ``sensitivity``: Algorithm 1 (k = 50 representatives kept with weight 1, ``m - k`` draws with
  ``p ∝ l(c_e) + lambda ||e - c_e||^2``, lambda "auto"), clusters formed within each label
  (``grouped_kmeans``: a supervised loss jumps with the label, so the Hoelder assumption can
  only hold within a label); ``sensitivity (label-blind)`` clusters the embeddings alone, as the
  paper does;
- ``loss-only``: lambda = 0 (``p ∝ l(c_e)``, uniform within a cluster);
- ``distance-only``: the loss term dropped (``p ∝ ||e - c_e||^2``, pure clustering sensitivity);
- ``uniform``: ``m`` points uniformly without replacement, weight ``n / m``.

Data:

- Fashion-MNIST (60,000 pool rows of the 70,000; the pool is the training split): a one-hidden-
  layer MLP (128 units, the paper's image model) trained on 2,000 uniformly drawn *validation*
  points gives the loss; the embeddings are its last hidden layer (the paper's choice, §5.2.2).
- Adult (30,162 pool rows, 102 one-hot features): logistic regression trained on the validation
  split gives the loss; the embeddings are the standardised features.

The theory (Theorem 2) predicts an error of order ``1 / sqrt(m)``; the fitted log-log slope is
printed next to -0.5. There is no table for this experiment in the paper (it reports training
accuracy, see ``ss_training.py``).

Usage: ``python benchmarks/ss_coreset.py [--seeds 20]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from assay.clustering import grouped_kmeans, kmeans
from assay.data import load_dataset
from assay.embed import penultimate_embeddings
from assay.learners import LogisticRegression, MLPClassifier
from assay.select.sensitivity import draw_sample, sensitivity_distribution
from assay.valuation.inference import point_scores

RESULTS = Path(__file__).parent / "results" / "ss_coreset.json"
BUDGETS = (100, 200, 400, 800, 1600, 3200)
K = 50


def fashion_task(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    split = load_dataset("fashion_mnist", seed=seed, fractions=(6 / 7, 0.5 / 7, 0.5 / 7))
    pool, valid = split.train, split.valid
    mlp = MLPClassifier(hidden=(128,), epochs=10, batch_size=32, lr=1e-3, seed=seed)
    rows = np.random.default_rng(seed).choice(valid.n, 2000, replace=False)
    fitted = mlp.fit(mlp.prepare(valid.subset(rows)), torch.ones(1, 2000))
    data = mlp.prepare(pool)
    proba = torch.cat(
        [fitted.predict_proba(data.X[i : i + 8192]) for i in range(0, pool.n, 8192)], dim=1
    )
    losses = point_scores(proba, data.y, "loss")[0].numpy()
    return penultimate_embeddings(fitted, pool.X), losses, np.asarray(pool.y)


def adult_task(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    split = load_dataset("adult", seed=seed)
    lr = LogisticRegression(C=1.0)
    fitted = lr.fit(lr.prepare(split.valid), torch.ones(1, split.valid.n, dtype=torch.float64))
    data = lr.prepare(split.train)
    losses = point_scores(fitted.predict_proba(data.X), data.y, "loss")[0].numpy()
    return split.train.X.astype(np.float32), losses, np.asarray(split.train.y)


def errors(
    E: np.ndarray, losses: np.ndarray, y: np.ndarray, seeds: int
) -> dict[str, dict[int, list[float]]]:
    n, T = len(losses), float(losses.sum())
    out: dict[str, dict[int, list[float]]] = {}
    for seed in range(seeds):
        c = grouped_kmeans(E, K, y, seed=seed)
        blind = kmeans(E, K, seed=seed)
        cl = losses[c.representatives]
        dists = {
            "sensitivity": sensitivity_distribution(c, cl, lam="auto"),
            "sensitivity (label-blind)": sensitivity_distribution(
                blind, losses[blind.representatives], lam="auto"
            ),
            "loss-only": sensitivity_distribution(c, cl, lam=0.0),
            "distance-only": sensitivity_distribution(c, np.zeros(c.k), lam=1.0),
        }
        rng = np.random.default_rng(10_000 + seed)
        for m in BUDGETS:
            for name, d in dists.items():
                smp = draw_sample(d, m - len(d.kept), seed=seed)
                est = smp.estimate(losses[smp.positions]).total
                out.setdefault(name, {}).setdefault(m, []).append(abs(est - T) / T)
            pick = rng.choice(n, m, replace=False)
            est = n * losses[pick].mean()
            out.setdefault("uniform", {}).setdefault(m, []).append(abs(est - T) / T)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    report: dict[str, object] = {"budgets": BUDGETS, "k": K, "seeds": args.seeds}
    for name, task in (("fashion_mnist", fashion_task), ("adult", adult_task)):
        t0 = time.perf_counter()
        E, losses, y = task()
        res = errors(E, losses, y, args.seeds)
        table = {meth: {m: float(np.mean(v)) for m, v in per.items()} for meth, per in res.items()}
        slopes = {
            meth: float(np.polyfit(np.log(BUDGETS), np.log(list(t.values())), 1)[0])
            for meth, t in table.items()
        }
        report[name] = {
            "n": len(losses),
            "dim": E.shape[1],
            "mean_loss": float(losses.mean()),
            "mean_relative_error": table,
            "loglog_slope": slopes,
            "seconds": time.perf_counter() - t0,
        }
        print(
            f"\n{name}: n = {len(losses)}, embedding dim {E.shape[1]}, mean loss "
            f"{losses.mean():.4f}; mean relative error of the mean-loss estimate over "
            f"{args.seeds} seeds"
        )
        print(f"{'m':>6}" + "".join(f"{meth[:24]:>26}" for meth in table))
        for m in BUDGETS:
            print(f"{m:>6}" + "".join(f"{table[meth][m]:>26.4f}" for meth in table))
        print(
            f"{'slope':>6}"
            + "".join(f"{slopes[meth]:>26.2f}" for meth in table)
            + "   (theory: -0.5)"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
