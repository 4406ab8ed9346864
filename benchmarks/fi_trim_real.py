"""Figure 2 and Figure 8 of the seed: trimming curves of FI^util, IV and random on Adult and Bank.

    python benchmarks/fi_trim_real.py [--seeds 3]

Protocol (Sec. 6.1, App. D.1, Table 3): Adult with Chhabra et al.'s 102-feature preprocessing, a
random 5,000 of its training split as the training set and 4,200 of its test split as the test
set; Bank as shipped here (the small 4,521-row UCI file: 2,712 / 904 / 905, since the 45,211-row
file is not available offline); validation = the dataset's validation split. Logistic
regression with the L2 strength of Table 3's weight decay (SGD's ``weight_decay`` on the mean loss
is ``C = 1 / (n * wd)``: wd = 1e-2 for both clean sets, 1e-2 / 1e-4 for noisy Adult / Bank),
under two protocols (``--protocol``): ``newton`` solves it exactly (converged, no headroom), and
``sgd`` is the paper's setting, a linear softmax model trained by plain full-batch SGD (Table 3:
learning rate 1e-2, the same weight decay) for ``SGD_EPOCHS`` = 100 steps (the seed states no
epoch count; 100 leaves the model under-fitted, as the paper's untrimmed Bank accuracy of 78.4%,
below the majority rate, shows its was), with IV scored at the SGD parameters
(``InfluenceValue(network="as-trained")``). The noisy variant (Figure 8) adds white noise of
variance 0.1 to 500 random training rows. b runs over 0-20% of the training set; random removal
is averaged over 5 orders; curves are averaged over ``--seeds`` data draws.
Writes ``benchmarks/results/fi_trim_real.json`` and ``fi_trim_real.png`` (one row per protocol).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from assay.data import Dataset, add_feature_noise, load_dataset
from assay.data.files_loaders import stratified_subsample
from assay.learners import LogisticRegression, MLPClassifier
from assay.learners.base import BatchLearner
from assay.select.trim import trimming_curves
from assay.utility import Utility
from assay.valuation.influence import InfluenceValue
from assay.valuation.local_influence import LocalInfluence

sys.path.insert(0, str(Path(__file__).parent))
from fi_common import RESULTS, Timer, machine, set_threads, table, write_json

FRACTIONS = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10, 0.15, 0.20)
WEIGHT_DECAY = {("adult", False): 1e-2, ("bank", False): 1e-2, ("adult", True): 1e-2,
                ("bank", True): 1e-4}  # fmt: skip
SGD_EPOCHS = 100
PROTOCOLS = ("newton", "sgd")


def task(name: str, seed: int, noisy: bool) -> tuple[Dataset, Dataset, Dataset]:
    split = load_dataset(name, seed=seed)
    train, valid, test = split.train, split.valid, split.test
    if name == "adult":
        train = train.subset(stratified_subsample(train.y, 5000, seed))
        test = test.subset(stratified_subsample(test.y, 4200, seed))
    if noisy:
        train, _ = add_feature_noise(train, 0.1**0.5, fraction=500 / train.n, seed=seed)
    return train, valid, test


def base_model(protocol: str, wd: float, n: int) -> tuple[BatchLearner, InfluenceValue]:
    """The learner of a protocol and the IV that matches it."""
    if protocol == "newton":
        return LogisticRegression(C=1.0 / (n * wd)), InfluenceValue()
    sgd = MLPClassifier(hidden=(), epochs=SGD_EPOCHS, lr=1e-2, weight_decay=wd, optimizer="sgd")
    return sgd, InfluenceValue(network="as-trained")


def run(name: str, seed: int, noisy: bool, protocol: str) -> dict[str, Any]:
    train, valid, test = task(name, seed, noisy)
    learner, iv_method = base_model(protocol, WEIGHT_DECAY[(name, noisy)], train.n)
    u = Utility(learner, train, valid)
    with Timer() as t_fi:
        fi = LocalInfluence().fit(u)
    with Timer() as t_iv:
        iv = iv_method.fit(u)
    budgets = sorted({round(f * train.n) for f in FRACTIONS})
    curves = trimming_curves(learner, train, test, {"fi": fi, "iv": iv}, budgets, seed=seed)
    return {
        "seed": seed,
        "n_train": train.n,
        "budgets": budgets,
        "curves": curves.to_dict(orient="list"),
        "fi_seconds": t_fi.seconds,
        "iv_seconds": t_iv.seconds,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for method in ("fi", "iv", "random"):
        per_seed = []
        for r in runs:
            c = r["curves"]
            per_seed.append(
                [s for m, s in zip(c["method"], c["score"], strict=True) if m == method]
            )
        out[method] = (np.mean(per_seed, axis=0) * 100).tolist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default="both")
    args = ap.parse_args()
    set_threads(args.threads)
    from assay.plotting import figure_png, new_figure

    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    fig = new_figure(16, 6 * len(protocols))
    results: dict[str, Any] = {"protocols": {}}
    sets = [("adult", False), ("bank", False), ("adult", True), ("bank", True)]
    for row, protocol in enumerate(protocols):
        out: dict[str, Any] = {}
        for k, (name, noisy) in enumerate(sets):
            key = f"{name}{'+noise' if noisy else ''}"
            runs = [run(name, s, noisy, protocol) for s in range(args.seeds)]
            mean = summarise(runs)
            fractions = [b / runs[0]["n_train"] for b in runs[0]["budgets"]]
            out[key] = {
                "runs": runs,
                "mean_accuracy": mean,
                "fractions": fractions,
                "fi_seconds": float(np.mean([r["fi_seconds"] for r in runs])),
                "iv_seconds": float(np.mean([r["iv_seconds"] for r in runs])),
            }
            rows = [
                [f"{f:.0%}", *(f"{mean[m][i]:.2f}" for m in ("fi", "iv", "random"))]
                for i, f in enumerate(fractions)
            ]
            print(
                f"\n{key}, {protocol} (n = {runs[0]['n_train']}, test accuracy %, "
                f"mean of {args.seeds} seeds)"
            )
            print(table(rows, ["removed", "FI", "IV", "random"]))
            gain = {m: mean[m][-1] - mean[m][0] for m in mean}
            best = {m: max(mean[m]) - mean[m][0] for m in mean}
            print("change at 20%: " + ", ".join(f"{m} {v:+.2f}" for m, v in gain.items()))
            print("best change: " + ", ".join(f"{m} {v:+.2f}" for m, v in best.items()))
            out[key]["change_at_20"] = gain
            out[key]["best_change"] = best
            ax = fig.add_subplot(len(protocols), 4, 4 * row + k + 1)
            for m, style in (("fi", "-o"), ("iv", "-s"), ("random", "--")):
                ax.plot([100 * f for f in fractions], mean[m], style, label=m.upper())
            ax.set_title(f"{key} ({protocol})")
            ax.set_xlabel("% of training points removed")
            ax.set_ylabel("test accuracy %")
            ax.legend()
        results["protocols"][protocol] = out
    (RESULTS / "fi_trim_real.png").write_bytes(figure_png(fig))
    results["machine"] = machine()
    results["protocol"] = __doc__
    results["sgd_epochs"] = SGD_EPOCHS
    print(f"-> {write_json('fi_trim_real.json', results)}")


if __name__ == "__main__":
    main()
