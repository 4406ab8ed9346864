"""Table 8 of the seed (App. E.1): approximate vs exact FI, in accuracy and time, plus the rank
correlation of each approximation with the exact FI (issue point 4).

    python benchmarks/fi_approx.py [--seeds 3] [--skip-al]

*Trimming* (CelebA's row; Adult stands in, CelebA is not available offline): 5,000 Adult training
points, logistic regression as in ``fi_trim_real.py``, remove b = 500 (10%). Exact FI^util vs
KFSVD (Algorithm 5: K-FAC Hessian, rank-k mixed partials), subsample + forest on exact scores
(Algorithm 6 with alpha = 0.2) and both together (Algorithm 6 as the seed runs it).
*Active learning* (MNIST's row; Fashion-MNIST stands in): ``fi_active.py``'s CNN setting with
exact FI^active vs ``fi-approx`` (Algorithms 7 + 8: KFSVD on the last layer, alpha = 0.2).
Spearman correlations are between the approximate and the exact scores of the same model.
Writes ``benchmarks/results/fi_approx.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from assay.learners import LogisticRegression
from assay.utility import Utility
from assay.valuation import make_method

sys.path.insert(0, str(Path(__file__).parent))
from fi_common import machine, set_threads, table, trimmed_accuracies, write_json
from fi_trim_real import task

PAPER = {"MNIST": (93.8, 94.0, 393, 1228), "CelebA": (80.9, 78.1, 269, 1058)}
VARIANTS = {
    "exact": ("fi-util", {}),
    "kfsvd (Alg. 5, k=8)": ("fi-kfsvd", {"k": 8}),
    "subsample+forest (alpha=0.2)": ("fi-subsample", {"alpha": 0.2}),
    "kfsvd+subsample (Alg. 6)": ("fi-subsample", {"alpha": 0.2, "base": "kfsvd"}),
}


def trimming(seed: int, budget: int = 500) -> dict[str, Any]:
    train, valid, test = task("adult", seed, False)
    learner = LogisticRegression(C=1.0 / (train.n * 1e-2))
    u = Utility(learner, train, valid)
    out: dict[str, Any] = {}
    values = {}
    for label, (name, params) in VARIANTS.items():
        t0 = time.perf_counter()
        extra = {} if name == "fi-util" else {"seed": seed}
        values[label] = make_method(name, **extra, **params).fit(u)
        out[label] = {"seconds": time.perf_counter() - t0}
    acc = trimmed_accuracies(learner, train, test, values, [0, budget])
    for label in VARIANTS:
        out[label]["accuracy"] = acc[label][1]
        out[label]["spearman_vs_exact"] = float(
            spearmanr(values[label].values, values["exact"].values)[0]
        )
    out["no_trimming"] = acc["exact"][0]
    return out


def active(seed: int) -> dict[str, Any]:
    import fi_active as F
    from assay.select.acquisition import PoolState, make_acquisition
    from assay.select.active import ActiveLearning

    s = F.setup("fmnist", seed)
    out: dict[str, Any] = {}
    kw = {"scope": "last", "damping": 1e-3}
    for label, acq in (("exact", make_acquisition("fi", **kw)),
                       ("approx", make_acquisition("fi-approx", **kw))):  # fmt: skip
        loop = ActiveLearning(
            s["learner"], acq, batch_size=s["batch"], rounds=s["rounds"], seed=seed
        )
        t0 = time.perf_counter()
        res = loop.run(s["labelled"], s["pool"], s["test"])
        out[label] = {
            "accuracy": float(res.curve["score"].iloc[-1]),
            "seconds": time.perf_counter() - t0,
            "acquire_seconds": float(res.curve["acquire_seconds"].sum()),
        }
    # rank agreement of the approximate FI^active with the exact one on the first round
    lab, learner = s["labelled"], s["learner"]
    fitted = learner.fit(learner.prepare(lab), torch.ones(1, lab.n))
    pool_X = np.asarray(s["pool"].X)
    scores = {}
    for label, acq in (("exact", make_acquisition("fi", **kw)),
                       ("kfsvd", make_acquisition("fi", kfsvd=True, **kw)),
                       ("approx", make_acquisition("fi-approx", **kw))):  # fmt: skip
        state = PoolState(learner, fitted, lab, pool_X, None, np.random.default_rng(seed))
        t0 = time.perf_counter()
        scores[label] = acq.scores(state)
        out.setdefault("first_round", {})[label] = {"seconds": time.perf_counter() - t0}
    for label in ("kfsvd", "approx"):
        rho = float(spearmanr(scores[label], scores["exact"])[0])
        out["first_round"][label]["spearman_vs_exact"] = rho
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--al-seeds", type=int, default=1)
    ap.add_argument("--skip-al", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)
    trims = [trimming(s) for s in range(args.seeds)]
    rows = []
    summary: dict[str, Any] = {"trimming": {}}
    for label in VARIANTS:
        acc = 100 * np.mean([t[label]["accuracy"] for t in trims])
        sec = np.mean([t[label]["seconds"] for t in trims])
        rho = np.mean([t[label]["spearman_vs_exact"] for t in trims])
        summary["trimming"][label] = {"accuracy": acc, "seconds": sec, "spearman": rho}
        rows.append([label, f"{acc:.2f}", f"{sec:.2f}", f"{rho:.3f}"])
    base = 100 * np.mean([t["no_trimming"] for t in trims])
    print(f"Adult trimming, b = 500 of 5,000 (no trimming: {base:.2f} %), {args.seeds} seeds")
    print(table(rows, ["FI^util", "accuracy %", "seconds", "Spearman vs exact"]))
    p = PAPER["CelebA"]
    print(f"paper (CelebA): approx {p[0]} % in {p[2]} s vs exact {p[1]} % in {p[3]} s")
    summary["trimming_runs"] = trims
    if not args.skip_al:
        als = [active(s) for s in range(args.al_seeds)]
        summary["active_runs"] = als
        rows = []
        for label in ("exact", "approx"):
            acc = 100 * np.mean([a[label]["accuracy"] for a in als])
            sec = np.mean([a[label]["seconds"] for a in als])
            acq = np.mean([a[label]["acquire_seconds"] for a in als])
            rows.append([label, f"{acc:.2f}", f"{sec:.0f}", f"{acq:.1f}"])
        print(f"\nFashion-MNIST active learning (CNN, 14 rounds), {args.al_seeds} seed(s)")
        print(table(rows, ["FI^active", "final acc %", "total s", "acquisition s"]))
        p = PAPER["MNIST"]
        print(f"paper (MNIST): approx {p[0]} % in {p[2]} s vs exact {p[1]} % in {p[3]} s")
        for label in ("kfsvd", "approx"):
            r = np.mean([a["first_round"][label]["spearman_vs_exact"] for a in als])
            print(f"first-round Spearman of {label} vs exact FI^active: {r:.3f}")
    summary["machine"] = machine()
    summary["protocol"] = __doc__
    print(f"-> {write_json('fi_approx.json', summary)}")


if __name__ == "__main__":
    main()
