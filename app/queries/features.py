"""Read-only queries of the features page: daily underlying features and IV-regime spans.

Reads ``marts.fct_underlying_features`` (one row per underlying_symbol per trade_date) through
:mod:`app.db`. Values (symbol, dates) reach SQL as bound parameters. Feature *columns* cannot be
parameters, so they are checked against an allowlist, the numeric columns of the mart as its own
``information_schema`` lists them (:func:`feature_columns`), in the same connection that reads
the rows; a name outside it raises ``ValueError`` naming it, and allowed names are still quoted
as identifiers. Every feature is cast to ``DOUBLE``.

Units follow the house naming rules (STYLE.md, rule 6): vols, rates, returns and ranks are
decimal fractions unless a suffix says otherwise (``_points``, ``_usd``, ``_ratio``, ``_zscore``,
day counts); :func:`feature_unit` maps a column to its display unit. The Cboe volatility indices
(VIX, VIX9D, VIX3M, VIX6M, VVIX) are stored as decimals (0.1742) but quoted by the market in
index points (17.42): they, their changes and the VIX term slope display in index points
(:data:`INDEX_POINT_FEATURES`), never as "17%".

The page's default window covers the underlying's option chains (:func:`option_periods`, read
from ``marts.fct_option_features``), so the features of the dates a backtest or the Chains page
can use are on screen without scrolling through the calendar.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader
from warehouse.paths import quote_identifier

FEATURES_SCHEMA = "marts"
FEATURES_TABLE_NAME = "fct_underlying_features"
FEATURES_TABLE = f"{FEATURES_SCHEMA}.{FEATURES_TABLE_NAME}"

#: Columns the page always reads (the features themselves are checked by the allowlist).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    FEATURES_TABLE: ("underlying_symbol", "trade_date", "iv_regime"),
}

#: Shown first when present in the allowlist.
DEFAULT_FEATURES: tuple[str, ...] = ("realized_vol_21d", "vix", "vol_risk_premium_21d")

#: Regime labels of ``iv_regime`` in display order (NULL while the 252-day VIX rank is NULL).
IV_REGIMES: tuple[str, ...] = ("LOW", "NORMAL", "HIGH")

#: Key columns of the mart, never offered as features.
_KEY_COLUMNS = frozenset({"underlying_symbol", "trade_date"})

FeatureUnit = Literal["percent", "index_points", "number", "usd", "integer"]

#: Cboe volatility-index levels and their differences, stored as decimals, shown in index points
#: (x 100; Cboe quotes VIX as 17.42, "VIX White Paper", Cboe, 2019 edition).
INDEX_POINT_FEATURES: frozenset[str] = frozenset(
    {
        "vix",
        "vix_9d",
        "vix_3m",
        "vix_6m",
        "vvix",
        "vix_change_1d",
        "vix_change_5d",
        "vix_term_slope",
    }
)

OPTIONS_TABLE = "marts.fct_option_features"

_NUMERIC_TYPE = re.compile(
    r"^(DOUBLE|FLOAT|REAL|DECIMAL(\(\d+,\s*\d+\))?|HUGEINT|U?BIGINT|U?INTEGER|U?SMALLINT|U?TINYINT)$"
)

_COLUMNS_SQL = """
select columns.column_name, columns.data_type
from information_schema.columns as columns
where columns.table_schema = $1
    and columns.table_name = $2
order by columns.ordinal_position
"""

_SYMBOLS_SQL = f"""
select
    fct_underlying_features.underlying_symbol,
    min(fct_underlying_features.trade_date) as first_trade_date,
    max(fct_underlying_features.trade_date) as last_trade_date,
    cast(count(*) as integer) as n_days
from {FEATURES_TABLE} as fct_underlying_features
group by fct_underlying_features.underlying_symbol
order by fct_underlying_features.underlying_symbol
"""

# {columns} is built from allowlisted, quoted identifiers only.
_SERIES_SQL = f"""
select
    fct_underlying_features.trade_date,
    fct_underlying_features.iv_regime,
    {{columns}}
from {FEATURES_TABLE} as fct_underlying_features
where fct_underlying_features.underlying_symbol = $1
    and fct_underlying_features.trade_date between $2 and $3
order by fct_underlying_features.trade_date
"""

# Gaps and islands: consecutive trading days with one regime form a span. A span ends where the
# next one starts (the next trading day), so the bands tile the axis without gaps over weekends.
_REGIME_SPANS_SQL = f"""
with days_in_range as (
    select
        fct_underlying_features.trade_date,
        fct_underlying_features.iv_regime,
        lead(fct_underlying_features.trade_date) over (order by fct_underlying_features.trade_date)
            as next_trade_date
    from {FEATURES_TABLE} as fct_underlying_features
    where fct_underlying_features.underlying_symbol = $1
        and fct_underlying_features.trade_date between $2 and $3
),

days_numbered_by_island as (
    select
        days_in_range.*,
        row_number() over (order by days_in_range.trade_date)
        - row_number() over (
            partition by days_in_range.iv_regime order by days_in_range.trade_date
        ) as island_id
    from days_in_range
)

