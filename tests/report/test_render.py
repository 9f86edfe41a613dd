"""Every output format of a table (markdown, CSV, LaTeX, rich, the HTML table and strip plot):
n, interval, marks, references and the comparisons."""

from __future__ import annotations

import csv
import io

import pytest

from actlab.report.render_html import render_html_table, strip_plot
from actlab.report.render_text import render
from actlab.report.table import build_table
from tests.report.helpers import PER_SEED, records, seeded


def test_render_formats() -> None:
    refs = {"relu": {"mlp": 90.0}}
    table = build_table(
        records(), ["activation"], ["model"], "test/acc", scale=100, references=refs
    )
    md = render(table, "markdown").splitlines()
    assert md[0] == "| activation | mlp | cnn |"
    assert md[2] == (
        "| relu | 91.00 ± 1.41 [78.29, 103.71] n=2 † \\| paper 90.00 (+1.00) | 95.00 (n=1) |"
    )
    assert md[3] == "| prelu | 94.00 ± 1.41 [81.29, 106.71] n=2 | 94.00 (n=1) |"
    assert "no comparison tested (2 possible)" in md[-1]
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert len(rows) == 4
    assert rows[0]["row"] == "relu" and rows[0]["column"] == "mlp" and rows[0]["n"] == "2"
    assert float(rows[0]["mean"]) == pytest.approx(91.0)
    assert float(rows[0]["diff"]) == pytest.approx(1.0)
    assert float(rows[0]["ci_low"]) == pytest.approx(91 - 12.7062047 * 1.0)
    assert rows[0]["flags"].startswith("1 of 3 runs not FINISHED")
    assert rows[1]["reference"] == "" and rows[1]["best"] == "0"
    assert rows[1]["std"] == rows[1]["ci_low"] == "" and rows[1]["n"] == "1"  # no interval
    assert rows[3]["vs"] == "relu" and rows[3]["comparison_note"].startswith("no test")
    latex = render(table, "latex")
    assert latex.startswith(r"\begin{tabular}{lcc}")
    assert r"95.00 (n=1)" in latex and r"91.00 $\pm$ 1.41 [78.29, 103.71] n=2 $\dagger$" in latex
    text = render(table, "rich")
    assert "91.00 ± 1.41 [78.29, 103.71]" in text and "paper 90.00" in text and "(+1.00)" in text


def test_every_format_shows_n_interval_and_comparisons() -> None:
    table = build_table(
        seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu"
    )
    cpaf = table.cell("cpaf", "fmnist").interval
    text = f"{cpaf.mean:.2f} ± {cpaf.std:.2f} [{cpaf.low:.2f}, {cpaf.high:.2f}] n=5 ▲"
    md = render(table, "markdown")
    assert f"| cpaf | {text} |" in md and "| relu (baseline) |" in md
    assert "| cpaf | fmnist | relu | +1.34 | [+1.23, +1.45] |" in md and "paired t, 5 pairs" in md
    assert "Holm over the table's 2 tests" in md and "at α/2 = 0.025" in md
    rich = render(table, "rich")
    assert text in rich and "paired t, 5 pairs" in rich and "relu (baseline)" in rich
    latex = render(table, "latex")
    assert r"n=5 $\uparrow$" in latex and r"paired t, 5 pairs" in latex
    assert latex.count(r"\begin{tabular}") == 2
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(render(table, "csv")))}
    assert rows["relu"]["vs"] == "" and rows["cpaf"]["vs"] == "relu"
    assert rows["cpaf"]["test"] == "paired t" and rows["cpaf"]["direction"] == "better"
    assert float(rows["cpaf"]["ci_low"]) == pytest.approx(cpaf.low)
    assert rows["cpaf"]["significant"] == "1" and rows["cpaf"]["effect_kind"] == "d_z"
    assert int(rows["cpaf"]["seeds_needed"]) == 3
    html = render_html_table(table)
    assert f"<td>{text}</td>" in html and '<table class="comparisons">' in html
    fig = strip_plot(table)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 3  # one strip per cell
