"""Figures of an evaluation: removal / addition curves, value histograms, detection bars.

Figures are built as :class:`matplotlib.figure.Figure` objects on an explicit Agg canvas, never
through ``pyplot``: nothing is displayed, no global figure list grows, and it works headless.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from assay.errors import InvalidDataError, InvalidParameterError
from assay.evaluate.curves import CURVES, RANDOM
from assay.evaluate.detection import noisy_mask
from assay.plotting import new_figure
from assay.result import ValuationResult

_AXIS_LABEL = {"removal": "fraction of training points removed", "addition": "fraction added"}
_DIRECTION_STYLE = {"suspect-first": "-", "keep-first": "--"}
_METRIC_NAME = {"roc_auc": "ROC-AUC", "average_precision": "average precision", "f1": "F1"}


def plot_curves(
    curves: pd.DataFrame, curve: str = "removal", *, title: str | None = None
) -> Figure:
    """One curve type of :func:`assay.evaluate.point_curves`'s table.

    Each method is one colour: solid for ``suspect-first``, dashed for ``keep-first``. The random
    baseline is a grey line with a band of one standard deviation.

    Raises
    ------
    InvalidDataError
        If the table has no rows of this curve type.
    """
    if curve not in CURVES:
        raise InvalidParameterError(f"curve must be one of {CURVES}, got {curve!r}")
    df = curves[curves["curve"] == curve]
    if df.empty:
        raise InvalidDataError(f"the curves table has no {curve!r} rows")
    fig = new_figure()
    ax = fig.add_subplot()
    colours = iter(f"C{i}" for i in range(10_000))
    for method, part in df.groupby("method", sort=False):
        if method == RANDOM:
            part = part.sort_values("fraction")
            x = part["fraction"].to_numpy(float)
            y = part["score"].to_numpy(float)
            sd = np.nan_to_num(part["std"].to_numpy(float))
            ax.fill_between(x, y - sd, y + sd, color="0.6", alpha=0.3, linewidth=0)
            ax.plot(x, y, color="0.45", linestyle=":", marker=".", label="random (±1 sd)")
            continue
        colour = next(colours)
        for direction, line in part.groupby("direction", sort=False):
            line = line.sort_values("fraction")
            ax.plot(
                line["fraction"],
                line["score"],
                color=colour,
                linestyle=_DIRECTION_STYLE.get(str(direction), "-."),
                marker=".",
                label=f"{method}, {direction}",
            )
    ax.set_xlabel(_AXIS_LABEL[curve])
    ax.set_ylabel("test score")
    ax.set_title(title or f"Point {curve} curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_value_histogram(
    result: ValuationResult,
    flipped: ArrayLike | None = None,
    *,
    flipped_ids: ArrayLike | None = None,
    bins: int = 30,
    title: str | None = None,
) -> Figure:
    """Histogram of the values, flipped and clean points stacked in two colours when known.

    ``flipped`` / ``flipped_ids`` as in :func:`assay.evaluate.noisy_mask`; neither gives one
    histogram of all values.
    """
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    values = np.asarray(result.values, dtype=np.float64)
    finite = np.isfinite(values)
    if flipped is None and flipped_ids is None:
        ax.hist(values[finite], bins=bins, color="C0")
    else:
        noisy = noisy_mask(result, flipped, flipped_ids=flipped_ids)
        edges = np.histogram_bin_edges(values[finite], bins=bins).tolist()
        ax.hist(
            [values[~noisy & finite], values[noisy & finite]],
            bins=edges,
            stacked=True,
            color=["C0", "C3"],
            label=[f"clean ({int((~noisy).sum())})", f"flipped ({int(noisy.sum())})"],
        )
        ax.legend(fontsize="small")
    ax.set_xlabel(f"value ({result.direction})")
    ax.set_ylabel("points")
    ax.set_title(title or f"Values of {result.method}")
    ax.grid(alpha=0.3)
    return fig


def plot_detection(
    detection: pd.DataFrame, metric: str = "roc_auc", *, title: str | None = None
) -> Figure:
    """Horizontal bars of one detection metric per method (best on top), chance marked.

    ``detection`` is :func:`assay.evaluate.detection_table`'s output.
    """
    if metric not in detection.columns:
        raise InvalidParameterError(
            f"metric {metric!r} is not a column of the detection table: {list(detection.columns)}"
        )
    df = detection.sort_values(metric, ascending=True)
    fig = new_figure(6.4, 1.2 + 0.4 * len(df))
    ax = fig.add_subplot()
    ax.barh(df["method"].astype(str), df[metric].astype(float), color="C0")
    for y, v in enumerate(df[metric].astype(float)):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize="small")
    if metric == "roc_auc":
        ax.axvline(0.5, color="0.4", linestyle="--", linewidth=1, label="chance")
        ax.legend(fontsize="small", loc="lower right")
    ax.set_xlim(0, 1.1)
    name = _METRIC_NAME.get(metric, metric.replace("_", " "))
    ax.set_xlabel(name)
    ax.set_title(title or f"Noisy-label detection: {name}")
    ax.grid(axis="x", alpha=0.3)
    return fig
