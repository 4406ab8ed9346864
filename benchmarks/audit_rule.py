"""Choose ``assay.audit``'s combination rule on data (issue 11.4): pick on some tables and seeds,
report on the others.

For each table and seed (the tables and the 10% flips of ``audit_vs_cleanlab.py``) the audit's
out-of-fold probabilities (batched logistic, HGB) and k-NN label agreement are computed once;
every candidate rule, through the library's own functions, is scored by the ROC-AUC of finding the
flipped rows:

- ``stack,w=W`` / ``stack+knn,w=W``: :func:`assay.audit.stack` (maximum-likelihood weighted
  geometric mean with class biases) of the logistic and HGB probabilities (and of the k-NN
  vote's smoothed probabilities), then :func:`~assay.audit.combine` with k-NN rank weight W;
- ``stack+knn,w=0+data-oob,v=V`` / ``+knn-shapley`` / ``+both``: the chosen stack with the data
  values of :mod:`assay.audit.values` mixed in by rank at total weight V (``--methods``);
- ``T=T,w=W`` (and ``,adaptive``: W shrunk by the k-NN vote's accuracy gap): weights from the
  accuracy on the given labels (:func:`~assay.audit.model_weights`, temperature T),
  :func:`~assay.audit.combine_probas`, then :func:`~assay.audit.combine`.

The rule with the best mean AUC on the *pick* runs (every table, ``--pick-seeds``, default 0 and
1) is reported with its AUC on the held-out runs (the other seeds). A second check leaves one
table out: the rule picked on the other tables' pick runs is scored on every run of the table left
out.

Usage: ``.venv/bin/python benchmarks/audit_rule.py`` -> ``benchmarks/results/audit_rule.json``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from audit_vs_cleanlab import TABLES, flip, load

RESULTS = Path(__file__).parent / "results" / "audit_rule.json"
TEMPERATURES = (0.005, 0.01, 0.02, 0.05, 1e9)  # 1e9: equal weights
KNN_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4)
VALUE_WEIGHTS = (0.1, 0.2, 0.3)


def detectors(name: str, seed: int, src: Path) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities, k-NN agreement, given labels and truth of one noisy table."""
    from assay.audit.detectors import compact_features, oof_hgb, oof_logistic, stratified_folds
    from assay.audit.graph import knn_graph
    from assay.audit.values import data_oob_scores, knn_shapley_scores
    from assay.data.io import encode_frame

    df, target = load(name, src)
    df = df[df[target].notna()].reset_index(drop=True)
    noisy, truth = flip(df, target, 0.1, seed)
    data, encoder, _ = encode_frame(noisy, target)
    X = np.asarray(data.X)
    std = X.std(0)
    Xs = (X - X.mean(0)) / np.where(std > 0, std, 1.0)
    y = np.asarray(data.y)
    fold = stratified_folds(y, 5, seed)
    Xc, cat = compact_features(X, encoder)
    _, nbr = knn_graph(Xs, 10)
    shares = np.stack([(y[nbr] == c).mean(1) for c in range(data.n_classes)], 1)
    return {
        "knn_shares": shares,
        "logistic": oof_logistic(Xs, y, data.n_classes, fold),
        "hgb": oof_hgb(Xc, y, data.n_classes, fold, seed, cat),
        "knn": (y[nbr] == y[:, None]).mean(1),
        "data_oob": data_oob_scores(Xs, y, seed),
        "knn_shapley": knn_shapley_scores(knn_graph(Xs, 100)[1], y),
        "y": y,
        "truth": truth,
    }


def knn_proba_of(shares: np.ndarray, k: int = 10) -> np.ndarray:
    """:func:`assay.audit.detectors.knn_proba` from the neighbours' label shares."""
    return (shares * k + 1.0) / (k + shares.shape[1])


