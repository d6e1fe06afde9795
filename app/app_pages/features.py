"""Features page: daily features of one underlying over time, IV regimes shaded behind them.

Pick an underlying, some numeric columns of ``marts.fct_underlying_features`` (the allowlist of
:func:`app.queries.features.feature_columns`) and a date range; each feature gets its own chart
(they have different units, named in each y-axis title; the Cboe volatility indices in index
points) over coloured bands of the IV regime (``LOW``/``NORMAL``/``HIGH`` from the 252-day VIX
rank). The default range covers the underlying's option chains
(:func:`app.queries.features.default_window`), marked by a dark strip along the top of each
chart. All reads go through :mod:`app.queries.features`.

Deep links (:mod:`app.links`): the view lives in the URL's query parameters, read when the page
opens and written back as the selection changes, e.g.
``features?underlying=SPX&start=2019-01-02&end=2019-12-31&features=vix&features=realized_vol_21d``.

============== ======================================================================
``underlying`` underlying symbol of the mart (default SPX, else SPY, else the first)
``start``      ISO first date of the window (default: the option periods, padded)
``end``        ISO last date of the window; both within the underlying's trade dates
``features``   feature columns, repeated, in chart order (at most 8; ``features=`` none)
============== ======================================================================

A value the mart does not offer is ignored with a note on the page. Another underlying starts
from its own default window.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from app import links
from app.charts import features as charts
from app.page import BUILD_HINT, Published, run_page
from app.queries import features as queries

#: Underlyings preferred as the default, in order.
DEFAULT_SYMBOLS: tuple[str, ...] = ("SPX", "SPY")
#: Default date range without option chains: this many years back from the last trade date.
DEFAULT_YEARS = 3
#: Calendar days shown before the first and after the last option quote date by default.
DEFAULT_PAD_DAYS = 31
#: More charts than this make the page long and slow; the multiselect stops there.
MAX_FEATURES = 8

REQUIRED = queries.REQUIRED_COLUMNS

# Widget keys (session state) and the query parameters (app.links) they are shared through.
SYMBOL_KEY = "features_underlying"
RANGE_KEY = "features_dates"
RANGE_OF_KEY = "features_dates_of"  # not a widget: the underlying the window was picked for
FEATURES_KEY = "features_columns"
#: Query parameters of a link to this page (a name not written in a run is removed).
LINK_PARAMS = ("underlying", "start", "end", "features")

# Cached per (database path, file version): a publish os.replace()s the file, which changes its
# inode and mtime and so invalidates these. Connections themselves are never cached.


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_symbols(db: str, db_version: str) -> pl.DataFrame:
    return queries.symbols(db)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_feature_columns(db: str, db_version: str) -> tuple[str, ...]:
    return queries.feature_columns(db)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_option_periods(db: str, db_version: str, underlying_symbol: str) -> pl.DataFrame:
    return queries.option_periods(db, underlying_symbol)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_series(
    db: str,
    db_version: str,
    underlying_symbol: str,
    features: tuple[str, ...],
    start_date: dt.date,
    end_date: dt.date,
) -> queries.FeatureSeries:
    return queries.feature_series(db, underlying_symbol, features, start_date, end_date)


def _pick_range(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    """The date widget (seeded by :func:`app.links.seed_date_range`); ``None`` while half
    picked."""
    picked = st.date_input(
        "Date range", min_value=first, max_value=last, format="YYYY-MM-DD", key=RANGE_KEY
    )
    return links.whole_range(picked)


def _periods_text(periods: pl.DataFrame) -> str:
    """``"cboe_eod_chain 2019-04-25 to 2019-07-22 (56 dates)"``, one per period, joined."""
    return "; ".join(
        f"{'MODELED ' if 'modeled' in row['source'] else ''}{row['source']} "
        f"{row['first_quote_date']:%Y-%m-%d} to {row['last_quote_date']:%Y-%m-%d} "
        f"({row['n_quote_dates']} dates)"
        for row in periods.iter_rows(named=True)
    )


def body(published: Published) -> None:
    """Draw the page from the published warehouse; the selection goes to the URL (see the
    module docstring)."""
    shared: dict[str, object] = dict.fromkeys(LINK_PARAMS)
    try:
        _draw(published, shared)
    finally:
        links.write(shared)


def _draw(published: Published, shared: dict[str, object]) -> None:
    db, db_version = published.key
    symbols = _cached_symbols(db, db_version)
    allowed = _cached_feature_columns(db, db_version)
    if symbols.is_empty() or not allowed:
        st.info(f"`{queries.FEATURES_TABLE}` has no rows or no numeric column. {BUILD_HINT}")
        return

    names = symbols["underlying_symbol"].to_list()
    default_symbol = next((s for s in DEFAULT_SYMBOLS if s in names), names[0])
    links.keep_choice(SYMBOL_KEY, names, default_symbol)  # gone after a publish
    links.seed_value(
        SYMBOL_KEY,
        "underlying",
        default_symbol,
        valid=names.__contains__,
        what=f"underlying of `{queries.FEATURES_TABLE}`",
    )
    # The underlying box returns its state: the window is seeded before the two boxes are
    # drawn side by side, so a note on an ignored date stands above both, not between them.
    underlying_symbol = st.session_state[SYMBOL_KEY]
    row = symbols.row(names.index(underlying_symbol), named=True)
    first, last = row["first_trade_date"], row["last_trade_date"]
    periods = _cached_option_periods(db, db_version, underlying_symbol)
    default = queries.default_window(
        first, last, periods, pad_days=DEFAULT_PAD_DAYS, fallback_days=DEFAULT_YEARS * 365
    )
    links.seed_date_range(
        RANGE_KEY,
        RANGE_OF_KEY,
        underlying_symbol,
        first,
        last,
        default,
        what=f"{underlying_symbol} date",
    )
    left, right = st.columns([1, 2])
    left.selectbox("Underlying", options=names, key=SYMBOL_KEY)
    shared["underlying"] = underlying_symbol
    with right:
        date_range = _pick_range(first, last)
    links.keep_only(FEATURES_KEY, allowed)
    links.seed_list(
        FEATURES_KEY,
        "features",
        [name for name in queries.DEFAULT_FEATURES if name in allowed],
        allowed=allowed,
        what=f"numeric column of `{queries.FEATURES_TABLE}`",
        max_values=MAX_FEATURES,
    )
    features = st.multiselect(
        "Features",
        options=allowed,
        key=FEATURES_KEY,
        max_selections=MAX_FEATURES,
        help=f"Numeric columns of `{queries.FEATURES_TABLE}`; one chart each.",
    )
    shared["features"] = features
    if date_range is None:
        del shared["start"], shared["end"]  # half a window: the URL keeps the last whole one
        st.info("Pick both ends of the date range.")
        return
    shared.update(start=date_range[0], end=date_range[1])
    if not features:
        st.info("Pick at least one feature to plot.")
        return

    start_date, end_date = date_range
    data = _cached_series(db, db_version, underlying_symbol, tuple(features), start_date, end_date)
    if data.series.is_empty():
        st.info(f"No {underlying_symbol} rows between {start_date} and {end_date}.")
        return
    chains = (
        f"Dark strip on top: dates with {underlying_symbol} option chains "
        f"({_periods_text(periods)}); the default range covers them."
        if periods.height
        else f"{underlying_symbol} has no option chain in `{queries.OPTIONS_TABLE}`."
    )
    st.caption(
        f"{underlying_symbol}, {data.series.height:,} trading days from {start_date:%Y-%m-%d} to "
        f"{end_date:%Y-%m-%d}, from `{queries.FEATURES_TABLE}`. Bands: `iv_regime`, from the "
        "252-day VIX rank (LOW and HIGH below and above the dbt vars `iv_regime_low_max` and "
        "`iv_regime_high_min`, NORMAL between; no band while the rank is undefined). "
        f"{chains} Units are in each y-axis title: vols, returns and ranks in %, the Cboe "
        "volatility indices (VIX, VIX9D, VIX3M, VIX6M, VVIX) and their changes in index points "
        "(stored as decimals: VIX 0.80 is 80.0)."
    )
    if any("modeled" in source for source in periods["source"].to_list()):
        st.badge("Modeled chain dates", icon=":material/science:", color="orange")
    for feature in features:
        if data.series[feature].null_count() == data.series.height:
            st.info(f"`{feature}` has no value for {underlying_symbol} in this range.")
            continue
        chart = charts.feature_chart(
            data.series,
            data.regimes,
            feature,
            queries.feature_unit(feature),
            option_periods=periods,
        )
        st.altair_chart(chart, width="stretch")


run_page("Features", REQUIRED, body)
