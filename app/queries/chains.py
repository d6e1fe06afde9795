"""Read-only queries of the chains page: one underlying's option chain on one quote date.

Reads ``marts.fct_option_features`` (one row per contract per quote_date) and
``intermediate.int_option_expiry_surface`` (one row per underlying, quote_date, expiration and
settlement_type) through :mod:`app.db`. Widget values reach SQL only as bound parameters
(``$1``, ``$2``, ...); the bucket edges are module constants, bound as parameters too. Every
numeric column is cast to ``DOUBLE`` (or ``INTEGER`` for counts and days) so charts never receive
``DECIMAL``s.

Conventions, shared by the smile and the surface:

- only solved IVs (``iv_solve_status = 'ok'``; the others are ``below_intrinsic``, ``expired``
  and ``no_price``, which carry no IV) and only ``dte >= 1`` (a chain on its expiration day is
  ``expired``);
- strike-to-forward ``K / F`` within [:data:`MIN_STRIKE_TO_FORWARD`,
  :data:`MAX_STRIKE_TO_FORWARD`]; the mart's ``moneyness`` column is *spot* moneyness ``S / K``,
  so the pages use ``K / F`` and the mart's ``log_moneyness = ln(K / F)`` instead;
- out-of-the-money options only for the smile and surface: puts with ``K < F``, calls with
  ``K >= F`` (the liquid side of each strike, as in ``int_option_expiry_surface``);
- by default only quotes with a bid (``bid > 0``; a NULL bid counts as none): a quote bid at 0
  has no buyer, its mid is half the ask, and the IV solved from it is the floor of the tick
  grid, not a market price (on 2019-07-22 the 7-day SPXW call wing "rises" to 35 % from
  0.00 / 0.05 quotes). ``include_zero_bid=True`` keeps them (the page's toggle). The mart's
  ATM IV, risk reversal and term structure (``int_option_expiry_surface``) are read as built
  and are not refiltered: they interpolate near the money, where bids are positive.

An SPX expiration date can carry two expiries, AM-settled (root ``SPX``) and PM-settled (``SPXW``),
so an expiry is ``(expiration, settlement_type)`` throughout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from app.db import frame as _frame
from app.db import reader as _reader

OPTIONS_TABLE = "marts.fct_option_features"
SURFACE_TABLE = "intermediate.int_option_expiry_surface"

#: Columns the chains page reads, per relation (checked by the page frame before the body runs).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    OPTIONS_TABLE: (
        "underlying_symbol",
        "quote_date",
        "option_type",
        "strike",
        "expiration",
        "settlement_type",
        "expiry_type",
        "dte",
        "underlying_price",
        "bid",
        "forward_price",
        "log_moneyness",
        "implied_volatility",
        "iv_solve_status",
        "delta",
        "gamma",
        "theta",
        "vega",
        "atm_iv_30d",
        "risk_reversal_25d_30d",
        "source",
    ),
    SURFACE_TABLE: (
        "underlying_symbol",
        "quote_date",
        "expiration",
        "settlement_type",
        "tte_years",
        "n_options",
        "atm_iv",
        "risk_reversal_25d",
        "butterfly_25d",
    ),
}

#: Strike-to-forward band (K / F, unitless) kept by the smile, surface and greeks.
MIN_STRIKE_TO_FORWARD = 0.7
MAX_STRIKE_TO_FORWARD = 1.3
#: Width of a surface moneyness bucket, in K / F.
MONEYNESS_BUCKET_WIDTH = 0.05
#: Fewest contracts of one expiry for its greeks to be drawn as curves by strike (below it the
#: page lists them in a table: SPY's chain keeps the top 20 contracts of a day, often 1 or 2 per
#: expiry).
MIN_CURVE_CONTRACTS = 5
#: Surface days-to-expiry buckets: (first dte, last dte, label), calendar days, inclusive.
DTE_BUCKETS: tuple[tuple[int, int, str], ...] = (
    (1, 7, "1-7d"),
    (8, 14, "8-14d"),
    (15, 30, "15-30d"),
    (31, 60, "31-60d"),
    (61, 90, "61-90d"),
    (91, 180, "91-180d"),
    (181, 365, "181-365d"),
    (366, 100_000, "366d+"),
)
N_MONEYNESS_BUCKETS = round(
    (MAX_STRIKE_TO_FORWARD - MIN_STRIKE_TO_FORWARD) / MONEYNESS_BUCKET_WIDTH
)

_UNDERLYINGS_SQL = f"""
select
    fct_option_features.underlying_symbol,
    max(fct_option_features.quote_date) as last_quote_date,
    cast(count(distinct fct_option_features.quote_date) as integer) as n_quote_dates
