"""Chart builder of the Benchmarks page: a benchmark's replicated level against the published one.

Input is :attr:`app.queries.benchmarks.Replication.levels` (floats, never ``DECIMAL``s: FIELD_NOTES,
a DuckDB ``DECIMAL`` plots 10^scale too large in Altair).
"""

from __future__ import annotations

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns

#: Level column -> the series name the legend shows, in legend order.
SERIES: dict[str, str] = {
    "replicated_level": "Replicated (engine)",
    "published_level": "Published (Cboe)",
}
_COLOURS = ("#1f77b4", "#ff7f0e")


def benchmark_levels_chart(levels: pl.DataFrame, title: str) -> alt.Chart:
    """Replicated and published index levels over time, one line each.

    Parameters
    ----------
    levels
        One row per ``quote_date`` (date) with ``replicated_level`` and ``published_level``
        (floats, index points; published NULL where no history is loaded or Cboe published
        none that day: that line has a gap, or is absent).
    title
        Chart title (say which benchmark and which chain, MODELED included).

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, ``level:Q`` on y (not forced to zero), ``series:N`` as colour,
        with both series in the legend even when one has no point.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.

    Examples
    --------
    >>> import datetime as dt
    >>> frame = pl.DataFrame({"quote_date": [dt.date(2019, 6, 21)],
    ...                       "replicated_level": [1441.33], "published_level": [1441.33]})
    >>> benchmark_levels_chart(frame, "BXM").to_dict()["encoding"]["color"]["field"]
    'series'
    """
    data = require_columns(levels, ["quote_date", *SERIES], "benchmark_levels_chart")
    long = (
        data.unpivot(
            index="quote_date", on=list(SERIES), variable_name="series", value_name="level"
        )
        .filter(pl.col("level").is_not_null())
        .with_columns(pl.col("series").replace_strict(SERIES))
    )
    return (
        alt.Chart(long, height=CHART_HEIGHT, title=title)
        .mark_line()
        .encode(
            x=alt.X("yearmonthdate(quote_date):T", title="Quote date"),
            y=alt.Y("level:Q", title="Index level (points)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=list(SERIES.values()), range=list(_COLOURS)),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip("level:Q", title="Level", format=",.2f"),
            ],
        )
    )
