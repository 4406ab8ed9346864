"""Train and save an explainer from a task, the way ``assay explain`` does.

:func:`explain_task` builds the task (unscaled), keeps the first ``n_train`` training rows as the
players, standardises the training rows and the inputs with the training rows' scaler, trains a
:class:`~assay.explain.explainer.FastDataShapley` explainer (resumable from ``OUT/work``) and
saves it with the scaler, the feature names and the table's encoder, so ``assay attribute`` /
``assay serve`` take raw rows in the data file's units. The output folder is checked before any
work.

Settings left unset are chosen from the number of players n by :func:`choose_explain_settings`:
up to :data:`POINT_PLAYERS_MAX` points, AFDS values every point (2,048 sub-models, 200 epochs);
above it, GFDS+ values groups of similar points of one label (k-means within labels, about
:data:`POINTS_PER_GROUP` points a group, at most :data:`MAX_GROUPS`) with a pool sized so the
sub-models see about :data:`POOL_ROW_BUDGET` training rows in all. Each sub-model of the K-epoch
utility costs time in proportion to its n / 2 rows, so a fixed pool of 2,048 grows with n (about
25 minutes at 40,000 rows on 2 cores), and a head of n x K outputs makes every explainer step cost
O(n). Grouped, the explainer's cost does not grow with n.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.data.task import TaskSpec, build_task
from assay.errors import InvalidParameterError, check_output_dir
from assay.explain.model import DataExplainer, explainer_files
from assay.runs import check_new

POINT_PLAYERS_MAX = 2_000
POINTS_PER_GROUP = 400
MIN_GROUPS, MAX_GROUPS = 16, 128
POOL_ROW_BUDGET = 12_000_000
MIN_POOL, MAX_POOL = 256, 2048


@dataclass(frozen=True)
class ExplainSettings:
    """What an explainer is trained with; ``chosen`` names the settings picked from n."""

    variant: str
    grouping: str
    n_groups: int
    n_subsets: int
    epochs: int
    chosen: tuple[str, ...] = ()

    def describe(self, n: int) -> str:
        """One line for the user: the settings and which were chosen from n."""
        grouped = self.variant in ("gfds", "gfds+")
        counted = self.grouping in ("kmeans", "clusters")
        groups = (
            f"{self.n_groups} groups ({self.grouping})" if counted else f"{self.grouping} groups"
        )
        players = {
            "gfds+": groups,
            "gfds": f"{n:,} points, one focus group at a time of {groups}",
        }.get(self.variant, f"{n:,} points")
        text = (
            f"{self.variant}: players {players}, pool {self.n_subsets} sub-models, "
            f"at most {self.epochs} epochs"
        )
        chosen = [c for c in self.chosen if grouped or c not in ("grouping", "n_groups")]
        if chosen:
            text += f" ({', '.join(chosen)} chosen for n = {n:,}; set them to override)"
        return text


def choose_explain_settings(
    n: int,
    *,
    variant: str | None = None,
    grouping: str | None = None,
    n_groups: int | None = None,
    n_subsets: int | None = None,
    epochs: int | None = None,
) -> ExplainSettings:
    """The explainer's settings for ``n`` training points; given ones are kept.

    Up to :data:`POINT_PLAYERS_MAX` points: AFDS over the points, 2,048 sub-models, 200 epochs
    (the paper's settings). Above: GFDS+ over ``clusters`` groups (k-means within labels),
    ``n / POINTS_PER_GROUP`` of them clipped to [MIN_GROUPS, MAX_GROUPS], and a pool of
    ``POOL_ROW_BUDGET / n`` sub-models clipped to [MIN_POOL, MAX_POOL].

    Examples
    --------
    >>> choose_explain_settings(40_000).describe(40_000)  # doctest: +NORMALIZE_WHITESPACE
    'gfds+: players 100 groups (clusters), pool 300 sub-models, at most 200 epochs
     (variant, grouping, n_groups, n_subsets, epochs chosen for n = 40,000; set them to
     override)'
    >>> choose_explain_settings(500, n_subsets=64).chosen
    ('variant', 'grouping', 'n_groups', 'epochs')
    """
    large = n > POINT_PLAYERS_MAX
    given = {
        "variant": variant,
        "grouping": grouping,
        "n_groups": n_groups,
        "n_subsets": n_subsets,
        "epochs": epochs,
    }
    chosen = tuple(k for k, v in given.items() if v is None)
    groups = int(np.clip(n // POINTS_PER_GROUP, MIN_GROUPS, MAX_GROUPS)) if large else 10
    pool = int(np.clip(POOL_ROW_BUDGET // max(n, 1), MIN_POOL, MAX_POOL)) if large else MAX_POOL
    return ExplainSettings(
        variant=variant or ("gfds+" if large else "afds"),
        grouping=grouping or ("clusters" if large else "label"),
        n_groups=groups if n_groups is None else n_groups,
        n_subsets=pool if n_subsets is None else n_subsets,
        epochs=200 if epochs is None else epochs,
        chosen=chosen,
    )


def explain_task(
    spec: TaskSpec,
    out: str | Path,
    *,
    inputs: str | Path | None = None,
    variant: str | None = None,
    learner: str = "mlp",
    learner_params: dict[str, Any] | None = None,
    grouping: str | None = None,
    n_groups: int | None = None,
    n_train: int | None = None,
    n_subsets: int | None = None,
    epochs: int | None = None,
    params: dict[str, Any] | None = None,
    overwrite: bool = False,
    restart: bool = False,
    progress: bool = False,
    on_settings: Callable[[str], None] | None = None,
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
    variant, grouping, n_groups, n_subsets, epochs
        :class:`~assay.explain.explainer.FastDataShapley` settings; None: chosen from the
        number of players by :func:`choose_explain_settings` (``info["settings"]`` records
        them and which were chosen).
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
    on_settings : callable, optional
        Called with one line describing the settings (:meth:`ExplainSettings.describe`) before
        any training, so a command can say what it chose.

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
    settings = choose_explain_settings(
        train.n,
        variant=variant,
        grouping=grouping,
        n_groups=n_groups,
        n_subsets=n_subsets,
        epochs=epochs,
    )
    if settings.grouping == "provider" and train.groups is None:
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
        variant=settings.variant,
        grouping=settings.grouping,
        n_groups=settings.n_groups,
        n_subsets=settings.n_subsets,
        epochs=settings.epochs,
        seed=spec.seed,
        work_dir=folder / "work",
        restart=restart,
        progress=progress,
        **(params or {}),
    )
    if on_settings is not None:  # settings checked by FastDataShapley: now worth saying
        on_settings(settings.describe(train.n))
    explainer = fds.fit(train, X_in)
    explainer = dataclasses.replace(
        explainer,
        input_scaler=(scaler.mean, scaler.scale),
        feature_names=names,
        encoder=task.encoder,
        info={
            **explainer.info,
            "task": spec.to_dict(),
            "learner": learner,
            "n_train": train.n,
            "settings": {**dataclasses.asdict(settings), "chosen": list(settings.chosen)},
        },
    )
    explainer.save(folder, overwrite=overwrite)
    return explainer
