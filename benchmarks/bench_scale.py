"""assay against pyDVL 0.10 off the reference task: multiclass, wide, longer permutations, big LOO.

Cases (issue 12, points 1, 2 and 9), each run side by side with pyDVL in the same invocation:

* ``oob_digits``  Data-OOB, ``--oob-models`` (500) bootstrap models, ``digits`` (10 classes, 64 px)
* ``oob_mnist5k`` Data-OOB, ``--mnist-models`` models, ``mnist5k`` (10 classes, 784 px)
* ``tmc``         TMC Shapley, ``--permutations`` on ``--tmc-rows`` synthetic rows x 20 features;
  pyDVL is capped at ``--peer-seconds`` and its time extrapolated linearly per finished
  permutation (``seconds / used * requested``) when it hits the cap
* ``loo``         leave-one-out on ``--loo-rows`` synthetic rows x 20 features (assay only: pyDVL
  0.10 has no batched LOO; its LOO is n + 1 sequential fits)

Every case runs in its own child process (so its peak RSS is its own: ``ru_maxrss`` of that child,
read with ``os.wait4``). Threads: one for both sides (``OMP_NUM_THREADS=1`` and
``MKL_NUM_THREADS=1`` in every child's environment, ``torch.set_num_threads(1)`` in assay's,
pyDVL's runner limits BLAS to 1 thread with threadpoolctl). The machine is shared, so compare the
ratios, not the absolute times.

    .venv/bin/python benchmarks/bench_scale.py [--cases oob_digits,tmc] [--skip-peers]

Writes ``benchmarks/results/scale.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / ".venv-peers" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results"
CASES = ("oob_digits", "oob_mnist5k", "tmc", "loo")
TARGETS = {"oob_digits": 10.0, "oob_mnist5k": 5.0, "tmc": 30.0}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ------------------------------------------------------------------ tasks
def synthetic(n_train: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Binary make_classification, 20 features (10 informative), 10% train labels flipped."""
    from sklearn.datasets import make_classification

    from assay.data.dataset import Dataset
    from assay.data.splits import split_dataset

    X, y = make_classification(
        int(n_train / 0.6) + 1, 20, n_informative=10, random_state=seed, flip_y=0.0
    )
    split = split_dataset(Dataset.from_arrays(X, y), seed=seed)
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(split.train.n, split.train.n // 10, replace=False))
    yt = np.array(split.train.y)
    yt[flipped] = 1 - yt[flipped]
    train = Dataset.from_arrays(np.array(split.train.X), yt, classes=split.train.classes)
    return train, split.valid, split.test, flipped


def task_for(case: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from assay.data.task import TaskSpec, build_task

    if case in ("oob_digits", "oob_mnist5k"):
        t = build_task(TaskSpec(case.split("_")[1], seed=0, flip_rate=0.1))
        return t.train, t.valid, t.test, np.asarray(t.flipped)
    return synthetic(args.tmc_rows if case == "tmc" else args.loo_rows)


# ------------------------------------------------------------------ assay side (child process)
def run_assay_case(case: str, args: argparse.Namespace) -> dict[str, Any]:
    import resource

    import torch
    from sklearn.metrics import roc_auc_score

    from assay.learners import LogisticRegression
    from assay.utility import Utility
    from assay.valuation import DataOOB, LeaveOneOut, TMCShapley

    torch.set_num_threads(1)
    train, valid, _, flipped = task_for(case, args)
    utility = Utility(LogisticRegression(), train, valid)
    if case == "oob_digits":
        method: Any = DataOOB(args.oob_models, seed=0)
    elif case == "oob_mnist5k":
        method = DataOOB(args.mnist_models, seed=0)
    elif case == "tmc":
        method = TMCShapley(args.permutations, truncation_rtol=0.01, burn_in=0.4, seed=0)
    else:
        method = LeaveOneOut()
    start = time.perf_counter()
    result = method.fit(utility)
    seconds = time.perf_counter() - start
    is_flipped = np.isin(np.arange(train.n), flipped)
    return {
        "seconds": seconds,
        "auc": float(roc_auc_score(is_flipped, -np.nan_to_num(result.values))),
        "n_train": train.n,
        "n_features": train.n_features,
        "n_classes": train.n_classes,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------ process plumbing
def run_child(cmd: list[str]) -> tuple[int, float, float, str, float]:
    """Run ``cmd``: (exit status, wall s, child peak RSS MiB, stderr tail, child CPU s).

    CPU seconds are reported beside wall seconds because the machine is shared: another job
    stretches both sides' wall time by how much it happens to overlap each, not their CPU time.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-2000:]
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024, tail, cpu


def assay_child(case: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", case, "--child-out", str(out), *forward(args)]
    rc, wall, rss, tail, cpu = run_child(cmd)
    if rc != 0:
        raise SystemExit(f"assay {case} failed:\n{tail}")
    res: dict[str, Any] = json.loads(out.read_text())
    res["process_seconds"], res["peak_rss_mib"], res["process_cpu_seconds"] = wall, rss, cpu
    return res


def pydvl_child(
    case: str, args: argparse.Namespace, tmp: Path, sklearn_tol: float = 1e-4
) -> dict[str, Any]:
    train, valid, test, flipped = task_for(case, args)
    task_file = tmp / f"{case}.npz"
    np.savez(
        task_file,
        X_train=train.X,
        y_train=train.y,
        X_valid=valid.X,
        y_valid=valid.y,
        X_test=test.X,
        y_test=test.y,
        flipped=flipped,
    )
    out = tmp / f"{case}-pydvl.json"
    runner = ROOT / "benchmarks" / "peers" / "run_pydvl.py"
    cmd = [str(PEERS_PY), str(runner), str(task_file), str(out), "--blas-threads", "1"]
    cmd += ["--max-seconds", str(args.peer_seconds), "--seed", "0"]
    cmd += ["--sklearn-tol", str(sklearn_tol)]
    if case == "tmc":
        cmd += ["--methods", "tmc", "--permutations", str(args.permutations)]
    else:
        models = args.oob_models if case == "oob_digits" else args.mnist_models
        cmd += ["--methods", "oob", "--oob-models", str(models)]
    rc, wall, rss, tail, cpu = run_child(cmd)
    if rc != 0:
        raise SystemExit(f"pydvl {case} failed:\n{tail}")
    m = json.loads(out.read_text())["methods"]["tmc" if case == "tmc" else "oob"]
    used, requested = m["budget"]["used"], m["budget"]["requested"]
    seconds = m["seconds"]
    res = {
        "seconds_measured": seconds,
        "budget_used": used,
        "budget_requested": requested,
        "hit_time_cap": bool(m["hit_time_cap"]),
        "seconds": seconds * requested / max(used, 1) if m["hit_time_cap"] else seconds,
        "extrapolated": bool(m["hit_time_cap"]),
        "auc": m["auc"],
        "process_seconds": wall,
        "process_cpu_seconds": cpu,
        "peak_rss_mib": rss,
        "sklearn_tol": sklearn_tol,
    }
    return res


def forward(args: argparse.Namespace) -> list[str]:
    return [
        "--oob-models",
        str(args.oob_models),
        "--mnist-models",
        str(args.mnist_models),
        "--permutations",
        str(args.permutations),
        "--tmc-rows",
        str(args.tmc_rows),
        "--loo-rows",
        str(args.loo_rows),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--oob-models", type=int, default=500)
    ap.add_argument("--mnist-models", type=int, default=50)
    ap.add_argument("--permutations", type=int, default=20)
    ap.add_argument("--tmc-rows", type=int, default=1000)
    ap.add_argument("--loo-rows", type=int, default=10_000)
    ap.add_argument("--peer-seconds", type=float, default=300.0, help="pyDVL cap per case")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument(
        "--optimum-tol",
        type=float,
        default=1e-8,
        help="also run pyDVL's Data-OOB with this LogisticRegression tol (0: skip)",
    )
    ap.add_argument("--out", default=str(RESULTS / "scale.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        Path(args.child_out).write_text(json.dumps(run_assay_case(args.child, args)))
        return
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    report: dict[str, Any] = {
        "threads": "1 (OMP/MKL/OPENBLAS_NUM_THREADS=1; torch.set_num_threads(1); pyDVL "
        "threadpoolctl 1)",
        "args": {k: v for k, v in vars(args).items() if not k.startswith("child")},
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for case in cases:
            row: dict[str, Any] = {"assay": assay_child(case, args, tmp / f"{case}.json")}
            print(f"assay {case}: {row['assay']['seconds']:.2f} s", flush=True)
            if case != "loo" and not args.skip_peers:
                if not PEERS_PY.exists():
                    raise SystemExit("peers venv missing: bash benchmarks/peers/setup_peers.sh")
                row["pydvl"] = pydvl_child(case, args, tmp)
                row["ratio"] = row["pydvl"]["seconds"] / row["assay"]["seconds"]
                row["ratio_process_cpu"] = (
                    row["pydvl"]["process_cpu_seconds"] / row["assay"]["process_cpu_seconds"]
                )
                print(f"pydvl {case}: {row['pydvl']['seconds']:.2f} s", flush=True)
                if case.startswith("oob") and args.optimum_tol:
                    # scikit-learn's default tol stops lbfgs short of the optimum assay solves
                    # to; this run asks lbfgs for the optimum too (equal accuracy)
                    opt = pydvl_child(case, args, tmp, args.optimum_tol)
                    row["pydvl_at_optimum"] = opt
                    row["ratio_at_optimum"] = opt["seconds"] / row["assay"]["seconds"]
                    print(f"pydvl {case} tol {args.optimum_tol}: {opt['seconds']:.2f} s")
            report["cases"][case] = row
    print_table(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.out}")


def print_table(report: dict[str, Any]) -> None:
    print(
        f"\n{'case':<12}{'assay s':>9}{'AUC':>7}{'RSS MiB':>9}"
        f"{'pyDVL s':>10}{'AUC':>7}{'RSS MiB':>9}{'ratio':>8}  target"
    )
    for case, row in report["cases"].items():
        a = row["assay"]
        line = f"{case:<12}{a['seconds']:>9.2f}{a['auc']:>7.3f}{a['peak_rss_mib']:>9.0f}"
        if "pydvl" in row:
            p = row["pydvl"]
            star = "*" if p["extrapolated"] else " "
            line += f"{p['seconds']:>9.1f}{star}{p['auc']:>7.3f}{p['peak_rss_mib']:>9.0f}"
            line += f"{row['ratio']:>7.1f}x"
            if case in TARGETS:
                ok = row["ratio"] >= TARGETS[case]
                line += f"  >= {TARGETS[case]:.0f}x: {'met' if ok else 'NOT met'}"
            line += f"  (process CPU {row['ratio_process_cpu']:.1f}x"
            if "ratio_at_optimum" in row:
                line += f"; vs lbfgs run to the optimum {row['ratio_at_optimum']:.1f}x"
            line += ")"
        print(line)
    print("* pyDVL hit its time cap: seconds extrapolated linearly from the budget it finished")


if __name__ == "__main__":
    main()
