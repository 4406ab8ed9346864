"""Active learning of the seed (Sec. 6.2): Figure 3 on Adult (Table 4), Figure 4 with the CNN of
Table 6 on Fashion-MNIST (the stand-in for MNIST / EMNIST / CIFAR-10, which are not available
offline), and Table 9's timings.

    python benchmarks/fi_active.py --task adult --seeds 3
    python benchmarks/fi_active.py --task fmnist --seeds 2

*adult*: logistic regression (C = 1, as in Chhabra et al.'s active-learning runs); 300 initial
labelled points, a pool of 5,000 and batches of 500 (Table 4), 9 rounds (Table 4's 12 rounds of
500 would need 6,000 pool points); 4,200 test points; IV's validation set is 1,000 points of the
validation split. *fmnist*: the CNN of Table 6 (Conv 32 @ 14x14, Conv 64 @ 7x7, dropout, 256,
K; stride-2 convolutions), Adam lr 1e-3, 40 epochs of batches of 32; 60 initial points, a pool of
420, batches of 30, 14 rounds (Table 5's MNIST settings); 1,000 test points; FI^active on the last
layer (the seed's choice for CNNs), BALD by MC dropout (20 passes), IV by the last-layer route.
Acquisitions: FI^active (trimmed mean over the 10%-90% range), IV (decision-tree variant), BALD,
entropy (adult only) and random. Curves are means over ``--seeds``.
Writes ``benchmarks/results/fi_active_<task>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from assay.data import Dataset, load_dataset
from assay.data.files_loaders import stratified_subsample
from assay.learners import LogisticRegression, NetworkClassifier
from assay.learners.base import BatchLearner
from assay.select.acquisition import make_acquisition
from assay.select.active import ActiveLearning

sys.path.insert(0, str(Path(__file__).parent))
from fi_common import RESULTS, machine, set_threads, table, write_json

PAPER_TABLE9 = {"FI": (19, 45, 372), "IV": (13, 15, 204), "BALD": (9, 15, 214)}


def table6_cnn(n_features: int, n_classes: int) -> nn.Module:
    """Table 6: Conv2d-ReLU (32, 14, 14), Conv2d-ReLU (64, 7, 7), Dropout, Linear-ReLU 256, K."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 256),
        nn.ReLU(),
        nn.Linear(256, n_classes),
    )


def _take(d: Dataset, pos: np.ndarray) -> Dataset:
    return d.subset(np.sort(pos))


def setup(task: str, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    if task == "adult":
        split = load_dataset("adult", seed=seed)
        order = rng.permutation(split.train.n)
        return {
            "learner": LogisticRegression(C=1.0),
            "labelled": _take(split.train, order[:300]),
            "pool": _take(split.train, order[300:5300]),
            "test": split.test.subset(stratified_subsample(split.test.y, 4200, seed)),
            "valid": split.valid.subset(stratified_subsample(split.valid.y, 1000, seed)),
            "batch": 500,
            "rounds": 9,
            "acquisitions": {
                "FI": make_acquisition("fi"),
                "IV": make_acquisition("iv"),
                "BALD": make_acquisition("bald"),
                "entropy": make_acquisition("entropy"),
                "random": make_acquisition("random"),
            },
        }
    split = load_dataset("fashion_mnist", seed=seed, max_rows=6000)
    order = rng.permutation(split.train.n)
    cnn = NetworkClassifier(
        table6_cnn, epochs=40, lr=1e-3, weight_decay=1e-4, batch_size=32, seed=seed
    )
    return {
        "learner": cnn,
        "labelled": _take(split.train, order[:60]),
        "pool": _take(split.train, order[60:480]),
        "test": split.test.subset(stratified_subsample(split.test.y, 1000, seed)),
        "valid": split.valid.subset(stratified_subsample(split.valid.y, 200, seed)),
        "batch": 30,
        "rounds": 14,
        "acquisitions": {
            "FI": make_acquisition("fi", scope="last", damping=1e-3),
            "IV": make_acquisition("iv"),
            "BALD": make_acquisition("bald"),
            "random": make_acquisition("random"),
        },
    }


def run(task: str, seed: int) -> dict[str, Any]:
    s = setup(task, seed)
    learner: BatchLearner = s["learner"]
    out = {}
    for name, acq in s["acquisitions"].items():
        loop = ActiveLearning(learner, acq, batch_size=s["batch"], rounds=s["rounds"], seed=seed)
        t0 = time.perf_counter()
        res = loop.run(s["labelled"], s["pool"], s["test"], valid=s["valid"])
        out[name] = {
            "n_labelled": res.curve["n_labelled"].tolist(),
            "score": res.curve["score"].tolist(),
            "acquire_seconds": float(res.curve["acquire_seconds"].sum()),
            "fit_seconds": float(res.curve["fit_seconds"].sum()),
            "seconds": time.perf_counter() - t0,
        }
        print(f"  seed {seed} {name}: final {res.curve['score'].iloc[-1]:.4f} "
              f"({out[name]['seconds']:.0f} s)", flush=True)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--task", choices=("adult", "fmnist"), default="adult")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)
    runs = [run(args.task, s) for s in range(args.seeds)]
    names = list(runs[0])
    sizes = runs[0][names[0]]["n_labelled"]
    mean = {n: (np.mean([r[n]["score"] for r in runs], axis=0) * 100).tolist() for n in names}
    acq = {n: float(np.mean([r[n]["acquire_seconds"] for r in runs])) for n in names}
    total = {n: float(np.mean([r[n]["seconds"] for r in runs])) for n in names}
    rows = [[size, *(f"{mean[n][i]:.2f}" for n in names)] for i, size in enumerate(sizes)]
    print(f"\n{args.task}: test accuracy % (mean of {args.seeds} seeds)")
    print(table(rows, ["labelled", *names]))
    col = 0 if args.task == "fmnist" else None
    trows = [
        [n, f"{total[n]:.0f}", f"{acq[n]:.1f}", PAPER_TABLE9[n][col] if col is not None and n in
         PAPER_TABLE9 else ""]
        for n in names
    ]  # fmt: skip
    print("\nTable 9 (seconds per run; paper: MNIST column)")
    print(table(trows, ["method", "total s", "acquisition s", "paper (MNIST)"]))
    from assay.plotting import figure_png, new_figure

    fig = new_figure()
    ax = fig.add_subplot()
    for n in names:
        ax.plot(sizes, mean[n], marker="o", label=n)
    ax.set_xlabel("labelled points")
    ax.set_ylabel("test accuracy %")
    ax.set_title(f"Active learning on {args.task} (mean of {args.seeds} seeds)")
    ax.legend()
    (RESULTS / f"fi_active_{args.task}.png").write_bytes(figure_png(fig))
    path = write_json(
        f"fi_active_{args.task}.json",
        {
            "protocol": __doc__,
            "seeds": args.seeds,
            "sizes": sizes,
            "mean_accuracy": mean,
            "acquisition_seconds": acq,
            "total_seconds": total,
            "paper_table9_seconds": PAPER_TABLE9,
            "runs": runs,
            "machine": machine(),
        },
    )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
