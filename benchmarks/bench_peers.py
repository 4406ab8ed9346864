"""assay against pyDVL 0.10 and OpenDataVal 1.3 on the reference task, side by side in one run.

Task (issue 3, point 12): breast cancer, stratified 60/20/20 split (seed 0), features standardised
on train, 10% of training labels flipped (34 points), logistic regression equivalent to
scikit-learn's ``LogisticRegression(C=1)``, utility = validation accuracy (untrainable subsets
score 0). Budgets: 100 TMC permutations (pyDVL's relative truncation, rtol 0.01 after 40% burn-in),
2,000 MSR Banzhaf subsets, 500 Data-OOB bootstrap models.

    make peers                                 # once: the peers' own venv (.venv-peers)
    .venv/bin/python benchmarks/bench_peers.py [--repeats 3] [--skip-peers]

Writes ``benchmarks/results/peers.json`` and prints wall time, the ratio to each peer, and the
ROC-AUC of finding the flipped labels by lowest value. assay is timed in-process (median of
``--repeats``) and as a whole ``assay value`` process (start-up included); the peers in-process by
their own scripts (``benchmarks/peers/run_*.py``), and as whole processes.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from assay.data.task import TaskSpec, build_task
from assay.learners import LogisticRegression
from assay.utility import Utility
from assay.valuation import DataOOB, MSRBanzhaf, TMCShapley

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / ".venv-peers" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results"
SPEC = TaskSpec("breast_cancer", seed=0, flip_rate=0.1)
BUDGETS = {"tmc": 100, "banzhaf": 2000, "oob": 500}
CLI = {"tmc": "tmc-shapley", "banzhaf": "banzhaf", "oob": "data-oob"}
TARGETS = {"tmc": 20.0, "banzhaf": 20.0, "oob": 5.0}
#: issue 12.3: whole processes (start-up included) against pyDVL's
PROCESS_TARGETS = {"tmc": 20.0, "banzhaf": 20.0, "oob": 10.0}


def make_method(key: str, seed: int):  # type: ignore[no-untyped-def]
    if key == "tmc":
        return TMCShapley(BUDGETS["tmc"], truncation_rtol=0.01, burn_in=0.4, seed=seed)
    if key == "banzhaf":
        return MSRBanzhaf(BUDGETS["banzhaf"], seed=seed)
    return DataOOB(BUDGETS["oob"], seed=seed)


def run_assay(task, dtype: str, repeats: int) -> dict:  # type: ignore[no-untyped-def]
    is_flipped = np.isin(np.arange(task.train.n), task.flipped)
    out = {}
    for key in BUDGETS:
        times, aucs = [], []
        for r in range(repeats):
            utility = Utility(LogisticRegression(dtype=dtype), task.train, task.valid)
            start = time.perf_counter()
            result = make_method(key, seed=r).fit(utility)
            times.append(time.perf_counter() - start)
            aucs.append(roc_auc_score(is_flipped, -result.values))
        out[key] = {
            "seconds": float(np.median(times)),
            "all_seconds": times,
            "auc": float(np.mean(aucs)),
            "auc_std": float(np.std(aucs)),
            "all_auc": aucs,
            "samples": result.params["samples"],
        }
        print(
            f"  assay {dtype} {key}: {out[key]['seconds']:.3f} s, "
            f"AUC {out[key]['auc']:.3f} +- {out[key]['auc_std']:.3f}"
        )
    return out


def run_equal_time(task) -> dict:  # type: ignore[no-untyped-def]
    """What assay reaches in about the time pyDVL needs for 100 permutations: 1,000 of them."""
    is_flipped = np.isin(np.arange(task.train.n), task.flipped)
    utility = Utility(LogisticRegression(), task.train, task.valid)
    start = time.perf_counter()
    result = TMCShapley(1000, seed=0).fit(utility)
    seconds = time.perf_counter() - start
    auc = float(roc_auc_score(is_flipped, -result.values))
    print(f"  assay tmc, 1,000 permutations: {seconds:.2f} s, AUC {auc:.3f}")
    return {"tmc_1000": {"seconds": seconds, "auc": auc}}


def run_assay_processes(tmp: Path, repeats: int) -> dict:
    """Median seconds of ``repeats`` whole ``assay value`` processes a method, after one warm-up
    process (a first run after an install also compiles the bytecode and fills the file cache)."""
    exe = Path(sys.executable).with_name("assay")
    out = {}
    for number, (key, name) in enumerate(CLI.items()):
        cmd = [
            str(exe),
            "value",
            SPEC.source,
            "--flip-rate",
            str(SPEC.flip_rate),
            # the in-process task: one validation split (without it the CLI cross-fits K folds,
            # K times the work the peers do)
            "--valid-fraction",
            str(SPEC.valid_fraction),
            "--seed",
            str(SPEC.seed),
            "--method",
            name,
            "--budget",
            str(BUDGETS[key]),
            "--out",
            str(tmp / f"{key}.parquet"),
            "--overwrite",
        ]
        seconds = []
        for run in range(repeats + int(number == 0)):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            if number > 0 or run > 0:
                seconds.append(time.perf_counter() - start)
        out[key] = {"process_seconds": float(np.median(seconds)), "all_process_seconds": seconds}
    return out


def run_peer(
    script: str,
    task_file: Path,
    tmp: Path,
    jobs: int,
    seed: int = 0,
    methods: str = "tmc,banzhaf,oob",
) -> dict:
    """Run a peer's script in the peers' venv (a whole process) and read its JSON."""
    result = tmp / f"{script}-{seed}.json"
    runner = ROOT / "benchmarks" / "peers" / f"run_{script}.py"
    cmd = [str(PEERS_PY), str(runner), str(task_file), str(result), "--jobs", str(jobs)]
    cmd += ["--max-seconds", "900", "--seed", str(seed), "--methods", methods]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{script} failed")
    data = json.loads(result.read_text())
    data["process_seconds"] = total
    for m in data["methods"].values():
        m.pop("values", None)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="assay runs (seeds 0..R-1)")
    ap.add_argument("--peer-seeds", type=int, default=3, help="pyDVL TMC runs (seeds 0..S-1)")
    ap.add_argument(
        "--process-repeats", type=int, default=3, help="whole assay processes a method (median)"
    )
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--peer-jobs", type=int, default=1)
    args = ap.parse_args()
    task = build_task(SPEC)
    report: dict = {
        "task": SPEC.to_dict(),
        "budgets": BUDGETS,
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        task_file = tmp / "task.npz"
        np.savez(
            task_file,
            X_train=task.train.X,
            y_train=task.train.y,
            X_valid=task.valid.X,
            y_valid=task.valid.y,
            X_test=task.test.X,
            y_test=task.test.y,
            flipped=task.flipped,
        )
        print("assay in-process:")
        report["assay"] = {dt: run_assay(task, dt, args.repeats) for dt in ("float64", "float32")}
        report["assay_process"] = run_assay_processes(tmp, args.process_repeats)
        if not args.skip_peers:
            if not PEERS_PY.exists():
                raise SystemExit("peers venv missing: run `make peers` first")
            for peer in ("pydvl", "opendataval"):
                print(f"{peer} ...", flush=True)
                report[peer] = run_peer(peer, task_file, tmp, args.peer_jobs)
            # TMC's detection AUC varies a lot between seeds at 100 permutations: more pyDVL seeds
            tmc = report["pydvl"]["methods"]["tmc"]
            tmc["all_auc"], tmc["all_seconds"] = [tmc["auc"]], [tmc["seconds"]]
            # whole processes of one method each, to set beside assay's `assay value` processes
            process: dict[str, list[float]] = {key: [] for key in BUDGETS}
            for seed in range(1, args.peer_seeds):
                print(f"pydvl tmc seed {seed} ...", flush=True)
                extra = run_peer("pydvl", task_file, tmp, args.peer_jobs, seed, "tmc")
                tmc["all_auc"].append(extra["methods"]["tmc"]["auc"])
                tmc["all_seconds"].append(extra["methods"]["tmc"]["seconds"])
                process["tmc"].append(extra["process_seconds"])
            tmc["auc"] = float(np.mean(tmc["all_auc"]))
            tmc["seconds"] = float(np.median(tmc["all_seconds"]))
            for key in BUDGETS:
                if not process[key]:
                    print(f"pydvl {key} alone ...", flush=True)
                    alone = run_peer("pydvl", task_file, tmp, args.peer_jobs, 0, key)
                    process[key].append(alone["process_seconds"])
            report["pydvl"]["process_seconds_by_method"] = {
                key: float(np.median(v)) for key, v in process.items()
            }
        report["assay_equal_time"] = run_equal_time(task)
    print_table(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "peers.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {RESULTS / 'peers.json'}")


def print_table(report: dict) -> None:
    a = report["assay"]["float64"]
    head = f"{'method':<9}{'assay s':>9}{'AUC':>7}{'f32 s':>8}{'proc s':>8}"
    peers = [p for p in ("pydvl", "opendataval") if p in report]
    for p in peers:
        head += f"{p + ' s':>16}{'AUC':>7}{'ratio':>8}"
    print("\n" + head)
    for key in BUDGETS:
        row = (
            f"{key:<9}{a[key]['seconds']:>9.3f}{a[key]['auc']:>7.3f}"
            f"{report['assay']['float32'][key]['seconds']:>8.3f}"
            f"{report['assay_process'][key]['process_seconds']:>8.2f}"
        )
        for p in peers:
            m = report[p]["methods"][key]
            ratio = m["seconds"] / a[key]["seconds"]
            report.setdefault("ratios", {}).setdefault(p, {})[key] = ratio
            row += f"{m['seconds']:>16.2f}{m['auc']:>7.3f}{ratio:>7.0f}x"
        print(row)
    if "pydvl" in report and "process_seconds_by_method" in report["pydvl"]:
        whole = report["pydvl"]["process_seconds_by_method"]
        ratios = {k: whole[k] / report["assay_process"][k]["process_seconds"] for k in BUDGETS}
        report["ratios_process"] = {"pydvl": ratios}
        print(
            "whole processes vs pyDVL's (one method a process): "
            + ", ".join(
                f"{k} {whole[k]:.1f} s / {report['assay_process'][k]['process_seconds']:.1f} s"
                f" = {r:.1f}x (target {PROCESS_TARGETS[k]:.0f}x: "
                f"{'met' if r >= PROCESS_TARGETS[k] else 'NOT met'})"
                for k, r in ratios.items()
            )
        )
    if "pydvl" in report:
        print(
            "targets vs pyDVL: "
            + ", ".join(
                f"{k} >= {t:.0f}x: {'met' if report['ratios']['pydvl'][k] >= t else 'NOT met'}"
                for k, t in TARGETS.items()
            )
        )


if __name__ == "__main__":
    main()
