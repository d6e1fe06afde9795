"""Features page: daily features of one underlying over time, IV regimes shaded behind them.

Pick an underlying, some numeric columns of ``marts.fct_underlying_features`` (the allowlist of
:func:`app.queries.features.feature_columns`) and a date range; each feature gets its own chart
(they have different units) over coloured bands of the IV regime (``LOW``/``NORMAL``/``HIGH``
from the 252-day VIX rank). All reads go through :mod:`app.queries.features`.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from app.charts import features as charts
from app.page import BUILD_HINT, Published, run_page
from app.queries import features as queries

#: Underlyings preferred as the default, in order.
DEFAULT_SYMBOLS: tuple[str, ...] = ("SPX", "SPY")
#: Default date range: this many years back from the symbol's last trade date.
DEFAULT_YEARS = 3
#: More charts than this make the page long and slow; the multiselect stops there.
MAX_FEATURES = 8

REQUIRED = queries.REQUIRED_COLUMNS

# Cached per (database path, file version): a publish os.replace()s the file, which changes its
# inode and mtime and so invalidates these. Connections themselves are never cached.


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_symbols(db: str, db_version: str) -> pl.DataFrame:
    return queries.symbols(db)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_feature_columns(db: str, db_version: str) -> tuple[str, ...]:
    return queries.feature_columns(db)


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


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _pick_range(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    picked = st.date_input(
        "Date range",
        value=(max(first, _years_before(last, DEFAULT_YEARS)), last),
        min_value=first,
        max_value=last,
        format="YYYY-MM-DD",
    )
    if not isinstance(picked, tuple | list) or len(picked) != 2:
        return None
    return picked[0], picked[1]


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    db, db_version = published.key
    symbols = _cached_symbols(db, db_version)
    allowed = _cached_feature_columns(db, db_version)
    if symbols.is_empty() or not allowed:
        st.info(f"`{queries.FEATURES_TABLE}` has no rows or no numeric column. {BUILD_HINT}")
        return

    names = symbols["underlying_symbol"].to_list()
    default_symbol = next((s for s in DEFAULT_SYMBOLS if s in names), names[0])
    left, right = st.columns([1, 2])
    underlying_symbol = left.selectbox(
        "Underlying", options=names, index=names.index(default_symbol)
    )
    row = symbols.row(names.index(underlying_symbol), named=True)
    with right:
        date_range = _pick_range(row["first_trade_date"], row["last_trade_date"])
    features = st.multiselect(
        "Features",
        options=allowed,
        default=[name for name in queries.DEFAULT_FEATURES if name in allowed],
        max_selections=MAX_FEATURES,
        help=f"Numeric columns of `{queries.FEATURES_TABLE}`; one chart each.",
    )
    if date_range is None:
        st.info("Pick both ends of the date range.")
        return
    if not features:
        st.info("Pick at least one feature to plot.")
        return

    start_date, end_date = date_range
    data = _cached_series(db, db_version, underlying_symbol, tuple(features), start_date, end_date)
    if data.series.is_empty():
        st.info(f"No {underlying_symbol} rows between {start_date} and {end_date}.")
        return
    st.caption(
        f"{underlying_symbol}, {data.series.height:,} trading days from {start_date:%Y-%m-%d} to "
        f"{end_date:%Y-%m-%d}, from `{queries.FEATURES_TABLE}`. Bands: `iv_regime`, from the "
        "252-day VIX rank (LOW and HIGH below and above the dbt vars `iv_regime_low_max` and "
        "`iv_regime_high_min`, NORMAL between; no band while the rank is undefined)."
    )
    for feature in features:
        if data.series[feature].null_count() == data.series.height:
            st.info(f"`{feature}` has no value for {underlying_symbol} in this range.")
            continue
        chart = charts.feature_chart(
            data.series, data.regimes, feature, queries.feature_unit(feature)
        )
        st.altair_chart(chart, width="stretch")


run_page("Features", REQUIRED, body)
