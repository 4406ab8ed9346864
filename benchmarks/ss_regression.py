"""Benchmark 8(c): least-squares row sampling -- sensitivity vs leverage scores vs uniform.

For each sample size m, each method draws a weighted row sample, solves the weighted sketched
least-squares problem and is scored by the relative excess loss on all rows,
``(||A x~ - b||^2 - OPT) / OPT`` (median over the seeds; the paper plots 1 - R^2, which moves
with it). Methods (:mod:`assay.select.leverage`):

- ``sensitivity``: Algorithm 2 in the paper's practical form (App. C.3): clusters = 10% of the
  rows, Lambda -> inf (``p ∝`` distance to the row's centre), centres kept with weight 1;
- ``leverage``: exact leverage scores (thin pivoted QR); ``leverage-approx``: Gaussian sketch +
  JL (Drineas et al. 2012);
- ``uniform``.

Data: scikit-learn's bundled diabetes data (442 x 10, an intercept column added) and a synthetic
heavy-tailed design (5,000 x 20, Student-t rows with 1.5 degrees of freedom, so a few rows carry
most of the leverage; Gaussian noise). The paper's own experiment (UCI gas sensor, 13,910 x 16,
Fig. 6) is not available offline; its finding, read off the plot, is "sensitivity almost as good
as leverage, far better than uniform".

Usage: ``python benchmarks/ss_regression.py [--seeds 50]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from assay.clustering import kmeans
from assay.select.leverage import (
    leverage_scores,
    regression_sample,
    relative_excess_loss,
    weighted_lstsq,
)

RESULTS = Path(__file__).parent / "results" / "ss_regression.json"
METHODS = ("sensitivity", "leverage", "leverage-approx", "uniform")


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return np.hstack([X, np.ones((len(X), 1))]), y


def heavy_tailed(n: int = 5000, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_t(1.5, size=(n, d))
    return A, A @ rng.normal(size=d) + rng.normal(size=n)


def run(A: np.ndarray, b: np.ndarray, budgets: tuple[int, ...], seeds: int) -> dict[str, object]:
    n = len(b)
    timing = {}
    t = time.perf_counter()
    leverage_scores(A)
    timing["leverage exact"] = time.perf_counter() - t
    t = time.perf_counter()
    leverage_scores(A, method="approx")
    timing["leverage approx"] = time.perf_counter() - t
    res: dict[str, dict[int, list[float]]] = {m: {} for m in METHODS}
    for seed in range(seeds):
        t = time.perf_counter()
        c = kmeans(A, max(1, n // 10), seed=seed)
        timing.setdefault("clustering (k = n/10)", 0.0)
        timing["clustering (k = n/10)"] += (time.perf_counter() - t) / seeds
        for m in budgets:
            for method in METHODS:
                s = regression_sample(A, b, m, method=method, clustering=c, seed=seed)
                err = relative_excess_loss(A, b, weighted_lstsq(A, b, s))
                res[method].setdefault(m, []).append(err)
    med = {meth: {m: float(np.median(v)) for m, v in per.items()} for meth, per in res.items()}
    return {"n": n, "d": A.shape[1], "median_relative_excess_loss": med, "seconds": timing}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=50)
    args = ap.parse_args()
    report: dict[str, object] = {"seeds": args.seeds}
    tasks = {
        "diabetes": (diabetes(), (50, 75, 100, 150, 200, 300)),
        "heavy_tailed": (heavy_tailed(), (600, 800, 1200, 1600, 2400)),
    }
    for name, ((A, b), budgets) in tasks.items():
        out = run(A, b, budgets, args.seeds)
        report[name] = out
        med = out["median_relative_excess_loss"]
        assert isinstance(med, dict)
        print(
            f"\n{name}: {A.shape[0]} x {A.shape[1]}; median relative excess loss over "
            f"{args.seeds} seeds (clusters = 10% of rows, counted in m)"
        )
        print(f"{'m':>6}" + "".join(f"{meth:>17}" for meth in METHODS))
        for m in budgets:
            print(f"{m:>6}" + "".join(f"{med[meth][m]:>17.4g}" for meth in METHODS))
        secs = out["seconds"]
        assert isinstance(secs, dict)
        print("seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in secs.items()))
    print("\npaper (gas sensor, Fig. 6, read off the plot): sensitivity ~ leverage << uniform")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
