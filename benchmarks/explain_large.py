"""``assay explain`` on a 40,000-row table with its defaults, as a user runs it (issue 12 point 7).

The table is UCI Adult as shipped (``src/assay/data/files/adult.parquet``: 48,842 rows, strings,
gaps, target ``income``), written as CSV: 500 seeded rows are held out as new predictions, and of
the other 48,342 the command keeps 40,000 as the training points (the players) and 8,342 as the
validation rows the explainer learns on (``--valid-fraction 0.17256``).

Two runs of the **CLI**, each a child process timed from outside (wall and peak resident memory
by ``os.wait4``), so start-up, reading, encoding and saving count:

- ``default``: ``assay explain adult.csv --target income -o OUT`` (settings chosen from n; the
  chosen line is printed by the command and recorded);
- ``converged``: the same players and utility with ``--converged-pool`` (4x) sub-models and
  ``--converged-epochs`` (400) epochs at patience 40: the reference the default is measured
  against.

The error of the default explainer is measured on the 500 held-out rows, for the label the
service predicts: relative L2 of the (500 x 40,000) value matrices, the mean per-prediction
Pearson and Spearman correlation of point values, and the same for the per-group values
(one number per group). Both explainers' values are efficient (each prediction's values sum to
its v(1) - v(0)), so the error is in how that sum is split.

Target: the default run under 5 minutes on 2 cores.

    PYTHONPATH=src .venv/bin/python benchmarks/explain_large.py [--skip-converged]

-> ``benchmarks/results/explain_large.json`` and a printed table; the CSV and the explainers go
to ``--tmp`` (default ``/tmp/assay_explain_large``), never the repo.
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
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "explain_large.json"
TARGET_SECONDS = 300.0
N_TRAIN = 40_000
N_TEST = 500


def write_table(tmp: Path, seed: int) -> tuple[Path, Path, float]:
    """Adult as CSV minus ``N_TEST`` held-out rows (written apart); the valid fraction."""
    frame = pd.read_parquet(ROOT / "src" / "assay" / "data" / "files" / "adult.parquet")
    frame = frame.drop(columns=["source"])
    rng = np.random.default_rng(seed)
    test_rows = np.sort(rng.choice(len(frame), size=N_TEST, replace=False))
    keep = np.setdiff1d(np.arange(len(frame)), test_rows)
    data, test = tmp / "adult.csv", tmp / "adult_new.csv"
    frame.iloc[keep].to_csv(data, index=False)
    frame.iloc[test_rows].drop(columns=["income"]).to_csv(test, index=False)
    valid_fraction = round((len(keep) - N_TRAIN) / len(keep), 5)
    return data, test, valid_fraction


def run_cli(argv: list[str], threads: int, logs: Path) -> dict[str, Any]:
    """One ``assay`` child process: wall seconds, CPU seconds, peak RSS, what it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "assay", *argv, "--threads", str(threads)]
    err_path, out_path = logs.with_suffix(".err"), logs.with_suffix(".out")
    with open(err_path, "w") as err, open(out_path, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err_path.read_text()[-3000:]}")
    chosen = [ln for ln in err_path.read_text().splitlines() if "players" in ln and "pool" in ln]
    return {
        "argv": argv,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "settings_line": chosen[0] if chosen else None,
        "stdout": out_path.read_text().strip().splitlines()[-2:],
    }


