"""Trades page: every trade of a saved run explained (product issue 19, capabilities 1 and 2).

Pick a run (default: the most recently written; a run on the modeled chain carries a "Modeled
chain" badge and says its prices are MODELED), see its greeks P&L attribution (delta, gamma,
vega, theta, costs and the residual, per trade and in total: :mod:`engine.greeks_pnl`), pick a
trade in its table (click a row, or the picker), and drill down: its legs, its daily marks and
greeks (``backtest.positions_daily``), its P&L path since the fill against the run's take-profit
and stop-loss levels, its payoff at entry (Black-76) and at expiry (intrinsic), and its
attribution session by session.

The run and the trade are in the URL, ``?run=<run_id>&trade=<trade_id>`` (:mod:`app.links`): a
link opens them (a value the warehouse does not have is ignored with a note), and the address
bar follows the pickers.

Reads the published warehouse through :mod:`app.queries.trade_detail` (and :mod:`app.queries`
for the chain labels) only; a missing warehouse or missing ``backtest`` tables is explained on
the page by :func:`app.page.run_page`.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

import app.queries as backtest_queries
import app.queries.trade_detail as trade_queries
from app import charts, links
from app.charts import trades as trade_charts
from app.charts.attribution import fmt_usd_compact
from app.formatting import fmt_int, fmt_pct, fmt_usd, table_config
from app.page import BUILD_HINT, Published, run_page
from engine import greeks_pnl

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = dict(trade_queries.REQUIRED)

RUN_KEY = "trades_run"
TRADE_KEY = "trades_trade"  # + run_id: options change with the run (a new widget each)
TABLE_KEY = "trades_table"  # + run_id: each run's table keeps its own selection
TABLE_IDS_KEY = "trades_table_ids"  # trade ids in table row order, for the click handler
RUN_PARAM, TRADE_PARAM = "run", "trade"  # the URL's query parameters (?run=…&trade=…)

#: Numeric columns of the legs table drawn narrow (every column fits beside the sidebar; the
#: prices, whose fills carry four decimals, keep the width of their header).
_SMALL_LEG_COLUMNS = ("leg_no", "strike", "quantity")
#: Attribution component -> column name of the tables (shown under its short label).
_COMPONENT_COLUMNS = {c: f"{label} (USD)" for c, label in trade_charts.COMPONENT_LABELS.items()}


#: Largest amount (USD) a narrow money column shows in full ("-$99,999.99"); a table with a
#: larger one (a modeled 2007-2022 run: hundreds of millions) shows them all compact ("-68.5M").
_FULL_MONEY_LIMIT_USD = 1e5
#: Largest amount a metric tile shows in full; above, compact ("-$783.2M", which fits a tile).
_FULL_TILE_LIMIT_USD = 1e6


def _money_columns(table: pl.DataFrame) -> dict[str, object]:
    """``pnl_usd`` and the attribution columns of ``table``: narrow, headed by the component's
    name alone ("Delta", not "Delta (USD)", whose header a narrow column cut short), in dollars,
    or compact when an amount exceeds :data:`_FULL_MONEY_LIMIT_USD` (its digits were cut)."""
    names = ["pnl_usd", *_COMPONENT_COLUMNS.values()]
    present = [name for name in names if name in table.columns]
    largest = table.select(pl.max_horizontal(pl.col(present).abs().max())).item() or 0.0
    money = "dollar" if largest < _FULL_MONEY_LIMIT_USD else "compact"
    unit = "" if money == "dollar" else " (compact: K thousand, M million, B billion USD)"
    config: dict[str, object] = {
        "pnl_usd": st.column_config.NumberColumn(
            "pnl_usd", format=money, width="small", help=f"pnl_usd{unit}"
        )
    }
    for column, name in _COMPONENT_COLUMNS.items():
        config[name] = st.column_config.NumberColumn(
            trade_charts.COMPONENT_LABELS[column],
            format=money,
            width="small",
            help=f"{name}: this part of the P&L (greeks P&L attribution, see above){unit}",
        )
    return config


def _usd_tile(value: float | None, digits: int = 2) -> str:
    """A USD amount for a metric tile: in full up to :data:`_FULL_TILE_LIMIT_USD`, else compact
    (a tile cut "-$783,242,…")."""
    if value is not None and value == value and abs(value) >= _FULL_TILE_LIMIT_USD:
        return fmt_usd_compact(value)
    return fmt_usd(value, digits)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_trade_runs(db: str, db_version: str) -> pl.DataFrame:
    return trade_queries.trade_runs(db)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_run(db: str, db_version: str, run_id: str) -> trade_queries.TradeRun:
    return trade_queries.trade_run(db, run_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_greeks_attribution(db: str, db_version: str, run_id: str) -> pl.DataFrame:
    """:func:`engine.greeks_pnl.attribute_greeks_pnl` of the run (one row per trade-session)."""
    run = _cached_run(db, db_version, run_id)
    return greeks_pnl.attribute_greeks_pnl(
        run.positions, run.trades, run.legs, run.quotes, multiplier=run.multiplier
    )


def _on_table_select(table_key: str, trade_key: str) -> None:
    """A click on a row of the trades table picks that trade in the picker."""
    state = st.session_state.get(table_key)
    rows = list(state["selection"]["rows"]) if state else []
    picked = trade_charts.trade_from_selection(rows, st.session_state.get(TABLE_IDS_KEY, []))
    if picked is not None:
        st.session_state[trade_key] = picked


def _run_label(run: dict) -> str:
    chain = backtest_queries.chain_label(run["chain_source"], run["chain_model_version"])
    chain = chain.replace("modeled", "MODELED", 1)
    return (
        f"{run['strategy']} · {run['underlying_symbol']} · {chain} · "
        f"{run['first_date']} to {run['last_date']} · {fmt_int(run['n_trades'])} trades · "
        f"{run['run_id']}"
    )


def _show_chain(run: dict) -> bool:
    """Badge and caption of the run's chain; True when it is modeled."""
    source, version = run.get("chain_source"), run.get("chain_model_version")
    if source == "modeled":
        st.badge(
            f"Modeled chain · {version or 'model unknown'}",
            icon=":material/science:",
            color="orange",
        )
    st.caption(backtest_queries.chain_caption(source, version))
    return source == "modeled"


