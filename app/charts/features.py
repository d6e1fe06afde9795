"""Chart builders of the features page: one feature's daily line over shaded IV-regime bands.

Inputs are the frames of :mod:`app.queries.features` (floats, never ``DECIMAL``s). Each feature
gets its own chart (they have different units); the regime bands sit behind the line, and a thin
strip along the top marks the dates with option chains. The unit of each y axis is in its
title. :func:`date_x` (also used by the Forecasts page) keeps a daily date axis free of
times of day. A long series (2007-2022 is ~4,000 sessions) reaches the browser downsampled to
at most :data:`~app.charts.sampling.MAX_POINTS` points, its extremes kept
(:func:`app.charts.sampling.downsample_extremes`); the chart's subtitle says when.
"""

from __future__ import annotations

import math
from typing import Literal

import altair as alt
import polars as pl

from app.charts import require_columns
from app.charts.sampling import MAX_POINTS, downsample_extremes, sampled_title

# Total pixels: Streamlit fits title, axes and legend inside this height, not the plot alone.
FEATURE_CHART_HEIGHT = 230

#: IV regimes and their band colours (low vol green, high vol red).
REGIME_COLORS: dict[str, str] = {"LOW": "#2ca02c", "NORMAL": "#bdbdbd", "HIGH": "#d62728"}

#: Display unit -> (axis format, tooltip format), d3-format strings.
UNIT_FORMATS: dict[str, tuple[str, str]] = {
    "percent": ("%", ".2%"),
    "index_points": (",.1~f", ",.2f"),
    "number": (",.2~f", ",.3f"),
    "usd": ("$,.0f", "$,.2f"),
    "integer": ("d", "d"),
}
#: Display unit -> factor from the stored value to the displayed one (decimal VIX 0.1742 is
#: 17.42 index points).
UNIT_SCALES: dict[str, float] = {"index_points": 100.0}
#: Display unit -> what the y-axis title says after the column name (``None``: nothing).
UNIT_TITLES: dict[str, str | None] = {
    "percent": "%",
    "index_points": "index points",
    "number": None,
    "usd": "USD",
    "integer": None,
}

#: Colour of the option-chain strip.
OPTION_PERIOD_COLOR = "#08306b"
#: Longest date span, in days, given explicit daily ticks: over a short span Vega puts ticks
#: between the days ("12 PM"), which reads as a time of day on daily data.
SHORT_SPAN_DAYS = 62
#: At most this many labelled ticks on a short span.
SHORT_SPAN_TICKS = 8


def date_axis(dates: pl.Series) -> alt.Axis:
    """The axis of a daily date encoding: ticks and labels are dates, never times of day.

    Parameters
    ----------
    dates
        The dates the chart shows (any order, NULLs ignored): their span picks the ticks.

    Returns
    -------
    altair.Axis
        Over at most :data:`SHORT_SPAN_DAYS` days, ticks on whole days (every
        ``ceil(days / SHORT_SPAN_TICKS)`` days) labelled ``%Y-%m-%d``; longer spans keep
        Vega's month and year ticks, which are dates already.

    Examples
    --------
    >>> import datetime as dt
    >>> week = pl.Series([dt.date(2024, 1, 2), dt.date(2024, 1, 9)])
    >>> axis = date_axis(week).to_dict()
    >>> axis["tickCount"], axis["format"]
    ({'interval': 'day', 'step': 1}, '%Y-%m-%d')
    """
    known = dates.drop_nulls()
    span = (known.max() - known.min()).days if known.len() else 0
    if span <= SHORT_SPAN_DAYS:
        step = max(1, math.ceil(span / SHORT_SPAN_TICKS))
        return alt.Axis(
            format="%Y-%m-%d", tickCount={"interval": "day", "step": step}, labelAngle=0
        )
    return alt.Axis(labelAngle=0)


def date_x(field: str, dates: pl.Series, title: str | None = None) -> alt.X:
    """``yearmonthdate(<field>):T`` on x with :func:`date_axis` of ``dates``; ``title`` or none."""
    return alt.X(f"yearmonthdate({field}):T", title=title, axis=date_axis(dates))


