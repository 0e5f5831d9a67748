"""Plain-text renderings of DataFrames: GitHub markdown and rich terminal tables."""

from __future__ import annotations

import pandas as pd
from rich.markup import escape
from rich.table import Table


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency needed)."""
    if frame.empty:
        return "_(no rows)_\n"
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _text(value: object) -> str:
    """A terminal cell: the value as it is, its line breaks kept (a failure's layer list
    reads as a list; the table wraps long lines instead of cutting them)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def rich_table(frame: pd.DataFrame, title: str = "") -> Table:
    table = Table(title=title or None, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(escape(_text(v)) for v in row))  # "[targets.x]" is text, not markup
    return table
