"""Table 7 of the seed (App. E.1): perturbing the top-b and the bottom-b FI^util points of Bank.

    python benchmarks/fi_ablation.py [--seeds 3]

Protocol: FI^util of every training point of Bank (the small UCI file shipped here, 2,712
training points; logistic regression with C = 1 / (n * 1e-2) as in Table 3); Gaussian noise added
to the features of the b points with the highest FI, or to the b with the lowest; the model
retrained and scored on the test set, b in {50, ..., 300}. The seed does not give the noise scale;
N(0, 1) on the standardised features is used. Mean over ``--seeds`` splits and noise draws.
Two base models (``--protocol``, as in ``fi_trim_real.py``): ``newton`` (converged) and ``sgd``
(the paper's: full-batch SGD, learning rate 1e-2, 100 steps, under-fitted).
Writes ``benchmarks/results/fi_ablation.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from assay.data import Dataset, load_dataset
from assay.learners.base import BatchLearner
from assay.utility import Utility
from assay.valuation.local_influence import LocalInfluence

sys.path.insert(0, str(Path(__file__).parent))
from fi_common import machine, set_threads, table, write_json
from fi_trim_real import PROTOCOLS, base_model

BUDGETS = (0, 50, 100, 150, 200, 250, 300)
PAPER_TOP = (78.36, 77.59, 77.19, 77.07, 75.47, 75.42, 75.45)
PAPER_BOTTOM = (78.36, 78.49, 78.33, 77.45, 77.42, 77.19, 77.04)


def accuracy(learner: BatchLearner, X: np.ndarray, train: Dataset, test: Dataset) -> float:
    data = learner.prepare(train.with_features(X))
    fitted = learner.fit(data, torch.ones(1, train.n, dtype=torch.float64))
    pred = fitted.predict_proba(learner.prepare(test).X)[0].argmax(1).numpy()
    return float((pred == test.y).mean())


def run(seed: int, scale: float, protocol: str) -> dict[str, list[float]]:
    split = load_dataset("bank", seed=seed)
    train, valid, test = split.train, split.valid, split.test
    learner, _ = base_model(protocol, 1e-2, train.n)
    fi = LocalInfluence().fit(Utility(learner, train, valid)).values
    order = np.argsort(-fi, kind="stable")  # highest FI first
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, scale, size=train.X.shape)
    out: dict[str, list[float]] = {"top": [], "bottom": []}
    for b in BUDGETS:
        for which, rows in (("top", order[:b]), ("bottom", order[::-1][:b])):
            X = np.array(train.X)
            X[rows] += noise[rows]
            out[which].append(accuracy(learner, X, train, test))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default="both")
    args = ap.parse_args()
    set_threads(args.threads)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    results: dict[str, object] = {}
    for protocol in protocols:
        runs = [run(s, args.scale, protocol) for s in range(args.seeds)]
        top = np.mean([r["top"] for r in runs], axis=0) * 100
        bottom = np.mean([r["bottom"] for r in runs], axis=0) * 100
        rows = [
            [
                b,
                f"{top[i]:.2f}",
                f"{top[i] - top[0]:+.2f}",
                f"{PAPER_TOP[i] - PAPER_TOP[0]:+.2f}",
                f"{bottom[i]:.2f}",
                f"{bottom[i] - bottom[0]:+.2f}",
                f"{PAPER_BOTTOM[i] - PAPER_BOTTOM[0]:+.2f}",
            ]
            for i, b in enumerate(BUDGETS)
        ]
        header = ["b", "top-b acc %", "change", "paper", "bottom-b acc %", "change", "paper"]
        print(f"\nprotocol {protocol} (Bank, mean of {args.seeds} seeds)")
        print(table(rows, header))
        results[protocol] = {"top": top, "bottom": bottom, "runs": runs}
    path = write_json(
        "fi_ablation.json",
        {
            "protocol": __doc__,
            "budgets": BUDGETS,
            "protocols": results,
            "paper_top": PAPER_TOP,
            "paper_bottom": PAPER_BOTTOM,
            "noise_scale": args.scale,
            "machine": machine(),
        },
    )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
