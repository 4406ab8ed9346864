"""Time OpenDataVal 1.3.0 on one data-valuation task (peer side of assay's speed benchmark).

Run with the peers' venv (``bash benchmarks/peers/setup_peers.sh`` creates it)::

    .venv-peers/bin/python benchmarks/peers/run_opendataval.py TASK.npz OUT.json \
        [--methods tmc,banzhaf,oob] [--permutations 100] [--banzhaf-samples 2000] \
        [--oob-models 500] [--seed 0] [--jobs 1] [--max-seconds 600]

TASK.npz holds X_train, y_train (int 0/1), X_valid, y_valid, X_test, y_test and ``flipped``
(indices of the flipped train labels); ``make_example_task.py`` writes one. OUT.json gets, per
method: in-process wall seconds (timer around the valuation only), the values in train order,
the ROC-AUC of finding the flipped labels by lowest value, and the budget actually used; plus
``import_seconds`` (the imports at the top of this script).

Model: OpenDataVal's ``ClassifierSkLearnWrapper(sklearn LogisticRegression, 2, C=1.0,
max_iter=1000)`` (what its ``ModelFactory("sklogreg")`` builds), metric: its ``accuracy`` on the
validation split, data fed with ``DataFetcher.from_data_splits`` (one-hot labels).
OpenDataVal has no parallelism for these evaluators (``--jobs`` is recorded, not used) and no
time limit: we drive each evaluator's own loop in small steps and stop at ``--max-seconds``.

Where OpenDataVal computes something other than pyDVL (from its 1.3.0 source):

* Failed fits: a subset missing a class is fitted by ``DummyClassifier("most_frequent")``, so it
  scores the validation share of that class (not 0, as in pyDVL).
* Features become float32 torch tensors (``DataFetcher.datapoints``); sklearn then fits in
  float32.
* TMC (``DataShapley`` + ``TMCSampler``): each permutation starts from its first
  ``min_cardinality=5`` points as a baseline (those 5 get no marginal in that permutation); it
  truncates after 10 consecutive steps with ``|dU| / sum(marginals so far) < 1e-8`` (in practice:
  10 steps in a row where validation accuracy does not change, or where the running sum of
  marginals is negative), not pyDVL's "within 1% of U(N) after 40%". Values are stratified:
  ``(1/n) * sum_k mean(marginal of i at cardinality k)`` over the (i, k) cells observed, unseen
  cells counting 0 (truncated tails count as observed zeros).
* Banzhaf (``DataBanzhaf``): plain MSR, subsets with each point in w.p. 1/2, value =
  mean U(with i) - mean U(without i); an empty subset is skipped (not scored 0).
* Data-OOB (``DataOob``): ``num_models`` bootstrap fits of the wrapped model on resampled rows
  (duplicates, not sample weights), value = mean accuracy of the out-of-bag predictions.
"""

from __future__ import annotations

import time

_T_IMPORT = time.perf_counter()

import argparse  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402

os.environ.setdefault("TQDM_DISABLE", "1")  # OpenDataVal's progress bars: off


class _PlaceholderModule(types.ModuleType):
    """Stand-in for a package OpenDataVal imports but the tabular path never uses."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return type(attr, (), {"__module__": self.__name__})


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve ``torchvision`` and ``transformers`` (and any submodule) as placeholders.

    OpenDataVal imports them at import time for its image / text embedders. The registry's
    torchvision is CUDA-linked and fails next to the CPU torch, so they are not installed.
    """

    roots = ("torchvision", "transformers")

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _PlaceholderModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


sys.meta_path.insert(0, _PlaceholderFinder())

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from opendataval.dataloader import DataFetcher  # noqa: E402
from opendataval.dataval import DataBanzhaf, DataOob, DataShapley, TMCSampler  # noqa: E402
from opendataval.metrics import accuracy  # noqa: E402
from opendataval.model import ClassifierSkLearnWrapper  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _T_IMPORT

METHODS = ("tmc", "banzhaf", "oob")
CHUNK = 10  # models per call of DataBanzhaf / DataOob.train_data_values (time-cap granularity)


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


def one_hot(y: np.ndarray) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[y]


def make_fetcher(task: dict[str, np.ndarray], seed: int) -> DataFetcher:
    return DataFetcher.from_data_splits(
        task["X_train"],
        one_hot(task["y_train"]),
        task["X_valid"],
        one_hot(task["y_valid"]),
        task["X_test"],
        one_hot(task["y_test"]),
        one_hot=True,
        random_state=seed,
    )


def make_model() -> ClassifierSkLearnWrapper:
    return ClassifierSkLearnWrapper(LogisticRegression, 2, C=1.0, max_iter=1000)