from {OPTIONS_TABLE} as fct_option_features
group by fct_option_features.underlying_symbol
order by fct_option_features.underlying_symbol
"""

_QUOTE_DATES_SQL = f"""
select distinct fct_option_features.quote_date
from {OPTIONS_TABLE} as fct_option_features
where fct_option_features.underlying_symbol = $1
order by fct_option_features.quote_date desc
"""

_SUMMARY_SQL = f"""
select
    cast(median(fct_option_features.underlying_price) as double) as spot_price,
    cast(max(fct_option_features.atm_iv_30d) as double) as atm_iv_30d,
    cast(max(fct_option_features.risk_reversal_25d_30d) as double) as risk_reversal_25d_30d,
    cast(count(*) as integer) as n_contracts,
    cast(count(*) filter (where fct_option_features.iv_solve_status = 'ok') as integer)
        as n_solved,
    cast(count(*) filter (
        where fct_option_features.iv_solve_status = 'ok'
            and coalesce(fct_option_features.bid, 0) <= 0
    ) as integer) as n_solved_zero_bid,
    cast(count(distinct (fct_option_features.expiration, fct_option_features.settlement_type))
        as integer) as n_expiries,
    string_agg(distinct fct_option_features.source, ', ' order by fct_option_features.source)
        as sources
from {OPTIONS_TABLE} as fct_option_features
where fct_option_features.underlying_symbol = $1
    and fct_option_features.quote_date = $2
"""

_EXPIRIES_SQL = f"""
select
    fct_option_features.expiration,
    fct_option_features.settlement_type,
    cast(fct_option_features.dte as integer) as dte,
    any_value(fct_option_features.expiry_type) as expiry_type,
    strftime(fct_option_features.expiration, '%Y-%m-%d') || ' '
        || fct_option_features.settlement_type
        || ' (' || cast(fct_option_features.dte as varchar) || 'd)' as expiry_label,
    cast(count(*) as integer) as n_contracts,
    cast(count(*) filter (where fct_option_features.iv_solve_status = 'ok') as integer)
        as n_solved,
    cast(count(*) filter (
        where fct_option_features.iv_solve_status = 'ok' and fct_option_features.bid > 0
    ) as integer) as n_solved_with_bid
from {OPTIONS_TABLE} as fct_option_features
where fct_option_features.underlying_symbol = $1
    and fct_option_features.quote_date = $2
    and fct_option_features.dte >= 1
group by all
having count(*) filter (where fct_option_features.iv_solve_status = 'ok') > 0
order by fct_option_features.expiration, fct_option_features.settlement_type
"""

# $1 underlying, $2 quote date, $3/$4 K / F band, $5 keep quotes without a bid (boolean).
_OTM_QUOTES_CTE = f"""
otm_quotes as (
    select
        fct_option_features.expiration,
        fct_option_features.settlement_type,
        cast(fct_option_features.dte as integer) as dte,
        strftime(fct_option_features.expiration, '%Y-%m-%d') || ' '
            || fct_option_features.settlement_type
            || ' (' || cast(fct_option_features.dte as varchar) || 'd)' as expiry_label,
        fct_option_features.option_type,
        cast(fct_option_features.strike as double) as strike,
        cast(fct_option_features.strike as double)
            / cast(fct_option_features.forward_price as double) as strike_to_forward,
        cast(fct_option_features.log_moneyness as double) as log_moneyness,
        cast(fct_option_features.implied_volatility as double) as implied_volatility,
        cast(fct_option_features.bid as double) as bid
    from {OPTIONS_TABLE} as fct_option_features
    where fct_option_features.underlying_symbol = $1
        and fct_option_features.quote_date = $2
        and fct_option_features.iv_solve_status = 'ok'
        and ($5 or fct_option_features.bid > 0)
        and fct_option_features.dte >= 1
        and fct_option_features.forward_price > 0
        and fct_option_features.strike / fct_option_features.forward_price between $3 and $4
        and (
            (fct_option_features.option_type = 'put'
                and fct_option_features.strike < fct_option_features.forward_price)
            or (fct_option_features.option_type = 'call'
                and fct_option_features.strike >= fct_option_features.forward_price)
        )
)
"""

_SMILE_SQL = f"""
with {_OTM_QUOTES_CTE}
select * from otm_quotes
order by otm_quotes.expiration, otm_quotes.settlement_type, otm_quotes.strike
"""

# $6/$7/$8 dte bucket first/last/label lists, $9 bucket width, $10 number of moneyness buckets.
_SURFACE_SQL = f"""
with {_OTM_QUOTES_CTE},

