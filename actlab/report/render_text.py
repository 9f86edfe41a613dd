"""A report table as text: rich (the terminal), markdown, CSV (long form) and LaTeX."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

from actlab.errors import ActlabError
from actlab.report.table import Table
from actlab.report.text import (
    BETTER,
    COMPARISON_HEADER,
    FLAGGED,
    WORSE,
    caption,
    cell_notes,
    cell_text,
    comparison_caption,
    comparison_rows,
    comparison_summary,
    comparisons_shown,
    format_number,
    has_references,
    measured,
    row_text,
)

#: Output formats of :func:`render`.
FORMATS = ("rich", "markdown", "csv", "latex")


def _markdown_rows(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table; ``|`` inside a cell (before the paper's number) is escaped, so the cell
    stays one column."""

    def line(texts: Sequence[str]) -> str:
        return "| " + " | ".join(t.replace("|", "\\|") for t in texts) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def render_markdown(table: Table) -> str:
    refs = has_references(table)
    rows = []
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = cell_text(cell, table.digits, refs)
            texts.append(f"**{text}**" if cell is not None and cell.best else text)
        rows.append([row_text(table, row), *texts])
    lines = _markdown_rows([table.row_title, *table.columns], rows)
    lines += ["", caption(table, refs), *cell_notes(table)]
    if comparisons_shown(table):
        header = [table.row_title, *COMPARISON_HEADER]
        lines += ["", *_markdown_rows(header, comparison_rows(table)), ""]
        lines.append(comparison_caption(table))
    elif summary := comparison_summary(table):
        lines.append(summary)
    return "\n".join(lines) + "\n"


#: Columns of :func:`render_csv`: the cell, then its comparison with its column's reference.
CSV_HEADER = (
    "row",
    "column",
    "metric",
    "mean",
    "std",
    "n",
    "reference",
    "diff",
    "best",
    "ci_low",
    "ci_high",
    "confidence",
    "flags",
    "vs",
    "test",
    "n_compared",
    "n_vs",
    "delta",
    "delta_low",
    "delta_high",
    "p",
    "p_holm",
    "effect",
    "effect_kind",
    "significant",
    "direction",
    "seeds_needed",
    "planning_alpha",
    "comparison_note",
    "measured",
)


def render_csv(table: Table) -> str:
    """Long form, one line per cell: n, mean, std, CI, the paper's number and the difference,
    best, flags, and the cell's comparison with its column's reference (empty for the
    reference). ``std`` and the CI are empty for one run; ``diff`` is ours − paper."""

    def num(value: float | None) -> str:
        return "" if value is None or math.isnan(value) else repr(float(value))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in table.rows:
        for col in table.columns:
            cell = table.cell(row, col)
            if cell is None:
                continue
            iv = cell.interval
            line = [
                row,
                col,
                table.metric,
                num(iv.mean),
                num(iv.std),
                cell.n,
                num(cell.reference),
                num(cell.diff),
                int(cell.best),
                num(iv.low),
                num(iv.high),
                repr(table.confidence),
                "; ".join(cell.flags),
            ]
            c = cell.comparison
            if c is None:
                line += [""] * (len(CSV_HEADER) - 1 - len(line))
            else:
                s = c.stats
                line += [
                    c.reference,
                    s.test,
                    s.n,
                    s.n_reference,
                    num(s.delta),
                    num(s.low),
                    num(s.high),
                    num(s.p),
                    num(c.p_holm),
                    num(s.effect),
                    s.effect_kind,
                    int(c.significant),
                    c.direction,
                    "" if c.seeds_needed is None else c.seeds_needed,
                    repr(c.planning_alpha),
                    "; ".join(n for n in (s.note, c.seeds_note) if n),
                ]
            writer.writerow([*line, measured(table)])
    return buffer.getvalue()


def _latex_escape(text: str) -> str:
    for char, repl in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
    ):
        text = text.replace(char, repl)
    return text


