"""Chart builders of the Trades page, the small pure frames they draw, and its pure helpers.

Every builder is a pure function from Polars frames to an Altair chart with explicit types;
inputs hold floats (never ``DECIMAL``: :mod:`app.queries.trade_detail` casts). USD amounts are
for all the trade's lots. Sources of the numbers: ``backtest.positions_daily`` (marks, greeks),
``backtest.trades`` (fills, exits), :mod:`engine.greeks_pnl` (attribution, payoff).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import polars as pl

from app.charts import CHART_HEIGHT, require_columns
from engine.greeks_pnl import AT_ENTRY, AT_EXPIRY, COMPONENTS

#: Attribution component -> legend label, in stacking order.
COMPONENT_LABELS: dict[str, str] = {
    "delta_pnl_usd": "Delta",
    "gamma_pnl_usd": "Gamma",
    "vega_pnl_usd": "Vega",
    "theta_pnl_usd": "Theta",
    "costs_usd": "Costs",
    "residual_usd": "Residual",
}
# distinct hues (tableau10), the residual grey: it is what the greeks leave unexplained
_COMPONENT_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9d9d9d")
#: Exit rule -> label of its level on the P&L path.
LEVEL_LABELS: dict[str, str] = {"take_profit_pct": "Take profit", "stop_loss_pct": "Stop loss"}
_LEVEL_COLOURS = {"Take profit": "#59a14f", "Stop loss": "#e15759", "Fill (entry)": "#7f7f7f"}

assert tuple(COMPONENT_LABELS) == COMPONENTS  # one legend entry per engine component


def pnl_path(positions: pl.DataFrame, trade: Mapping[str, object]) -> pl.DataFrame:
    """A trade's P&L since its fill, each session it was marked, then at its exit.

    Parameters
    ----------
    positions
        The trade's rows of ``backtest.positions_daily``: one per ``quote_date`` it was open,
        with ``unrealized_pnl_usd`` (USD since the fill, net of costs) and ``is_stale``.
    trade
        Its ``backtest.trades`` row: ``status``, ``exit_date``, ``pnl_usd`` (realised, USD).

    Returns
    -------
    polars.DataFrame
        One row per session (ascending): ``quote_date``, ``pnl_usd``, ``point`` (``mark`` |
        ``stale mark`` | ``exit``); the exit row (realised P&L on ``exit_date``) only for a closed
        trade that exited after its last mark.

    Raises
    ------
    ValueError
        When a required column is missing.
    """
    marks = require_columns(
        positions, ["quote_date", "unrealized_pnl_usd", "is_stale"], "pnl_path"
    ).sort("quote_date")
    path = marks.select(
        "quote_date",
        pl.col("unrealized_pnl_usd").alias("pnl_usd"),
        pl.when(pl.col("is_stale"))
        .then(pl.lit("stale mark"))
        .otherwise(pl.lit("mark"))
        .alias("point"),
    )
    exit_date = trade.get("exit_date")
    last = marks["quote_date"].max() if marks.height else None
    if (
        trade.get("status") == "closed"
        and exit_date is not None
        and (last is None or exit_date > last)
    ):
        path = pl.concat(
            [
                path,
                pl.DataFrame(
                    {
                        "quote_date": [exit_date],
                        "pnl_usd": [trade.get("pnl_usd")],
                        "point": ["exit"],
                    },
                    schema=path.schema,
                ),
            ]
        )
    return path


def exit_levels(positions: pl.DataFrame, levels_pct: Mapping[str, float]) -> pl.DataFrame:
    """The take-profit and stop-loss thresholds of the run's config on the P&L-since-fill axis.

    The engine fires them on the mark P&L at mid against the entry mid, in % of the entry
    premium's absolute value (for a credit, of the credit: engine/exits.py), so on the axis of
    :func:`pnl_path` (P&L since the fill, net of entry costs) a level is
    ``± |entry mark| × pct / 100 + P&L at the entry session``.

    Parameters
    ----------
    positions
        The trade's rows of ``backtest.positions_daily`` (``quote_date``, ``mark_value_usd``:
        the position's value at mid, USD; ``unrealized_pnl_usd``).
    levels_pct
        ``take_profit_pct`` and/or ``stop_loss_pct`` (percent, > 0), the ones the run set.

    Returns
    -------
    polars.DataFrame
        ``level`` (``Fill (entry)``, then ``Take profit`` / ``Stop loss`` when set), ``pnl_usd``
        (USD), ``pct`` (percent of the entry premium; null for the fill). Empty without marks.

    Raises
    ------
    ValueError
        When a required column is missing, a key is not one of :data:`LEVEL_LABELS`, or a
        percentage is not > 0.
    """
    marks = require_columns(
        positions, ["quote_date", "mark_value_usd", "unrealized_pnl_usd"], "exit_levels"
    ).sort("quote_date")
    unknown = sorted(set(levels_pct) - set(LEVEL_LABELS))
    if unknown:
        raise ValueError(f"levels_pct keys must be in {list(LEVEL_LABELS)}, got {unknown}")
    bad = {k: v for k, v in levels_pct.items() if not v > 0}
    if bad:
        raise ValueError(f"exit levels must be > 0 percent, got {bad}")
    schema = {"level": pl.String, "pnl_usd": pl.Float64, "pct": pl.Float64}
    if marks.is_empty():
        return pl.DataFrame(schema=schema)
    entry_mark = abs(float(marks["mark_value_usd"][0]))
    entry_pnl = float(marks["unrealized_pnl_usd"][0])
    rows = [("Fill (entry)", 0.0, None)]
    for key, sign in (("take_profit_pct", 1.0), ("stop_loss_pct", -1.0)):
        if key in levels_pct:
            pct = float(levels_pct[key])
            rows.append((LEVEL_LABELS[key], sign * entry_mark * pct / 100.0 + entry_pnl, pct))
    return pl.DataFrame(rows, schema=schema, orient="row")


def pnl_path_chart(path: pl.DataFrame, levels: pl.DataFrame, title: str) -> alt.LayerChart:
    """The trade's P&L path with the run's exit levels drawn against the fill.

    Parameters
    ----------
    path
        :func:`pnl_path`: ``quote_date`` (date), ``pnl_usd`` (USD), ``point``.
    levels
        :func:`exit_levels`: ``level``, ``pnl_usd`` (USD); may be empty.
    title
        Chart title (say the trade and, on a modeled chain, MODELED).

    Returns
    -------
    altair.LayerChart
        A line over ``quote_date:T`` × ``pnl_usd:Q`` with a point per session (shape by
        ``point:N``: circle a mark, triangle a stale mark, diamond the exit; no legend), and
        one dashed horizontal rule per level (colour by ``level:N``, in the legend).

    Raises
    ------
    ValueError
        When a required column is missing.
    """
    data = require_columns(path, ["quote_date", "pnl_usd", "point"], "pnl_path_chart")
    rules_data = require_columns(levels, ["level", "pnl_usd"], "pnl_path_chart")
    x = alt.X("yearmonthdate(quote_date):T", title="Session")
    y = alt.Y("pnl_usd:Q", title="P&L since the fill (USD)", axis=alt.Axis(format="$,.0f"))
    line = alt.Chart(data).mark_line(color="#1f77b4").encode(x=x, y=y)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60, color="#1f77b4")
        .encode(
            x=x,
            y=y,
            shape=alt.Shape(
                "point:N",
                title="Point",
                scale=alt.Scale(
                    domain=["mark", "stale mark", "exit"], range=["circle", "triangle", "diamond"]
                ),
                legend=None,  # the page's caption names the shapes
            ),
            tooltip=[
                alt.Tooltip("quote_date:T", title="Session"),
                alt.Tooltip("point:N", title="Point"),
                alt.Tooltip("pnl_usd:Q", title="P&L since fill", format="$,.2f"),
            ],
        )
    )
    present = [name for name in _LEVEL_COLOURS if name in set(rules_data["level"].to_list())]
    rules = (
        alt.Chart(rules_data)
        .mark_rule(strokeDash=[6, 4], strokeWidth=1.5)
        .encode(
            y=alt.Y("pnl_usd:Q"),
            color=alt.Color(
                "level:N",
                title="Level",
                scale=alt.Scale(domain=present, range=[_LEVEL_COLOURS[n] for n in present]),
                # at the top: a bottom legend of this rule-only layer (no x) shrinks the layered
                # chart in Streamlit and crops its title (seen in Chromium)
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("level:N", title="Level"),
                alt.Tooltip("pnl_usd:Q", title="P&L", format="$,.2f"),
            ],
        )
    )
    return alt.layer(rules, line, points).properties(height=CHART_HEIGHT, title=title)


def payoff_chart(profile: pl.DataFrame, entry_spot: float | None, title: str) -> alt.LayerChart:
    """The trade's P&L across the underlying price, at entry and at expiry.

    Parameters
    ----------
    profile
        :func:`engine.greeks_pnl.payoff_profile`: ``curve`` (:data:`AT_ENTRY` /
        :data:`AT_EXPIRY`), ``spot`` (index points), ``pnl_usd`` (USD, null where not priced).
    entry_spot
        The underlying at entry (index points), drawn as a vertical rule; ``None`` for none.
    title
        Chart title.

    Returns
    -------
    altair.LayerChart
        ``spot:Q`` × ``pnl_usd:Q`` one line per ``curve:N``, a rule at P&L 0 and at the entry
        spot.

    Raises
    ------
    ValueError
        When a required column is missing.
    """
    data = require_columns(profile, ["curve", "spot", "pnl_usd"], "payoff_chart").filter(
        pl.col("pnl_usd").is_not_null()
    )
    lines = (
        alt.Chart(data)
        .mark_line()
        .encode(
            # not "nice": a domain widened to a round number put its label over the next one
            x=alt.X(
                "spot:Q",
                title="Underlying price (index points)",
                scale=alt.Scale(zero=False, nice=False),
                axis=alt.Axis(format=",.0f", labelOverlap=True),
            ),
            y=alt.Y("pnl_usd:Q", title="P&L (USD)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color(
                "curve:N",
                title=None,
                scale=alt.Scale(domain=[AT_ENTRY, AT_EXPIRY], range=["#1f77b4", "#ff7f0e"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("curve:N", title="Curve"),
                alt.Tooltip("spot:Q", title="Underlying", format=",.2f"),
                alt.Tooltip("pnl_usd:Q", title="P&L", format="$,.2f"),
            ],
        )
    )
    zero = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(color="gray").encode(y="zero:Q")
    layers = [zero, lines]
    if entry_spot is not None:
        spot = pl.DataFrame({"entry_spot": [float(entry_spot)]})
        layers.append(
            alt.Chart(spot)
            .mark_rule(color="gray", strokeDash=[2, 3])
            .encode(
                x="entry_spot:Q",
                tooltip=[alt.Tooltip("entry_spot:Q", title="Underlying at entry", format=",.2f")],
            )
        )
    return alt.layer(*layers).properties(height=CHART_HEIGHT, title=title)


def attribution_chart(attribution: pl.DataFrame, by: str, title: str) -> alt.LayerChart:
    """Greeks P&L attribution as stacked bars, with the actual P&L as a point.

    Parameters
    ----------
    attribution
        :func:`engine.greeks_pnl.attribute_greeks_pnl` rows of one trade (``by="quote_date"``)
        or :func:`engine.greeks_pnl.attribution_by_trade` rows of a run (``by="trade_id"``):
        the ``by`` column, ``pnl_usd`` and the USD columns of :data:`COMPONENT_LABELS`.
    by
        ``"quote_date"`` (x: the sessions, ``:O``) or ``"trade_id"`` (x: the trades, ``:O``;
        no labels past 40 trades).
    title
        Chart title.

    Returns
    -------
    altair.LayerChart
        Bars stacked by ``component:N`` (legend in :data:`COMPONENT_LABELS` order; positive and
        negative parts stack apart from 0) and a black point per ``by`` at ``pnl_usd``.

    Raises
    ------
    ValueError
        When ``by`` is not one of the two, or a required column is missing.
    """
    if by not in ("quote_date", "trade_id"):
        raise ValueError(f"by must be 'quote_date' or 'trade_id', got {by!r}")
    data = require_columns(attribution, [by, "pnl_usd", *COMPONENT_LABELS], "attribution_chart")
    long = data.unpivot(
        index=[by], on=list(COMPONENT_LABELS), variable_name="component", value_name="usd"
    ).with_columns(
        pl.col("component").replace_strict(COMPONENT_LABELS),
        pl.col("component")
        .replace_strict({k: i for i, k in enumerate(COMPONENT_LABELS)}, return_dtype=pl.Int64)
        .alias("stack_order"),
    )
    if by == "quote_date":
        # sessions as ordered categories: a bar sits on its session (a time axis would draw it
        # from midnight to midnight, and leave weekends as gaps)
        x = alt.X("yearmonthdate(quote_date):O", title="Session", axis=alt.Axis(labelAngle=0))
        x_tip = alt.Tooltip("quote_date:T", title="Session")
    else:
        many = data.height > 40
        x = alt.X(
            "trade_id:O",
            title="Trade",
            axis=alt.Axis(labels=not many, ticks=not many, labelAngle=0),
        )
        x_tip = alt.Tooltip("trade_id:O", title="Trade")
    bars = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("sum(usd):Q", title="P&L (USD)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color(
                "component:N",
                title="Component",
                scale=alt.Scale(
                    domain=list(COMPONENT_LABELS.values()), range=list(_COMPONENT_COLOURS)
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            order=alt.Order("stack_order:Q"),
            tooltip=[
                x_tip,
                alt.Tooltip("component:N", title="Component"),
                alt.Tooltip("usd:Q", title="USD", format="$,.2f"),
            ],
        )
    )
    actual = (
        alt.Chart(data.select(by, "pnl_usd"))
        .mark_point(color="black", filled=True, size=40, shape="diamond")
        .encode(
            x=x,
            y=alt.Y("pnl_usd:Q"),
            tooltip=[x_tip, alt.Tooltip("pnl_usd:Q", title="Actual P&L", format="$,.2f")],
        )
    )
    return alt.layer(bars, actual).properties(height=CHART_HEIGHT, title=title)


def trade_from_selection(rows: Sequence[int], trade_ids: Sequence[int]) -> int | None:
    """The trade of the table row a person clicked, or ``None`` (no row, or a stale index).

    Parameters
    ----------
    rows
        ``selection.rows`` of the trades table's ``st.dataframe`` state (row positions).
    trade_ids
        The table's ``trade_id`` column, in row order.

    >>> trade_from_selection([1], [4, 7, 9]), trade_from_selection([], [4])
    (7, None)
    >>> trade_from_selection([3], [4]) is None
    True
    """
    if rows and 0 <= rows[0] < len(trade_ids):
        return int(trade_ids[rows[0]])
    return None