def _tiles(tiles: list[tuple[str, str]], per_row: int = 4) -> None:
    for start in range(0, len(tiles), per_row):
        for column, (label, value) in zip(
            st.columns(per_row), tiles[start : start + per_row], strict=False
        ):
            column.metric(label, value, border=True)


# ---- the run -------------------------------------------------------------------------------------


def _show_run_attribution(attribution: pl.DataFrame, by_trade: pl.DataFrame, chain: str) -> None:
    st.subheader("Greeks P&L attribution")
    if attribution.is_empty():
        st.info("No trade of this run has daily marks (`backtest.positions_daily`) to attribute.")
        return
    total = greeks_pnl.attribution_by_run(attribution).row(0, named=True)
    _tiles(
        [
            ("Run P&L", _usd_tile(total["pnl_usd"], 0)),
            *(
                (label, _usd_tile(total[c], 0))
                for c, label in trade_charts.COMPONENT_LABELS.items()
            ),
        ]
    )
    st.caption(
        f"{fmt_int(total['n_trades'])} trades, {fmt_int(total['n_sessions'])} trade-sessions "
        "after entry. Each session's P&L since the previous one is split by the second-order "
        "Taylor expansion with the previous fresh session's greeks (Hull, ch. 19): delta × "
        "ΔS, ½ gamma × ΔS², vega (per vol point) × Δσ in points, per leg, theta (per calendar "
        "day) × calendar days; costs are commissions and slippage; the residual is the rest "
        "(higher orders, cross terms, stale marks, settlement). Residual share Σ|residual| / "
        f"Σ|daily mark P&L| = {fmt_pct(total['residual_share'], 1)}; the greeks explain "
        f"{fmt_pct(total['explained_r2'], 1)} of the variance of the daily mark P&L."
    )
    st.altair_chart(
        trade_charts.attribution_chart(by_trade, "trade_id", f"Attribution per trade ({chain})"),
        width="stretch",
    )


def _trades_table(trades: pl.DataFrame, by_trade: pl.DataFrame) -> pl.DataFrame:
    return trades.select(
        "trade_id", "entry_date", "exit_date", "exit_reason", "pnl_usd", "trade_return"
    ).join(
        by_trade.select("trade_id", *_COMPONENT_COLUMNS).rename(_COMPONENT_COLUMNS),
        on="trade_id",
        how="left",
    )


