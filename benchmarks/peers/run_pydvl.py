"""Time pyDVL 0.10.0 on one data-valuation task (peer side of assay's speed benchmark).

Run with the peers' venv (``bash benchmarks/peers/setup_peers.sh`` creates it)::

    .venv-peers/bin/python benchmarks/peers/run_pydvl.py TASK.npz OUT.json \
        [--methods tmc,banzhaf,oob] [--permutations 100] [--banzhaf-samples 2000] \
        [--oob-models 500] [--seed 0] [--jobs 1] [--max-seconds 600]

TASK.npz holds X_train, y_train (int 0/1), X_valid, y_valid, X_test, y_test and ``flipped``
(indices of the flipped train labels); ``make_example_task.py`` writes one. OUT.json gets, per
method: in-process wall seconds (timer around the valuation only), the values in train order,
the ROC-AUC of finding the flipped labels by lowest value, and the budget actually used; plus
``import_seconds`` (the imports at the top of this script).

The task: ``LogisticRegression(C=1.0, max_iter=1000)`` (lbfgs), utility = accuracy on the
validation set, failed fits (one-class subsets) and the empty set score 0 (pyDVL's default).

How the budgets are enforced (pyDVL 0.10 semantics, read from its source):

* ``MaxUpdates(k)`` stops when the largest per-index update count reaches k. For permutations
  every index gets one update per permutation (truncated tails get a zero marginal), so it would
  mean k permutations; but for MSR the count of an index is min(#samples with it, #without it),
  about half the samples, so MaxUpdates(2000) would run ~4,000 subsets.
* ``MaxSamples(sampler, k)`` reads ``sampler.n_samples``, which counts samples *generated*,
  and joblib pre-dispatches, so with ``--jobs 2`` it stops a few samples short.
* ``MaxChecks(k)`` counts calls of the criterion, made once per processed batch. With
  ``batch_size=1`` (the default of both samplers) that is exactly k full permutations or k MSR
  subsets, whatever ``--jobs`` is. We use it, OR-ed with ``MaxTime(--max-seconds)``, and report
  the number of checks actually made as the budget used.

Threads: ``--blas-threads 1`` (default) limits BLAS/OpenMP to one thread with threadpoolctl.
On 30 features, OpenBLAS's second thread makes each lbfgs fit 3-20x *slower* (and erratic when
the other core is busy), so one thread is pyDVL's best case; ``--jobs`` sets joblib's n_jobs
(loky processes, each limited to one thread by joblib). ``--blas-threads 0`` keeps the default.
"""

from __future__ import annotations

import time

_T_IMPORT = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)  # pydvl's deprecation noise
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")  # and in loky workers

import numpy as np  # noqa: E402
import pydvl  # noqa: E402
import sklearn  # noqa: E402
from joblib import parallel_config  # noqa: E402
from pydvl.valuation import (  # noqa: E402
    DataOOBValuation,
    Dataset,
    MaxChecks,
    MaxTime,
    ModelUtility,
    MSRBanzhafValuation,
    PermutationSampler,
    RelativeTruncation,
    ShapleyValuation,
    SupervisedScorer,
)
from sklearn.ensemble import BaggingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _T_IMPORT

METHODS = ("tmc", "banzhaf", "oob")


def load_task(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        task = {k: f[k] for k in f.files}
    for k in ("y_train", "y_valid", "y_test", "flipped"):
        task[k] = task[k].astype(np.int64)
    return task


def flip_auc(values: np.ndarray, flipped: np.ndarray) -> float:
    """ROC-AUC of detecting the flipped labels by lowest value."""
    is_flipped = np.zeros(len(values), dtype=bool)
    is_flipped[flipped] = True
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    return float(roc_auc_score(is_flipped, -v))


SKLEARN_TOL = 1e-4  # scikit-learn's default; --sklearn-tol changes it


def make_model() -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=1000, tol=SKLEARN_TOL)


def in_train_order(result, n: int) -> np.ndarray:
    values = np.full(n, np.nan)
    values[np.asarray(result.indices, dtype=int)] = np.asarray(result.values, dtype=float)
    return values