select
    days_numbered_by_island.iv_regime,
    min(days_numbered_by_island.trade_date) as start_date,
    coalesce(
        max(days_numbered_by_island.next_trade_date), max(days_numbered_by_island.trade_date)
    ) as end_date,
    cast(count(*) as integer) as n_days
from days_numbered_by_island
where days_numbered_by_island.iv_regime is not null
group by days_numbered_by_island.iv_regime, days_numbered_by_island.island_id
order by start_date
"""


# Islands of option quote dates per source: a new period starts after a gap of more than $2
# calendar days (a long weekend is not a gap).
_OPTION_PERIODS_SQL = f"""
with quote_dates as (
    select distinct
        fct_option_features.source,
        fct_option_features.quote_date
    from {OPTIONS_TABLE} as fct_option_features
    where fct_option_features.underlying_symbol = $1
),

quote_dates_flagged as (
    select
        quote_dates.source,
        quote_dates.quote_date,
        coalesce(
            quote_dates.quote_date - lag(quote_dates.quote_date) over (
                partition by quote_dates.source order by quote_dates.quote_date
            ) > $2,
            true
        ) as is_period_start
    from quote_dates
),

quote_dates_numbered as (
    select
        quote_dates_flagged.*,
        sum(cast(quote_dates_flagged.is_period_start as integer)) over (
            partition by quote_dates_flagged.source order by quote_dates_flagged.quote_date
        ) as period_id
    from quote_dates_flagged
)

select
    quote_dates_numbered.source,
    min(quote_dates_numbered.quote_date) as first_quote_date,
    max(quote_dates_numbered.quote_date) as last_quote_date,
    cast(count(*) as integer) as n_quote_dates
