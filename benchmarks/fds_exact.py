"""Error of every per-prediction estimator against exact Shapley values, on a game small enough
to enumerate (the paper does not report this; we do).

    python benchmarks/fds_exact.py [--n 10] [--seeds 0 1 2]

Game: v_{x,y}(S) for logistic regression (C = 1) trained on n breast-cancer points (n / 2 per
class), for 40 held-out test predictions (label = the service model's prediction). Exact Shapley
values enumerate all 2^n subsets. Writes ``benchmarks/results/fds_exact.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assay.data import load_dataset
from assay.explain import FastDataShapley, PredictionUtility
from assay.explain.metrics import error_vs_exact, per_prediction_values
from assay.valuation import ExactShapley, LeaveOneOut, TMCShapley
from assay.valuation.cs_shapley import CSShapley
from assay.valuation.group_testing import GroupTestingShapley

RESULTS = Path(__file__).parent / "results"


def run(n: int, seed: int) -> dict[str, Any]:
    split = load_dataset("breast_cancer", seed=seed)
    rng = np.random.default_rng(seed)
    tr = split.train
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(tr.y == c), n // 2, replace=False) for c in (0, 1)]
    )
    providers = np.array([f"p{i // 2}" for i in range(n)])
    train = tr.subset(idx)
    train = type(train).from_arrays(train.X, train.y, groups=providers)
    inputs = np.concatenate([tr.X[np.setdiff1d(np.arange(tr.n), idx)], split.valid.X])
    X = split.test.X[:40]
    putil = PredictionUtility("logistic", train)
    y = putil.grand_model().proba(torch.tensor(X)).numpy().argmax(1)
    t = time.perf_counter()
    exact, _ = per_prediction_values(ExactShapley(), putil, X, y)
    rows: dict[str, Any] = {"exact": {"seconds": time.perf_counter() - t}}

    def record(name: str, values: np.ndarray, seconds: float, **extra: Any) -> None:
        err = error_vs_exact(values, exact)
        err["efficiency_error"] = float(np.abs(values.sum(1) - exact.sum(1)).max())
        rows[name] = {**err, "seconds": seconds, **extra}
        print(
            f"{name:28s} mae {err['mae']:.4f}  rel-l2 {err['relative_l2']:.3f}  "
            f"spearman {err['spearman']:.3f}  eff {err['efficiency_error']:.1e}  "
            f"{seconds:7.2f} s",
            flush=True,
        )

    for name, method in {
        "loo": LeaveOneOut(),
        "tmc (100 perms)": TMCShapley(100, batch_size=100, seed=seed),
        "group testing (5000 tests)": GroupTestingShapley(5000, batch_size=5000, seed=seed),
        "cs-shapley (50 perms)": CSShapley(50, batch_size=50, seed=seed),
    }.items():
        values, seconds = per_prediction_values(method, putil, X, y, shared=True)
        record(name, values, seconds)
    common = dict(hidden=(128, 128), lr=2e-3, epochs=300, patience=30, batch_size=64, seed=seed)
    for name, kwargs in {
        "fds (exhaustive pool)": dict(variant="fds"),
        "fds (pool 256)": dict(variant="fds", n_subsets=256, exhaustive="never"),
        "gfds (labels, pool 256)": dict(variant="gfds", utility_epochs=None, n_subsets=256),
        "gfds+ (providers)": dict(variant="gfds+", utility_epochs=None, grouping="provider"),
    }.items():
        explainer = FastDataShapley("logistic", **kwargs, **common).fit(train, inputs)
        record(
            name,
            explainer.values(X, y),
            explainer.info["seconds_total"],
            pool=explainer.info["pool_size"],
            epochs=explainer.info["epochs_run"],
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = []
    for seed in args.seeds:
        print(f"seed {seed}, n = {args.n}", flush=True)
        runs.append({"seed": seed, "rows": run(args.n, seed)})
    names = [k for k in runs[0]["rows"] if k != "exact"]
    summary = {
        k: {
            m: float(np.mean([r["rows"][k][m] for r in runs]))
            for m in ("mae", "relative_l2", "spearman", "efficiency_error", "seconds")
        }
        for k in names
    }
    print(f"\nmean over {len(runs)} seeds (n = {args.n}, 40 predictions each)")
    for k, v in summary.items():
        print(
            f"{k:28s} mae {v['mae']:.4f}  rel-l2 {v['relative_l2']:.3f}  "
            f"spearman {v['spearman']:.3f}  {v['seconds']:7.2f} s"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fds_exact.json").write_text(
        json.dumps({"n": args.n, "summary": summary, "runs": runs}, indent=1)
    )


if __name__ == "__main__":
    main()
