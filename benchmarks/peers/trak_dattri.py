"""TRAK by ``dattri`` 0.3.0 (``TRAKAttributor``) on the benchmark's checkpoints (``.venv-attr``).

dattri's own LDS example's recipe: an ``AttributionTask`` whose loss function is the margin
``log p - log(1 - p)`` (so train and test gradients are of the same output, as in TRAK), the
correct-class probability for ``Q = 1 - p``, all parameters, ``cache`` the training set then
``attribute`` the test set. The margin is written on the logits, ``z_y - logsumexp(z_k, k != y)``
(traker's and assay's form): the example's ``logp - log(1 - exp(logp))`` is ``inf`` once ``p``
rounds to 1 in float32, and dattri's ``nan_to_num`` then turns those gradients into zeros or
float32's largest value. Projection: its CPU path (``random_project`` with the normal
``BasicProjector``, which divides by ``sqrt(proj_dim)``). ``regularization``: its default 0
unless ``--lambda-abs`` is given.
"""

from __future__ import annotations

import numpy as np
import torch
from dattri.algorithm.trak import TRAKAttributor
from dattri.task import AttributionTask
from torch.utils.data import DataLoader, TensorDataset
from trak_common import (
    Timer,
    load_checkpoints,
    load_task,
    make_mlp,
    parse_args,
    prepare_process,
    write,
)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    prepare_process()
    task = load_task(args.folder)
    ckpts = load_checkpoints(args.folder)
    with Timer() as t:
        model = make_mlp(task["X_train"].shape[1], list(task["hidden"]), int(task["n_classes"]))

        def logits(params, x):  # type: ignore[no-untyped-def]
            return torch.func.functional_call(model, params, x.unsqueeze(0))[0]

        def margin(params, data):  # type: ignore[no-untyped-def]
            x, y = data
            z = logits(params, x)
            hot = torch.arange(z.shape[-1]) == y  # indexing by a batched y does not vmap
            return (z * hot).sum() - torch.logsumexp(z.masked_fill(hot, float("-inf")), -1)

        def prob(params, data):  # type: ignore[no-untyped-def]
            x, y = data
            z = logits(params, x)
            return (torch.softmax(z, -1) * (torch.arange(z.shape[-1]) == y)).sum()

        attr_task = AttributionTask(loss_func=margin, model=model, checkpoints=ckpts)
        attributor = TRAKAttributor(
            task=attr_task,
            correct_probability_func=prob,
            device="cpu",
            regularization=args.lambda_abs,
            projector_kwargs={"proj_dim": args.proj_dim, "proj_seed": args.seed, "device": "cpu"},
        )
        loader = {
            part: DataLoader(
                TensorDataset(
                    torch.from_numpy(task[f"X_{part}"]), torch.from_numpy(task[f"y_{part}"])
                ),
                batch_size=args.batch_size,
                shuffle=False,
            )
            for part in ("train", "test")
        }
        with torch.no_grad():
            attributor.cache(loader["train"])
            scores = attributor.attribute(loader["test"])  # (n_train, m_test)
    write(args.out, np.asarray(scores).T, t.seconds)


if __name__ == "__main__":
    main()
