"""Figures without a display: a :class:`matplotlib.figure.Figure` on an explicit Agg canvas.

Never through ``pyplot``: nothing is displayed, no global figure list grows, and it works headless.
Below both :mod:`assay.select` and :mod:`assay.evaluate`, which draw their own figures with it.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["figure_png", "new_figure"]


def new_figure(width: float = 6.4, height: float = 4.0) -> Figure:
    """An empty figure attached to an Agg canvas (no display)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes (no metadata, so the bytes depend on the figure only)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
