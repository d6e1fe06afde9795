"""Chart builders of the chains page: pure functions from a frame to an Altair chart.

Inputs are the frames of :mod:`app.queries.chains` (floats, never ``DECIMAL``s). Every encoding
names its type and every axis and tooltip its number format: vols are decimal fractions shown in
percent with one decimal at most (:data:`IV_AXIS_FORMAT`, :data:`IV_FORMAT`: ``19.5%``), strikes
with at most two decimals and no trailing zeros (:data:`STRIKE_FORMAT`: ``485``, ``485.5``). An
axis left to Vega's default format prints a lone tick (one strike, one IV) at full precision
(``485.000000``, ``19.5466539897%``).
"""

from __future__ import annotations

from typing import Literal

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns

MoneynessAxis = Literal["log_moneyness", "strike_to_forward"]

#: x-axis choices of the smile: column -> axis title.
MONEYNESS_AXES: dict[str, str] = {
    "log_moneyness": "Log-moneyness ln(K / F)",
    "strike_to_forward": "Strike / forward (K / F)",
}

#: Greek columns -> axis title with the unit (computed BSM greeks, per share; short: Streamlit
#: fits the axis title inside the chart height).
GREEKS: dict[str, str] = {
    "delta": "Delta",
    "gamma": "Gamma (per USD)",
    "vega": "Vega (USD per vol pt)",
    "theta": "Theta (USD per day)",
}

#: d3 formats: IV axis (``20%``, ``19.5%``), IV tooltip, strike (``485``, ``485.5``, ``2,985``).
IV_AXIS_FORMAT = ".1~%"
IV_FORMAT = ".1%"
STRIKE_FORMAT = ",.2~f"
#: Settlement of an expiry: SPX lists AM (root SPX) and PM (SPXW) expiries on the same dates.
SETTLEMENTS: tuple[str, ...] = ("AM", "PM")
#: Distinct colour and point shape per settlement (never the legend's default black dots).
SETTLEMENT_COLOURS: tuple[str, ...] = ("#ff7f0e", "#1f77b4")
SETTLEMENT_SHAPES: tuple[str, ...] = ("square", "circle")
SETTLEMENT_DASHES: tuple[tuple[int, ...], ...] = ((5, 3), (1, 0))

_OPTION_TYPE_COLOR = alt.Scale(domain=["call", "put"], range=["#1f77b4", "#d62728"])
#: A legend drawn as line samples (colour and dash), not as dots.
_LINE_LEGEND = alt.Legend(symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=300)
#: 25-delta measures: two clearly different colours (not two blues).
_SKEW_COLOURS = ("#6a3d9a", "#33a02c")
_SKEW_LABELS = {
    "risk_reversal_25d": "25-delta risk reversal",
    "butterfly_25d": "25-delta butterfly",
}


def _iv_axis(title: str = "Implied volatility") -> alt.Y:
    return alt.Y(
        "implied_volatility:Q",
        title=title,
        scale=alt.Scale(zero=False),
        axis=alt.Axis(format=IV_AXIS_FORMAT),
    )


def _settlement_shape() -> alt.Shape:
    return alt.Shape(
        "settlement_type:N",
        title="Settlement",
        scale=alt.Scale(domain=list(SETTLEMENTS), range=list(SETTLEMENT_SHAPES)),
    )