from quote_dates_numbered
group by quote_dates_numbered.source, quote_dates_numbered.period_id
order by first_quote_date, quote_dates_numbered.source
"""

#: Longest gap, in calendar days, between two quote dates of one period (a week of missing days
#: does not split a period).
MAX_PERIOD_GAP_DAYS = 7


@dataclass(frozen=True)
class FeatureSeries:
    """Daily values of some features of one underlying and its IV-regime spans, one snapshot.

    Attributes
    ----------
    series
        One row per ``trade_date`` (ascending) in the range: ``trade_date`` (date),
        ``iv_regime`` (``LOW``/``NORMAL``/``HIGH`` or NULL) and one ``DOUBLE`` column per
        requested feature, in the requested order (NULL where the feature is not defined yet).
    regimes
        One row per span of consecutive trading days in one regime: ``iv_regime``,
        ``start_date``, ``end_date`` (the next span's first day, or the last day of the range),
        ``n_days``; ordered by ``start_date``. Days without a regime make no span.
    """

    series: pl.DataFrame
    regimes: pl.DataFrame


def _numeric_columns(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    columns = _frame(con, _COLUMNS_SQL, [FEATURES_SCHEMA, FEATURES_TABLE_NAME])
    return tuple(
        name
        for name, data_type in columns.iter_rows()
        if name not in _KEY_COLUMNS and _NUMERIC_TYPE.match(data_type.upper())
    )


def check_features(requested: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """Return ``requested`` as a tuple when every name is in ``allowed``.

    Raises
    ------
    ValueError
        When a requested name is not allowed (the message names it), or none is requested.

    Examples
    --------
    >>> check_features(["vix"], ["vix", "rsi_14d_points"])
    ('vix',)
    >>> check_features(["vix; drop table x"], ["vix"])
    Traceback (most recent call last):
    ...
    ValueError: unknown feature column(s) ['vix; drop table x']; choose among the 1 allowed
    """
    unknown = [name for name in requested if name not in allowed]
    if unknown:
        raise ValueError(
            f"unknown feature column(s) {unknown}; choose among the {len(allowed)} allowed"
        )
    if not requested:
        raise ValueError("give at least one feature column")
    return tuple(requested)


def feature_unit(column: str) -> FeatureUnit:
    """Display unit of a feature column, from its name (house naming rules).

    Examples
    --------
    >>> [feature_unit(c) for c in ("realized_vol_21d", "rsi_14d_points", "atr_14d_usd")]
    ['percent', 'number', 'usd']
    >>> [feature_unit(c) for c in ("vix_zscore_60d", "vix_9d_to_vix_ratio", "month_of_year")]
    ['number', 'number', 'integer']
    >>> feature_unit("calendar_days_to_monthly_expiration")
    'integer'
    >>> [feature_unit(c) for c in ("vix", "vvix", "vix_term_slope", "vix_rank_252d")]
    ['index_points', 'index_points', 'index_points', 'percent']
    """
    if column in INDEX_POINT_FEATURES:
        return "index_points"
    words = column.split("_")
    if "days" in words or column in ("day_of_week_iso", "month_of_year"):
        return "integer"
    if words[-1] == "usd":
        return "usd"
    if words[-1] == "points" or "zscore" in words or "ratio" in words:
        return "number"
    return "percent"


def feature_columns(db: Path | str) -> tuple[str, ...]:
    """The allowlist: numeric columns of ``marts.fct_underlying_features``, in table order.

    Keys (``underlying_symbol``, ``trade_date``), text (``iv_regime``), booleans and dates are
    left out.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _numeric_columns(con)


def symbols(db: Path | str) -> pl.DataFrame:
    """Underlyings of the mart.

    Returns
    -------
    polars.DataFrame
        One row per ``underlying_symbol`` (ascending): ``first_trade_date``,
        ``last_trade_date`` (dates), ``n_days`` (int).
    """
    with _reader(db) as con:
        return _frame(con, _SYMBOLS_SQL)


def feature_series(
    db: Path | str,
    underlying_symbol: str,
    features: Sequence[str],
    start_date: dt.date,
    end_date: dt.date,
) -> FeatureSeries:
    """Daily values of ``features`` for one underlying between two dates, with regime spans.

    Parameters
    ----------
    db
        Published DuckDB file.
    underlying_symbol
        E.g. ``"SPX"`` (bound as a parameter).
    features
        Feature columns, each one of :func:`feature_columns` (checked in the same connection).
    start_date, end_date
        Inclusive trade-date range (bound as parameters).

    Returns
    -------
    FeatureSeries
        Empty frames when the symbol has no rows in the range.

    Raises
    ------
    ValueError
        When a feature is not in the allowlist (the message names it) or none is given.
    FileNotFoundError
        When ``db`` does not exist.
    """
    params = [underlying_symbol, start_date, end_date]
    with _reader(db) as con:
        chosen = check_features(list(features), _numeric_columns(con))
        columns = ",\n    ".join(
            f"cast(fct_underlying_features.{quote_identifier(name)} as double)"
            f" as {quote_identifier(name)}"
            for name in chosen
        )
        return FeatureSeries(
            series=_frame(con, _SERIES_SQL.format(columns=columns), params),
            regimes=_frame(con, _REGIME_SPANS_SQL, params),
        )


def option_periods(db: Path | str, underlying_symbol: str) -> pl.DataFrame:
    """Periods with option chains of one underlying, per source.

    A period is a run of quote dates with no gap longer than :data:`MAX_PERIOD_GAP_DAYS`
    calendar days.

    Returns
    -------
    polars.DataFrame
        One row per source and period, by first date: ``source`` (e.g. ``cboe_eod_chain``;
        a modeled chain's source says ``modeled``), ``first_quote_date``, ``last_quote_date``
        (dates), ``n_quote_dates`` (int). Empty for an underlying without option quotes.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _OPTION_PERIODS_SQL, [underlying_symbol, MAX_PERIOD_GAP_DAYS])


def default_window(
    first_trade_date: dt.date,
    last_trade_date: dt.date,
    periods: pl.DataFrame,
    *,
    pad_days: int = 31,
    fallback_days: int = 3 * 365,
) -> tuple[dt.date, dt.date]:
    """Default date range of the page: every option period, padded, within the feature dates.

    Parameters
    ----------
    first_trade_date, last_trade_date
        The underlying's feature dates (the range is clipped to them).
    periods
        :func:`option_periods` of the underlying (``first_quote_date``, ``last_quote_date``).
    pad_days
        Calendar days added on each side of the option dates (>= 0), so the run-up shows.
    fallback_days
        Without option periods (or none overlapping the features): this many calendar days
        up to ``last_trade_date``.

    Returns
    -------
    tuple[datetime.date, datetime.date]
        ``(start, end)``, ``first_trade_date <= start <= end <= last_trade_date``.

    Raises
    ------
    ValueError
        When ``first_trade_date`` is after ``last_trade_date`` or a day count is negative.

    Examples
    --------
    >>> periods = pl.DataFrame({"first_quote_date": [dt.date(2011, 1, 3), dt.date(2019, 4, 25)],
    ...                         "last_quote_date": [dt.date(2011, 1, 7), dt.date(2019, 7, 22)]})
    >>> default_window(dt.date(1990, 1, 2), dt.date(2022, 12, 28), periods)
    (datetime.date(2010, 12, 3), datetime.date(2019, 8, 22))
    >>> default_window(dt.date(1990, 1, 2), dt.date(2022, 12, 28), periods.clear())
    (datetime.date(2019, 12, 29), datetime.date(2022, 12, 28))
    """
    if first_trade_date > last_trade_date:
        raise ValueError(
            f"first_trade_date {first_trade_date} is after last_trade_date {last_trade_date}"
        )
    if pad_days < 0 or fallback_days < 0:
        raise ValueError(
            f"pad_days and fallback_days must be >= 0, got {pad_days!r}, {fallback_days!r}"
        )
    overlapping = periods.filter(
        (pl.col("last_quote_date") >= first_trade_date)
        & (pl.col("first_quote_date") <= last_trade_date)
    )
    if overlapping.is_empty():
        start = last_trade_date - dt.timedelta(days=fallback_days)
        return max(first_trade_date, start), last_trade_date
    pad = dt.timedelta(days=pad_days)
    start = overlapping["first_quote_date"].min() - pad
    end = overlapping["last_quote_date"].max() + pad
    return max(first_trade_date, start), min(last_trade_date, end)
