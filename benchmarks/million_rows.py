"""``assay audit`` on a million rows, as a user runs it (issue 12 point 5).

Two tables, each with 10% of its labels flipped (each to a uniformly drawn other class, seeded):

- ``synthetic``: 1,000,000 rows x 50 float64 features (``make_classification``: 10 informative,
  10 redundant, 30 noise features, two classes, ``class_sep=1.0``), written as Parquet;
- ``fashion``: Fashion-MNIST's 70,000 images x 784 pixel columns (uint8, from the Debian package
  ``dataset-fashion-mnist``, read with :func:`assay.data.files_loaders.read_idx`), the largest
  real table available offline, written as Parquet.

For each, the **CLI** (``assay audit FILE --target label --out scored.parquet --threads 2``) runs
as a child process; its wall time and peak resident memory (its own ``VmHWM``: see
:func:`run_child`) are measured from outside, so start-up, reading the file and writing the
scored table all count. The flipped-label ROC-AUC is that of ``label_quality`` ranking the
flipped rows first; "every row valued" means every row of the scored table has a finite
``label_quality``.

Targets (issue 12.5): 10 minutes on 2 cores, peak RSS under 4x the feature matrix. The feature
matrix is counted in float64 (what :class:`~assay.data.encode.TableEncoder` returns: n x d x 8
bytes); the float32 ratio is reported beside it.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/million_rows.py [--rows N] [--tables ...]

-> ``benchmarks/results/million_rows.json`` (``--json`` elsewhere for a smaller dev run) and a
printed table. The Parquet files go to ``--tmp`` (default ``/tmp/assay_million``), never the repo.
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "million_rows.json"
TARGET_SECONDS = 600.0
TARGET_RATIO = 4.0


def flip(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``round(rate * n)`` of them flipped to a uniformly drawn other class."""
    rng = np.random.default_rng(seed)
    k = int(y.max()) + 1
    rows = np.sort(rng.choice(len(y), size=round(rate * len(y)), replace=False))
    out = y.copy()
    out[rows] = (out[rows] + rng.integers(1, k, size=len(rows))) % k
    truth = np.zeros(len(y), bool)
    truth[rows] = True
    return out, truth


def synthetic(n: int, d: int, seed: int) -> tuple[pd.DataFrame, int]:
    """A ``make_classification`` table of ``n`` rows and ``d`` float64 features plus ``label``."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n,
        n_features=d,
        n_informative=10,
        n_redundant=10,
        n_classes=2,
        flip_y=0.0,
        class_sep=1.0,
        random_state=seed,
    )
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    frame["label"] = y.astype(np.int64)
    return frame, d


def fashion() -> tuple[pd.DataFrame, int]:
    """Fashion-MNIST's 70,000 images as 784 uint8 pixel columns plus ``label``."""
    from assay.data.files_loaders import fashion_mnist_dir, read_idx

    folder = fashion_mnist_dir()
    images = [read_idx(folder / f"{p}-images-idx3-ubyte.gz") for p in ("train", "t10k")]
    labels = [read_idx(folder / f"{p}-labels-idx1-ubyte.gz") for p in ("train", "t10k")]
    X = np.concatenate(images).reshape(-1, 784)
    frame = pd.DataFrame(X, columns=[f"p{j}" for j in range(784)])
    frame["label"] = np.concatenate(labels).astype(np.int64)
    return frame, 784


def adult() -> tuple[pd.DataFrame, int]:
    """UCI Adult as shipped (48,842 rows; numbers, string categoricals, missing values), with
    ``income`` > 50K as ``label``; the feature width is the audit's own encoding's (read back
    from its summary line)."""
    from assay.data.files_loaders import _read_table

    frame = _read_table("adult.parquet").drop(columns=["source"])  # which UCI file a row is from
    label = (frame.pop("income").astype(str).str.strip().str.rstrip(".") == ">50K").astype(np.int64)
    frame["label"] = label.to_numpy()
    return frame, 0


