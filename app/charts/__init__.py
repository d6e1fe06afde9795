"""Chart builders: pure functions from a frame to an ``alt.Chart``, testable without Streamlit.

Every encoding names its type (``:T``, ``:Q``, ``:N``) so Altair never guesses from the data, and
each builder keeps only the columns it plots (smaller Vega-Lite payload, no NaN from unused
columns). Inputs must hold floats, not ``DECIMAL``s: :mod:`app.queries` casts to ``DOUBLE``.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

CHART_HEIGHT = 280  # pixels


def _require(df: pl.DataFrame, columns: Sequence[str], what: str) -> pl.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}, got {df.columns}")
    return df.select(columns)


def _date_axis() -> alt.X:
    # Daily data: the yearmonthdate time unit keeps Vega-Lite from drawing hour ticks
    # ("03 AM", "06 AM") between the days of a short run.
    return alt.X("yearmonthdate(quote_date):T", title="Quote date")


def equity_chart(equity_df: pl.DataFrame) -> alt.Chart:
    """Line chart of account equity over time.

    Parameters
    ----------
    equity_df
        One row per ``quote_date`` (date) with ``equity_usd`` (float, USD), as returned by
        :func:`app.queries.equity_curve`. Other columns are ignored.

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, ``equity_usd:Q`` on y (axis not forced to zero, dollar format).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = _require(equity_df, ["quote_date", "equity_usd"], "equity_chart")
    return (
        alt.Chart(data, height=CHART_HEIGHT, title="Equity")
        .mark_line()
        .encode(
            x=_date_axis(),
            y=alt.Y(
                "equity_usd:Q",
                title="Equity (USD)",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format="$,.0f"),
            ),
            tooltip=[
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip("equity_usd:Q", title="Equity", format="$,.2f"),
            ],
        )
    )


def drawdown_chart(equity_df: pl.DataFrame) -> alt.Chart:
    """Area chart of drawdown from the running equity peak.

    Parameters
    ----------
    equity_df
        One row per ``quote_date`` (date) with ``drawdown`` (decimal fraction, <= 0; -0.25 means
        25 % below the peak), as returned by :func:`app.queries.equity_curve`.

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, ``drawdown:Q`` on y as an area down from 0, axis in percent.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = _require(equity_df, ["quote_date", "drawdown"], "drawdown_chart")
    return (
        alt.Chart(data, height=CHART_HEIGHT, title="Drawdown")
        .mark_area(opacity=0.6, color="#d62728", line=True)
        .encode(
            x=_date_axis(),
            y=alt.Y("drawdown:Q", title="Drawdown", axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip("drawdown:Q", title="Drawdown", format=".2%"),
            ],
        )
    )
