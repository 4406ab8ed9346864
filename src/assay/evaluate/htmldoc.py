"""The HTML document builder: escaped text, tables, embedded PNG figures, one self-contained file.

All text is escaped; only :class:`Html` content is inserted verbatim."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from assay.plotting import figure_png
from assay.runs import atomic_write_text

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       background: #fafafa; margin: 0; line-height: 1.45; }
main { max-width: 980px; margin: 0 auto; padding: 1.5em 2em 3em; background: #fff; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
nav ol { columns: 2; font-size: 0.95em; }
a { color: #1f5fa8; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { background: #f1f3f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f6f9fc; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #666; font-size: 0.88em; }
code { background: #f1f3f5; padding: 0 0.25em; border-radius: 3px; }
footer { margin-top: 3em; color: #888; font-size: 0.85em; }
"""


@dataclass(frozen=True)
class Html:
    """Trusted HTML, inserted into the report verbatim (plain ``str`` is always escaped)."""

    html: str


Content = str | Html | pd.DataFrame
"""Section content: text (escaped, light markdown), trusted :class:`Html`, or a table."""

ExtraSection = tuple[str, Content | None] | tuple[str, Content | None, Figure | bytes | None]
"""``(title, content)`` or ``(title, content, figure)``: what later features add to a report."""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _inline(escaped: str) -> str:
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def text_html(text: str) -> str:
    """Escaped text with light markdown: blank-line paragraphs, ``- `` lists, backticks, bold."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if all(ln[:2] in ("- ", "* ") for ln in lines):
            items = "".join(f"<li>{_inline(_e(ln[2:]))}</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(_e(' '.join(lines)))}</p>")
    return "\n".join(out)


def format_cell(value: Any) -> str:
    """A cell as text: floats to 4 significant digits, missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{float(value):.4g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _is_numeric(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    vals = col.dropna()
    return len(vals) > 0 and all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_) for v in vals
    )


def table_html(df: pd.DataFrame, *, max_rows: int | None = 200, index: bool = False) -> str:
    """An escaped HTML table of ``df`` (numbers right-aligned), cut at ``max_rows`` rows."""
    frame = df.reset_index() if index else df
    shown = frame if max_rows is None else frame.head(max_rows)
    numeric = [_is_numeric(frame.iloc[:, j]) for j in range(frame.shape[1])]
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{_e(format_cell(v))}</td>'
            if num
            else f"<td>{_e(format_cell(v))}</td>"
            for v, num in zip(rec, numeric, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    note = ""
    if len(shown) < len(frame):
        note = f'<p class="note">First {len(shown)} of {len(frame)} rows.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def figure_html(fig: Figure | bytes, alt: str = "", caption: str | None = None) -> str:
    """A figure (or PNG bytes) as an ``<img>`` with a base64 data URI."""
    png = fig if isinstance(fig, bytes) else figure_png(fig)
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">{cap}</figure>'


class Report:
    """Builder of a self-contained HTML report.

    Every ``add_*`` call starts a new section titled ``title``; with ``title=None`` the block is
    appended to the previous section (to put a table under a figure, say).

    Examples
    --------
    >>> r = Report("demo")
    >>> r.add_text("Notes", "Values are **higher = better**.")
    >>> "<strong>higher = better</strong>" in r.render()
    True
    """

    def __init__(self, title: str = "assay report", *, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self._sections: list[tuple[str, list[str]]] = []

    @property
    def section_titles(self) -> list[str]:
        return [t for t, _ in self._sections]

    def _add(self, title: str | None, block: str) -> None:
        if title is None and self._sections:
            self._sections[-1][1].append(block)
        else:
            self._sections.append((title or "", [block]))

    def add_text(self, title: str | None, text: str | Html) -> None:
        """Text (escaped; paragraphs, ``- `` lists, backticks, ``**bold**``) or trusted Html."""
        self._add(title, text.html if isinstance(text, Html) else text_html(text))

    def add_table(
        self,
        title: str | None,
        df: pd.DataFrame,
        *,
        caption: str | None = None,
        max_rows: int | None = 200,
        index: bool = False,
    ) -> None:
        """A DataFrame as an HTML table (cut at ``max_rows`` rows), with an optional caption."""
        cap = f'<p class="note">{_e(caption)}</p>' if caption else ""
        self._add(title, table_html(df, max_rows=max_rows, index=index) + cap)

    def add_facts(self, title: str | None, facts: Mapping[str, Any]) -> None:
        """A key / value table (nested values shown as JSON)."""
        df = pd.DataFrame({"fact": list(facts), "value": [format_cell(v) for v in facts.values()]})
        self.add_table(title, df, max_rows=None)

    def add_figure(
        self, title: str | None, fig: Figure | bytes, caption: str | None = None
    ) -> None:
        """A matplotlib figure (or PNG bytes), embedded as a base64 PNG."""
        self._add(title, figure_html(fig, alt=title or self.title, caption=caption))

    def add_section(
        self,
        title: str,
        content: Content | None = None,
        figure: Figure | bytes | None = None,
        caption: str | None = None,
    ) -> None:
        """A section of text, Html or a table, and an optional figure below it."""
        self._sections.append((title, []))
        if isinstance(content, pd.DataFrame):
            self.add_table(None, content)
        elif content is not None:
            self.add_text(None, content)
        if figure is not None:
            self.add_figure(None, figure, caption)

    def render(self) -> str:
        """The whole report as one HTML document."""
        toc = "".join(
            f'<li><a href="#s{i}">{_e(t)}</a></li>' for i, (t, _) in enumerate(self._sections) if t
        )
        body = []
        for i, (t, blocks) in enumerate(self._sections):
            head = f"<h2>{_e(t)}</h2>" if t else ""
            body.append(f'<section id="s{i}">{head}\n' + "\n".join(blocks) + "\n</section>")
        sub = f'<p class="note">{_e(self.subtitle)}</p>' if self.subtitle else ""
        from assay.version import __version__

        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{_e(self.title)}</h1>\n{sub}\n"
            + (f"<nav><ol>{toc}</ol></nav>\n" if toc else "")
            + "\n".join(body)
            + f"\n<footer>Generated by assay {_e(__version__)}.</footer>\n"
            + "</main>\n</body>\n</html>\n"
        )

    def write(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the rendered report to ``path`` atomically (temporary file, then rename);
        an existing file is refused unless ``overwrite``."""
        return atomic_write_text(path, self.render(), overwrite=overwrite)
