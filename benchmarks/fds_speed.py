"""Performance targets of Fast-DataShapley (issue point 9), on MNIST-5k with n = 100.

    python benchmarks/fds_speed.py [--predictions 5]

1. Inference: values of all n training points for one new prediction (median and 95th percentile
   of single requests; target < 5 ms on CPU) and batched throughput (predictions per second).
2. Explainer training plus inference for 100 predictions against TMC Data Shapley run per
   prediction (each prediction retrains its own models: permutations with truncation and
   warm-started prefixes, the foundation's fastest TMC) at the budget of ``fds_tables.py``;
   TMC's cost is measured on ``--predictions`` predictions and scaled to 100. Target: >= 50x
   (the paper: GFDS+ 183 s vs DataShapley 15,731 s). H_eta of both on the same predictions says
   whether the quality is comparable.

Writes ``benchmarks/results/fds_speed.json`` (``fds_speed_VARIANT.json`` for other variants).
Same protocol and settings as ``fds_tables.py`` (seed 0). Timings on a shared 2-core machine
are noisy; ratios come from one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assay.explain import FastDataShapley, PredictionUtility
from assay.explain.metrics import per_prediction_values, value_loss
from assay.valuation import TMCShapley
from fds_tables import ETAS, SCALE, service_learner, setup

RESULTS = Path(__file__).parent / "results"


def latency(explainer: Any, X: np.ndarray, repeats: int = 300) -> dict[str, float]:
    for i in range(20):  # warm-up
        explainer.values(X[i % len(X)][None])
    times = []
    for i in range(repeats):
        x = X[i % len(X)][None]
        t = time.perf_counter()
        explainer.values(x)
        times.append(time.perf_counter() - t)
    big = np.repeat(X, int(np.ceil(1000 / len(X))), axis=0)[:1000]
    t = time.perf_counter()
    explainer.values(big)
    batched = time.perf_counter() - t
    return {
        "single_median_ms": float(np.median(times) * 1e3),
        "single_p95_ms": float(np.percentile(times, 95) * 1e3),
        "batch_1000_seconds": batched,
        "throughput_per_second": 1000 / batched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", type=int, default=5)
    parser.add_argument("--variant", default="gfds+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed = 0
    data = setup("mnist5k", seed)
    learner = service_learner(seed)
    putil = PredictionUtility(learner, data["train"])
    test = data["test"]
    proba = putil.grand_model().proba(torch.tensor(test.X, dtype=torch.float32)).numpy()
    correct = np.flatnonzero(proba.argmax(1) == test.y)
    pick = np.random.default_rng(seed).choice(correct, args.predictions, replace=False)
    X, y = test.X[pick], test.y[pick]

    ex = SCALE["explainer"]
    common: dict[str, Any] = dict(
        variant=args.variant,
        n_subsets=SCALE["pool"],
        epochs=ex["epochs"],
        patience=ex["patience"],
        lr=ex["lr"],
        batch_size=ex["batch_size"],
        utility_epochs=SCALE["afds"]["K"] if args.variant != "fds" else None,
        seed=seed,
    )
    explainer = FastDataShapley(learner, hidden=tuple(ex["hidden"]), **common).fit(
        data["train"], data["inputs"], data["valid"]
    )
    # the image explainer: a small CNN trained from scratch (no pretrained ResNet-50 offline)
    cnn = FastDataShapley(
        learner,
        explainer="cnn",
        image_shape=(1, 28, 28),
        channels=(16, 32),
        hidden=(256,),
        **common,
    ).fit(data["train"], data["inputs"], data["valid"])
    train_seconds = explainer.info["seconds_total"]
    lat = latency(explainer, test.X[:200])
    print(
        f"{args.variant}: trained in {train_seconds:.1f} s; one prediction "
        f"{lat['single_median_ms']:.2f} ms median ({lat['single_p95_ms']:.2f} ms p95); "
        f"{lat['throughput_per_second']:.0f} predictions / s batched",
        flush=True,
    )

    tmc = TMCShapley(SCALE["tmc_permutations"], batch_size=SCALE["tmc_permutations"], seed=seed)
    tmc_values, tmc_seconds = per_prediction_values(tmc, putil, X, y, shared=False)
    per_prediction = tmc_seconds / len(X)
    print(
        f"TMC per prediction ({SCALE['tmc_permutations']} permutations, retrained per "
        f"prediction): {per_prediction:.1f} s",
        flush=True,
    )
    ours_100 = train_seconds + 100 * lat["single_median_ms"] / 1e3
    tmc_100 = 100 * per_prediction
    H_tmc = value_loss(putil, X, y, tmc_values, ETAS)["H"]
    H_ours = value_loss(putil, X, y, explainer.values(X, y), ETAS)["H"]
    H_cnn = value_loss(putil, X, y, cnn.values(X, y), ETAS)["H"]
    lat_cnn = latency(cnn, test.X[:200], repeats=100)
    result = {
        "variant": args.variant,
        "explainer_train_seconds": train_seconds,
        "latency": lat,
        "tmc_seconds_per_prediction": per_prediction,
        "predictions_timed": len(X),
        "ours_100_predictions_seconds": ours_100,
        "tmc_100_predictions_seconds": tmc_100,
        "speedup": tmc_100 / ours_100,
        "H_tmc": H_tmc,
        "H_ours": H_ours,
        "cnn_explainer": {
            "train_seconds": cnn.info["seconds_total"],
            "explainer_seconds": cnn.info["seconds_explainer"],
            "latency": lat_cnn,
            "H": H_cnn,
        },
        "paper": {"gfds+_seconds": 183, "datashapley_seconds": 15731, "speedup": 15731 / 183},
        "threads": 1,
    }
    print(
        f"100 predictions: {args.variant} {ours_100:.1f} s vs TMC {tmc_100:.1f} s -> "
        f"{result['speedup']:.1f}x (paper: GFDS+ 183 s vs DataShapley 15,731 s = 86x)"
    )
    print(
        "H_eta on the same predictions (5/10/15/20%): "
        f"{args.variant} {np.round(H_ours, 3).tolist()}  TMC {np.round(H_tmc, 3).tolist()}"
    )
    print(
        f"CNN explainer: trained in {cnn.info['seconds_total']:.1f} s, one prediction "
        f"{lat_cnn['single_median_ms']:.2f} ms, H_eta {np.round(H_cnn, 3).tolist()}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "fds_speed.json" if args.variant == "gfds+" else f"fds_speed_{args.variant}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
