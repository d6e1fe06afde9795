"""Chart builders of the Data quality page (pure: frame in, ``alt.Chart`` out)."""

from __future__ import annotations

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns

#: Status colours: green pass, amber warn, red fail/error.
STATUS_COLOURS = {"pass": "#2ca02c", "warn": "#ff9f1c", "fail": "#d62728", "error": "#7f0000"}
#: Panel order of the severities (error-severity tests first); others follow alphabetically.
SEVERITY_ORDER: tuple[str, ...] = ("error", "warn")
#: What a test without a category is listed as.
UNCATEGORISED = "(no category)"


def _severity_panel(
    data: pl.DataFrame, severity: str, categories: list[str], colour: alt.Color
) -> alt.LayerChart:
    """One severity's stacked bars by category, each bar labelled with its number of tests."""
    panel = data.filter(pl.col("severity") == severity)
    totals = panel.group_by("category").agg(pl.col("n_tests").sum().alias("n_total"))
    n_tests = int(panel["n_tests"].sum())
    y = alt.Y("category:N", title=None, sort=categories)
    bars = (
        alt.Chart(panel)
        .mark_bar()
        .encode(
            x=alt.X("n_tests:Q", title=f"Tests ({severity} severity; this panel's own scale)"),
            y=y,
            color=colour,
            order=alt.Order("status_order:Q"),
            tooltip=[
                alt.Tooltip("severity:N", title="Severity"),
                alt.Tooltip("category:N", title="Category"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("n_tests:Q", title="Tests"),
            ],
        )
    )
    labels = (
        alt.Chart(totals)
        .mark_text(align="left", dx=3, fontSize=11)
        .encode(x=alt.X("n_total:Q"), y=y, text=alt.Text("n_total:Q", format=","))
    )
    return alt.layer(bars, labels).properties(
        height=CHART_HEIGHT,
        width=340,
        title=alt.TitleParams(
            f"Severity {severity}: {n_tests:,} tests",
            subtitle="x axis scaled to this panel; read the counts",
            anchor="start",
            fontSize=13,
        ),
    )


def dbt_tests_chart(counts: pl.DataFrame) -> alt.HConcatChart:
    """Stacked bars of dbt data tests per category, coloured by status, one panel per severity.

    The panels hold very different numbers of tests (about 470 error-severity NOT NULL
    checks against a dozen warn-severity ones), so each keeps its own x scale; to keep their
    bars from reading as comparable, each panel's title gives its total, its axis title says
    the scale is its own, and every bar ends in its count.

    Parameters
    ----------
    counts
        One row per ``severity``, ``status`` and ``category`` with ``n_tests`` (count), as from
        :func:`app.queries.quality.dbt_test_counts`.

    Returns
    -------
    altair.HConcatChart
        One panel per severity (``error``, ``warn``, then any other in name order), each a
        layer of ``n_tests:Q`` bars on x by ``category:N`` on y (categories in the same order
        in every panel, most tests first; a NULL category shows as :data:`UNCATEGORISED`) with
        ``status`` colours, and a text label of the category's total at the bar's end; colours
        shared, x scales independent.

    Raises
    ------
    ValueError
        When a required column is missing (the message names it) or ``counts`` has no row.
    """
    data = require_columns(counts, ["severity", "status", "category", "n_tests"], "dbt_tests_chart")
    if data.is_empty():
        raise ValueError("dbt_tests_chart needs at least one row of counts, got none")
    statuses = list(STATUS_COLOURS)
    data = data.with_columns(
        pl.col("category").fill_null(UNCATEGORISED),
        pl.col("status")
        .replace_strict({s: i for i, s in enumerate(statuses)}, default=len(statuses))
        .alias("status_order"),
    )
    categories = (
        data.group_by("category")
        .agg(pl.col("n_tests").sum())
        .sort(["n_tests", "category"], descending=[True, False])["category"]
        .to_list()
    )
    present = set(data["severity"].to_list())
    severities = [s for s in SEVERITY_ORDER if s in present] + sorted(present - set(SEVERITY_ORDER))
    colour = alt.Color(
        "status:N",
        title="Status",
        scale=alt.Scale(domain=statuses, range=[STATUS_COLOURS[s] for s in statuses]),
    )
    panels = [_severity_panel(data, severity, categories, colour) for severity in severities]
    return alt.hconcat(*panels).resolve_scale(x="independent", color="shared")
