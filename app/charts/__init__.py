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
    data = require_columns(equity_df, ["quote_date", "equity_usd"], "equity_chart")
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
    data = require_columns(equity_df, ["quote_date", "drawdown"], "drawdown_chart")
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


def rolling_sharpe_chart(sharpe_df: pl.DataFrame, window_days: int) -> alt.LayerChart:
    """Line chart of the trailing-window Sharpe ratio, with a rule at zero.

    Parameters
    ----------
    sharpe_df
        One row per ``quote_date`` (date) with ``rolling_sharpe`` (float, annualised,
        dimensionless), as from :func:`app.backtest_runner.rolling_sharpe`.
    window_days
        The window in trading days, shown in the title.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(sharpe_df, ["quote_date", "rolling_sharpe"], "rolling_sharpe_chart")
    line = (
        alt.Chart(data)
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
    return alt.layer(line, zero).properties(
        height=CHART_HEIGHT, title=f"Rolling Sharpe ({window_days} trading days, annualised)"
    )


#: Greek column -> label (with unit) of :func:`greeks_chart`, in panel order.
GREEKS: dict[str, str] = {
    "delta_usd": "Delta (USD of underlying)",
    "gamma_usd": "Gamma (USD per 1 % move)",
    "vega_usd": "Vega (USD per vol point)",
    "theta_usd": "Theta (USD per day)",
}


def greek_chart(equity_df: pl.DataFrame, greek: str) -> alt.Chart:
    """Line chart of one of the portfolio's dollar greeks over time.

    Parameters
    ----------
    equity_df
        One row per ``quote_date`` (date) with the column ``greek`` (float USD, summed over the
        open positions; see :func:`app.queries.equity_curve`).
    greek
        One of :data:`GREEKS`: ``delta_usd``, ``gamma_usd``, ``vega_usd``, ``theta_usd``.

    Returns
    -------
    altair.Chart
        ``quote_date:T`` on x, the greek on y (dollar format, axis not forced to zero); the
        title is its label with the unit.

    Raises
    ------
    ValueError
        When ``greek`` is not one of :data:`GREEKS`, or a required column is missing.
    """
    if greek not in GREEKS:
        raise ValueError(f"greek must be one of {list(GREEKS)}, got {greek!r}")
    data = require_columns(equity_df, ["quote_date", greek], "greek_chart")
    return (
        alt.Chart(data, height=CHART_HEIGHT * 3 // 4, title=GREEKS[greek])
        .mark_line(point=True)
        .encode(
            x=_date_axis(),
            y=alt.Y(f"{greek}:Q", title="USD", axis=alt.Axis(format="$,.0f")),
            tooltip=[
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip(f"{greek}:Q", title=GREEKS[greek], format="$,.2f"),
            ],
        )
    )


def _runs_overlaid(data: pl.DataFrame, field: str, label: str, title: str) -> alt.Chart:
    """One line per ``run_id`` of the decimal column ``field`` on a percent axis."""
    return (
        alt.Chart(data, height=CHART_HEIGHT, title=title)
        .mark_line()
        .encode(
            x=_date_axis(),
            y=alt.Y(f"{field}:Q", title=label, axis=alt.Axis(format="%")),
            color=alt.Color(
                "run_id:N", title="Run", legend=alt.Legend(orient="bottom", labelLimit=0)
            ),
            tooltip=[
                alt.Tooltip("run_id:N", title="Run"),
                alt.Tooltip("quote_date:T", title="Date"),
                alt.Tooltip(f"{field}:Q", title=label, format=".2%"),
            ],
        )
    )


def compare_equity_chart(compare_df: pl.DataFrame) -> alt.Chart:
    """Cumulative return of several runs overlaid, one line per run.

    Parameters
    ----------
    compare_df
        One row per ``run_id`` per ``quote_date`` with ``cumulative_return`` (decimal, from the
        run's start), as :func:`app.queries.compare.compare_runs` returns it.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(
        compare_df, ["run_id", "quote_date", "cumulative_return"], "compare_equity"
    )
    return _runs_overlaid(
        data, "cumulative_return", "Cumulative return", "Cumulative return from each run's start"
    )


def compare_drawdown_chart(compare_df: pl.DataFrame) -> alt.Chart:
    """Drawdowns of several runs overlaid, one line per run (decimal, <= 0, percent axis).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(compare_df, ["run_id", "quote_date", "drawdown"], "compare_drawdown")
    return _runs_overlaid(data, "drawdown", "Drawdown", "Drawdown")
