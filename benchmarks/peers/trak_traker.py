"""TRAK by MadryLab's ``traker`` 0.3.2 on the benchmark's checkpoints (run in ``.venv-attr``).

The documented recipe (``TRAKer`` with the ``image_classification`` margin output, which works on
any logits model taking ``(x, y)`` batches): featurize the training set per checkpoint,
``finalize_features``, score the test set per checkpoint, ``finalize_scores``. On CPU ``TRAKer``
picks its ``BasicProjector`` (Gaussian, generated in blocks; ``fast_jl``'s ``CudaProjector``
needs CUDA). ``use_half_precision=False``: float16 matmuls are not what a CPU user wants (slow,
and not supported by every CPU kernel). ``lambda_reg``: its default 0 unless ``--lambda-abs``
is given.
"""

from __future__ import annotations

import logging
import tempfile

import numpy as np
import torch
from trak import TRAKer
from trak_common import (
    Timer,
    load_checkpoints,
    load_task,
    make_mlp,
    parse_args,
    prepare_process,
    write,
)


def batches(X: np.ndarray, y: np.ndarray, size: int):  # type: ignore[no-untyped-def]
    for i in range(0, len(X), size):
        yield (
            [torch.from_numpy(X[i : i + size]), torch.from_numpy(y[i : i + size])],
            len(X[i : i + size]),
        )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    prepare_process()
    task = load_task(args.folder)
    ckpts = load_checkpoints(args.folder)
    with Timer() as t, tempfile.TemporaryDirectory() as save_dir:
        model = make_mlp(task["X_train"].shape[1], list(task["hidden"]), int(task["n_classes"]))
        traker = TRAKer(
            model=model,
            task="image_classification",
            train_set_size=len(task["X_train"]),
            save_dir=save_dir,
            device="cpu",
            proj_dim=args.proj_dim,
            projector_seed=args.seed,
            use_half_precision=False,
            logging_level=logging.ERROR,
            lambda_reg=args.lambda_abs,
        )
        for model_id, ckpt in enumerate(ckpts):
            traker.load_checkpoint(ckpt, model_id=model_id)
            for batch, size in batches(task["X_train"], task["y_train"], args.batch_size):
                traker.featurize(batch=batch, num_samples=size)
        traker.finalize_features()
        for model_id, ckpt in enumerate(ckpts):
            traker.start_scoring_checkpoint(
                exp_name="test", checkpoint=ckpt, model_id=model_id, num_targets=len(task["X_test"])
            )
            for batch, size in batches(task["X_test"], task["y_test"], args.batch_size):
                traker.score(batch=batch, num_samples=size)
        scores = np.array(traker.finalize_scores(exp_name="test"))  # (n_train, m_test)
    write(args.out, scores.T, t.seconds, projector=type(traker.projector).__name__)


if __name__ == "__main__":
    main()
