"""Data Banzhaf (MSR) with neural networks at the public workload (issue 12, point 6).

The workload: MSR Banzhaf with ``--models`` (10,000) MLPs 784-128-10 (101,770 parameters), each
trained for 5 epochs by Adam (lr 1e-3, no weight decay) in mini-batches of 64 on its random half
of 10,000 Fashion-MNIST images, utility = accuracy on 2,000 validation images. The 12,000 images
are a seeded class-stratified sample of the 70,000 of the Debian package
``dataset-fashion-mnist`` (pixels in [0, 1], not standardised), split 10,000 / 2,000 stratified;
10% of the training labels are flipped (``assay.flip_labels``, seed 0) and recorded, and the
noisy-label AUC says how well low values find them (1.0: every flipped row below every clean
one). Without the Debian package the script uses all of ``mnist5k`` (4,000 / 1,000) and says so.

Models are trained by assay's batched network learner (``MLPClassifier``), which for a plain
ReLU MLP takes the hand-written batched path of :mod:`assay.learners.mlp_fast`.

The same models are also scored by validation log-likelihood, a second MSR estimate at no
extra training (``noisy_label_auc_log_likelihood``): accuracy moves in steps of 1/2,000, which
one training row rarely shifts, so its Banzhaf values are mostly noise at this size.

Target: under 60 minutes on 2 CPU cores; under 2 minutes on one data-centre GPU
(``--device cuda``, ``make bench-gpu``). A run with fewer models extrapolates the full run's
time linearly in the number of models (each model costs the same); on a shared machine the
wall time follows the load, so the JSON also projects from CPU time (``..._idle``). Two worker
processes of one thread each (``--jobs 2 --threads 1``) waste less CPU than two threads of one
process when the cores are shared (no spinning at each small product's barrier).

    PYTHONPATH=src python benchmarks/nn_banzhaf.py --models 256 --jobs 2 --threads 1 \
        --out benchmarks/results/nn_banzhaf_256.json
    PYTHONPATH=src python benchmarks/nn_banzhaf.py --jobs 2 --threads 1   # all 10,000 models

Writes ``benchmarks/results/nn_banzhaf.json`` (``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FULL_MODELS = 10_000
TARGET_MINUTES = {"cpu": 60.0, "cuda": 2.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=FULL_MODELS, help="MSR subsets (= models)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch / BLAS threads")
    p.add_argument(
        "--jobs", type=int, default=1, help="worker processes (loky, 1 thread each); 1: in-process"
    )
    p.add_argument("--out", type=Path, default=None, help="result JSON")
    p.add_argument("--rows", type=int, default=10_000, help="training rows (players)")
    p.add_argument("--valid-rows", type=int, default=2_000, help="validation rows (utility)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=64, help="mini-batch size")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--chunk", type=int, default=None, help="models per fit (default: learner's)")
    p.add_argument("--round", type=int, default=1000, help="subsets per MSR round")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if min(args.models, args.threads, args.jobs) < 1:
        p.error(
            f"--models, --threads, --jobs must be >= 1, got {args.models}, {args.threads}, "
            f"{args.jobs}"
        )
    if args.out is None:
        suffix = "" if args.device == "cpu" else f"_{args.device.split(':')[0]}"
        args.out = RESULTS / f"nn_banzhaf{suffix}.json"
    return args


def load_task(args: argparse.Namespace) -> tuple[Any, Any, np.ndarray, str]:
    """Training set with 10% flipped labels, validation set, the flipped rows, the data's name."""
    from assay.data import flip_labels, load_dataset
    from assay.errors import MissingDependencyError

    total = args.rows + args.valid_rows
    fractions = (args.rows / total, args.valid_rows / total, 0.0)
    try:
        split = load_dataset(
            "fashion_mnist", seed=args.seed, fractions=fractions, scale=False, max_rows=total
        )
        name = "fashion_mnist"
    except MissingDependencyError:  # the Debian package is absent: all of mnist5k
        print("dataset-fashion-mnist is not installed: using all of mnist5k", file=sys.stderr)
        split = load_dataset("mnist5k", seed=args.seed, fractions=(0.8, 0.2, 0.0), scale=False)
        name = "mnist5k"
    train, flipped = flip_labels(split.train, 0.1, seed=args.seed)
    return train, split.valid, flipped, name