def _show_trades(run_id: str, trades: pl.DataFrame, by_trade: pl.DataFrame) -> None:
    st.subheader(f"Trades ({fmt_int(trades.height)})")
    table = _trades_table(trades, by_trade)
    st.session_state[TABLE_IDS_KEY] = table["trade_id"].to_list()
    table_key = f"{TABLE_KEY}_{run_id}"
    money = _money_columns(table)  # "small": every column fits beside the sidebar at 1440 px
    st.dataframe(
        table,
        hide_index=True,
        key=table_key,
        on_select=lambda: _on_table_select(table_key, f"{TRADE_KEY}_{run_id}"),
        selection_mode="single-row",
        column_config={
            **table_config(table),
            **money,
            "trade_return": st.column_config.NumberColumn("trade_return", format="percent"),
        },
    )
    st.caption(
        "Click a row to open the trade below. exit_reason `open`: still open at the run's end. "
        "pnl_usd realised (open trades: to their last mark), net of costs; trade_return on the "
        "capital at risk; the attribution columns (Delta … Residual, USD) sum to pnl_usd (see "
        "above)."
    )


# ---- one trade -----------------------------------------------------------------------------------


def _trade_label(trade: dict) -> str:
    exit_part = f"→ {trade['exit_date']}" if trade["exit_date"] else "(open)"
    return (
        f"#{trade['trade_id']} · {trade['entry_date']} {exit_part} · "
        f"{trade['exit_reason'] or 'open'} · {fmt_usd(trade['pnl_usd'], 0)}"
    )


def _entry_legs(legs: pl.DataFrame, quotes: pl.DataFrame, entry_date: object) -> pl.DataFrame:
    """The trade's legs (delivered stock excluded) with their chain quote on the entry session."""
    at_entry = quotes.filter(pl.col("quote_date") == entry_date).drop("quote_date", "vega")
    return legs.filter(pl.col("exit_kind").fill_null("") != "delivered").join(
        at_entry, on="contract_symbol", how="left"
    )


def _show_payoff(
    trade: dict, legs: pl.DataFrame, quotes: pl.DataFrame, multiplier: float, chain: str
) -> None:
    st.markdown("**Payoff**")
    entry_legs = _entry_legs(legs, quotes, trade["entry_date"])
    if entry_legs["underlying_price"].drop_nulls().is_empty():
        st.info("No chain quote of this trade's legs on its entry session: no payoff to draw.")
        return
    spots = greeks_pnl.spot_grid(entry_legs)
    entry_cost = trade["entry_value"] * multiplier * trade["lots"]
    profile = greeks_pnl.payoff_profile(
        entry_legs, spots, entry_cost_usd=entry_cost, multiplier=multiplier
    )
    st.altair_chart(
        trade_charts.payoff_chart(
            profile,
            trade["entry_underlying_price"],
            f"Payoff of trade {trade['trade_id']} ({chain})",
        ),
        width="stretch",
    )
    missing_entry = (
        profile.filter(pl.col("curve") == greeks_pnl.AT_ENTRY)["pnl_usd"].is_null().all()
    )
    st.caption(
        "P&L against the fill (entry_value × multiplier × lots = "
        f"{fmt_usd(entry_cost)}), before exit costs. At entry: each option leg at Black-76 with "
        "its entry implied volatility, the forward moving with the underlying (Black 1976; "
        "warehouse.pricing.black_price). At expiry: intrinsic value at the front expiration "
        "(legs expiring later priced as at entry with their remaining time). The dotted rule is "
        "the underlying at entry."
        + (
            " No entry volatility for a leg: only the expiry curve is drawn."
            if missing_entry
            else ""
        )
    )