def smile_chart(smile: pl.DataFrame, x: MoneynessAxis = "log_moneyness") -> alt.Chart:
    """Volatility smile: implied volatility against moneyness, one line per expiry.

    Parameters
    ----------
    smile
        One row per out-of-the-money contract (grain of ``ChainSnapshot.smile``) with
        ``expiry_label`` (str, one per expiry), ``dte`` (int, calendar days; orders the legend),
        ``option_type`` (``call``/``put``), ``strike`` (USD), ``implied_volatility`` (decimal)
        and the ``x`` column: ``log_moneyness`` (ln K / F) or ``strike_to_forward`` (K / F).
    x
        Which moneyness measure goes on the x axis.

    Returns
    -------
    altair.Chart
        Lines with points, ``x:Q`` on x, ``implied_volatility:Q`` on y (percent), colour
        ``expiry_label:N`` in expiry order on the ``category10`` scheme (ten distinct hues).

    Raises
    ------
    ValueError
        When ``x`` is not a moneyness axis, or a required column is missing (the message
        names it).
    """
    if x not in MONEYNESS_AXES:
        raise ValueError(f"x must be one of {list(MONEYNESS_AXES)}, got {x!r}")
    columns = ["expiry_label", "dte", "option_type", "strike", x, "implied_volatility"]
    data = require_columns(smile, columns, "smile_chart")
    expiries = data.sort("dte")["expiry_label"].unique(maintain_order=True).to_list()
    return (
        alt.Chart(data, height=CHART_HEIGHT + 60, title="Volatility smile (OTM options)")
        .mark_line(point=alt.OverlayMarkDef(size=14), strokeWidth=1.5)
        .encode(
            x=alt.X(
                f"{x}:Q",
                title=MONEYNESS_AXES[x],
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=".2~f"),
            ),
            y=_iv_axis(),
            # category10: Streamlit's default palette pairs near-identical blues and reds
            color=alt.Color(
                "expiry_label:N",
                title="Expiry",
                sort=expiries,
                scale=alt.Scale(scheme="category10"),
            ),
            tooltip=[
                alt.Tooltip("expiry_label:N", title="Expiry"),
                alt.Tooltip("option_type:N", title="Type"),
                alt.Tooltip("strike:Q", title="Strike", format=STRIKE_FORMAT),
                alt.Tooltip(f"{x}:Q", title=MONEYNESS_AXES[x], format=".4f"),
                alt.Tooltip("implied_volatility:Q", title="IV", format=IV_FORMAT),
            ],
        )
    )