dte_buckets as (
    select
        unnest($6::integer[]) as dte_min,
        unnest($7::integer[]) as dte_max,
        unnest($8::varchar[]) as dte_bucket
),

moneyness_buckets as (
    select
        cast(moneyness_index.range as integer) as moneyness_index,
        -- rounded: 0.7 + 3 * 0.05 is 0.8500000000000001 in binary floating point
        round($3 + moneyness_index.range * $9, 6) as moneyness_low,
        round($3 + (moneyness_index.range + 1) * $9, 6) as moneyness_high
    from range($10) as moneyness_index
),

quotes_bucketed as (
    select
        dte_buckets.dte_bucket,
        cast(least(floor((otm_quotes.strike_to_forward - $3) / $9), $10 - 1) as integer)
            as moneyness_index,
        otm_quotes.implied_volatility
    from otm_quotes
    inner join dte_buckets
        on otm_quotes.dte between dte_buckets.dte_min and dte_buckets.dte_max
),

buckets_aggregated as (
    select
        quotes_bucketed.dte_bucket,
        quotes_bucketed.moneyness_index,
        avg(quotes_bucketed.implied_volatility) as mean_iv,
        count(*) as n_options
    from quotes_bucketed
    group by all
)

select
    dte_buckets.dte_bucket,
    dte_buckets.dte_min,
    moneyness_buckets.moneyness_low,
    moneyness_buckets.moneyness_high,
    cast(buckets_aggregated.mean_iv as double) as mean_iv,
    cast(coalesce(buckets_aggregated.n_options, 0) as integer) as n_options
from dte_buckets
cross join moneyness_buckets
left join buckets_aggregated
    on dte_buckets.dte_bucket = buckets_aggregated.dte_bucket
    and moneyness_buckets.moneyness_index = buckets_aggregated.moneyness_index
order by dte_buckets.dte_min, moneyness_buckets.moneyness_low
"""

_TERM_STRUCTURE_SQL = f"""
select
    int_option_expiry_surface.expiration,
    int_option_expiry_surface.settlement_type,
    cast(int_option_expiry_surface.expiration - int_option_expiry_surface.quote_date as integer)
        as dte,
    cast(int_option_expiry_surface.tte_years as double) as tte_years,
    cast(int_option_expiry_surface.n_options as integer) as n_options,
    cast(int_option_expiry_surface.atm_iv as double) as atm_iv,
    cast(int_option_expiry_surface.risk_reversal_25d as double) as risk_reversal_25d,
    cast(int_option_expiry_surface.butterfly_25d as double) as butterfly_25d
from {SURFACE_TABLE} as int_option_expiry_surface
where int_option_expiry_surface.underlying_symbol = $1
    and int_option_expiry_surface.quote_date = $2
    and int_option_expiry_surface.atm_iv is not null
order by int_option_expiry_surface.expiration, int_option_expiry_surface.settlement_type
"""

# $1 underlying, $2 quote date, $3 expiration, $4 settlement type, $5/$6 K / F band, $7 keep
# quotes without a bid (boolean).
_GREEKS_SQL = f"""
select
    fct_option_features.option_type,
    cast(fct_option_features.strike as double) as strike,
    cast(fct_option_features.strike as double)
        / cast(fct_option_features.forward_price as double) as strike_to_forward,
    cast(fct_option_features.implied_volatility as double) as implied_volatility,
    cast(fct_option_features.delta as double) as delta,
    cast(fct_option_features.gamma as double) as gamma,
    cast(fct_option_features.vega as double) as vega,
    cast(fct_option_features.theta as double) as theta,
    cast(fct_option_features.bid as double) as bid