def regime_bands(
    regimes: pl.DataFrame, *, show_legend: bool = True, x: alt.X | None = None
) -> alt.Chart:
    """Background bands, one per span of consecutive days in one IV regime.

    Parameters
    ----------
    regimes
        One row per span (grain of ``FeatureSeries.regimes``) with ``iv_regime``
        (``LOW``/``NORMAL``/``HIGH``), ``start_date`` and ``end_date`` (dates; a span covers
        ``[start_date, end_date)``).
    show_legend
        Whether the colour legend (on the right) is drawn.
    x
        The x encoding of ``start_date`` (:func:`date_x`); by default one from the spans.

    Returns
    -------
    altair.Chart
        ``rect`` marks from ``start_date:T`` to ``end_date:T`` across the full height, colour
        ``iv_regime:N`` on the fixed :data:`REGIME_COLORS` scale, translucent.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(regimes, ["iv_regime", "start_date", "end_date"], "regime_bands")
    legend = alt.Legend(title="IV regime", orient="right") if show_legend else None
    if x is None:
        x = date_x("start_date", pl.concat([data["start_date"], data["end_date"]]))
    return (
        alt.Chart(data, height=FEATURE_CHART_HEIGHT)
        .mark_rect(opacity=0.18)
        .encode(
            x=x,
            x2=alt.X2("yearmonthdate(end_date):T"),
            color=alt.Color(
                "iv_regime:N",
                scale=alt.Scale(domain=list(REGIME_COLORS), range=list(REGIME_COLORS.values())),
                legend=legend,
            ),
            tooltip=[
                alt.Tooltip("iv_regime:N", title="IV regime"),
                alt.Tooltip("start_date:T", title="From", format="%Y-%m-%d"),
                alt.Tooltip("end_date:T", title="To", format="%Y-%m-%d"),
            ],
        )
    )


def option_period_strip(periods: pl.DataFrame, x: alt.X) -> alt.Chart:
    """A thin dark strip along the top of the plot over the dates with option chains.

    Parameters
    ----------
    periods
        One row per period (:func:`app.queries.features.option_periods`): ``source``,
        ``first_quote_date``, ``last_quote_date`` (dates), ``n_quote_dates`` (int).
    x
        The x encoding of ``first_quote_date`` (:func:`date_x`).

    Returns
    -------
    altair.Chart
        ``rect`` marks from ``first_quote_date`` to ``last_quote_date`` (at least one day
        wide), 6 pixels tall at the top, with the source and dates as tooltip.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = ["source", "first_quote_date", "last_quote_date", "n_quote_dates"]
    data = require_columns(periods, columns, "option_period_strip").with_columns(
        # a one-day period would have no width: end it the next day
        (pl.col("last_quote_date") + pl.duration(days=1)).alias("strip_end_date")
    )
    return (
        alt.Chart(data)
        # the stroke keeps a period of a few days visible on a multi-year axis
        .mark_rect(
            color=OPTION_PERIOD_COLOR, opacity=0.85, stroke=OPTION_PERIOD_COLOR, strokeWidth=2
        )
        .encode(
            x=x,
            x2=alt.X2("yearmonthdate(strip_end_date):T"),
            y=alt.value(0),
            y2=alt.value(6),
            tooltip=[
                alt.Tooltip("source:N", title="Option chain"),
                alt.Tooltip("first_quote_date:T", title="From", format="%Y-%m-%d"),
                alt.Tooltip("last_quote_date:T", title="To", format="%Y-%m-%d"),
                alt.Tooltip("n_quote_dates:Q", title="Quote dates"),
            ],
        )
    )


def axis_title(feature: str, unit: str) -> str:
    """The y-axis title of a feature: its column name and display unit.

    >>> axis_title("vix", "index_points"), axis_title("rsi_14d_points", "number")
    ('vix (index points)', 'rsi_14d_points')
    """
    suffix = UNIT_TITLES.get(unit)
    return feature if suffix is None else f"{feature} ({suffix})"


