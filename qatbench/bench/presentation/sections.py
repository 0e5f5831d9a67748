"""A report as a list of sections, and the two renderers every report shares.

``report.md`` / ``report.html`` (``report.py``), ``profile.md`` (``profile_report.py``
through ``orchestration/profile_command.py``) are each a list of ``Section`` rendered
here, so the markdown a CI job summary shows and the HTML a person opens never
disagree. This module imports nothing of qatbench but the table writer: every
presentation module may build sections without importing another report (which is
how ``report.py`` and ``profile_report.py`` once imported each other).
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qatbench.bench.presentation.tables import markdown_table


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    image: Path | None = None
    css_class: str = ""  # HTML: "figures" never breaks the first three cells (the row's name)


def runs_line(results: pd.DataFrame) -> str:
    """The run ids a report covers, for its heading ("?" when the rows name none)."""
    return ", ".join(sorted({str(r) for r in results["run_id"].dropna()})) or "?"


def render_markdown(sections: list[Section], results: pd.DataFrame, base: Path) -> str:
    """The sections as markdown; images linked relative to ``base`` (the file's folder)."""
    parts = [f"# qatbench report\n\nRun(s): {runs_line(results)}\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        if section.text:
            parts.append(section.text + "\n")
        if section.table is not None:
            parts.append(markdown_table(section.table))
        if section.image is not None:
            parts.append(f"![{section.title}]({os.path.relpath(section.image, base)})\n")
    return "\n".join(parts)


HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1200px;
color:#222;line-height:1.4}
.table-wrap{overflow-x:auto;max-width:100%;margin:.5em 0 1.5em}
table{border-collapse:collapse;font-size:.8em}
th,td{border:1px solid #ccc;padding:.2em .4em;text-align:left;vertical-align:top}
th{background:#f3f3f3;white-space:nowrap}table.figures td:nth-child(-n+3){white-space:nowrap}
img{max-width:100%;border:1px solid #eee}code{background:#f6f6f6;padding:0 .2em}
"""


def _paragraph(line: str) -> str:
    """One line of section text as HTML: markdown's list dash dropped, `code` kept."""
    escaped = html.escape(line.removeprefix("- "))
    return "<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped) + "</p>"


def _html_table(section: Section) -> str:
    """A table in a horizontally scrolling box: however wide, it never widens the page."""
    assert section.table is not None
    # a word joiner after each dash: a squeezed "0.0277–0.0327" never breaks mid-range
    frame = section.table.map(lambda v: v.replace("–", "–\u2060") if isinstance(v, str) else v)
    table = frame.rename_axis(columns=None).to_html(
        index=False, na_rep="", escape=True, border=0, classes=section.css_class or None)
    return f'<div class="table-wrap">{table}</div>'


def render_html(sections: list[Section], results: pd.DataFrame) -> str:
    """The sections as one self-contained HTML page (images embedded)."""
    body = [f"<h1>qatbench report</h1><p>Run(s): {html.escape(runs_line(results))}</p>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            body.extend(_paragraph(line) for line in section.text.splitlines() if line)
        if section.table is not None:
            body.append(_html_table(section))
        if section.image is not None:
            encoded = base64.b64encode(section.image.read_bytes()).decode("ascii")
            body.append(f'<img alt="{html.escape(section.title)}" '
                        f'src="data:image/png;base64,{encoded}">')
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>qatbench report</title>"
            f"<style>{HTML_STYLE}</style></head><body>{''.join(body)}</body></html>\n")