def rule_aucs(d: dict[str, np.ndarray]) -> dict[str, float]:
    """AUC of every candidate rule (and of each detector alone) on one run."""
    from sklearn.metrics import roc_auc_score

    from assay.audit import combine, combine_probas, model_weights, stack

    y, truth = d["y"], d["truth"]
    rows = np.arange(len(y))
    probas = {m: d[m] for m in ("logistic", "hgb")}
    out = {m: float(roc_auc_score(truth, -(p[rows, y]))) for m, p in probas.items()}
    out["knn"] = float(roc_auc_score(truth, -d["knn"]))
    acc = {m: float((p.argmax(1) == y).mean()) for m, p in probas.items()}
    gap = float((d["knn_shares"].argmax(1) == y).mean()) - max(acc.values())
    with_knn = dict(probas, knn=knn_proba_of(d["knn_shares"]))
    for name, ps in (("stack", probas), ("stack+knn", with_knn)):
        score = stack(ps, y)[0][rows, y]
        for w in KNN_WEIGHTS:
            out[f"{name},w={w:g}"] = float(roc_auc_score(truth, -combine(score, d["knn"], w)))
    out["data-oob"] = float(roc_auc_score(truth, -d["data_oob"]))
    out["knn-shapley"] = float(roc_auc_score(truth, -d["knn_shapley"]))
    base = combine(stack(with_knn, y)[0][rows, y], None, 0.0)
    extras = {
        "data-oob": [d["data_oob"]],
        "knn-shapley": [d["knn_shapley"]],
        "both": [d["data_oob"], d["knn_shapley"]],
    }
    for name, vals in extras.items():
        mixed = np.mean([combine(None, v) for v in vals], 0)
        for v in VALUE_WEIGHTS:
            q = (1 - v) * base + v * mixed
            out[f"stack+knn,w=0+{name},v={v:g}"] = float(roc_auc_score(truth, -q))
    for t in TEMPERATURES:
        score = combine_probas(probas, model_weights(probas, y, t))[rows, y]
        for w in KNN_WEIGHTS:
            q = combine(score, d["knn"], w)
            out[f"T={t:g},w={w:g}"] = float(roc_auc_score(truth, -q))
            # the k-NN weight shrunk by the k-NN vote's accuracy gap to the best model
            wa = w * min(1.0, float(np.exp(gap / t)))
            q = combine(score, d["knn"], wa)
            out[f"T={t:g},w={w:g},adaptive"] = float(roc_auc_score(truth, -q))
    return out


def cached(name: str, seed: int, src: Path, cache: Path | None) -> dict[str, np.ndarray]:
    """:func:`detectors`, kept in ``cache`` (one ``.npz`` per table and seed) when given."""
    if cache is None:
        return detectors(name, seed, src)
    path = cache / f"{name}_{seed}.npz"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, **detectors(name, seed, src))
    return dict(np.load(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--pick-seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--src", type=Path, default=Path("/tmp/dsrc"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--cache", type=Path, default=None, help="keep the detectors' outputs here")
    args = ap.parse_args()
    runs = []
    for seed in args.seeds:
        for name in args.tables:
            aucs = rule_aucs(cached(name, seed, args.src, args.cache))
            runs.append({"table": name, "seed": seed, "auc": aucs})
            print(name, seed, flush=True)
    rules = [k for k in runs[0]["auc"] if "," in k]

    def mean(rs: list[dict], k: str) -> float:
        return float(np.mean([r["auc"][k] for r in rs]))

    pick = [r for r in runs if r["seed"] in args.pick_seeds]
    held = [r for r in runs if r["seed"] not in args.pick_seeds]
    best = max(rules, key=lambda k: mean(pick, k))
    # leave one table out: the rule picked without table t, scored on all of t's runs
    loto = {}
    for t in args.tables:
        others = [r for r in pick if r["table"] != t]
        rule = max(rules, key=lambda k: mean(others, k))
        loto[t] = {
            "rule": rule,
            "auc": mean([r for r in runs if r["table"] == t], rule),
            "auc_chosen": mean([r for r in runs if r["table"] == t], best),
        }
    print(f"{'rule':<28}{'pick':>8}{'held-out':>10}")
    for k in sorted(runs[0]["auc"], key=lambda k: -mean(pick, k))[:25]:
        print(f"{k:<28}{mean(pick, k):8.4f}{mean(held, k) if held else float('nan'):10.4f}")
    print(f"chosen on seeds {args.pick_seeds}: {best}")
    for t, v in loto.items():
        print(
            f"left out {t:<10} picked {v['rule']:<26} AUC {v['auc']:.4f}"
            f" (chosen: {v['auc_chosen']:.4f})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        k: {"pick": mean(pick, k), "held_out": mean(held, k) if held else None}
        for k in runs[0]["auc"]
    }
    args.out.write_text(
        json.dumps(
            {
                "pick_seeds": args.pick_seeds,
                "chosen": best,
                "mean": summary,
                "leave_one_table_out": loto,
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
