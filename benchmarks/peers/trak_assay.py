"""TRAK by assay (:mod:`assay.llm.trak`) on the benchmark's checkpoints, as a whole process.

The same protocol as the peers' runners (``trak_traker.py``, ``trak_dattri.py``), run with assay's
own venv: :func:`~assay.llm.trak.trak_attribution` with its defaults (``--damping`` 1), i.e. per
checkpoint the projected margin gradients of the training and test examples (projection seed
``seed + c``), the damped kernel solve averaged over checkpoints, times the mean ``Q = 1 - p``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from trak_common import (
    Timer,
    load_checkpoints,
    load_task,
    make_mlp,
    parse_args,
    prepare_process,
    write,
)

from assay.llm.trak import trak_attribution


def attribute(folder: Path, proj_dim: int, seed: int = 0, damping: float = 1.0) -> np.ndarray:
    """assay's TRAK scores (m_test, n_train) for the checkpoints in ``folder``."""
    task = load_task(folder)
    module = make_mlp(task["X_train"].shape[1], list(task["hidden"]), int(task["n_classes"]))

    def logits(params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, params, (X,))

    return trak_attribution(
        logits,
        load_checkpoints(folder),
        task["X_train"],
        task["y_train"],
        task["X_test"],
        task["y_test"],
        dim=proj_dim,
        seed=seed,
        damping=damping,
    )


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        lambda ap: ap.add_argument(
            "--damping", type=float, default=1.0, help="relative to the kernel; 0: undamped"
        ),
    )
    prepare_process()
    with Timer() as t:
        scores = attribute(args.folder, args.proj_dim, args.seed, args.damping)
    write(args.out, scores, t.seconds)


if __name__ == "__main__":
    main()