def run_semivalue(kind: str, train: Dataset, valid: Dataset, args) -> dict:
    scorer = SupervisedScorer("accuracy", valid, default=0.0, range=(0.0, 1.0))
    utility = ModelUtility(make_model(), scorer, catch_errors=True, show_warnings=False)
    budget = args.permutations if kind == "tmc" else args.banzhaf_samples
    t0 = time.perf_counter()
    checks = MaxChecks(budget)
    is_done = checks | MaxTime(args.max_seconds)
    if kind == "tmc":
        truncation = RelativeTruncation(rtol=0.01, burn_in_fraction=0.4)
        sampler = PermutationSampler(truncation=truncation, seed=args.seed)
        valuation = ShapleyValuation(utility, sampler, is_done, show_warnings=False)
    else:
        valuation = MSRBanzhafValuation(utility, is_done, seed=args.seed, show_warnings=False)
    with parallel_config(n_jobs=args.jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valuation.fit(train)
    seconds = time.perf_counter() - t0
    result = valuation.result
    used = int(checks.count)
    counts = np.asarray(result.counts)
    out = {
        "seconds": seconds,
        "values": in_train_order(result, len(train)).tolist(),
        "budget": {
            "unit": "permutations" if kind == "tmc" else "subsets",
            "requested": budget,
            "used": used,
            "per_index_updates_min": int(counts.min()),
            "per_index_updates_max": int(counts.max()),
        },
        "hit_time_cap": used < budget,
    }
    if kind == "tmc":
        out["notes"] = (
            "ShapleyValuation + PermutationSampler(RelativeTruncation(rtol=0.01, "
            "burn_in_fraction=0.4)) (the TMCShapleyValuation defaults, with its log_coefficient "
            "None, i.e. plain permutation means); stop MaxChecks(permutations) | MaxTime. "
            "Truncation: from 40% of a permutation on, stop once |U(prefix) - U(N)| <= "
            "1e-8 + 0.01 |U(N)|; the rest of the permutation gets marginal 0. Plus one fit of "
            "U(N) for the truncation."
        )
    else:
        out["notes"] = (
            "MSRBanzhafValuation (MSRSampler: each point in a subset with prob 1/2; "
            "value = mean U over subsets containing i - mean U over subsets without i; "
            "empty subset scores 0); stop MaxChecks(subsets) | MaxTime. per_index_updates "
            "is pyDVL's count convention min(#in, #out)."
        )
    return out


def run_oob(train: Dataset, args) -> dict:
    t0 = time.perf_counter()
    bag = BaggingClassifier(
        make_model(),
        n_estimators=args.oob_models,
        max_samples=1.0,
        bootstrap=True,
        random_state=args.seed,
        n_jobs=args.jobs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bag.fit(train.data().x, train.data().y)
        t_bag = time.perf_counter() - t0
        valuation = DataOOBValuation(bag)
        valuation.fit(train)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "seconds_bagging_fit": t_bag,
        "seconds_oob_scoring": seconds - t_bag,
        "values": in_train_order(valuation.result, len(train)).tolist(),
        "budget": {
            "unit": "bootstrap models",
            "requested": args.oob_models,
            "used": len(bag.estimators_),
        },
        "hit_time_cap": False,
        "notes": (
            "sklearn BaggingClassifier(LogisticRegression, n_estimators, max_samples=1.0, "
            "bootstrap=True, n_jobs=--jobs) fitted on train (bootstrap counts passed as "
            "sample_weight, sklearn's way for estimators that accept it), then "
            "pyDVL DataOOBValuation: value = mean 0/1 accuracy of the out-of-bag models on the "
            "point. Timer covers both; --max-seconds cannot interrupt it."
        ),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Time pyDVL 0.10 on one valuation task.")
    p.add_argument("task", help="task .npz")
    p.add_argument("out", help="output .json")
    p.add_argument(
        "--methods", default="tmc,banzhaf,oob", help="comma-separated subset of tmc,banzhaf,oob"
    )
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--banzhaf-samples", type=int, default=2000)
    p.add_argument("--oob-models", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sklearn-tol",
        type=float,
        default=1e-4,
        help="LogisticRegression tol (default scikit-learn's; 1e-8 reaches the optimum)",
    )
    p.add_argument("--jobs", type=int, default=1, help="n_jobs for joblib / sklearn")
    p.add_argument("--max-seconds", type=float, default=600.0, help="cap per method")
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads in this process (threadpoolctl); 0 = leave default",
    )
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = sorted(set(args.methods) - set(METHODS))
    if bad:
        p.error(f"unknown methods {bad}; choose from {','.join(METHODS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    global SKLEARN_TOL
    args = parse_args(argv)
    SKLEARN_TOL = args.sklearn_tol
    task = load_task(args.task)
    train = Dataset(task["X_train"], task["y_train"])
    valid = Dataset(task["X_valid"], task["y_valid"])
    report: dict = {
        "library": "pydvl",
        "version": pydvl.__version__,
        "task": os.path.abspath(args.task),
        "n_train": len(train),
        "n_valid": len(valid),
        "n_flipped": len(task["flipped"]),
        "model": f"sklearn LogisticRegression(C=1.0, max_iter=1000, tol={SKLEARN_TOL}), lbfgs",
        "utility": "accuracy on the validation set; failed fit / empty set -> 0",
        "import_seconds": IMPORT_SECONDS,
        "args": {k: v for k, v in vars(args).items() if k not in ("task", "out")},
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "cpus": os.cpu_count(),
        },
        "methods": {},
    }
    if args.blas_threads > 0:
        threadpool_limits(limits=args.blas_threads)
    for method in args.methods:
        load_before = os.getloadavg()[0]
        res = run_oob(train, args) if method == "oob" else run_semivalue(method, train, valid, args)
        res["auc"] = flip_auc(np.asarray(res["values"]), task["flipped"])
        res["loadavg_1min_before_after"] = [load_before, os.getloadavg()[0]]
        report["methods"][method] = res
        print(
            f"pydvl {method}: {res['seconds']:.2f} s, AUC {res['auc']:.3f}, "
            f"budget {res['budget']['used']}/{res['budget']['requested']}",
            file=sys.stderr,
        )
    report["notes"] = {m: r["notes"] for m, r in report["methods"].items()}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