class TimedGame:
    """The utility (accuracy), also scoring each model by validation log-likelihood; prints the
    models trained so far and the running rate after every call.

    The second score comes from the same models, so the MSR Banzhaf values under both utilities
    cost one training run: ``ll_values`` is mean(log-likelihood | i in) - mean(... | i out).
    """

    def __init__(self, utility: Any, second: Any, total: int, jobs: int = 1) -> None:
        self.utility, self.second, self.total, self.jobs = utility, second, total, jobs
        self.train = utility.train
        n = utility.n_players
        self.sums = {"in": np.zeros(n), "out": np.zeros(n)}
        self.counts = {"in": np.zeros(n), "out": np.zeros(n)}
        self.scores: dict[str, list[np.ndarray]] = {"accuracy": [], "log_likelihood": []}
        self.done, self.start = 0, time.perf_counter()
        self.worker_cpu = 0.0

    @property
    def n_players(self) -> int:
        return int(self.utility.n_players)

    def __call__(self, subsets: Any) -> Any:
        from assay.parallel import map_tasks

        masks = np.asarray(subsets, bool)
        # one task per worker (each a few chunks of models), so the data is pickled once per
        # worker per round; a model does not depend on which chunk it is trained in
        parts = np.array_split(np.arange(len(masks)), self.jobs)
        tasks = [(self.utility, self.second, masks[p]) for p in parts if len(p)]
        results = map_tasks(score_models, tasks, n_jobs=self.jobs)
        acc = np.concatenate([r[0] for r in results])
        ll = np.concatenate([r[1] for r in results])
        if self.jobs > 1:  # the workers' CPU time, which this process's clock does not see
            self.worker_cpu += sum(r[2] for r in results)
        for side, m in (("in", masks), ("out", ~masks)):
            self.sums[side] += ll @ m
            self.counts[side] += m.sum(0)
        self.scores["accuracy"].append(acc)
        self.scores["log_likelihood"].append(ll)
        self.done += len(subsets)
        secs = time.perf_counter() - self.start
        rate = self.done / secs
        print(
            f"  {self.done:>6}/{self.total} models {secs:8.1f} s {rate:6.2f} models/s"
            f"  accuracy {acc.mean():.4f}",
            flush=True,
        )
        return acc

    @property
    def ll_values(self) -> np.ndarray:
        c_in, c_out = self.counts["in"], self.counts["out"]
        seen = (c_in > 0) & (c_out > 0)
        mean_in = self.sums["in"] / np.maximum(c_in, 1)
        mean_out = self.sums["out"] / np.maximum(c_out, 1)
        return np.where(seen, mean_in - mean_out, 0.0)


