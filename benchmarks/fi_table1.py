"""Table 1 of the seed (2-D linear data, logistic regression, 30 seeds): FI^util vs IV trimming.

    python benchmarks/fi_table1.py [--seeds 30]

Protocol (Sec. 6.1): two isotropic 2-D Gaussians, 150 training / 100 validation / 600 test points
per seed; logistic regression as in Chhabra et al.'s toy run (L2 strength 0.01, i.e. C = 100, no
intercept, features standardised on the training set); FI^util (Eq. 3.1) and IV computed on the
validation set; the top-b FI points (resp. the b most negative IV points) removed, the model
retrained, and test accuracy compared for b = 5, 10, 20. The class means and spread are read off
Chhabra et al.'s toy ``train.csv`` (class N about (3, -3), class Y about (1, 2.5), spread about
1.5 per axis), since the seed does not state them. Writes ``benchmarks/results/fi_table1.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from assay.data import Dataset, split_dataset
from assay.learners import LogisticRegression
from assay.utility import Utility
from assay.valuation.influence import InfluenceValue
from assay.valuation.local_influence import LocalInfluence

sys.path.insert(0, str(Path(__file__).parent))
from fi_common import fi_vs_iv, machine, set_threads, trimmed_accuracies, write_json

PAPER = {5: (23, 96.22, 0.65, 95.77, 0.76), 10: (28, 96.20, 0.65, 94.84, 1.07),
         20: (30, 96.23, 0.64, 93.36, 2.21)}  # fmt: skip
BUDGETS = (5, 10, 20)


def toy(seed: int, n: int = 850, spread: float = 1.5) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    means = np.array([[3.0, -3.0], [1.0, 2.5]])
    X = means[y] + spread * rng.normal(size=(n, 2))
    return Dataset.from_arrays(X, y, classes=[0, 1], name="toy2d")


def run_seed(seed: int) -> dict[str, object]:
    split = split_dataset(toy(seed), (150 / 850, 100 / 850, 600 / 850), seed=seed)
    learner = LogisticRegression(C=100.0, fit_intercept=False)
    u = Utility(learner, split.train, split.valid)
    fi = LocalInfluence().fit(u)
    iv = InfluenceValue().fit(u)
    acc = trimmed_accuracies(learner, split.train, split.test, {"fi": fi, "iv": iv}, [0, *BUDGETS])
    return {"seed": seed, "fi": acc["fi"], "iv": acc["iv"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)
    t0 = time.perf_counter()
    runs = [run_seed(s) for s in range(args.seeds)]
    seconds = time.perf_counter() - t0
    summary, fi = fi_vs_iv(runs, PAPER, 30)
    print(f"no trimming: {fi[:, 0].mean():.2f}+-{fi[:, 0].std():.2f} %; {seconds:.1f} s")
    path = write_json(
        "fi_table1.json",
        {
            "protocol": __doc__,
            "seeds": args.seeds,
            "no_trimming": [fi[:, 0].mean(), fi[:, 0].std()],
            "budgets": summary,
            "runs": runs,
            "seconds": seconds,
            "machine": machine(),
        },
    )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
