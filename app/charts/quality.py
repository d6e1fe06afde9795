"""Chart builders of the Data quality page (pure: frame in, ``alt.Chart`` out)."""

from __future__ import annotations

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns

#: Status colours: green pass, amber warn, red fail/error.
STATUS_COLOURS = {"pass": "#2ca02c", "warn": "#ff9f1c", "fail": "#d62728", "error": "#7f0000"}


def dbt_tests_chart(counts: pl.DataFrame) -> alt.Chart:
    """Stacked bars of dbt data tests per category, coloured by status, one panel per severity.

    Parameters
    ----------
    counts
        One row per ``severity``, ``status`` and ``category`` with ``n_tests`` (count), as from
        :func:`app.queries.quality.dbt_test_counts`.

    Returns
    -------
    altair.Chart
        ``n_tests:Q`` on x, ``category:N`` on y, ``status`` colours, one panel per
        ``severity`` with its own x scale.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(counts, ["severity", "status", "category", "n_tests"], "dbt_tests_chart")
    statuses = list(STATUS_COLOURS)
    return (
        alt.Chart(data, height=CHART_HEIGHT, width=360)
        .mark_bar()
        .encode(
            x=alt.X("n_tests:Q", title="Tests"),
            y=alt.Y("category:N", title=None, sort="-x"),
            color=alt.Color(
                "status:N",
                title="Status",
                scale=alt.Scale(domain=statuses, range=[STATUS_COLOURS[s] for s in statuses]),
            ),
            column=alt.Column("severity:N", title="Severity"),
            tooltip=[
                alt.Tooltip("severity:N", title="Severity"),
                alt.Tooltip("category:N", title="Category"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("n_tests:Q", title="Tests"),
            ],
        )
        # most tests are error-severity NOT NULL checks: give each panel its own x scale
        .resolve_scale(x="independent")
    )
