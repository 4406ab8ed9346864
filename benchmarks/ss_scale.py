"""Performance target 9: sensitivity sampling on 1,000,000 x 384 float32 embeddings, k = 1,000.

Target: the whole sensitivity sampling (clustering, losses at the representatives, probabilities,
sampling) takes under 1.5x the time of the k-means alone, and its peak memory stays under 2x the
embedding matrix.

Each phase runs in a fresh subprocess (so ``ru_maxrss`` is that phase's peak) on the same seeded
synthetic matrix (a 2,000-component Gaussian mixture, generated in float32 chunks):

- ``kmeans``: the k-means alone, as a user would run it to get a clustering of every point:
  FAISS k-means (the same k-means++ seeding and training as assay's) plus the assignment of all
  n points to their nearest centroid (``IndexFlatL2.search``). Its training-only time is also
  reported.
- ``sensitivity``: ``SensitivitySampler(1000, budget=10,000).fit`` with a loss oracle (a fixed
  logistic model, so the k loss queries cost what a cheap model costs).

Peak memory is the process's peak resident set size (``resource.getrusage``), which includes the
matrix itself, Python, torch and FAISS; the increment over the resident size right after the
matrix was generated is reported too. Timings on a shared 2-core machine are noisy: compare the
ratio measured in the same run.

Usage: ``python benchmarks/ss_scale.py [--n 1000000] [--d 384] [--k 1000]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "ss_scale.json"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_embeddings(n: int, d: int, seed: int = 0, components: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((components, d), dtype=np.float32) * 2
    X = np.empty((n, d), np.float32)
    for lo in range(0, n, 50_000):
        hi = min(n, lo + 50_000)
        comp = rng.integers(0, components, hi - lo)
        X[lo:hi] = means[comp]
        X[lo:hi] += rng.standard_normal((hi - lo, d), dtype=np.float32)
    return X


def phase(name: str, n: int, d: int, k: int, seed: int) -> dict[str, float]:
    X = make_embeddings(n, d, seed)
    base = rss_mb()
    out: dict[str, float] = {"matrix_mb": X.nbytes / 2**20, "rss_after_data_mb": base}
    if name == "kmeans":
        import faiss

        from assay.clustering import _faiss_centroids

        t0 = time.perf_counter()
        C = _faiss_centroids(X, k, seed, 25, 1, 256, "k-means++")
        out["train_seconds"] = time.perf_counter() - t0
        index = faiss.IndexFlatL2(d)
        index.add(C)
        _, _labels = index.search(X, 1)
        out["seconds"] = time.perf_counter() - t0
        out["assign_seconds"] = out["seconds"] - out["train_seconds"]
    else:
        from assay.select.sensitivity import SensitivitySampler

        w = np.random.default_rng(1).standard_normal(d).astype(np.float32) / np.sqrt(d)

        def oracle(pos: np.ndarray) -> np.ndarray:  # a fixed logistic model's loss
            z = X[pos] @ w
            return np.logaddexp(0, -z).astype(np.float64)

        sampler = SensitivitySampler(k, budget=10_000, backend="faiss", seed=seed)
        t0 = time.perf_counter()
        sample = sampler.fit(X, oracle)
        out["seconds"] = time.perf_counter() - t0
        out.update({f"{key}_seconds": v for key, v in sampler.seconds_.items()})
        out["selected"] = len(sample)
        out["oracle_calls"] = sampler.oracle_calls_
        out["clusters_kept"] = sampler.clustering_.k
        out["kmeans_fit_seconds"] = sampler.clustering_.params["seconds_fit"]
        out["assign_snap_distances_seconds"] = sampler.clustering_.params["seconds_assign"]
    out["peak_rss_mb"] = peak_mb()
    out["peak_over_matrix"] = out["peak_rss_mb"] / out["matrix_mb"]
    out["increment_mb"] = out["peak_rss_mb"] - base
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phase", choices=["kmeans", "sensitivity"])
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.n, args.d, args.k, args.seed)))
        return
    runs = {}
    for name in ("kmeans", "sensitivity"):
        cmd = [
            sys.executable,
            __file__,
            "--phase",
            name,
            "--n",
            str(args.n),
            "--d",
            str(args.d),
            "--k",
            str(args.k),
            "--seed",
            str(args.seed),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs[name] = json.loads(res.stdout.strip().splitlines()[-1])
        print(name, runs[name], flush=True)
    km, ss = runs["kmeans"], runs["sensitivity"]
    summary = {
        "n": args.n,
        "d": args.d,
        "k": args.k,
        "time_ratio": ss["seconds"] / km["seconds"],
        "time_ratio_vs_training_only": ss["seconds"] / km["train_seconds"],
        "peak_over_matrix": ss["peak_over_matrix"],
        "targets": {
            "time_ratio < 1.5": ss["seconds"] / km["seconds"] < 1.5,
            "peak < 2x matrix": ss["peak_over_matrix"] < 2.0,
        },
        "note": "shared 2-core CPU machine; timings noisy, ratio measured in the same run",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    out[f"n={args.n},d={args.d},k={args.k}"] = {"kmeans": km, "sensitivity": ss, **summary}
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"\n{'quantity':<44}{'measured':>12}{'target':>10}")
    print(f"{'k-means alone (train + assign), s':<44}{km['seconds']:>12.1f}")
    print(f"{'  of which training, s':<44}{km['train_seconds']:>12.1f}")
    print(f"{'sensitivity sampling total, s':<44}{ss['seconds']:>12.1f}")
    for key in (
        "kmeans",
        "kmeans_fit",
        "assign_snap_distances",
        "losses",
        "probabilities",
        "sampling",
    ):
        if key + "_seconds" in ss:
            print(f"{'  ' + key + ', s':<44}{ss[key + '_seconds']:>12.2f}")
    print(f"{'time ratio (sensitivity / k-means)':<44}{summary['time_ratio']:>12.2f}{'< 1.5':>10}")
    print(f"{'peak RSS / embedding matrix':<44}{ss['peak_over_matrix']:>12.2f}{'< 2':>10}")
    print(
        f"{'peak RSS, MB (matrix ' + format(ss['matrix_mb'], '.0f') + ' MB)':<44}"
        f"{ss['peak_rss_mb']:>12.0f}"
    )


if __name__ == "__main__":
    main()