def run_tmc(fetcher: DataFetcher, args) -> dict:
    t0 = time.perf_counter()
    sampler = TMCSampler(
        mc_epochs=args.permutations,
        min_cardinality=5,
        cache_name=None,
        random_state=np.random.RandomState(args.seed),
    )
    evaluator = DataShapley(sampler=sampler).setup(fetcher, make_model(), accuracy)
    n_evals = 0
    utility = sampler.compute_utility

    def counted(*a, **kw):
        nonlocal n_evals
        n_evals += 1
        return utility(*a, **kw)

    sampler.set_evaluator(counted)
    # TMCSampler.compute_marginal_contribution, one epoch at a time so that we can stop.
    used = 0
    while used < args.permutations and time.perf_counter() - t0 < args.max_seconds:
        sampler._calculate_marginal_contributions()
        used += 1
    sampler.marginal_contribution = sampler.marginal_contrib_sum / sampler.marginal_count
    evaluator.marg_contrib = sampler.marginal_contribution
    values = evaluator.evaluate_data_values()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "values": np.asarray(values, dtype=float).tolist(),
        "budget": {
            "unit": "permutations",
            "requested": args.permutations,
            "used": used,
            "utility_evaluations": n_evals,
        },
        "hit_time_cap": used < args.permutations,
        "notes": (
            "DataShapley + TMCSampler(mc_epochs, min_cardinality=5): permutations start from a "
            "5-point baseline; truncation after 10 consecutive steps with "
            "|dU|/sum(marginals) < 1e-8 (not pyDVL's relative-to-U(N) rule); values "
            "= (1/n) sum over cardinalities of the mean marginal seen at that cardinality. "
            "One-class subsets score the majority-class share (DummyClassifier), not 0."
        ),
    }


def run_chunked(evaluator, total: int, args) -> tuple[int, float]:
    """Run evaluator.train_data_values in CHUNK-sized calls until total or the time cap.

    Both DataBanzhaf and DataOob accumulate across calls, and draw each call's subsets as one
    block from the same RandomState, so the chunked run draws the same stream as one call.
    """
    t0 = time.perf_counter()
    used = 0
    while used < total and time.perf_counter() - t0 < args.max_seconds:
        step = min(CHUNK, total - used)
        evaluator.num_models = step
        evaluator.train_data_values()
        used += step
    evaluator.num_models = used
    return used, time.perf_counter() - t0


def run_banzhaf(fetcher: DataFetcher, args) -> dict:
    t0 = time.perf_counter()
    evaluator = DataBanzhaf(
        num_models=args.banzhaf_samples, random_state=np.random.RandomState(args.seed)
    )
    evaluator.setup(fetcher, make_model(), accuracy)
    used, _ = run_chunked(evaluator, args.banzhaf_samples, args)
    values = evaluator.evaluate_data_values()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "values": np.asarray(values, dtype=float).tolist(),
        "budget": {"unit": "subsets", "requested": args.banzhaf_samples, "used": used},
        "hit_time_cap": used < args.banzhaf_samples,
        "notes": (
            "DataBanzhaf(num_models): MSR with inclusion prob 1/2, value = mean U(S with i) - "
            "mean U(S without i); empty subsets skipped; one-class subsets score the "
            "majority-class share (DummyClassifier)."
        ),
    }


def run_oob(fetcher: DataFetcher, args) -> dict:
    t0 = time.perf_counter()
    evaluator = DataOob(
        num_models=args.oob_models, proportion=1.0, random_state=np.random.RandomState(args.seed)
    )
    evaluator.setup(fetcher, make_model(), accuracy)
    used, _ = run_chunked(evaluator, args.oob_models, args)
    values = evaluator.evaluate_data_values()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "values": np.asarray(values, dtype=float).tolist(),
        "budget": {"unit": "bootstrap models", "requested": args.oob_models, "used": used},
        "hit_time_cap": used < args.oob_models,
        "notes": (
            "DataOob(num_models, proportion=1.0): bootstrap rows (duplicated, not weighted), "
            "value = mean accuracy of out-of-bag predictions; points never out of bag get 0."
        ),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Time OpenDataVal 1.3 on one valuation task.")
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
        "--jobs",
        type=int,
        default=1,
        help="recorded only: OpenDataVal runs these evaluators serially",
    )
    p.add_argument("--max-seconds", type=float, default=600.0, help="cap per method")
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS/OpenMP/torch threads in this process; 0 = leave default",
    )
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = sorted(set(args.methods) - set(METHODS))
    if bad:
        p.error(f"unknown methods {bad}; choose from {','.join(METHODS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    task = load_task(args.task)
    fetcher = make_fetcher(task, args.seed)
    report: dict = {
        "library": "opendataval",
        "version": "1.3.0",
        "task": os.path.abspath(args.task),
        "n_train": len(task["y_train"]),
        "n_valid": len(task["y_valid"]),
        "n_flipped": len(task["flipped"]),
        "model": "ClassifierSkLearnWrapper(sklearn LogisticRegression(C=1.0, max_iter=1000))",
        "utility": "accuracy on the validation set; one-class subset -> majority-class share",
        "import_seconds": IMPORT_SECONDS,
        "args": {k: v for k, v in vars(args).items() if k not in ("task", "out")},
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
        },
        "methods": {},
    }
    if args.blas_threads > 0:
        threadpool_limits(limits=args.blas_threads)
        torch.set_num_threads(args.blas_threads)
    runners = {"tmc": run_tmc, "banzhaf": run_banzhaf, "oob": run_oob}
    for method in args.methods:
        load_before = os.getloadavg()[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = runners[method](fetcher, args)
        res["auc"] = flip_auc(np.asarray(res["values"]), task["flipped"])
        res["loadavg_1min_before_after"] = [load_before, os.getloadavg()[0]]
        report["methods"][method] = res
        print(
            f"opendataval {method}: {res['seconds']:.2f} s, AUC {res['auc']:.3f}, "
            f"budget {res['budget']['used']}/{res['budget']['requested']}",
            file=sys.stderr,
        )
    report["notes"] = {m: r["notes"] for m, r in report["methods"].items()}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