from {OPTIONS_TABLE} as fct_option_features
where fct_option_features.underlying_symbol = $1
    and fct_option_features.quote_date = $2
    and fct_option_features.expiration = $3
    and fct_option_features.settlement_type = $4
    and fct_option_features.iv_solve_status = 'ok'
    and ($7 or fct_option_features.bid > 0)
    and fct_option_features.forward_price > 0
    and fct_option_features.strike / fct_option_features.forward_price between $5 and $6
order by fct_option_features.option_type, fct_option_features.strike
"""


@dataclass(frozen=True)
class ChainSnapshot:
    """Everything the chains page shows for one underlying and quote date, read in one connection.

    Attributes
    ----------
    summary
        One row (see :func:`chain_snapshot`): ``spot_price`` (USD), ``atm_iv_30d``,
        ``risk_reversal_25d_30d`` (decimal vols, NULL when not interpolable), ``n_contracts``,
        ``n_solved``, ``n_solved_zero_bid`` (solved IVs whose bid is 0 or missing),
        ``n_expiries`` (ints; ``n_contracts`` is 0 for an unknown date), ``sources``.
    expiries
        One row per expiry with a solved IV and ``dte >= 1``: ``expiration`` (date),
        ``settlement_type`` (``AM``/``PM``), ``dte`` (calendar days), ``expiry_type``,
        ``expiry_label`` (``"2019-08-16 AM (25d)"``, unique per date), ``n_contracts``,
        ``n_solved``, ``n_solved_with_bid`` (solved and ``bid > 0``); ordered by expiration.
        Not filtered on the bid: the expiry list is the same with or without zero bids.
    smile
        One row per OTM contract (see the module docstring): ``expiration``,
        ``settlement_type``, ``dte``, ``expiry_label``, ``option_type``, ``strike`` (USD),
        ``strike_to_forward`` (K / F), ``log_moneyness`` (ln K / F), ``implied_volatility``
        (decimal), ``bid`` (USD per share).
    surface
        The complete bucket grid, one row per :data:`DTE_BUCKETS` x moneyness bucket
        (``len(DTE_BUCKETS) * N_MONEYNESS_BUCKETS`` rows): ``dte_bucket``, ``dte_min``,
        ``moneyness_low``, ``moneyness_high`` (K / F edges), ``mean_iv`` (decimal, NULL for an
        empty bucket), ``n_options``.
    term
        One row per expiry of ``int_option_expiry_surface`` with an ATM IV: ``expiration``,
        ``settlement_type``, ``dte``, ``tte_years``, ``n_options``, ``atm_iv``,
        ``risk_reversal_25d``, ``butterfly_25d`` (decimal vols; the last two may be NULL).
    """

    summary: pl.DataFrame
    expiries: pl.DataFrame
    smile: pl.DataFrame
    surface: pl.DataFrame
    term: pl.DataFrame


def _band() -> list[float]:
    return [MIN_STRIKE_TO_FORWARD, MAX_STRIKE_TO_FORWARD]


def _surface_params() -> list[object]:
    firsts, lasts, labels = (list(column) for column in zip(*DTE_BUCKETS, strict=True))
    return [firsts, lasts, labels, MONEYNESS_BUCKET_WIDTH, N_MONEYNESS_BUCKETS]


def underlyings(db: Path | str) -> pl.DataFrame:
    """Underlyings that have option quotes.

    Returns
    -------
    polars.DataFrame
        One row per ``underlying_symbol`` (ascending) with ``last_quote_date`` (date) and
        ``n_quote_dates`` (int).

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    with _reader(db) as con:
        return _frame(con, _UNDERLYINGS_SQL)


def quote_dates(db: Path | str, underlying_symbol: str) -> list[dt.date]:
    """Quote dates of one underlying, latest first (empty for an unknown symbol)."""
    with _reader(db) as con:
        return _frame(con, _QUOTE_DATES_SQL, [underlying_symbol])["quote_date"].to_list()