def score_models(task: tuple[Any, Any, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Accuracy and log-likelihood of models trained on ``masks`` (in chunks of the learner's),
    and the CPU seconds the task took (all threads of the process running it)."""
    from assay.parallel import chunked

    c0 = time.process_time()
    utility, second, masks = task
    acc, ll = np.empty(len(masks)), np.empty(len(masks))
    for s in chunked(len(masks), utility.batch_size):
        fitted = utility.fit(masks[s])
        acc[s] = utility.score_models(fitted)
        ll[s] = second.score_models(fitted)
    return acc, ll, time.process_time() - c0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from sklearn.metrics import roc_auc_score

    from assay import configure_process, set_threads
    from assay.learners import MLPClassifier
    from assay.parallel import backend
    from assay.utility import Utility
    from assay.valuation import MSRBanzhaf

    t_process = time.perf_counter()
    set_threads(args.threads)
    configure_process()
    load_before = load_average()
    train, valid, flipped, data_name = load_task(args)
    learner = MLPClassifier(
        hidden=(args.hidden,),
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=0.0,
        batch_size=args.batch,
        seed=args.seed,
        dtype="float32",
        device=args.device,
    )
    utility = Utility(learner, train, valid, "accuracy", batch_size=args.chunk)
    second = Utility(learner, train, valid, "log_likelihood", batch_size=args.chunk)
    game = TimedGame(utility, second, args.models, args.jobs)
    method = MSRBanzhaf(args.models, batch_size=min(args.round, args.models), seed=args.seed)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    with backend("loky" if args.jobs > 1 else "sequential", args.jobs):
        result = method.fit(game)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    # all threads and workers: what the run cost, whatever the load
    cpu_seconds = time.process_time() - c0 + game.worker_cpu
    cores = torch.get_num_threads() * args.jobs if args.jobs == 1 else args.jobs
    is_flipped = np.zeros(train.n, bool)
    is_flipped[flipped] = True
    values = np.asarray(result.values)
    auc = float(roc_auc_score(is_flipped, -values))  # low value = suspect
    ll_values = game.ll_values
    ll_auc = float(roc_auc_score(is_flipped, -ll_values))
    acc = np.concatenate(game.scores["accuracy"])
    ll = np.concatenate(game.scores["log_likelihood"])
    full_seconds = seconds * FULL_MODELS / args.models
    target = TARGET_MINUTES["cuda" if args.device.startswith("cuda") else "cpu"]
    n_params = sum(p.numel() for p in learner._module(utility.train_data).parameters())
    return {
        "benchmark": "nn_banzhaf",
        "data": data_name,
        "n_train": train.n,
        "n_valid": valid.n,
        "n_flipped": len(flipped),
        "models": args.models,
        "architecture": f"{train.n_features}-{args.hidden}-{train.n_classes}",
        "n_params": n_params,
        "epochs": args.epochs,
        "batch_size": args.batch,
        "optimizer": "adam",
        "lr": args.lr,
        "models_per_fit": utility.batch_size,
        "subsets_per_round": method.batch_size,
        "device": args.device,
        "device_name": torch.cuda.get_device_name(args.device)
        if args.device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "jobs": args.jobs,
        "torch": torch.__version__,
        "seconds": round(seconds, 2),
        "process_seconds": round(time.perf_counter() - t_process, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "models_per_second": round(args.models / seconds, 3),
        "projected_full_seconds": round(full_seconds, 1),
        "projected_full_minutes": round(full_seconds / 60, 2),
        "projected": args.models != FULL_MODELS,
        # the full run's wall time on idle cores, if the threads / workers divided the CPU time
        "projected_full_minutes_idle": round(
            cpu_seconds * FULL_MODELS / args.models / cores / 60, 2
        ),
        "target_minutes": target,
        "target_met": full_seconds / 60 < target,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "noisy_label_auc": round(auc, 4),
        "mean_value_flipped": float(values[is_flipped].mean()),
        "mean_value_clean": float(values[~is_flipped].mean()),
        # the same models' Banzhaf values under validation log-likelihood (a smoother utility)
        "noisy_label_auc_log_likelihood": round(ll_auc, 4),
        "mean_value_flipped_log_likelihood": float(ll_values[is_flipped].mean()),
        "mean_value_clean_log_likelihood": float(ll_values[~is_flipped].mean()),
        # do the models learn: validation accuracy / log-likelihood over the models
        "utility_accuracy": {
            "mean": float(acc.mean()),
            "std": float(acc.std()),
            "min": float(acc.min()),
            "max": float(acc.max()),
        },
        "utility_log_likelihood": {"mean": float(ll.mean()), "std": float(ll.std())},
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "cpus": os.cpu_count(),
    }


def print_table(r: dict[str, Any]) -> None:
    what = "projected from" if r["projected"] else "measured,"
    rows = [
        (
            "data",
            f"{r['data']}, {r['n_train']} train ({r['n_flipped']} flipped) / {r['n_valid']} valid",
        ),
        ("models", f"{r['models']} x MLP {r['architecture']} ({r['n_params']:,} params)"),
        ("training", f"{r['epochs']} epochs, Adam lr {r['lr']}, batch {r['batch_size']}"),
        ("device / threads", f"{r['device']} / {r['torch_threads']} x {r['jobs']} processes"),
        ("wall time", f"{r['seconds']:.1f} s ({r['models_per_second']:.2f} models/s)"),
        ("CPU time", f"{r['cpu_seconds']:.1f} s (all threads)"),
        ("10,000 models", f"{r['projected_full_minutes']:.1f} min ({what} {r['models']})"),
        ("  on idle cores", f"{r['projected_full_minutes_idle']:.1f} min (CPU time / threads)"),
        ("target", f"< {r['target_minutes']:g} min: {'met' if r['target_met'] else 'NOT met'}"),
        ("peak RSS", f"{r['peak_rss_mib']:.0f} MiB"),
        ("noisy-label AUC", f"{r['noisy_label_auc']:.3f} (accuracy utility)"),
        ("  log-likelihood", f"{r['noisy_label_auc_log_likelihood']:.3f} (same models)"),
        (
            "model accuracy",
            f"{r['utility_accuracy']['mean']:.4f} +- {r['utility_accuracy']['std']:.4f}",
        ),
        ("load average", f"{r['load_average_before']} -> {r['load_average_after']}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def main(argv: list[str] | None = None) -> None:
    from assay.runs import atomic_write_json

    args = parse_args(argv)
    result = run(args)
    atomic_write_json(args.out, result, overwrite=True)
    print_table(result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
