"""What cross-fitting costs (issue 11.2): one held-out split vs K = 5 folds, and what it finds.

On a bundled dataset (default breast_cancer: its 455 non-test rows, 10% of labels flipped with
seed 0) every method runs in three configurations, each in a fresh process (for its peak RSS):

- ``split``: the old default, 80% of the rows valued against a 20% validation split (the other
  20% get no value);
- ``one_fold``: one fold of the K = 5 cross-fit (20% of the rows valued against the other 80%);
- ``cross_fit``: all K = 5 folds (:func:`assay.valuation.crossfit.cross_fit`), every row valued.

Recorded per run: seconds of the valuation (process start-up and data loading excluded), peak
RSS of the process, rows valued, and the ROC-AUC of finding the flipped rows among the rows
valued (``auc``), over *all* rows counting unvalued flipped rows as missed (``auc_all``: an
unvalued row ranks as not suspect), and, for fold-mode methods, the AUC after standardising the
values within each fold (``auc_fold_z``).

It also times the alternative the cross-fit does not take: the K folds' subset models stacked
into one batched logistic fit over all rows (zero weight outside each model's fold) against K
per-fold fits of the same models.

Usage: ``python benchmarks/crossfit_cost.py [--data breast_cancer]``
-> ``benchmarks/results/crossfit_cost.json``; ``--study breast_cancer wine --seeds 3`` instead
measures whether standardising values within each fold helps finding flipped labels
(``benchmarks/results/crossfit_standardise.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "crossfit_cost.json"
SRC = Path(__file__).resolve().parents[1] / "src"
K = 5
#: method name -> registry parameters (budgets small enough for a 2-core machine)
METHODS: dict[str, dict[str, Any]] = {
    "loo": {},
    "tmc-shapley": {"budget": 20},
    "banzhaf": {"budget": 200},
    "data-oob": {"budget": 200},
    "knn-shapley": {},
}


def _auc(scores: Any, flipped: Any) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(flipped, scores))


def run_one(data: str, method: str, config: str) -> dict[str, Any]:
    """One configuration in this process: seconds, peak RSS, rows valued, detection AUCs."""
    import resource

    import numpy as np

    from assay.data import flip_labels, fold_assignment, load_dataset
    from assay.data.splits import split_dataset
    from assay.learners.base import configure_process
    from assay.utility import Utility
    from assay.valuation.crossfit import cross_fit, cross_fit_mode
    from assay.valuation.registry import make_method

    configure_process()
    bundled = load_dataset(data, seed=0, fractions=(0.8, 0.2, 0.0))
    rows, flipped_pos = flip_labels(bundled.train, 0.1, seed=0)
    is_flipped = np.zeros(rows.n, bool)
    is_flipped[flipped_pos] = True
    m = make_method(method, **METHODS[method])
    start = time.perf_counter()
    if config == "cross_fit":
        result = cross_fit(m, rows, k=K, seed=0)
        valued = np.arange(rows.n)
    elif config == "one_fold":
        fold = fold_assignment(rows, K, seed=0)
        valued = np.flatnonzero(fold == 0)
        if cross_fit_mode(m) == "folds":
            result = m.fit(Utility("logistic", rows.subset(valued), rows.subset(fold != 0)))
        else:  # all-rows / leave-one-out methods have no folds: one "fold" is the whole run
            result = cross_fit(m, rows, k=K, seed=0)
            valued = np.arange(rows.n)
    else:
        # the old default: a seeded stratified 80/20 split of the rows, as split_dataset does
        parts = split_dataset(rows, (0.8, 0.2, 0.0), seed=0, scale=False)
        valued = np.searchsorted(rows.ids, parts.train.ids)  # ids are sorted positions
        assert np.array_equal(rows.ids[valued], parts.train.ids)
        result = m.fit(Utility("logistic", parts.train, parts.valid))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    suspect = np.asarray(result.suspicion, dtype=float)  # higher = more suspect
    floor = np.nanmin(suspect) - 1.0  # a row without a value ranks as least suspect
    suspect = np.where(np.isnan(suspect), floor, suspect)
    out: dict[str, Any] = {
        "method": method,
        "config": config,
        "seconds": round(seconds, 3),
        "peak_rss_mib": round(peak, 1),
        "n_valued": len(valued),
        "n_rows": rows.n,
        "auc": round(_auc(suspect, is_flipped[valued]), 4),
    }
    full = np.full(rows.n, floor)
    full[valued] = suspect
    out["auc_all"] = round(_auc(full, is_flipped), 4)
    if config == "cross_fit" and result.params["cross_fit"]["mode"] == "folds":
        z = _fold_z(suspect, fold_assignment(rows, K, seed=0))
        out["auc_fold_z"] = round(_auc(z, is_flipped), 4)
    return out


def stacked_probe(data: str, n_models: int = 64) -> dict[str, Any]:
    """K per-fold logistic fits of ``n_models`` random half-subsets each vs one stacked fit."""
    import numpy as np
    import torch

    from assay.data import fold_assignment, load_dataset
    from assay.learners.base import configure_process
    from assay.learners.logistic import LogisticRegression

    configure_process()
    rows = load_dataset(data, seed=0, fractions=(0.8, 0.2, 0.0)).train
    fold = fold_assignment(rows, K, seed=0)
    rng = np.random.default_rng(0)
    masks = [(rng.random((n_models, int((fold == f).sum()))) < 0.5) * 1.0 for f in range(K)]
    lr = LogisticRegression()
    start = time.perf_counter()
    for f in range(K):
        lr.fit(lr.prepare(rows.subset(fold == f)), torch.tensor(masks[f]))
    per_fold = time.perf_counter() - start
    W = np.zeros((K * n_models, rows.n))
    for f in range(K):
        W[f * n_models : (f + 1) * n_models][:, fold == f] = masks[f]
    start = time.perf_counter()
    lr.fit(lr.prepare(rows), torch.tensor(W))
    stacked = time.perf_counter() - start
    return {
        "models_per_fold": n_models,
        "per_fold_fits_s": round(per_fold, 3),
        "one_stacked_fit_s": round(stacked, 3),
        "stacked_over_per_fold": round(stacked / per_fold, 2),
    }


def _fold_z(values: Any, fold: Any) -> Any:
    """``values`` standardised within each fold (mean 0, standard deviation 1)."""
    import numpy as np

    z = np.array(values, dtype=float)
    for f in np.unique(fold):
        sel = fold == f
        sd = z[sel].std()
        z[sel] = (z[sel] - z[sel].mean()) / (sd if sd > 0 else 1.0)
    return z


def standardisation_study(datasets: list[str], seeds: int) -> list[dict[str, Any]]:
    """Flipped-label AUC of cross-fitted LOO / TMC / Banzhaf values, raw and per-fold z-scored.

    Seed s flips 10% of the labels, assigns the folds and seeds the sampling.
    """
    import numpy as np

    from assay.data import flip_labels, fold_assignment, load_dataset
    from assay.learners.base import configure_process
    from assay.valuation.crossfit import cross_fit
    from assay.valuation.registry import make_method

    configure_process()
    out = []
    for data in datasets:
        for seed in range(seeds):
            rows, flipped = flip_labels(
                load_dataset(data, seed=seed, fractions=(0.8, 0.2, 0.0)).train, 0.1, seed=seed
            )
            noisy = np.zeros(rows.n, bool)
            noisy[flipped] = True
            fold = fold_assignment(rows, K, seed=seed)
            for method, params in (
                ("loo", {}),
                ("tmc-shapley", {"budget": 10}),
                ("banzhaf", {"budget": 200}),
            ):
                m = make_method(method, **params)
                if hasattr(m, "seed"):
                    m.seed = seed
                r = cross_fit(m, rows, k=K, seed=seed)
                out.append(
                    {
                        "data": data,
                        "seed": seed,
                        "method": method,
                        "auc_raw": round(_auc(-r.values, noisy), 4),
                        "auc_fold_z": round(_auc(-_fold_z(r.values, fold), noisy), 4),
                    }
                )
                print(json.dumps(out[-1]), flush=True)
    return out


def _child(args: list[str]) -> Any:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="breast_cancer")
    ap.add_argument("--child", nargs="*")
    ap.add_argument("--study", nargs="*", help="datasets of the per-fold standardisation study")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    if args.study is not None:
        sys.path.insert(0, str(SRC))
        rows = standardisation_study(args.study or ["breast_cancer", "wine"], args.seeds)
        path = RESULTS.with_name("crossfit_standardise.json")
        path.write_text(json.dumps({"folds": K, "flip_rate": 0.1, "runs": rows}, indent=2) + "\n")
        print(f"-> {path}")
        return
    if args.child is not None:
        sys.path.insert(0, str(SRC))
        what = args.child
        res = stacked_probe(what[1]) if what[0] == "stacked" else run_one(*what)
        print(json.dumps(res))
        return
    runs = []
    for method in METHODS:
        for config in ("split", "one_fold", "cross_fit"):
            r = _child([args.data, method, config])
            print(json.dumps(r), flush=True)
            runs.append(r)
    by = {(r["method"], r["config"]): r for r in runs}
    ratios = {
        m: {
            "cross_fit_over_split": round(
                by[m, "cross_fit"]["seconds"] / by[m, "split"]["seconds"], 2
            ),
            "cross_fit_over_one_fold": round(
                by[m, "cross_fit"]["seconds"] / by[m, "one_fold"]["seconds"], 2
            ),
        }
        for m in METHODS
    }
    stacked = _child(["stacked", args.data])
    print(json.dumps(stacked), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "data": args.data,
                "folds": K,
                "flip_rate": 0.1,
                "methods": METHODS,
                "runs": runs,
                "ratios": ratios,
                "stacked_fit": stacked,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "note": "seconds exclude start-up and loading; 1 thread per process; a shared "
                "2-core machine, so compare ratios, not absolute times",
            },
            indent=2,
        )
        + "\n"
    )
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