def chain_snapshot(
    db: Path | str,
    underlying_symbol: str,
    quote_date: dt.date,
    *,
    include_zero_bid: bool = False,
) -> ChainSnapshot:
    """Summary, expiries, OTM smile points, IV surface grid and term structure of one chain.

    One connection, so one version of the warehouse (a publish ``os.replace``s the file).

    Parameters
    ----------
    db
        Published DuckDB file.
    underlying_symbol
        E.g. ``"SPX"`` (bound as a parameter).
    quote_date
        Trading date of the chain (bound as a parameter).
    include_zero_bid
        Keep quotes whose bid is 0 (or missing) in the smile and the surface; by default they
        are left out (see the module docstring). The summary, expiries and term structure do
        not depend on it.

    Returns
    -------
    ChainSnapshot
        Empty frames (and ``n_contracts == 0``) for a symbol or date without quotes.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    base = [underlying_symbol, quote_date]
    otm = [*base, *_band(), bool(include_zero_bid)]
    with _reader(db) as con:
        return ChainSnapshot(
            summary=_frame(con, _SUMMARY_SQL, base),
            expiries=_frame(con, _EXPIRIES_SQL, base),
            smile=_frame(con, _SMILE_SQL, otm),
            surface=_frame(con, _SURFACE_SQL, [*otm, *_surface_params()]),
            term=_frame(con, _TERM_STRUCTURE_SQL, base),
        )


def greeks_by_strike(
    db: Path | str,
    underlying_symbol: str,
    quote_date: dt.date,
    expiration: dt.date,
    settlement_type: str,
    *,
    include_zero_bid: bool = False,
) -> pl.DataFrame:
    """Computed BSM greeks of every solved call and put of one expiry, by strike.

    Parameters
    ----------
    include_zero_bid
        Keep contracts whose bid is 0 (or missing); left out by default, as in
        :func:`chain_snapshot`.

    Returns
    -------
    polars.DataFrame
        One row per contract with a solved IV and K / F in the band, ordered by ``option_type``
        then ``strike``: ``option_type`` (``call``/``put``), ``strike`` (USD),
        ``strike_to_forward`` (K / F), ``implied_volatility`` (decimal), ``delta`` (per share),
        ``gamma`` (per share per USD), ``vega`` (USD per share per vol point, 0.01),
        ``theta`` (USD per share per calendar day), ``bid`` (USD per share).
    """
    params = [
        underlying_symbol,
        quote_date,
        expiration,
        settlement_type,
        *_band(),
        bool(include_zero_bid),
    ]
    with _reader(db) as con:
        return _frame(con, _GREEKS_SQL, params)


def greeks_expiry(
    expiries: pl.DataFrame, target_dte: int, *, include_zero_bid: bool = False
) -> int | None:
    """Row of ``expiries`` whose greeks the page draws by default.

    The expiry nearest ``target_dte`` among those with at least :data:`MIN_CURVE_CONTRACTS`
    solved contracts (counting only those with a bid unless ``include_zero_bid``), so a sparse
    chain (SPY keeps 20 contracts a day) does not open on an expiry of one contract; when none
    has that many, the one with the most. Ties go to the earlier expiry.

    Parameters
    ----------
    expiries
        ``ChainSnapshot.expiries``: one row per expiry with ``dte`` (calendar days),
        ``n_solved`` and ``n_solved_with_bid`` (ints), in expiry order.
    target_dte
        Calendar days to expiry wanted, >= 0.

    Returns
    -------
    int or None
        Row index into ``expiries``; ``None`` when it is empty.

    Raises
    ------
    ValueError
        When ``target_dte`` is negative.

    Examples
    --------
    >>> expiries = pl.DataFrame({"dte": [21, 28, 31], "n_solved": [14, 4, 1],
    ...                          "n_solved_with_bid": [14, 4, 1]})
    >>> greeks_expiry(expiries, 30)
    0
    >>> greeks_expiry(expiries.slice(1), 30)
    0
    """
    if target_dte < 0:
        raise ValueError(f"target_dte must be >= 0, got {target_dte!r}")
    if expiries.is_empty():
        return None
    counted = "n_solved" if include_zero_bid else "n_solved_with_bid"
    ranked = expiries.with_row_index("row").with_columns(
        (pl.col(counted) >= MIN_CURVE_CONTRACTS).alias("is_dense"),
        (pl.col("dte") - target_dte).abs().alias("distance"),
    )
    dense = ranked.filter(pl.col("is_dense"))
    if dense.height:
        return int(dense.sort("distance", "row").item(0, "row"))
    return int(ranked.sort(pl.col(counted), descending=True, maintain_order=True).item(0, "row"))