def _show_trade(
    run: trade_queries.TradeRun, trade: dict, attribution: pl.DataFrame, chain: str
) -> None:
    trade_id = trade["trade_id"]
    st.subheader(f"Trade {trade_id}")
    _tiles(
        [
            ("Trade P&L", _usd_tile(trade["pnl_usd"])),
            ("Return on capital at risk", fmt_pct(trade["trade_return"])),
            ("Sessions held", fmt_int(trade["holding_days_actual"])),
            ("Lots", fmt_int(trade["lots"])),
        ]
    )
    exit_text = (
        f"exit {trade['exit_date']} on {trade['exit_reason']} ({trade['exit_type']})"
        if trade["exit_date"]
        else "still open"
    )
    st.caption(
        f"Entry {trade['entry_date']} at {trade['entry_value']:.2f} points per lot "
        f"({'debit' if trade['entry_value'] >= 0 else 'credit'}), underlying "
        f"{trade['entry_underlying_price']:,.2f}; {exit_text}; front "
        f"expiration {trade['expiration']}; commissions {fmt_usd(trade['commission_usd'])}, "
        f"slippage {fmt_usd(trade['slippage_usd'])}."
    )
    legs = run.legs.filter(pl.col("trade_id") == trade_id).drop(
        "trade_id", "entry_date", "settlement_method"
    )
    st.markdown(f"**Legs ({legs.height})** (entered {trade['entry_date']}; prices per unit)")
    # columns empty for every leg (settlement of a traded exit, ...) are left out
    legs = legs.select(c for c in legs.columns if legs[c].null_count() < legs.height)
    st.dataframe(
        legs,
        hide_index=True,
        column_config={
            **table_config(legs),
            **{
                name: st.column_config.NumberColumn(name, width="small")
                for name in _SMALL_LEG_COLUMNS
                if name in legs.columns
            },
        },
    )

    marks = run.positions.filter(pl.col("trade_id") == trade_id).drop("trade_id")
    if marks.is_empty():
        st.info("This trade has no daily marks in `backtest.positions_daily`.")
    else:
        levels = trade_charts.exit_levels(marks, run.exit_levels_pct)
        path = trade_charts.pnl_path(marks, trade)
        st.markdown("**P&L path**")
        st.altair_chart(
            trade_charts.pnl_path_chart(path, levels, f"P&L of trade {trade_id} ({chain})"),
            width="stretch",
        )
        set_levels = ", ".join(
            f"{trade_charts.LEVEL_LABELS[k]} {v:g} %" for k, v in run.exit_levels_pct.items()
        )
        st.caption(
            "P&L since the fill, net of costs, at each session's mark (mid: a circle; a triangle "
            "where a leg kept a stale mark), then realised at the exit (a diamond). "
            + (
                f"Exit levels of the run's config: {set_levels} of the entry premium at mid "
                "(engine/exits.py), drawn against the fill."
                if set_levels
                else "The run's config sets no take-profit or stop-loss level."
            )
        )
        st.markdown("**Greeks over the trade** (all lots, USD)")
        columns = st.columns(2)
        for i, greek in enumerate(charts.GREEKS):
            columns[i % 2].altair_chart(charts.greek_chart(marks, greek), width="stretch")
        st.markdown(f"**Daily marks ({marks.height})** (`backtest.positions_daily`)")
        st.dataframe(
            marks,
            hide_index=True,
            column_config={
                **table_config(marks),
                **{
                    name: st.column_config.NumberColumn(name, format="dollar")
                    for name in ("mark_value_usd", "unrealized_pnl_usd", *charts.GREEKS)
                },
            },
        )
        st.caption(
            "One row per session the trade was open (the exit session is in the trades table): "
            "its value at mid, P&L since the fill, and dollar greeks (delta: USD of underlying; "
            "gamma: change of dollar delta for a 1 % move; vega: per vol point; theta: per "
            "calendar day)."
        )

    if run.quotes_relation is not None:
        _show_payoff(
            trade,
            run.legs.filter(pl.col("trade_id") == trade_id),
            run.quotes,
            run.multiplier,
            chain,
        )

    sessions = attribution.filter(pl.col("trade_id") == trade_id)
    if not sessions.is_empty():
        st.markdown("**Greeks P&L attribution by session**")
        st.altair_chart(
            trade_charts.attribution_chart(
                sessions, "quote_date", f"Attribution of trade {trade_id} ({chain})"
            ),
            width="stretch",
        )
        table = sessions.select(
            "quote_date",
            "greeks_date",
            "is_stale",
            "spot",
            "spot_return",
            "elapsed_days",
            "pnl_usd",
            *_COMPONENT_COLUMNS,
        ).rename(_COMPONENT_COLUMNS)
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                **table_config(table),
                # pixel widths: the 13 columns fit beside the sidebar at 1440 px
                "quote_date": st.column_config.DateColumn(
                    "quote_date", format="YYYY-MM-DD", width=90
                ),
                "greeks_date": st.column_config.DateColumn(
                    "greeks_date", format="YYYY-MM-DD", width=90
                ),
                "spot": st.column_config.NumberColumn("spot", format="%.2f", width=70),
                "spot_return": st.column_config.NumberColumn(
                    "spot Δ", format="percent", width=60, help="spot_return"
                ),
                "elapsed_days": st.column_config.NumberColumn("days", width=45),
                "is_stale": st.column_config.CheckboxColumn("stale", width=50),
                **_money_columns(table),
            },
        )
        st.caption(
            "spot Δ: the underlying's return since greeks_date (none on the entry session); "
            "P&L columns in USD. "
            "days: calendar days since greeks_date, the session whose greeks expand the move "
            "(the last one before with "
            "every leg fresh). A stale session explains nothing: its own P&L is residual. The "
            "entry session's P&L is the entry costs; the exit session's is realised at the fill "
            "or settlement."
        )