def run_child(
    cmd: list[str], threads: int, log: Path, limit: float | None = None
) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS bytes and exit status of one process, and its stdout; past
    ``limit`` seconds the process is killed (status -9; its peak RSS so far still counts).

    The peak is the child's own ``VmHWM`` (``/proc/PID/status``, read every 0.1 s until it
    exits), not ``os.wait4``'s ``ru_maxrss``: Linux keeps a process's ``maxrss`` across fork and
    exec, so that one never reads below this benchmark's own resident size when it forked (the
    Adult audit read 1.4 GB, the size this process had after making the Fashion table).
    """
    import threading

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
    }
    with open(log, "w") as err, open(log.with_suffix(".out"), "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        timer = threading.Timer(limit, proc.kill) if limit else None
        if timer is not None:
            timer.start()
        hwm = [0]
        done = threading.Event()

        def watch() -> None:  # the high-water mark only grows: keep the last one read
            while not done.is_set():
                try:
                    with open(f"/proc/{proc.pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                hwm[0] = max(hwm[0], int(line.split()[1]) * 1024)
                except (OSError, ValueError):
                    pass
                done.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, _ = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
        if timer is not None:
            timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, hwm[0], proc.returncode, log.with_suffix(".out").read_text()


def run_table(name: str, args: argparse.Namespace) -> dict:
    from sklearn.metrics import roc_auc_score

    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make = {"synthetic": lambda: synthetic(args.rows, args.features, args.seed)}
    frame, d = {**make, "fashion": fashion, "adult": adult}[name]()
    labels, truth = flip(frame["label"].to_numpy(), 0.1, args.seed)
    frame["label"] = labels
    n = len(frame)
    path = tmp / f"{name}_{n}.parquet"
    frame.to_parquet(path, index=False)
    del frame
    made = time.perf_counter() - t0
    scored = tmp / f"{name}_{n}_scored.parquet"
    cmd = [sys.executable, "-m", "assay", "audit", str(path), "--target", "label"]
    cmd += ["--out", str(scored), "--overwrite", "--threads", str(args.threads), "--progress"]
    if args.methods:
        cmd += ["--methods", args.methods]
    load_before = os.getloadavg()
    wall, rss, rc, stdout = run_child(cmd, args.threads, tmp / f"{name}_{n}.log", args.limit)
    load_after = os.getloadavg()
    matrix64 = n * d * 8
    if rc == -9 and args.limit:  # killed at the limit: what it reached, no ranking
        bars = (tmp / f"{name}_{n}.log").read_text().replace("\r", "\n").splitlines()
        return {
            "table": name,
            "rows": n,
            "features": d,
            "finished": False,
            "seconds": round(wall, 1),
            "killed_at_seconds": args.limit,
            "last_progress": [b.strip() for b in bars if b.strip()][-1:],
            "peak_rss_bytes": rss,
            "feature_matrix_bytes_float64": matrix64,
            "rss_ratio_float64": round(rss / matrix64, 2),
            "threads": args.threads,
            "methods": args.methods or "default",
            "command": " ".join(cmd[1:]),
            "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in load_after],
            "meets_time": False,
            "meets_memory": rss / matrix64 < TARGET_RATIO,
        }
    if rc != 0:
        tail = (tmp / f"{name}_{n}.log").read_text()[-3000:]
        raise SystemExit(f"assay audit failed on {name} (exit {rc}):\n{tail}")
    quality = pd.read_parquet(scored, columns=["label_quality"])["label_quality"].to_numpy()
    finite = int(np.isfinite(quality).sum())
    head = stdout.splitlines()[0] if stdout else ""  # "N rows, F features; methods: ..."
    if "features" in head:
        d = int(head.split(",")[1].split()[0])
        matrix64 = n * d * 8
    row = {
        "table": name,
        "rows": n,
        "features": d,
        "finished": True,
        "parquet_bytes": path.stat().st_size,
        "seconds_to_make": round(made, 1),
        "seconds": round(wall, 1),
        "peak_rss_bytes": rss,
        "feature_matrix_bytes_float64": matrix64,
        "rss_ratio_float64": round(rss / matrix64, 2),
        "rss_ratio_float32": round(rss / (matrix64 / 2), 2),
        "flipped": int(truth.sum()),
        "auc": round(float(roc_auc_score(truth, -quality)), 4),
        "rows_valued": finite,
        "every_row_valued": finite == n,
        "threads": args.threads,
        "methods": args.methods or "default",
        "command": " ".join(cmd[1:]),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in load_after],
        "summary": [line for line in stdout.splitlines()[:3]],
    }
    row["meets_time"] = wall <= TARGET_SECONDS
    row["meets_memory"] = row["rss_ratio_float64"] < TARGET_RATIO
    return row


def table(rows: list[dict]) -> str:
    head = (
        "| table | rows x features | Parquet MB | seconds (target 600) | peak RSS GB | "
        "RSS / float64 matrix (target < 4) | AUC | every row valued | load avg |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r['table']} | {r['rows']:,} x {r['features']} | {r.get('parquet_bytes', 0) / 1e6:.0f} "
        f"| {r['seconds']:.0f}{'' if r.get('finished', True) else ' (killed)'} "
        f"| {r['peak_rss_bytes'] / 2**30:.2f} | {r['rss_ratio_float64']:.2f} "
        f"| {r.get('auc', float('nan')):.4f} | {r.get('every_row_valued', False)} "
        f"| {r['load_before'][0]:.1f} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=["synthetic", "fashion"])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic table")
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tmp", default="/tmp/assay_million")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--limit", type=float, default=None, help="kill the audit after this many seconds"
    )
    parser.add_argument(
        "--methods",
        default="logistic,hgb,knn,knn-shapley",
        help="detectors passed to assay audit ('' for the audit's own default)",
    )
    args = parser.parse_args()
    unknown = set(args.tables) - {"synthetic", "fashion", "adult"}
    if unknown:
        raise SystemExit(f"unknown tables {sorted(unknown)}; use synthetic, fashion, adult")
    new = []
    for name in args.tables:
        new.append(run_table(name, args))
        print(json.dumps(new[-1]), flush=True)
    if args.json.exists():  # keep the other tables' rows from an earlier run of this script
        rows = [
            r for r in json.loads(args.json.read_text())["rows"] if r["table"] not in args.tables
        ]
        rows += new
    else:
        rows = new
    out = {
        "issue": "12.5",
        "targets": {"seconds": TARGET_SECONDS, "rss_over_float64_matrix": TARGET_RATIO},
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "peak_rss": "VmHWM of the audit's process (/proc/PID/status, polled every 0.1 s), bytes",
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
