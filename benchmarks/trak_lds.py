"""TRAK's LDS: assay against traker 0.3.2 and dattri 0.3.0 on one small classifier, one run.

Task (issue 13, point 7): digits (1,797 x 64, 10 classes; assay's seeded stratified 60/20/20
split, standardised on train), an MLP (64 -> 32 -> 10, ReLU) trained in assay by full-batch Adam.
``--checkpoints`` models trained on the whole training set from different initialisations (seeds
0..C-1) are saved as plain arrays; all three methods attribute the same test examples to the same
training examples from those same checkpoints, with the same projection dimension:

- assay: :mod:`assay.llm.trak` (``benchmarks/peers/trak_assay.py``, assay's venv);
- traker 0.3.2: ``TRAKer`` with its CPU ``BasicProjector`` (``benchmarks/peers/trak_traker.py``);
- dattri 0.3.0: ``TRAKAttributor`` (``benchmarks/peers/trak_dattri.py``).

Each runs as a child process (the peers from ``.venv-attr``, ``make attr-peers``), with
``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``; ``--repeats`` rounds, every run once a
round (so that a shared machine's load falls on all alike), median times: the runner's own
attribution time (in-process) and the whole process (start-up, imports, loading the checkpoints
included), and the runner's peak RSS. Every attribution matrix (m_test, n_train)
is scored by the same LDS code (:mod:`assay.evaluate.lds`): ``--n-subsets`` random half subsets,
retrained in one batched fit by the same MLP learner (initialisation seed 0), the actual
correct-class margins correlated (Spearman, across subsets) with the predicted ones, per test
example.

Then the same solve on every side (unless ``--no-damped-peers``): ``assay+nodamp`` is assay with
``damping=0``, the peers' default, which checks that the runners compute the same thing; and
``traker+damp`` / ``dattri+damp`` are the peers given assay's default damping as their absolute
ridge (``lambda_reg``, ``regularization``; see :func:`peer_lambda`). The verdicts
compare assay (defaults) with each peer as a user gets it and as damped.

    make attr-peers                          # once: the peers' venv (.venv-attr)
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/trak_lds.py [--repeats 3]

Writes ``benchmarks/results/trak_lds.json`` and prints the table and whether assay's LDS is at
least each peer's in less time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from assay.data import Dataset, load_dataset
from assay.evaluate.lds import lds_from_outputs, retrain_margins, subset_masks
from assay.learners.networks import MLPClassifier, make_mlp

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
ATTR_PY = ROOT / ".venv-attr" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("assay", "traker", "dattri")
ENV_1T = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def learner(args: argparse.Namespace, seed: int) -> MLPClassifier:
    return MLPClassifier(
        tuple(args.hidden),
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=seed,
    )


def make_task(args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    split = load_dataset(args.dataset, seed=0)
    test = split.test
    if args.n_test and args.n_test < test.n:
        test = test.subset(np.arange(args.n_test))
    return split.train, test


def write_inputs(args: argparse.Namespace, train: Dataset, test: Dataset, folder: Path) -> float:
    """Task and checkpoints as plain arrays in ``folder``; returns their mean test accuracy."""
    np.savez(
        folder / "task.npz",
        X_train=np.asarray(train.X, np.float32),
        y_train=np.asarray(train.y, np.int64),
        X_test=np.asarray(test.X, np.float32),
        y_test=np.asarray(test.y, np.int64),
        hidden=np.asarray(args.hidden, np.int64),
        n_classes=np.int64(train.n_classes),
    )
    accs = []
    for c in range(args.checkpoints):
        lr = learner(args, seed=c)
        data = lr.prepare(train)
        fitted = lr.fit(data, torch.ones(1, train.n, dtype=data.X.dtype))
        _, params = fitted.functional(0)
        np.savez(folder / f"ckpt_{c}.npz", **{k: v.numpy() for k, v in params.items()})
        Xt = torch.tensor(np.asarray(test.X), dtype=data.X.dtype)
        pred = fitted.predict_proba(Xt)[0].argmax(-1).numpy()
        accs.append(float(np.mean(pred == np.asarray(test.y))))
    return float(np.mean(accs))


def peer_lambda(folder: Path) -> float:
    """traker's absolute ridge equal to assay's default damping (1 x the kernel's mean eigenvalue).

    traker scales gradients by ``1/sqrt(p)`` (p parameters) and projects with N(0, 1) entries, so
    its kernel's mean eigenvalue is about ``||G||_F^2 / p`` (G the n x p margin gradients). dattri
    scales by ``1/sqrt(p)`` too but its ``BasicProjector`` also divides by ``sqrt(proj_dim)``: its
    value is this one over ``proj_dim``. One value for all checkpoints (the peers take one), the
    mean over checkpoints.
    """
    with np.load(folder / "task.npz") as f:
        X, y = torch.from_numpy(f["X_train"]), torch.from_numpy(f["y_train"])
        hidden, n_classes = [int(h) for h in f["hidden"]], int(f["n_classes"])
    module = make_mlp(X.shape[1], tuple(hidden), n_classes)

    def margin(p: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        z = torch.func.functional_call(module, p, (x[None],))[0]
        hot = torch.arange(n_classes) == t
        return (z * hot).sum() - torch.logsumexp(z.masked_fill(hot, float("-inf")), 0)

    values = []
    for c in range(len(list(folder.glob("ckpt_*.npz")))):
        with np.load(folder / f"ckpt_{c}.npz") as f:
            params = {k: torch.from_numpy(f[k]) for k in f.files}
        G = torch.func.vmap(torch.func.grad(margin), in_dims=(None, 0, 0))(params, X, y)
        p = sum(v.numel() for v in params.values())
        values.append(float(sum((g.double() ** 2).sum() for g in G.values())) / p)
    return float(np.mean(values))


def run_once(name: str, folder: Path, args: argparse.Namespace, label: str, extra: tuple) -> dict:
    """One whole-process run of a method's runner: its record, the process time, the scores.

    ``extra``: more runner arguments (``--lambda-abs`` for a peer, ``--damping`` for assay).
    """
    python = sys.executable if name == "assay" else str(ATTR_PY)
    out = folder / f"scores_{label}.npz"
    cmd = [python, str(PEERS / f"trak_{name}.py"), str(folder), str(out)]
    cmd += ["--proj-dim", str(args.proj_dim), "--seed", str(args.proj_seed), *extra]
    env = {**os.environ, **ENV_1T}
    if name == "assay":
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
    process_seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{label} failed")
    rec = json.loads(out.with_suffix(".json").read_text())
    rec["process_seconds"] = process_seconds
    with np.load(out) as f:
        rec["scores"] = f["scores"]
    return rec


def run_methods(
    runs: dict[str, tuple[str, tuple]], folder: Path, args: argparse.Namespace
) -> dict[str, dict]:
    """``runs`` (label -> method, extra arguments), ``--repeats`` rounds, each label once a round.

    Round-robin rather than one method's repeats back to back, so that a shared machine's load
    falls on every method alike; median times, the scores from the first round.
    """
    records: dict[str, list[dict]] = {label: [] for label in runs}
    for r in range(args.repeats):
        print(f"round {r + 1}/{args.repeats}: {', '.join(runs)}", flush=True)
        for label, (name, extra) in runs.items():
            records[label].append(run_once(name, folder, args, label, extra))
    results = {}
    for label, recs in records.items():
        results[label] = {
            "seconds": float(np.median([r["seconds"] for r in recs])),
            "process_seconds": float(np.median([r["process_seconds"] for r in recs])),
            "peak_rss_mb": float(np.median([r["peak_rss_mb"] for r in recs])),
            "all_seconds": [r["seconds"] for r in recs],
            "all_process_seconds": [r["process_seconds"] for r in recs],
            "args": list(runs[label][1]),
            "scores": recs[0]["scores"],
            **{
                k: v
                for k, v in recs[0].items()
                if k not in ("seconds", "process_seconds", "peak_rss_mb", "pid", "scores")
            },
        }
    return results


def score_lds(scores: np.ndarray, masks: np.ndarray, actual: np.ndarray) -> dict:
    lds, per = lds_from_outputs(scores, masks, actual)
    ok = per[~np.isnan(per)]
    return {
        "lds": lds,
        "lds_std": float(np.std(ok)),
        "lds_sem": float(np.std(ok) / np.sqrt(len(ok))),
        "per_test": per.tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--hidden", type=int, nargs="+", default=[32])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--checkpoints", type=int, default=5)
    ap.add_argument("--proj-dim", type=int, default=512)
    ap.add_argument("--proj-seed", type=int, default=0)
    ap.add_argument("--n-test", type=int, default=200, help="first N test examples (0: all)")
    ap.add_argument("--n-subsets", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument(
        "--no-damped-peers",
        action="store_true",
        help="skip the extra peer runs with assay's damping (as an absolute lambda)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "trak_lds.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    methods = ("assay",) if args.skip_peers else METHODS
    if not args.skip_peers and not ATTR_PY.exists():
        raise SystemExit("attribution peers' venv missing: run benchmarks/peers/setup_attr.sh")
    train, test = make_task(args)
    report: dict = {
        "task": {
            "dataset": args.dataset,
            "n_train": train.n,
            "n_test": test.n,
            "model": f"MLP {train.X.shape[1]}-{'-'.join(map(str, args.hidden))}-{train.n_classes}",
            "epochs": args.epochs,
            "checkpoints": args.checkpoints,
            "proj_dim": args.proj_dim,
            "n_subsets": args.n_subsets,
            "repeats": args.repeats,
        },
        "machine": platform.processor() or platform.machine(),
        "threads": 1,
    }
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        report["task"]["checkpoint_test_accuracy"] = write_inputs(args, train, test, folder)
        runs: dict[str, tuple[str, tuple]] = {name: (name, ()) for name in methods}
        if not args.skip_peers and not args.no_damped_peers:
            # same solve on both sides: assay undamped (the peers' default, checks the runners
            # agree) and the peers with assay's default damping as their absolute ridge
            runs["assay+nodamp"] = ("assay", ("--damping", "0"))
            lam = peer_lambda(folder)
            report["peer_lambda_abs"] = {"traker": lam, "dattri": lam / args.proj_dim}
            for name in METHODS[1:]:
                runs[f"{name}+damp"] = (
                    name,
                    ("--lambda-abs", repr(report["peer_lambda_abs"][name])),
                )
        results = run_methods(runs, folder, args)
    print(f"LDS: retraining {args.n_subsets} half subsets ...", flush=True)
    start = time.perf_counter()
    masks = subset_masks(train.n, args.n_subsets, seed=1)
    actual = retrain_margins(learner(args, seed=0), train, test, masks)
    report["lds_retrain_seconds"] = time.perf_counter() - start
    scores = {name: res.pop("scores") for name, res in results.items()}
    for name, res in results.items():
        res.update(score_lds(scores[name], masks, actual))
        # how close the methods' attributions are to each other (same checkpoints, same output)
        res["pearson_with_assay"] = float(
            np.corrcoef(scores[name].ravel(), scores["assay"].ravel())[0, 1]
        )
    report["methods"] = results
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.out}")


def print_table(report: dict) -> None:
    t = report["task"]
    print(
        f"\n{t['dataset']}, {t['model']}, n_train {t['n_train']}, n_test {t['n_test']}, "
        f"{t['checkpoints']} checkpoints (test acc {t['checkpoint_test_accuracy']:.3f}), "
        f"proj dim {t['proj_dim']}, LDS over {t['n_subsets']} half subsets, 1 thread"
    )
    head = f"{'method':<13}{'LDS':>7}{'+- sd':>7}{'sem':>7}{'attr s':>9}{'proc s':>9}{'RSS MB':>9}"
    print(head)
    methods = report["methods"]
    for name, m in methods.items():
        print(
            f"{name:<13}{m['lds']:>7.3f}{m['lds_std']:>7.3f}{m['lds_sem']:>7.3f}"
            f"{m['seconds']:>9.3f}{m['process_seconds']:>9.2f}{m['peak_rss_mb']:>9.0f}"
        )
    a = methods["assay"]
    verdicts = {}
    for name in (n for n in methods if n.split("+")[0] in METHODS[1:]):
        p = methods[name]
        met = a["lds"] >= p["lds"] and a["seconds"] < p["seconds"]
        verdicts[name] = met
        print(
            f"vs {name}: assay LDS >= peer LDS and time < peer time: "
            f"{'met' if met else 'NOT met'} (LDS {a['lds']:.3f} vs {p['lds']:.3f}, "
            f"diff {(a['lds'] - p['lds']) / np.hypot(a['lds_sem'], p['lds_sem']):+.1f} sem, "
            f"{p['seconds'] / a['seconds']:.2f}x faster in-process, "
            f"{p['process_seconds'] / a['process_seconds']:.2f}x as whole processes)"
        )
    report["target_met"] = verdicts


if __name__ == "__main__":
    main()
