"""Train and save an explainer from a task, the way ``assay explain`` does.

:func:`explain_task` builds the task (unscaled), keeps the first ``n_train`` training rows as the
players, standardises the training rows and the inputs with the training rows' scaler, trains a
:class:`~assay.explain.explainer.FastDataShapley` explainer (resumable from ``OUT/work``) and
saves it with the scaler, the feature names and the table's encoder, so ``assay attribute`` /
``assay serve`` take raw rows in the data file's units. The output folder is checked before any
work.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from assay.data.task import TaskSpec, build_task
from assay.errors import InvalidParameterError, check_output_dir
from assay.explain.model import DataExplainer, explainer_files
from assay.runs import check_new


def explain_task(
    spec: TaskSpec,
    out: str | Path,
    *,
    inputs: str | Path | None = None,
    variant: str = "afds",
    learner: str = "mlp",
    learner_params: dict[str, Any] | None = None,
    grouping: str = "label",
    n_train: int | None = None,
    n_subsets: int = 2048,
    epochs: int = 200,
    params: dict[str, Any] | None = None,
    overwrite: bool = False,
    restart: bool = False,
    progress: bool = False,
) -> DataExplainer:
    """Train an explainer of the training points of ``spec`` and save it to ``out``.

    Parameters
    ----------
    spec : TaskSpec
        The data (its ``scale`` is ignored: the explainer keeps its own scaler).
    out : path
        Folder of the explainer; ``out/work`` holds the resumable utilities and checkpoint.
    inputs : path, optional
        Unlabelled inputs to learn on (default: the validation rows).
    variant, grouping, n_subsets, epochs
        :class:`~assay.explain.explainer.FastDataShapley` settings.
    learner, learner_params : str, dict
        The learner of the sub-models.
    n_train : int, optional
        Use the first ``n_train`` training rows as the players.
    params : dict, optional
        Other FastDataShapley parameters.
    overwrite : bool
        Replace a saved explainer in ``out`` (refused otherwise, before any work).
    restart : bool
        Discard a training checkpoint of another run in ``out/work``.
    progress : bool
        Show progress bars.

    Raises
    ------
    InvalidParameterError
        ``n_train`` outside ``[2, n]`` or ``grouping="provider"`` without provider ids.
    """
    from assay.data.splits import Standardizer
    from assay.explain.explainer import FastDataShapley
    from assay.explain.inputs import read_inputs
    from assay.learners import make_learner

    folder = Path(out)
    check_output_dir(folder, what="explainer folder")
    check_new(*explainer_files(folder), overwrite=overwrite, what="explainer file")
    spec = dataclasses.replace(spec, scale=False)
    task = build_task(spec)
    train = task.train
    if n_train is not None:
        if not 2 <= n_train <= train.n:
            raise InvalidParameterError(f"--n-train must lie in 2..{train.n}, got {n_train}")
        train = train.subset(np.arange(n_train))
    if grouping == "provider" and train.groups is None:
        raise InvalidParameterError("--grouping provider needs --provider-column")
    names = None if train.feature_names is None else list(train.feature_names)
    if inputs is None:
        raw_inputs = task.valid.X
    else:
        raw_inputs, _, _ = read_inputs(Path(inputs), None, None, names, task.encoder)
    scaler = Standardizer.fit(train)
    train = scaler.transform(train)
    X_in = (np.asarray(raw_inputs, dtype=np.float64) - scaler.mean) / scaler.scale
    fds = FastDataShapley(
        make_learner(learner, **(learner_params or {})),
        variant=variant,
        grouping=grouping,
        n_subsets=n_subsets,
        epochs=epochs,
        seed=spec.seed,
        work_dir=folder / "work",
        restart=restart,
        progress=progress,
        **(params or {}),
    )
    explainer = fds.fit(train, X_in)
    explainer = dataclasses.replace(
        explainer,
        input_scaler=(scaler.mean, scaler.scale),
        feature_names=names,
        encoder=task.encoder,
        info={**explainer.info, "task": spec.to_dict(), "learner": learner, "n_train": train.n},
    )
    explainer.save(folder, overwrite=overwrite)
    return explainer
