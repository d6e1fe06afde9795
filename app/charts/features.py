"""Chart builders of the features page: one feature's daily line over shaded IV-regime bands.

Inputs are the frames of :mod:`app.queries.features` (floats, never ``DECIMAL``s). Each feature
gets its own chart (they have different units); the regime bands sit behind the line.
"""

from __future__ import annotations

from typing import Literal

import altair as alt
import polars as pl

from app.charts import require_columns

# Total pixels: Streamlit fits title, axes and legend inside this height, not the plot alone.
FEATURE_CHART_HEIGHT = 230

#: IV regimes and their band colours (low vol green, high vol red).
REGIME_COLORS: dict[str, str] = {"LOW": "#2ca02c", "NORMAL": "#bdbdbd", "HIGH": "#d62728"}

#: Display unit -> (axis format, tooltip format), d3-format strings.
UNIT_FORMATS: dict[str, tuple[str, str]] = {
    "percent": ("%", ".2%"),
    "number": (",.2~f", ",.3f"),
    "usd": ("$,.0f", "$,.2f"),
    "integer": ("d", "d"),
}


def regime_bands(regimes: pl.DataFrame, *, show_legend: bool = True) -> alt.Chart:
    """Background bands, one per span of consecutive days in one IV regime.

    Parameters
    ----------
    regimes
        One row per span (grain of ``FeatureSeries.regimes``) with ``iv_regime``
        (``LOW``/``NORMAL``/``HIGH``), ``start_date`` and ``end_date`` (dates; a span covers
        ``[start_date, end_date)``).
    show_legend
        Whether the colour legend (on the right) is drawn.

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
    return (
        alt.Chart(data, height=FEATURE_CHART_HEIGHT)
        .mark_rect(opacity=0.18)
        .encode(
            x=alt.X("yearmonthdate(start_date):T", title=None),
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


def feature_chart(
    series: pl.DataFrame,
    regimes: pl.DataFrame,
    feature: str,
    unit: Literal["percent", "number", "usd", "integer"] = "number",
    *,
    show_legend: bool = True,
) -> alt.LayerChart:
    """Daily line of one feature over the IV-regime bands of the same dates.

    Parameters
    ----------
    series
        One row per ``trade_date`` (grain of ``FeatureSeries.series``) with ``trade_date``
        (date) and the ``feature`` column (float; NULLs are not drawn). Other columns are
        ignored.
    regimes
        Regime spans, as for :func:`regime_bands` (may be empty: no bands).
    feature
        Column of ``series`` to plot; also the chart title.
    unit
        Display unit of the feature (:func:`app.queries.features.feature_unit`): ``percent``
        for decimal fractions, ``number``, ``usd`` or ``integer``.
    show_legend
        Whether the regime legend is drawn (keep it on every chart of a page so their plot
        widths, hence their date axes, line up).

    Returns
    -------
    altair.LayerChart
        Two layers: the bands (:func:`regime_bands`), then a line with
        ``yearmonthdate(trade_date):T`` on x and ``<feature>:Q`` on y (axis not forced to zero).

    Raises
    ------
    ValueError
        When ``unit`` is unknown or a required column is missing (the message names it).
    """
    if unit not in UNIT_FORMATS:
        raise ValueError(f"unit must be one of {list(UNIT_FORMATS)}, got {unit!r}")
    data = require_columns(series, ["trade_date", feature], "feature_chart").drop_nulls(feature)
    axis_format, tooltip_format = UNIT_FORMATS[unit]
    line = (
        alt.Chart(data, height=FEATURE_CHART_HEIGHT)
        .mark_line(color="#1f1f1f", strokeWidth=1.2)
        .encode(
            x=alt.X("yearmonthdate(trade_date):T", title=None),
            y=alt.Y(
                f"{feature}:Q",
                title=feature,
                scale=alt.Scale(zero=False),
                # a fixed label width keeps the date axes of stacked charts aligned
                axis=alt.Axis(format=axis_format, minExtent=48),
            ),
            tooltip=[
                alt.Tooltip("trade_date:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip(f"{feature}:Q", title=feature, format=tooltip_format),
            ],
        )
    )
    bands = regime_bands(regimes, show_legend=show_legend)
    return alt.layer(bands, line, title=feature)