def group_values(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(m, n) point values -> (m, N) group totals."""
    out = np.zeros((values.shape[0], int(groups.max()) + 1))
    np.add.at(out.T, groups, values.T)
    return out


def row_correlations(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean over rows of the Pearson and Spearman correlation of a[i] and b[i]."""
    from scipy.stats import rankdata

    def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = x - x.mean(1, keepdims=True)
        y = y - y.mean(1, keepdims=True)
        den = np.sqrt((x * x).sum(1) * (y * y).sum(1))
        return (x * y).sum(1) / np.where(den > 0, den, np.inf)

    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    return {"pearson": float(pearson(a, b).mean()), "spearman": float(pearson(ra, rb).mean())}


def compare(default_dir: Path, converged_dir: Path, test: Path) -> dict[str, Any]:
    """Errors of the default explainer's values against the converged one's on held-out rows."""
    from assay.explain import DataExplainer

    fast, ref = DataExplainer.load(default_dir), DataExplainer.load(converged_dir)
    rows = pd.read_csv(test)
    X = fast.encode(rows)
    y = ref.predict(X)
    vf, vr = fast.values(X, y), ref.values(X, y)
    out: dict[str, Any] = {
        "relative_l2": float(np.linalg.norm(vf - vr) / np.linalg.norm(vr)),
        "points": row_correlations(vf, vr),
        "efficiency_gap": float(np.abs(vf.sum(1) - vr.sum(1)).max()),
    }
    if fast.groups is not None and ref.groups is not None:
        same = bool(np.array_equal(fast.groups, ref.groups))
        gf, gr = group_values(vf, fast.groups), group_values(vr, ref.groups)
        out["same_groups"] = same
        out["groups"] = {
            "relative_l2": float(np.linalg.norm(gf - gr) / np.linalg.norm(gr)),
            **row_correlations(gf, gr),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tmp", type=Path, default=Path("/tmp/assay_explain_large"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--converged-pool", type=int, default=None, help="default: 4x the default's")
    p.add_argument("--converged-epochs", type=int, default=400)
    p.add_argument("--skip-converged", action="store_true")
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    args.tmp.mkdir(parents=True, exist_ok=True)
    data, test, valid_fraction = write_table(args.tmp, args.seed)
    base = [
        "explain", str(data), "--target", "income", "--valid-fraction", str(valid_fraction),
        "--seed", str(args.seed), "--overwrite", "--restart",
    ]  # fmt: skip
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "table": {"rows": N_TRAIN, "held_out": N_TEST, "valid_fraction": valid_fraction},
        "target_s": TARGET_SECONDS,
    }

    def save() -> None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")

    default_dir = args.tmp / "default"
    report["default"] = run_cli([*base, "-o", str(default_dir)], args.threads, args.tmp / "default")
    report["default"]["met"] = report["default"]["wall_s"] < TARGET_SECONDS
    info = json.loads((default_dir / "explainer.json").read_text())["info"]
    settings = info["settings"]
    report["default"]["settings"] = settings
    report["default"]["explainer"] = {
        k: info[k] for k in ("seconds_utility", "seconds_explainer", "best_epoch", "epochs_run")
    }
    save()
    print(json.dumps(report["default"], indent=1), flush=True)
    if not args.skip_converged:
        pool = args.converged_pool or 4 * int(settings["n_subsets"])
        conv_dir = args.tmp / "converged"
        conv = [
            *base, "-o", str(conv_dir), "--n-subsets", str(pool),
            "--epochs", str(args.converged_epochs), "--param", "patience=40",
        ]  # fmt: skip
        report["converged"] = run_cli(conv, args.threads, args.tmp / "converged")
        report["error_vs_converged"] = compare(default_dir, conv_dir, test)
        save()
    d = report["default"]
    print(f"\n{'run':<11}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}  settings")
    for name in ("default", "converged"):
        if name in report:
            r = report[name]
            print(f"{name:<11}{r['wall_s']:>9}{r['cpu_s']:>9}{r['peak_rss_mib']:>10}  "
                  f"{r['settings_line']}")  # fmt: skip
    verdict = "met" if d["met"] else "NOT met"
    print(f"target: default under {TARGET_SECONDS:.0f} s -> {d['wall_s']} s ({verdict})")
    if "error_vs_converged" in report:
        print("error vs converged:", json.dumps(report["error_vs_converged"]))


if __name__ == "__main__":
    main()
