"""Chains page: one underlying's option chain on one quote date.

KPI tiles (spot, 30-day ATM IV, 25-delta risk reversal, contracts), the volatility smile per
expiry (OTM options), the ATM term structure and 25-delta skew by expiry, an IV surface heatmap
and the greeks of one expiry by strike. Quotes bid at 0 are left out of the smile, surface and
greeks unless the "Include quotes with bid = 0" toggle is on (:mod:`app.queries.chains`
explains why). An expiry with fewer than :data:`app.queries.chains.MIN_CURVE_CONTRACTS`
contracts (SPY keeps 20 a day) lists its greeks in a table instead of drawing near-empty
curves. All reads go through :mod:`app.queries.chains`.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from app.charts import chains as charts
from app.formatting import fmt_int, fmt_pct, table_config
from app.page import BUILD_HINT, Published, run_page
from app.queries import chains as queries

#: Days to expiry the default smile expiries are nearest to.
DEFAULT_SMILE_TARGET_DTES: tuple[int, ...] = (7, 30, 91, 182, 365)
#: Days to expiry the default greeks expiry is nearest to.
DEFAULT_GREEKS_TARGET_DTE = 30
#: Column headers of the greeks table (an expiry of too few contracts for curves).
GREEKS_TABLE_LABELS = {greek: label for greek, label in charts.GREEKS.items()}

REQUIRED = queries.REQUIRED_COLUMNS

# Cached per (database path, file version): a publish os.replace()s the file, which changes its
# inode and mtime and so invalidates these. Connections themselves are never cached.


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_underlyings(db: str, db_version: str) -> pl.DataFrame:
    return queries.underlyings(db)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_quote_dates(db: str, db_version: str, underlying_symbol: str) -> list[dt.date]:
    return queries.quote_dates(db, underlying_symbol)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_snapshot(
    db: str, db_version: str, underlying_symbol: str, quote_date: dt.date, include_zero_bid: bool
) -> queries.ChainSnapshot:
    return queries.chain_snapshot(
        db, underlying_symbol, quote_date, include_zero_bid=include_zero_bid
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_greeks(
    db: str,
    db_version: str,
    underlying_symbol: str,
    quote_date: dt.date,
    expiration: dt.date,
    settlement_type: str,
    include_zero_bid: bool,
) -> pl.DataFrame:
    return queries.greeks_by_strike(
        db,
        underlying_symbol,
        quote_date,
        expiration,
        settlement_type,
        include_zero_bid=include_zero_bid,
    )


def _nearest_expiries(expiries: pl.DataFrame, targets: tuple[int, ...]) -> list[str]:
    """Labels of the expiries nearest to each target dte (deduplicated, in expiry order)."""
    if expiries.is_empty():
        return []
    dtes = expiries["dte"].to_list()
    nearest = {min(range(len(dtes)), key=lambda i: abs(dtes[i] - target)) for target in targets}
    return [expiries["expiry_label"][i] for i in sorted(nearest)]


def _show_kpis(summary: dict[str, object], underlying_symbol: str, quote_date: dt.date) -> None:
    spot = summary["spot_price"]
    tiles = [
        ("Spot", "n/a" if spot is None else f"{spot:,.2f}"),
        ("ATM IV 30d", fmt_pct(summary["atm_iv_30d"], 1)),
        ("25-delta RR 30d", fmt_pct(summary["risk_reversal_25d_30d"], 1)),
        ("Contracts", fmt_int(summary["n_contracts"])),
    ]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    if "modeled" in (summary["sources"] or ""):
        st.badge("Modeled chain", icon=":material/science:", color="orange")
    st.caption(
        f"{underlying_symbol} chain of {quote_date:%Y-%m-%d} from `{queries.OPTIONS_TABLE}` "
        f"(source: {summary['sources']}): {fmt_int(summary['n_contracts'])} contracts, "
        f"{fmt_int(summary['n_solved'])} with a solved IV, {summary['n_expiries']} expiries. "
        f"Smile, surface and greeks keep solved IVs with K / F in "
        f"[{queries.MIN_STRIKE_TO_FORWARD}, {queries.MAX_STRIKE_TO_FORWARD}] and at least one "
        "day to expiry."
    )


def _zero_bid_note(summary: dict[str, object], include_zero_bid: bool) -> None:
    """Say how many solved quotes are bid at 0 and whether the charts below keep them."""
    n_zero = summary["n_solved_zero_bid"] or 0
    if include_zero_bid:
        st.caption(
            f"Showing all {fmt_int(summary['n_solved'])} solved quotes, {fmt_int(n_zero)} of "
            "them bid at 0 (or without a bid): their IVs are not market levels."
        )
    else:
        st.caption(
            f"{fmt_int(n_zero)} solved quote(s) bid at 0 (or without a bid) are left out of the "
            "smile, surface and greeks (toggle above). The tiles and the term structure come "
            "from the mart's ATM and 25-delta interpolation as built, near the money."
        )


def _show_smile(snapshot: queries.ChainSnapshot) -> None:
    st.subheader("Volatility smile")
    expiries = snapshot.expiries
    labels = expiries["expiry_label"].to_list()
    picked = st.multiselect(
        "Expiries",
        options=labels,
        default=_nearest_expiries(expiries, DEFAULT_SMILE_TARGET_DTES),
        help="Out-of-the-money options only: puts below the forward, calls at or above it.",
    )
    x = st.radio(
        "Moneyness",
        options=list(charts.MONEYNESS_AXES),
        format_func=charts.MONEYNESS_AXES.__getitem__,
        horizontal=True,
    )
    if not picked:
        st.info("Pick at least one expiry to draw its smile.")
        return
    smile = snapshot.smile.filter(pl.col("expiry_label").is_in(picked))
    if smile.is_empty():
        st.info("The chosen expiries have no out-of-the-money quote with a solved IV.")
        return
    st.altair_chart(charts.smile_chart(smile, x), width="stretch")


def _show_term_structure(term: pl.DataFrame) -> None:
    st.subheader("Term structure")
    if term.is_empty():
        st.info(f"`{queries.SURFACE_TABLE}` has no ATM IV for this date.")
        return
    left, right = st.columns(2)
    left.altair_chart(charts.term_structure_chart(term), width="stretch")
    skew = term.select("risk_reversal_25d", "butterfly_25d").drop_nulls()
    if skew.is_empty():
        right.info("No expiry of this date has both 25-delta wings.")
    else:
        right.altair_chart(charts.skew_term_chart(term), width="stretch")


def _show_surface(surface: pl.DataFrame) -> None:
    st.subheader("IV surface")
    if surface["n_options"].sum() == 0:
        st.info("No out-of-the-money option with a solved IV in the moneyness band on this date.")
        return
    st.altair_chart(charts.surface_heatmap(surface), width="stretch")


def _show_greeks(
    published: Published,
    underlying_symbol: str,
    quote_date: dt.date,
    expiries: pl.DataFrame,
    include_zero_bid: bool,
) -> None:
    st.subheader("Greeks by strike")
    labels = expiries["expiry_label"].to_list()
    default = queries.greeks_expiry(
        expiries, DEFAULT_GREEKS_TARGET_DTE, include_zero_bid=include_zero_bid
    )
    label = st.selectbox("Expiry for the greeks", options=labels, index=default or 0)
    row = expiries.row(labels.index(label), named=True)
    greeks = _cached_greeks(
        *published.key,
        underlying_symbol,
        quote_date,
        row["expiration"],
        row["settlement_type"],
        include_zero_bid,
    )
    names = list(charts.GREEKS)
    present = greeks.drop_nulls(names)
    if present.is_empty():
        bid = "" if include_zero_bid else " and a bid"
        st.info(
            f"No contract of {label} has computed greeks (a solved IV{bid} with K / F in the "
            "band): nothing to draw. Pick another expiry."
        )
        return
    if present.height < queries.MIN_CURVE_CONTRACTS:
        st.info(
            f"Only {present.height} contract(s) of {label} have computed greeks: too few for "
            f"curves by strike (at least {queries.MIN_CURVE_CONTRACTS}), so they are listed "
            f"below. {underlying_symbol}'s chain may keep only its most traded contracts."
        )
        table = present.select("option_type", "strike", "implied_volatility", *names)
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                **table_config(table),
                "strike": st.column_config.NumberColumn("strike", format="%g"),
                "implied_volatility": st.column_config.NumberColumn(
                    "implied_volatility", format="percent"
                ),
                **{
                    greek: st.column_config.NumberColumn(GREEKS_TABLE_LABELS[greek], format="%.4f")
                    for greek in names
                },
            },
        )
        return
    for start in range(0, len(names), 2):
        for column, greek in zip(st.columns(2), names[start : start + 2], strict=True):
            column.altair_chart(charts.greek_chart(present, greek), width="stretch")


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    db, db_version = published.key
    symbols = _cached_underlyings(db, db_version)["underlying_symbol"].to_list()
    if not symbols:
        st.info(f"`{queries.OPTIONS_TABLE}` has no option quotes. {BUILD_HINT}")
        return
    left, right = st.columns(2)
    underlying_symbol = left.selectbox(
        "Underlying", options=symbols, index=symbols.index("SPX") if "SPX" in symbols else 0
    )
    dates = _cached_quote_dates(db, db_version, underlying_symbol)
    quote_date = right.selectbox(
        "Quote date", options=dates, index=0, format_func=lambda day: f"{day:%Y-%m-%d}"
    )
    if quote_date is None:
        st.info(f"No quote date for {underlying_symbol}.")
        return

    include_zero_bid = st.toggle(
        "Include quotes with bid = 0",
        value=False,
        key="chains_include_zero_bid",
        help="A quote bid at 0 has no buyer: its mid is half the ask, and the IV solved from "
        "it is a tick-size artefact (far wings rising to 35 % and more), not a market level.",
    )
    snapshot = _cached_snapshot(db, db_version, underlying_symbol, quote_date, include_zero_bid)
    summary = snapshot.summary.row(0, named=True)
    if not summary["n_contracts"]:
        st.info(f"No {underlying_symbol} option quotes on {quote_date:%Y-%m-%d}.")
        return
    _show_kpis(summary, underlying_symbol, quote_date)
    if snapshot.expiries.is_empty():
        st.info("No expiry of this date has a solved implied volatility.")
        return
    _zero_bid_note(summary, include_zero_bid)
    _show_smile(snapshot)
    _show_term_structure(snapshot.term)
    _show_surface(snapshot.surface)
    _show_greeks(published, underlying_symbol, quote_date, snapshot.expiries, include_zero_bid)


run_page("Chains", REQUIRED, body)
