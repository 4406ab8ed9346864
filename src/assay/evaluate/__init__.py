"""Experiments that score a valuation, and the report that shows them.

- :mod:`~assay.evaluate.detection`: noisy-label detection (precision / recall / F1, ROC-AUC, AP).
- :mod:`~assay.evaluate.curves`: point-removal and point-addition curves, one batched utility call.
- :mod:`~assay.evaluate.plots`: matplotlib figures (Agg, no display).
- :mod:`~assay.evaluate.htmldoc`: a self-contained HTML document builder.
- :mod:`~assay.evaluate.report`: the evaluation report.
- :mod:`~assay.evaluate.results_dir`: results-directory I/O (Parquet results, evaluation.json).
"""

from assay.evaluate.curves import (
    DEFAULT_FRACTIONS,
    addition_curves,
    curve_subsets,
    point_curves,
    removal_curves,
    value_order,
)
from assay.evaluate.detection import (
    Detection,
    detect_noisy,
    detection_table,
    noisy_mask,
)
from assay.evaluate.htmldoc import ExtraSection, Html, Report
from assay.evaluate.plots import (
    plot_curves,
    plot_detection,
    plot_value_histogram,
)
from assay.evaluate.report import build_report, make_report
from assay.evaluate.results_dir import load_results, read_evaluation, write_evaluation
from assay.plotting import figure_png

__all__ = [
    "DEFAULT_FRACTIONS",
    "Detection",
    "ExtraSection",
    "Html",
    "Report",
    "addition_curves",
    "build_report",
    "curve_subsets",
    "detect_noisy",
    "detection_table",
    "figure_png",
    "load_results",
    "make_report",
    "noisy_mask",
    "plot_curves",
    "plot_detection",
    "plot_value_histogram",
    "point_curves",
    "read_evaluation",
    "removal_curves",
    "value_order",
    "write_evaluation",
]