def feature_chart(
    series: pl.DataFrame,
    regimes: pl.DataFrame,
    feature: str,
    unit: Literal["percent", "index_points", "number", "usd", "integer"] = "number",
    *,
    show_legend: bool = True,
    option_periods: pl.DataFrame | None = None,
    max_points: int = MAX_POINTS,
) -> alt.LayerChart:
    """Daily line of one feature over the IV-regime bands of the same dates.

    Parameters
    ----------
    series
        One row per ``trade_date`` (grain of ``FeatureSeries.series``) with ``trade_date``
        (date) and the ``feature`` column (float, as stored; NULLs are not drawn). Other
        columns are ignored.
    regimes
        Regime spans, as for :func:`regime_bands` (may be empty: no bands).
    feature
        Column of ``series`` to plot; also the chart title.
    unit
        Display unit of the feature (:func:`app.queries.features.feature_unit`): ``percent``
        for decimal fractions, ``index_points`` for the decimal-stored Cboe volatility indices
        (drawn x :data:`UNIT_SCALES`: VIX 0.80 shows as 80.0), ``number``, ``usd`` or
        ``integer``.
    show_legend
        Whether the regime legend is drawn (keep it on every chart of a page so their plot
        widths, hence their date axes, line up).
    option_periods
        Periods with option chains (:func:`option_period_strip`); ``None`` or empty for no
        strip. Only the parts inside the series' dates are drawn.
    max_points
        Most points of the line drawn (:func:`~app.charts.sampling.downsample_extremes`; the
        subtitle says when it was downsampled).

    Returns
    -------
    altair.LayerChart
        The bands (:func:`regime_bands`), the line with ``yearmonthdate(trade_date):T`` on x
        (:func:`date_x`) and ``<feature>:Q`` on y (axis not forced to zero, titled with the
        unit, :func:`axis_title`), then the option strip when there is one.

    Raises
    ------
    ValueError
        When ``unit`` is unknown or a required column is missing (the message names it).
    """
    if unit not in UNIT_FORMATS:
        raise ValueError(f"unit must be one of {list(UNIT_FORMATS)}, got {unit!r}")
    data = require_columns(series, ["trade_date", feature], "feature_chart").drop_nulls(feature)
    scale = UNIT_SCALES.get(unit)
    if scale is not None:
        data = data.with_columns(pl.col(feature) * scale)
    axis_format, tooltip_format = UNIT_FORMATS[unit]
    sampled = downsample_extremes(data, "trade_date", feature, max_points=max_points)
    axis = date_axis(series["trade_date"])
    x = alt.X("yearmonthdate(trade_date):T", title=None, axis=axis)
    title = axis_title(feature, unit)
    line = (
        alt.Chart(sampled.data, height=FEATURE_CHART_HEIGHT)
        .mark_line(color="#1f1f1f", strokeWidth=1.2)
        .encode(
            x=x,
            y=alt.Y(
                f"{feature}:Q",
                title=title,
                scale=alt.Scale(zero=False),
                # a fixed label width keeps the date axes of stacked charts aligned
                axis=alt.Axis(format=axis_format, minExtent=48),
            ),
            tooltip=[
                alt.Tooltip("trade_date:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip(f"{feature}:Q", title=title, format=tooltip_format),
            ],
        )
    )
    band_x = alt.X("yearmonthdate(start_date):T", title=None, axis=axis)
    layers: list[alt.Chart] = [regime_bands(regimes, show_legend=show_legend, x=band_x), line]
    if option_periods is not None and not option_periods.is_empty() and data.height:
        first, last = data["trade_date"].min(), data["trade_date"].max()
        inside = option_periods.filter(
            (pl.col("last_quote_date") >= first) & (pl.col("first_quote_date") <= last)
        ).with_columns(
            pl.col("first_quote_date").clip(lower_bound=first),
            pl.col("last_quote_date").clip(upper_bound=last),
        )
        if inside.height:
            strip_x = alt.X("yearmonthdate(first_quote_date):T", title=None, axis=axis)
            layers.append(option_period_strip(inside, strip_x))
    return alt.layer(*layers, title=sampled_title(feature, sampled))
