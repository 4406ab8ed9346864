"""One thread policy (issue 12.4): the reference TMC on an idle machine and beside CPU-bound work.

Two measurements, each command a fresh ``assay`` process:

* ``busy``: ``assay value breast_cancer --method tmc-shapley --budget 100`` with the default
  threads (the policy: the CPUs this process may use, one thread for a problem below
  :data:`assay.parallel.SINGLE_THREAD_WORK`), first alone, then while one CPU-bound process per
  CPU spins beside it; and the same beside the spinners with ``--threads`` forced to the CPU
  count (what the policy avoids). Target: busy within 2x of idle.
* ``sizes``: one batched logistic fit (64 models) at growing rows x features, at 1 thread and at
  all CPUs, idle: where a second thread starts to pay, which sets the threshold.

    .venv/bin/python benchmarks/threads.py [--runs 3]   -> benchmarks/results/threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "threads.json"
SPIN = "while True: pass"
FIT = """
import sys, time, torch
from sklearn.datasets import make_classification
from assay.data.dataset import Dataset
from assay.learners import LogisticRegression
torch.set_num_threads(int(sys.argv[3]))
X, y = make_classification(int(sys.argv[1]), int(sys.argv[2]), random_state=0)
lr = LogisticRegression(); data = lr.prepare(Dataset.from_arrays(X, y))
half = torch.full((64, len(y)), 0.5, dtype=torch.float64)
w = torch.bernoulli(half, generator=torch.Generator().manual_seed(0))
lr.fit(data, w[:2]); t = time.perf_counter(); lr.fit(data, w); print(time.perf_counter() - t)
"""


def cpus() -> int:
    return len(os.sched_getaffinity(0))


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
        )
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def tmc_command(out: Path, threads: int | None) -> list[str]:
    cmd = [
        str(Path(sys.executable).parent / "assay"),
        "value",
        "breast_cancer",
        "--flip-rate",
        "0.1",
    ]
    cmd += ["--method", "tmc-shapley", "--budget", "100", "--out", str(out), "--overwrite"]
    return cmd + ([] if threads is None else ["--threads", str(threads)])


def median_run(cmd: list[str], runs: int) -> dict[str, Any]:
    times, rss = zip(*(timed(cmd) for _ in range(runs)), strict=True)
    return {
        "seconds": statistics.median(times),
        "all_seconds": list(times),
        "peak_rss_mib": max(rss),
    }


def busy_case(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "tmc.parquet"
        idle = median_run(tmc_command(out, None), runs)
        spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(cpus())]
        try:
            time.sleep(1.0)
            busy = median_run(tmc_command(out, None), runs)
            forced = median_run(tmc_command(out, cpus()), runs)
        finally:
            for p in spinners:
                p.kill()
    return {
        "idle": idle,
        "busy": busy,
        "busy_forced_threads": forced,
        "busy_over_idle": busy["seconds"] / idle["seconds"],
        "forced_over_idle": forced["seconds"] / idle["seconds"],
    }


def sizes_case(runs: int) -> list[dict[str, Any]]:
    rows = []
    for n, d in ((1000, 16), (2000, 64), (8000, 128), (16000, 256), (32000, 256)):
        row: dict[str, Any] = {"rows": n, "features": d, "work": n * d}
        for t in (1, cpus()):
            out = [
                float(
                    subprocess.run(
                        [sys.executable, "-c", FIT, str(n), str(d), str(t)],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                for _ in range(runs)
            ]
            row[f"seconds_{t}_threads"] = statistics.median(out)
        row["speedup"] = row["seconds_1_threads"] / row[f"seconds_{cpus()}_threads"]
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="busy,sizes")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    report: dict[str, Any] = {"cpus": cpus(), "load_before": os.getloadavg()}
    if "busy" in args.cases:
        report["busy"] = busy_case(args.runs)
        b = report["busy"]
        print(
            f"idle {b['idle']['seconds']:.2f} s, busy {b['busy']['seconds']:.2f} s "
            f"({b['busy_over_idle']:.2f}x, target <= 2x: "
            f"{'met' if b['busy_over_idle'] <= 2 else 'NOT met'}), busy with --threads "
            f"{cpus()}: {b['busy_forced_threads']['seconds']:.2f} s ({b['forced_over_idle']:.2f}x)"
        )
    if "sizes" in args.cases:
        report["sizes"] = sizes_case(args.runs)
    report["load_after"] = os.getloadavg()
    report["peak_rss_mib_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