def term_structure_chart(term: pl.DataFrame) -> alt.Chart:
    """ATM implied volatility against days to expiry (the term structure).

    Parameters
    ----------
    term
        One row per expiry (grain of ``ChainSnapshot.term``) with ``expiration`` (date),
        ``settlement_type`` (``AM``/``PM``), ``dte`` (int, calendar days) and ``atm_iv``
        (decimal).

    Returns
    -------
    altair.Chart
        Lines with points, ``dte:Q`` on x, ``atm_iv:Q`` on y (percent), colour and point
        shape ``settlement_type:N`` on fixed scales (:data:`SETTLEMENT_COLOURS`,
        :data:`SETTLEMENT_SHAPES`: an SPX date can list an AM and a PM expiry, and the legend
        tells them apart by both).

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    data = require_columns(
        term, ["expiration", "settlement_type", "dte", "atm_iv"], "term_structure"
    )
    return (
        alt.Chart(data, height=CHART_HEIGHT, title="ATM implied volatility by expiry")
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=40))
        .encode(
            x=alt.X("dte:Q", title="Days to expiry", axis=alt.Axis(format=",d")),
            y=alt.Y(
                "atm_iv:Q",
                title="ATM IV",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=IV_AXIS_FORMAT),
            ),
            color=alt.Color(
                "settlement_type:N",
                title="Settlement",
                scale=alt.Scale(domain=list(SETTLEMENTS), range=list(SETTLEMENT_COLOURS)),
            ),
            shape=_settlement_shape(),
            tooltip=[
                alt.Tooltip("expiration:T", title="Expiration", format="%Y-%m-%d"),
                alt.Tooltip("settlement_type:N", title="Settlement"),
                alt.Tooltip("dte:Q", title="Days"),
                alt.Tooltip("atm_iv:Q", title="ATM IV", format=IV_FORMAT),
            ],
        )
    )


def skew_term_chart(term: pl.DataFrame) -> alt.Chart:
    """25-delta risk reversal and butterfly against days to expiry.

    Parameters
    ----------
    term
        One row per expiry with ``settlement_type``, ``dte`` (int, calendar days),
        ``risk_reversal_25d`` (call minus put 25-delta IV) and ``butterfly_25d`` (wings' mean
        minus ATM IV), both decimal vols; NULLs are dropped.

    Returns
    -------
    altair.Chart
        Lines with points, ``dte:Q`` on x, ``value:Q`` on y (percent), colour ``metric:N`` (two
        distinct colours); ``settlement_type:N`` sets the dash (:data:`SETTLEMENT_DASHES`),
        its legend drawn as line samples, dashed AM and solid PM, instead of two identical
        dots. (A shape channel on the same field would take the legend's symbols over.)

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = ["settlement_type", "dte", "risk_reversal_25d", "butterfly_25d"]
    data = (
        require_columns(term, columns, "skew_term_chart")
        .unpivot(index=["settlement_type", "dte"], variable_name="metric", value_name="value")
        .drop_nulls("value")
        .with_columns(pl.col("metric").replace_strict(_SKEW_LABELS))
    )
    return (
        alt.Chart(data, height=CHART_HEIGHT, title="25-delta skew by expiry")
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=40))
        .encode(
            x=alt.X("dte:Q", title="Days to expiry", axis=alt.Axis(format=",d")),
            y=alt.Y("value:Q", title="Vol difference", axis=alt.Axis(format=IV_AXIS_FORMAT)),
            color=alt.Color(
                "metric:N",
                title="Measure",
                scale=alt.Scale(domain=list(_SKEW_LABELS.values()), range=list(_SKEW_COLOURS)),
            ),
            strokeDash=alt.StrokeDash(
                "settlement_type:N",
                title="Settlement",
                scale=alt.Scale(
                    domain=list(SETTLEMENTS), range=[list(d) for d in SETTLEMENT_DASHES]
                ),
                # with a point overlay the symbols need a fill colour too, or they vanish
                legend=alt.Legend(
                    symbolType="stroke",
                    symbolStrokeColor="#555",
                    symbolFillColor="#555",
                    symbolStrokeWidth=2.5,
                    symbolSize=300,
                ),
            ),
            tooltip=[
                alt.Tooltip("metric:N", title="Measure"),
                alt.Tooltip("settlement_type:N", title="Settlement"),
                alt.Tooltip("dte:Q", title="Days"),
                alt.Tooltip("value:Q", title="Value", format=".2%"),
            ],
        )
    )


def surface_heatmap(surface: pl.DataFrame) -> alt.Chart:
    """IV surface: mean implied volatility per days-to-expiry bucket and moneyness bucket.

    Parameters
    ----------
    surface
        One row per bucket (grain of ``ChainSnapshot.surface``) with ``dte_bucket`` (str label),
        ``dte_min`` (int; orders the rows), ``moneyness_low``, ``moneyness_high`` (K / F bucket
        edges), ``mean_iv`` (decimal, NULL for an empty bucket; empty buckets are not drawn)
        and ``n_options`` (int).

    Returns
    -------
    altair.Chart
        ``rect`` marks: ``moneyness_low:Q``..``moneyness_high:Q`` on x, ``dte_bucket:O`` on y
        (shortest first, at the top), colour ``mean_iv:Q`` on a log scale (the short-dated wings
        are several times the ATM level) with a percent legend. The x ticks sit on the bucket
        edges (every edge of the frame, :func:`bucket_edges`), so each cell lies between two
        labelled ticks; Vega's own "nice" ticks (0.70, 0.74, 0.78, ...) fell inside cells.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.
    """
    columns = ["dte_bucket", "dte_min", "moneyness_low", "moneyness_high", "mean_iv", "n_options"]
    data = require_columns(surface, columns, "surface_heatmap")
    rows = data.sort("dte_min")["dte_bucket"].unique(maintain_order=True).to_list()
    edges = bucket_edges(data)
    return (
        alt.Chart(data.drop_nulls("mean_iv"), height=CHART_HEIGHT, title="IV surface (mean OTM IV)")
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "moneyness_low:Q",
                title="Strike / forward (K / F), bucket edges",
                scale=alt.Scale(zero=False, nice=False, domain=[edges[0], edges[-1]])
                if edges
                else alt.Scale(zero=False, nice=False),
                axis=alt.Axis(values=edges, format=".2f", labelOverlap=False, grid=False),
            ),
            x2="moneyness_high:Q",
            y=alt.Y("dte_bucket:O", title="Days to expiry", sort=rows),
            color=alt.Color(
                "mean_iv:Q",
                title="Mean IV",
                scale=alt.Scale(type="log", scheme="viridis"),
                legend=alt.Legend(format=IV_AXIS_FORMAT),
            ),
            tooltip=[
                alt.Tooltip("dte_bucket:O", title="Days to expiry"),
                alt.Tooltip("moneyness_low:Q", title="K / F from", format=".2f"),
                alt.Tooltip("moneyness_high:Q", title="K / F to", format=".2f"),
                alt.Tooltip("mean_iv:Q", title="Mean IV", format=IV_FORMAT),
                alt.Tooltip("n_options:Q", title="Options"),
            ],
        )
    )


