"""The regression audit's detectors on shifted targets: which combination finds them best.

Two tables: scikit-learn's diabetes (442 x 10, near linear, noisy) and Friedman #1 (1,000 x 10,
nonlinear, noise 1.0). In each, 5% of the targets are shifted by 1.5-3 standard deviations of
the target (random sign, fixed seeds); every detector combination is run through
``assay.audit.audit(..., task="regression")`` and scored by the ROC-AUC of ``-target_quality``
for the shifted rows, and by the precision / recall of ``is_target_issue``.

    .venv/bin/python benchmarks/audit_regression.py [--seeds 3]

Writes ``benchmarks/results/audit_regression.json`` and prints one line per table, seed and
combination.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.metrics import roc_auc_score

from assay.audit import audit

COMBINATIONS = [
    ("ridge",),
    ("hgb",),
    ("knn",),
    ("ridge", "hgb"),
    ("ridge", "knn"),
    ("ridge", "hgb", "knn"),
]


def table(name: str, seed: int) -> pd.DataFrame:
    if name == "diabetes":
        return load_diabetes(as_frame=True).frame.rename(columns={"target": "y"})
    X, y = make_friedman1(1000, noise=1.0, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return frame


def shift(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(frame)
    bad = rng.choice(n, round(0.05 * n), replace=False)
    out = frame.copy()
    sd = float(out["y"].std())
    out.loc[bad, "y"] += rng.choice([-1, 1], len(bad)) * rng.uniform(1.5, 3.0, len(bad)) * sd
    truth = np.zeros(n, bool)
    truth[bad] = True
    return out, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in ("diabetes", "friedman1"):
        for seed in range(args.seeds):
            frame, truth = shift(table(name, seed), seed)
            for methods in COMBINATIONS:
                start = time.perf_counter()
                res = audit(frame, "y", methods=list(methods), seed=seed, task="regression")
                seconds = time.perf_counter() - start
                t = res.table
                flag = t["is_target_issue"].to_numpy(bool)
                hit = int((flag & truth).sum())
                row = {
                    "table": name,
                    "seed": seed,
                    "methods": "+".join(methods),
                    "auc": float(roc_auc_score(truth, -t["target_quality"])),
                    "precision": hit / max(int(flag.sum()), 1),
                    "recall": hit / int(truth.sum()),
                    "oof_r2": res.summary["oof_r2"],
                    "seconds": round(seconds, 3),
                }
                rows.append(row)
                print(
                    f"{name:10s} seed {seed} {row['methods']:15s} AUC {row['auc']:.3f} "
                    f"precision {row['precision']:.2f} recall {row['recall']:.2f} "
                    f"({seconds:.2f} s)"
                )
    summary = pd.DataFrame(rows).groupby(["table", "methods"])[["auc", "precision", "recall"]]
    print(summary.mean().round(3).to_string())
    out = Path(__file__).parent / "results" / "audit_regression.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
