"""Models per chunk of full-batch MLP fits on CPU: speed and peak memory (issue 12 point 9).

The workload is one of ``assay explain``'s pool on a 40,000-row table: ``--models`` MLPs
(hidden 64-64, the ``mlp`` learner's default) trained for 10 full-batch epochs of Adam on random
halves of ``--rows`` x ``--features`` standardised Gaussian features with two classes. Each chunk
size runs in its own child process (so ``ru_maxrss`` is its own) with ``--threads`` torch threads,
the models trained ``chunk`` at a time. The learner's own choice (``FULL_BATCH_CPU_BYTES``) is the
row marked ``default``.

    PYTHONPATH=src .venv/bin/python benchmarks/mlp_chunks.py [--chunks 4 16 64 256]

-> ``benchmarks/results/mlp_chunks.json`` and a printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mlp_chunks.json"


def child(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from assay.data.dataset import Dataset
    from assay.learners import MLPClassifier
    from assay.learners.base import TrainingData

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features))
    y = (X[:, :5].sum(1) + rng.standard_normal(args.rows) > 0).astype(int)
    learner = MLPClassifier(epochs=10, lr=0.1, batch_size=None, dtype="float32")
    data = TrainingData.from_dataset(Dataset.from_arrays(X, y), learner.dtype, "cpu")
    chunk = learner.batch_size_hint(data) if args.child == 0 else args.child
    masks = torch.as_tensor(rng.random((args.models, args.rows)) < 0.5, dtype=torch.float32)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, args.models, chunk):
        learner.fit(data, masks[i : i + chunk])
    return {
        "chunk": int(chunk),
        "default": args.child == 0,
        "seconds": round(time.perf_counter() - start, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--models", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--chunks", type=int, nargs="+", default=[4, 16, 64])
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args)))
        return
    rows = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for chunk in [0, *args.chunks]:  # 0: the learner's own choice
        cmd = [sys.executable, __file__, "--child", str(chunk)]
        cmd += ["--rows", str(args.rows), "--features", str(args.features)]
        cmd += ["--models", str(args.models), "--threads", str(args.threads)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(args, k) for k in ("rows", "features", "models", "threads")}
        args.json.write_text(json.dumps({**meta, "runs": rows}, indent=1) + "\n")
    print(f"\n{'chunk':>6}{'s':>9}{'cpu s':>9}{'s/model':>9}{'peak MiB':>10}")
    for r in rows:
        mark = "  (default)" if r["default"] else ""
        per = r["seconds"] / args.models
        print(f"{r['chunk']:>6}{r['seconds']:>9}{r['cpu_seconds']:>9}{per:>9.3f}"
              f"{r['peak_rss_mib']:>10}{mark}")  # fmt: skip


if __name__ == "__main__":
    main()
