"""TRAK by ``dattri`` 0.3.0 (``TRAKAttributor``) on the benchmark's checkpoints (``.venv-attr``).

dattri's own LDS example's recipe: an ``AttributionTask`` whose loss function is the margin
``log p - log(1 - p)`` (so train and test gradients are of the same output, as in TRAK), the
correct-class probability for ``Q = 1 - p``, all parameters, ``cache`` the training set then
``attribute`` the test set. Projection: its CPU path (``random_project`` with the normal
``BasicProjector``). ``regularization``: its default 0 unless ``--lambda-abs`` is given.
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

        def margin(params, data):  # type: ignore[no-untyped-def]
            x, y = data
            logp = -torch.nn.functional.cross_entropy(
                torch.func.functional_call(model, params, x.unsqueeze(0)), y.unsqueeze(0)
            )
            return logp - torch.log(1 - torch.exp(logp))

        def prob(params, data):  # type: ignore[no-untyped-def]
            x, y = data
            logp = -torch.nn.functional.cross_entropy(
                torch.func.functional_call(model, params, x.unsqueeze(0)), y.unsqueeze(0)
            )
            return torch.exp(logp)

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