# ---- the picks, in step with the URL -----------------------------------------------------------


def _pick_run(labels: dict[str, str]) -> str:
    """The run picker, in step with the URL's ``?run=`` (:mod:`app.links`).

    A pick no longer offered (a deleted run, a republished warehouse) is forgotten; on the
    picker's first draw of a page visit the link's run is picked, a run id that is not saved
    ignored with a note (the newest run instead). The pick is written back to the URL; when it
    is not the run the URL named, the URL's ``trade`` (that run's) is dropped, so a trade id of
    one run never opens a trade of another.
    """
    options = list(labels)
    if st.session_state.get(RUN_KEY, options[0]) not in labels:
        del st.session_state[RUN_KEY]
    links.seed_value(RUN_KEY, RUN_PARAM, options[0], valid=labels.__contains__, what="saved run")
    run_id = st.selectbox(
        "Run",
        options=options,
        format_func=labels.__getitem__,
        key=RUN_KEY,
        help="Saved runs of backtest.runs, the most recently written first. The address bar "
        "keeps the run and the trade (?run=…&trade=…): copy it to share this trade.",
    )
    changes: dict[str, str | None] = {RUN_PARAM: run_id}
    linked = st.query_params.get(RUN_PARAM)
    if linked is not None and linked != run_id:
        changes[TRADE_PARAM] = None  # the URL's trade is the other run's
    links.write(changes)
    return run_id


def _pick_trade(run_id: str, rows: dict[int, dict]) -> int:
    """The trade picker of run ``run_id`` (one widget per run: its options are the run's), in
    step with the URL's ``?trade=<trade_id>`` as :func:`_pick_run` is with the run; a trade id
    the run does not have is ignored with a note (its first trade instead)."""
    trade_ids = list(rows)
    trade_key = f"{TRADE_KEY}_{run_id}"
    if st.session_state.get(trade_key, trade_ids[0]) not in rows:
        del st.session_state[trade_key]
    links.seed_value(
        trade_key,
        TRADE_PARAM,
        trade_ids[0],
        parse=int,
        valid=rows.__contains__,
        what=f"trade of run {run_id}",
    )
    trade_id = st.selectbox(
        "Trade", options=trade_ids, format_func=lambda t: _trade_label(rows[t]), key=trade_key
    )
    links.write({TRADE_PARAM: trade_id})
    return trade_id


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    runs = _cached_trade_runs(*published.key)
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs. {BUILD_HINT}")
        return
    labels = {run["run_id"]: _run_label(run) for run in runs.iter_rows(named=True)}
    run_id = _pick_run(labels)
    run = _cached_run(*published.key, run_id)
    modeled = _show_chain(run.run)
    chain = "MODELED chain" if modeled else "real chain"
    if run.trades.is_empty():
        links.write({TRADE_PARAM: None})
        st.info("This run made no trades.")
        return
    if run.quotes_relation is None:
        st.warning(
            f"The published warehouse has no chain quotes for this run's "
            f"{run.run.get('chain_source', 'real')} chain: no greeks attribution or payoff. "
            + BUILD_HINT
        )
        attribution = pl.DataFrame(schema=greeks_pnl.SESSION_SCHEMA)
    else:
        attribution = _cached_greeks_attribution(*published.key, run_id)
    by_trade = greeks_pnl.attribution_by_trade(attribution)
    if run.quotes_relation is not None:
        _show_run_attribution(attribution, by_trade, chain)
    _show_trades(run_id, run.trades, by_trade)

    rows = {row["trade_id"]: row for row in run.trades.iter_rows(named=True)}
    trade_id = _pick_trade(run_id, rows)
    _show_trade(run, rows[trade_id], attribution, chain)


run_page("Trades", REQUIRED, body)