def _latex_text(text: str) -> str:
    """Escaped, with the report's symbols in math mode (no extra packages)."""
    text = _latex_escape(text)
    for char, repl in (
        ("±", r"$\pm$"),
        (BETTER, r"$\uparrow$"),
        (WORSE, r"$\downarrow$"),
        (FLAGGED, r"$\dagger$"),
        ("Δ", r"$\Delta$"),
        ("−", "-"),
        ("<", r"$<$"),
        (">", r"$>$"),
    ):
        text = text.replace(char, repl)
    return text


def _latex_tabular(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> list[str]:
    lines = [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(_latex_text(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(r) + r" \\" for r in rows]
    return [*lines, r"\bottomrule", r"\end{tabular}"]


def render_latex(table: Table) -> str:
    """Booktabs tabulars: the table, its caption and notes as comments, the comparisons."""
    refs = has_references(table)
    rows = []
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = _latex_text(cell_text(cell, table.digits, refs))
            texts.append(rf"\textbf{{{text}}}" if cell is not None and cell.best else text)
        rows.append([_latex_text(row_text(table, row)), *texts])
    align = "l" + "c" * len(table.columns)
    lines = _latex_tabular([table.row_title, *table.columns], rows, align)
    lines += [f"% {line}" for line in [caption(table, refs), *cell_notes(table)]]
    if comparisons_shown(table):
        body = [[_latex_text(t) for t in r] for r in comparison_rows(table)]
        header = [table.row_title, *COMPARISON_HEADER]
        lines += ["", *_latex_tabular(header, body, "ll" + "c" * (len(header) - 2))]
        lines.append(f"% {comparison_caption(table)}")
    elif summary := comparison_summary(table):
        lines.append(f"% {summary}")
    return "\n".join(lines) + "\n"


def rich_table(table: Table) -> Any:
    from rich.markup import escape
    from rich.table import Table as RichTable

    refs = has_references(table)
    out = RichTable(title=table.title or None, caption=escape(caption(table)))
    out.add_column(table.row_title, style="bold")
    for col in table.columns:
        out.add_column(col, justify="right")
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = escape(cell_text(cell, table.digits, False))
            if cell is not None and refs and cell.reference is not None:
                color = "green" if (cell.diff or 0) >= 0 else "red"
                text += (
                    f"\npaper {format_number(cell.reference, table.digits)} "
                    f"[{color}]({cell.diff:+.{table.digits}f})[/]"
                )
            texts.append(f"[bold green]{text}[/]" if cell is not None and cell.best else text)
        out.add_row(escape(row_text(table, row)), *texts)
    return out


def rich_comparisons(table: Table) -> Any:
    """The comparisons as a rich table (significant ones in colour)."""
    from rich.markup import escape
    from rich.table import Table as RichTable

    out = RichTable(caption=escape(comparison_caption(table)))
    for name in [table.row_title, *COMPARISON_HEADER]:
        out.add_column(name, justify="left" if name in ("column", "vs", "test") else "right")
    for comparison, texts in zip(table.comparisons, comparison_rows(table), strict=True):
        color = {"better": "green", "worse": "red"}.get(comparison.direction)
        texts = [escape(t) for t in texts]
        out.add_row(*(f"[{color}]{t}[/]" for t in texts) if color else texts)
    return out


def render(table: Table, fmt: str) -> str:
    """The table as text in ``fmt`` (rich renders to plain text without a terminal)."""
    if fmt == "markdown":
        return render_markdown(table)
    if fmt == "csv":
        return render_csv(table)
    if fmt == "latex":
        return render_latex(table)
    if fmt == "rich":
        from rich.console import Console

        console = Console(file=io.StringIO(), width=200, color_system=None)
        console.print(rich_table(table))
        for note in cell_notes(table):
            console.print(note, markup=False)
        if comparisons_shown(table):
            console.print(rich_comparisons(table))
        elif summary := comparison_summary(table):
            console.print(summary, markup=False)
        return console.file.getvalue()  # type: ignore[attr-defined]
    raise ActlabError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
