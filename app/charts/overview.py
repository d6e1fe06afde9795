"""Chart builders of the Overview page (pure: frame in, ``alt.Chart`` out)."""

from __future__ import annotations

import altair as alt
import polars as pl

from app.charts import require_columns


def coverage_chart(coverage: pl.DataFrame) -> alt.Chart:
    """Timeline of what the warehouse holds: one bar per dataset and symbol, first to last date.

    Parameters
    ----------
    coverage
        One row per ``dataset``, ``source``, ``symbol`` with ``first_date``, ``last_date``
        (dates), ``n_rows`` and ``n_dates`` (counts), as from
        :func:`app.queries.overview.read_overview`.

    Returns
    -------
    altair.Chart
        Bars from ``first_date`` to ``last_date`` on a time x axis, one row per
        ``dataset · symbol · source``, coloured by ``source``. A bar spans gaps: ``n_dates`` in
        the tooltip says how many dates are actually held.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(
        coverage,
        ["dataset", "source", "symbol", "first_date", "last_date", "n_rows", "n_dates"],
        "coverage_chart",
    ).with_columns(
        series=pl.concat_str("dataset", pl.lit(" · "), "symbol", pl.lit(" · "), "source")
    )
    return (
        alt.Chart(data)
        .mark_bar(height=12)
        .encode(
            x=alt.X("first_date:T", title="Date"),
            x2="last_date:T",
            y=alt.Y("series:N", title=None, sort=None, axis=alt.Axis(labelLimit=360)),
            color=alt.Color("source:N", title="Source"),
            tooltip=[
                alt.Tooltip("dataset:N", title="Dataset"),
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("symbol:N", title="Symbol"),
                alt.Tooltip("first_date:T", title="First date"),
                alt.Tooltip("last_date:T", title="Last date"),
                alt.Tooltip("n_dates:Q", title="Dates held", format=","),
                alt.Tooltip("n_rows:Q", title="Rows", format=","),
            ],
        )
        .properties(height=alt.Step(22))
    )
