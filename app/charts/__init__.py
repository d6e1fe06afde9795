"""Chart builders: pure functions from a frame to an ``alt.Chart``, testable without Streamlit.

Every encoding names its type (``:T``, ``:Q``, ``:N``) so Altair never guesses from the data, and
each builder keeps only the columns it plots (smaller Vega-Lite payload, no NaN from unused
columns). Inputs must hold floats, not ``DECIMAL``s: :mod:`app.queries` casts to ``DOUBLE``.
The daily series of a run (equity, drawdown, rolling Sharpe, greeks) reach the browser
downsampled to at most :data:`~app.charts.sampling.MAX_POINTS` points, every extreme kept
(:func:`app.charts.sampling.downsample_extremes`), and the chart's subtitle says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from app.charts.sampling import MAX_POINTS, downsample_extremes, sampled_title

CHART_HEIGHT = 280  # pixels
#: Longest series drawn with a point on each value (beyond it the points merge into a blot).
MAX_POINT_MARKS = 120


def require_columns(df: pl.DataFrame, columns: Sequence[str], what: str) -> pl.DataFrame:
    """``df`` restricted to ``columns``, the only ones a chart plots (small Vega-Lite payload).

    Raises
    ------
    ValueError
        Naming the missing columns and the chart (``what``) that needs them.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}, got {df.columns}")
    return df.select(columns)


def _date_axis() -> alt.X:
    # Daily data: the yearmonthdate time unit keeps Vega-Lite from drawing hour ticks
    # ("03 AM", "06 AM") between the days of a short run.
    return alt.X("yearmonthdate(quote_date):T", title="Quote date")


def equity_chart(equity_df: pl.DataFrame, *, max_points: int = MAX_POINTS) -> alt.Chart:
    """Line chart of account equity over time.

    Parameters
    ----------
    equity_df
        One row per ``quote_date`` (date) with ``equity_usd`` (float, USD), as returned by
        :func:`app.queries.equity_curve`. Other columns are ignored.
    max_points
        Most points drawn (:func:`~app.charts.sampling.downsample_extremes`; the subtitle
        says when the curve was downsampled).

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, ``equity_usd:Q`` on y (axis not forced to zero, dollar format).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(equity_df, ["quote_date", "equity_usd"], "equity_chart")
    sampled = downsample_extremes(data, "quote_date", "equity_usd", max_points=max_points)
    return (
        alt.Chart(sampled.data, height=CHART_HEIGHT, title=sampled_title("Equity", sampled))
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


def drawdown_chart(equity_df: pl.DataFrame, *, max_points: int = MAX_POINTS) -> alt.Chart:
    """Area chart of drawdown from the running equity peak.

    Parameters
    ----------
    equity_df
        One row per ``quote_date`` (date) with ``drawdown`` (decimal fraction, <= 0; -0.25 means
        25 % below the peak), as returned by :func:`app.queries.equity_curve`.
    max_points
        Most points drawn, the deepest drawdown always among them
        (:func:`~app.charts.sampling.downsample_extremes`; the subtitle says when).

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, ``drawdown:Q`` on y as an area down from 0, axis in percent.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(equity_df, ["quote_date", "drawdown"], "drawdown_chart")
    sampled = downsample_extremes(data, "quote_date", "drawdown", max_points=max_points)
    return (
        alt.Chart(sampled.data, height=CHART_HEIGHT, title=sampled_title("Drawdown", sampled))
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


def rolling_sharpe_chart(
    sharpe_df: pl.DataFrame, window_days: int, *, max_points: int = MAX_POINTS
) -> alt.LayerChart:
    """Line chart of the trailing-window Sharpe ratio, with a rule at zero.

    Parameters
    ----------
    sharpe_df
        One row per ``quote_date`` (date) with ``rolling_sharpe`` (float, annualised,
        dimensionless), as from :func:`app.backtest_runner.rolling_sharpe`.
    window_days
        The window in trading days, shown in the title.
    max_points
        Most points drawn (:func:`~app.charts.sampling.downsample_extremes`; the subtitle
        says when the line was downsampled).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(sharpe_df, ["quote_date", "rolling_sharpe"], "rolling_sharpe_chart")
    sampled = downsample_extremes(data, "quote_date", "rolling_sharpe", max_points=max_points)
    line = (
        alt.Chart(sampled.data)
        .mark_line(color="#1f77b4")
        .encode(
            x=_date_axis(),
            y=alt.Y("rolling_sharpe:Q", title="Sharpe (annualised)"),
            tooltip=[
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip("rolling_sharpe:Q", title="Sharpe", format=".2f"),
            ],
        )
    )
    zero = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(color="gray").encode(y="zero:Q")
    title = f"Rolling Sharpe ({window_days} trading days, annualised)"
    return alt.layer(line, zero).properties(
        height=CHART_HEIGHT, title=sampled_title(title, sampled)
    )


#: Greek column -> label (with unit) of :func:`greeks_chart`, in panel order.
GREEKS: dict[str, str] = {
    "delta_usd": "Delta (USD of underlying)",
    "gamma_usd": "Gamma (USD per 1 % move)",
    "vega_usd": "Vega (USD per vol point)",
    "theta_usd": "Theta (USD per day)",
}


def greek_chart(equity_df: pl.DataFrame, greek: str, *, max_points: int = MAX_POINTS) -> alt.Chart:
    """Line chart of one of the portfolio's dollar greeks over time.

    Parameters
    ----------
    equity_df
        One row per ``quote_date`` (date) with the column ``greek`` (float USD, summed over the
        open positions; see :func:`app.queries.equity_curve`).
    greek
        One of :data:`GREEKS`: ``delta_usd``, ``gamma_usd``, ``vega_usd``, ``theta_usd``.
    max_points
        Most points drawn (:func:`~app.charts.sampling.downsample_extremes`; the subtitle
        says when the line was downsampled).

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, the greek on y (dollar format, axis not forced to zero), a
        point on each value when at most :data:`MAX_POINT_MARKS` are drawn; the title is its
        label with the unit.

    Raises
    ------
    ValueError
        When ``greek`` is not one of :data:`GREEKS`, or a required column is missing.
    """
    if greek not in GREEKS:
        raise ValueError(f"greek must be one of {list(GREEKS)}, got {greek!r}")
    data = require_columns(equity_df, ["quote_date", greek], "greek_chart")
    sampled = downsample_extremes(data, "quote_date", greek, max_points=max_points)
    return (
        alt.Chart(
            sampled.data, height=CHART_HEIGHT * 3 // 4, title=sampled_title(GREEKS[greek], sampled)
        )
        .mark_line(point=sampled.data.height <= MAX_POINT_MARKS)
        .encode(
            x=_date_axis(),
            y=alt.Y(f"{greek}:Q", title="USD", axis=alt.Axis(format="$,.0f")),
            tooltip=[
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip(f"{greek}:Q", title=GREEKS[greek], format="$,.2f"),
            ],
        )
    )
