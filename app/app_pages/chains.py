"""Chains page: one underlying's option chain on one quote date.

KPI tiles (spot, 30-day ATM IV, 25-delta risk reversal, contracts), the volatility smile per
expiry (OTM options), the ATM term structure and 25-delta skew by expiry, an IV surface heatmap
and the greeks of one expiry by strike. Quotes bid at 0 are left out of the smile, surface and
greeks unless the "Include quotes with bid = 0" toggle is on (:mod:`app.queries.chains`
explains why). An expiry with fewer than :data:`app.queries.chains.MIN_CURVE_CONTRACTS`
contracts (SPY keeps 20 a day) lists its greeks in a table instead of drawing near-empty
curves. All reads go through :mod:`app.queries.chains`.

Deep links (:mod:`app.links`): the chain on screen lives in the URL's query parameters, read when
the page opens and written back as the selection changes, e.g.
``chains?underlying=SPX&quote_date=2019-06-21&expiration=2019-07-19-AM&option_type=put&zero_bid=true``.

=============== =====================================================================
``underlying``  underlying symbol with option quotes (default SPX)
``quote_date``  ISO date of the chain (default the underlying's latest)
``zero_bid``    ``true`` keeps quotes bid at 0 (default ``false``, left out of the URL)
``smile``       expiries of the smile, repeated (default the nearest 7, 30, 91, 182, 365 days)
``moneyness``   smile x axis, ``log_moneyness`` (default) or ``strike_to_forward``
``expiration``  expiry of the greeks, ``YYYY-MM-DD-AM``/``-PM`` (a bare date when it is the
                only expiry that day)
``option_type`` greeks of ``call`` or ``put`` only (default both, left out of the URL)
=============== =====================================================================

A value the chain does not offer (a date without quotes, an expired expiry) is ignored with a
note on the page. A changed underlying keeps the quote date when it has a chain that day, else
opens on its latest; a changed date keeps the expiries it still lists.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from app import links
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

# Widget keys (session state) and the query parameters (app.links) they are shared through.
UNDERLYING_KEY = "chains_underlying"
DATE_KEY = "chains_quote_date"
ZERO_BID_KEY = "chains_include_zero_bid"
SMILE_KEY = "chains_smile_expiries"
MONEYNESS_KEY = "chains_moneyness"
EXPIRY_KEY = "chains_greeks_expiry"
OPTION_TYPE_KEY = "chains_option_type"
#: Query parameters of a link to this page (a name not written in a run is removed).
LINK_PARAMS = (
    "underlying",
    "quote_date",
    "zero_bid",
    "smile",
    "moneyness",
    "expiration",
    "option_type",
)
#: Values left out of the URL (constant defaults; data-dependent ones are always written).
LINK_DEFAULTS = {"moneyness": "log_moneyness", "option_type": "both"}
#: Greeks of calls and puts, or of one type (``option_type`` values, field-standard).
OPTION_TYPES = {"both": "Calls and puts", "call": "Calls", "put": "Puts"}
_FLAGS = {"true": True, "1": True, "false": False, "0": False}

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


def _nearest_expiries(expiries: pl.DataFrame, targets: tuple[int, ...]) -> list[int]:
    """Rows of the expiries nearest to each target dte (deduplicated, in expiry order)."""
    if expiries.is_empty():
        return []
    dtes = expiries["dte"].to_list()
    return sorted({min(range(len(dtes)), key=lambda i: abs(dtes[i] - t)) for t in targets})


def expiry_tokens(expiries: pl.DataFrame) -> list[str]:
    """The URL form of each expiry, ``"2019-07-19-AM"``: its date and settlement (an SPX AM
    monthly and an SPXW PM weekly can share a date), stable across quote dates, unlike
    ``expiry_label``'s days to expiry.

    Parameters
    ----------
    expiries
        ``ChainSnapshot.expiries``: ``expiration`` (date), ``settlement_type`` (``AM``/``PM``).

    Returns
    -------
    list of str
        One token per row, in row order.

    >>> import datetime as dt
    >>> expiry_tokens(pl.DataFrame({"expiration": [dt.date(2019, 7, 19)],
    ...                             "settlement_type": ["AM"]}))
    ['2019-07-19-AM']
    """
    token = pl.format("{}-{}", pl.col("expiration").dt.strftime("%Y-%m-%d"), "settlement_type")
    return expiries.select(token).to_series().to_list()


def resolve_expiry(text: str, tokens: list[str]) -> str:
    """The expiry token a link's ``expiration``/``smile`` value names.

    Parameters
    ----------
    text
        A token (``"2019-07-19-AM"``) or a bare ISO date (``"2019-07-19"``), which names the
        expiry of that date when there is exactly one.
    tokens
        The chain's expiries, :func:`expiry_tokens`.

    Raises
    ------
    ValueError
        When ``text`` names no expiry of ``tokens``, or a date with both an AM and a PM one.

    >>> resolve_expiry("2019-07-19", ["2019-07-19-AM", "2019-07-26-PM"])
    '2019-07-19-AM'
    """
    if text in tokens:
        return text
    matches = [token for token in tokens if token[:10] == text and len(text) == 10]
    if len(matches) != 1:
        raise ValueError(f"no single expiry {text!r} in this chain")
    return matches[0]


def parse_flag(text: str) -> bool:
    """``"true"``/``"1"`` -> ``True``, ``"false"``/``"0"`` -> ``False`` (any case).

    Raises
    ------
    ValueError
        Anything else, e.g. ``"yes"``.
    """
    try:
        return _FLAGS[text.lower()]
    except KeyError:
        raise ValueError(f"expected true or false, got {text!r}") from None


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


def _show_smile(snapshot: queries.ChainSnapshot, shared: dict[str, object]) -> None:
    st.subheader("Volatility smile")
    expiries = snapshot.expiries
    tokens = expiry_tokens(expiries)
    label_of = dict(zip(tokens, expiries["expiry_label"].to_list(), strict=True))
    default = [tokens[i] for i in _nearest_expiries(expiries, DEFAULT_SMILE_TARGET_DTES)]
    kept = st.session_state.get(SMILE_KEY)
    if kept and not set(kept) & set(tokens):  # a new date lists none of them: its defaults
        st.session_state[SMILE_KEY] = default
    links.keep_only(SMILE_KEY, tokens)
    links.seed_list(
        SMILE_KEY,
        "smile",
        default,
        parse=lambda text: resolve_expiry(text, tokens),
        what="expiry of this chain (YYYY-MM-DD-AM or -PM)",
    )
    picked = st.multiselect(
        "Expiries",
        options=tokens,
        format_func=label_of.__getitem__,
        key=SMILE_KEY,
        help="Out-of-the-money options only: puts below the forward, calls at or above it.",
    )
    axes = list(charts.MONEYNESS_AXES)
    links.seed_value(
        MONEYNESS_KEY,
        "moneyness",
        axes[0],
        valid=axes.__contains__,
        what=f"moneyness axis ({' or '.join(axes)})",
    )
    x = st.radio(
        "Moneyness",
        options=axes,
        format_func=charts.MONEYNESS_AXES.__getitem__,
        horizontal=True,
        key=MONEYNESS_KEY,
    )
    shared.update(smile=picked, moneyness=x)
    if not picked:
        st.info("Pick at least one expiry to draw its smile.")
        return
    smile = snapshot.smile.filter(pl.col("expiry_label").is_in([label_of[t] for t in picked]))
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
    shared: dict[str, object],
) -> None:
    st.subheader("Greeks by strike")
    tokens = expiry_tokens(expiries)
    label_of = dict(zip(tokens, expiries["expiry_label"].to_list(), strict=True))
    row_index = queries.greeks_expiry(
        expiries, DEFAULT_GREEKS_TARGET_DTE, include_zero_bid=include_zero_bid
    )
    default = tokens[row_index or 0]
    links.keep_choice(EXPIRY_KEY, tokens, default)
    links.seed_value(
        EXPIRY_KEY,
        "expiration",
        default,
        parse=lambda text: resolve_expiry(text, tokens),
        what="expiry of this chain (YYYY-MM-DD-AM or -PM)",
    )
    links.seed_value(
        OPTION_TYPE_KEY,
        "option_type",
        "both",
        valid=OPTION_TYPES.__contains__,
        what="option type (call or put)",
    )
    left, right = st.columns([2, 1])
    token = left.selectbox(
        "Expiry for the greeks", options=tokens, format_func=label_of.__getitem__, key=EXPIRY_KEY
    )
    option_type = right.radio(
        "Option type",
        options=list(OPTION_TYPES),
        format_func=OPTION_TYPES.__getitem__,
        horizontal=True,
        key=OPTION_TYPE_KEY,
    )
    shared.update(expiration=token, option_type=option_type)
    label = label_of[token]
    row = expiries.row(tokens.index(token), named=True)
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
    if option_type != "both":
        present = present.filter(pl.col("option_type") == option_type)
    if present.is_empty():
        bid = "" if include_zero_bid else " and a bid"
        kind = "contract" if option_type == "both" else option_type
        st.info(
            f"No {kind} of {label} has computed greeks (a solved IV{bid} with K / F in the "
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
    """Draw the page from the published warehouse; the selection goes to the URL (see the
    module docstring), a parameter of a widget not drawn this run is removed."""
    shared: dict[str, object] = dict.fromkeys(LINK_PARAMS)
    try:
        _draw(published, shared)
    finally:
        links.write(shared, defaults=LINK_DEFAULTS)


def _draw(published: Published, shared: dict[str, object]) -> None:
    db, db_version = published.key
    symbols = _cached_underlyings(db, db_version)["underlying_symbol"].to_list()
    if not symbols:
        st.info(f"`{queries.OPTIONS_TABLE}` has no option quotes. {BUILD_HINT}")
        return
    default_symbol = "SPX" if "SPX" in symbols else symbols[0]
    links.keep_choice(UNDERLYING_KEY, symbols, default_symbol)
    links.seed_value(
        UNDERLYING_KEY,
        "underlying",
        default_symbol,
        valid=symbols.__contains__,
        what="underlying with option quotes",
    )
    # The underlying box returns its state, so the dates are known before the two boxes are
    # drawn side by side, and a note on an ignored date stands above both, not between them.
    underlying_symbol = st.session_state[UNDERLYING_KEY]
    dates = _cached_quote_dates(db, db_version, underlying_symbol)
    if dates:
        links.keep_choice(DATE_KEY, dates, dates[0])
        links.seed_value(
            DATE_KEY,
            "quote_date",
            dates[0],
            parse=links.parse_date,
            valid=dates.__contains__,
            what=f"{underlying_symbol} quote date",
        )
    left, right = st.columns(2)
    left.selectbox("Underlying", options=symbols, key=UNDERLYING_KEY)
    shared["underlying"] = underlying_symbol
    if not dates:
        st.info(f"No quote date for {underlying_symbol}.")
        return
    quote_date = right.selectbox(
        "Quote date", options=dates, format_func=lambda day: f"{day:%Y-%m-%d}", key=DATE_KEY
    )
    shared["quote_date"] = quote_date

    links.seed_value(ZERO_BID_KEY, "zero_bid", False, parse=parse_flag, what="flag (true or false)")
    include_zero_bid = st.toggle(
        "Include quotes with bid = 0",
        key=ZERO_BID_KEY,
        help="A quote bid at 0 has no buyer: its mid is half the ask, and the IV solved from "
        "it is a tick-size artefact (far wings rising to 35 % and more), not a market level.",
    )
    shared["zero_bid"] = "true" if include_zero_bid else None
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
    _show_smile(snapshot, shared)
    _show_term_structure(snapshot.term)
    _show_surface(snapshot.surface)
    _show_greeks(
        published, underlying_symbol, quote_date, snapshot.expiries, include_zero_bid, shared
    )


run_page("Chains", REQUIRED, body)