def bucket_edges(surface: pl.DataFrame) -> list[float]:
    """Sorted distinct bucket edges (K / F) of a surface frame, rounded to 6 decimals.

    Parameters
    ----------
    surface
        Frame with ``moneyness_low`` and ``moneyness_high`` (K / F, floats).

    Returns
    -------
    list[float]
        Ascending; empty for an empty frame.

    Raises
    ------
    ValueError
        When a required column is missing; the message names it.

    Examples
    --------
    >>> bucket_edges(pl.DataFrame({"moneyness_low": [0.95, 1.0, 0.95],
    ...                            "moneyness_high": [1.0, 1.05, 1.0000000000000002]}))
    [0.95, 1.0, 1.05]
    """
    data = require_columns(surface, ["moneyness_low", "moneyness_high"], "bucket_edges")
    edges = pl.concat([data["moneyness_low"], data["moneyness_high"]]).drop_nulls().round(6)
    return sorted(set(edges.to_list()))


def greek_chart(greeks: pl.DataFrame, greek: str) -> alt.Chart:
    """One computed greek against strike, calls and puts of one expiry.

    Parameters
    ----------
    greeks
        One row per contract (grain of :func:`app.queries.chains.greeks_by_strike`) with
        ``option_type`` (``call``/``put``), ``strike`` (USD) and the ``greek`` column (float,
        unit in :data:`GREEKS`).
    greek
        One of :data:`GREEKS`: ``delta``, ``gamma``, ``vega`` or ``theta``.

    Returns
    -------
    altair.Chart
        Lines with points (a strike quoted alone still shows), ``strike:Q`` on x (strike
        format, :data:`STRIKE_FORMAT`), ``<greek>:Q`` on y, colour and dash ``option_type:N``.

    Raises
    ------
    ValueError
        When ``greek`` is not one of :data:`GREEKS`, or a required column is missing (the
        message names it).
    """
    if greek not in GREEKS:
        raise ValueError(f"greek must be one of {list(GREEKS)}, got {greek!r}")
    data = require_columns(greeks, ["option_type", "strike", greek], "greek_chart")
    return (
        alt.Chart(data, height=CHART_HEIGHT, title=greek.capitalize())
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X(
                "strike:Q",
                title="Strike",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=STRIKE_FORMAT),
            ),
            y=alt.Y(f"{greek}:Q", title=GREEKS[greek], axis=alt.Axis(minExtent=44, format=",.4~f")),
            color=alt.Color(
                "option_type:N", title="Type", scale=_OPTION_TYPE_COLOR, legend=_LINE_LEGEND
            ),
            # calls and puts share gamma and vega: the dash keeps both visible
            strokeDash=alt.StrokeDash("option_type:N", title="Type", legend=_LINE_LEGEND),
            tooltip=[
                alt.Tooltip("option_type:N", title="Type"),
                alt.Tooltip("strike:Q", title="Strike", format=STRIKE_FORMAT),
                alt.Tooltip(f"{greek}:Q", title=greek.capitalize(), format=",.4f"),
            ],
        )
    )
