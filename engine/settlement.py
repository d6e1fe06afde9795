"""Settlement at expiry: which price an expiring option is worth its intrinsic value against.

Sources: Cboe, *SPX Options Product Specifications* (AM-settled SPX monthlies settle on the
Special Opening Quotation, SOQ, of expiration day, ticker SET; PM-settled SPXW on the closing
value); OCC, *Characteristics and Risks of Standardized Options* (equity options: American,
physically settled at the strike).

- **PM-settled** contracts (SPXW, SPY): the official close of expiration day
  (``marts.fct_settlement_values.pm_settlement_price``) → ``intrinsic_pm_official_close``.
  Without a close in the data: the chain's spot at the quote time, flagged
  ``intrinsic_pm_quote_time_spot``.
- **AM-settled** contracts (SPX monthlies): ``am_settlement_price`` of the mart, with the method
  it names: ``soq`` (a loaded settlement-values file), ``index_open`` (the index's open, where
  the data has it), ``proxy_etf_open_gap`` (the previous close moved by the proxy ETF's
  open-to-previous-close return) → ``intrinsic_am_<method>``. Never the close silently: without
  any AM value the close is used and flagged ``intrinsic_am_close_fallback`` (the CLI warns);
  ``execution.am_settlement: soq_only`` refuses AM contracts without an SOQ at entry instead.
- **Physically settled** (American equity) options in the money are exercised / assigned into
  stock at the strike, and that stock is valued at the same settlement price, so the leg is worth
  its intrinsic value; the legs table records the delivered stock (``exit_kind``).
"""

from __future__ import annotations

import polars as pl

#: Columns of a settlement-values frame (``marts.fct_settlement_values``).
SETTLEMENT_COLUMNS: tuple[str, ...] = (
    "trade_date",
    "am_settlement_price",
    "am_settlement_method",
    "pm_settlement_price",
    "pm_settlement_method",
)


def settlement_values(underlying: pl.LazyFrame, settlements: pl.LazyFrame | None) -> pl.LazyFrame:
    """Per session, the AM and PM settlement price of the underlying and how each was found.

    Parameters
    ----------
    underlying
        ``trade_date, open, close`` (raw, index points).
    settlements
        ``marts.fct_settlement_values`` of the underlying (:data:`SETTLEMENT_COLUMNS`), or
        ``None``: then AM is the day's ``open`` (``index_open``) and PM its ``close``
        (``official_close``).

    Returns
    -------
    pl.LazyFrame
        :data:`SETTLEMENT_COLUMNS`, one row per ``trade_date``.
    """
    if settlements is not None:
        return settlements.select(SETTLEMENT_COLUMNS)
    return underlying.select(
        "trade_date",
        pl.col("open").alias("am_settlement_price"),
        pl.when(pl.col("open").is_not_null())
        .then(pl.lit("index_open"))
        .otherwise(pl.lit("unavailable"))
        .alias("am_settlement_method"),
        pl.col("close").alias("pm_settlement_price"),
        pl.when(pl.col("close").is_not_null())
        .then(pl.lit("official_close"))
        .otherwise(pl.lit("unavailable"))
        .alias("pm_settlement_method"),
    )


def settlement_price() -> pl.Expr:
    """The settlement price of an expiring leg, from columns ``settlement_type`` (AM/PM),
    ``am_settlement_price``, ``pm_settlement_price``, ``_close`` (the day's close) and ``_spot``
    (the chain's spot at the quote time)."""
    am = pl.col("settlement_type") == "AM"
    return (
        pl.when(am)
        .then(pl.coalesce("am_settlement_price", "_close", "_spot"))
        .otherwise(pl.coalesce("pm_settlement_price", "_spot"))
    )


def settlement_method() -> pl.Expr:
    """How :func:`settlement_price` was found (``intrinsic_<am|pm>_<method>``)."""
    am = pl.col("settlement_type") == "AM"
    return (
        pl.when(am & pl.col("am_settlement_price").is_not_null())
        .then(pl.concat_str(pl.lit("intrinsic_am_"), pl.col("am_settlement_method")))
        .when(am & pl.col("_close").is_not_null())
        .then(pl.lit("intrinsic_am_close_fallback"))
        .when(am)
        .then(pl.lit("intrinsic_am_quote_time_spot"))
        .when(pl.col("pm_settlement_price").is_not_null())
        .then(pl.concat_str(pl.lit("intrinsic_pm_"), pl.col("pm_settlement_method")))
        .otherwise(pl.lit("intrinsic_pm_quote_time_spot"))
    )


def intrinsic(price: pl.Expr) -> pl.Expr:
    """Intrinsic value per unit of an option leg (``leg_type``, ``strike``) at ``price``."""
    return (
        pl.when(pl.col("leg_type") == "call")
        .then((price - pl.col("strike")).clip(lower_bound=0.0))
        .otherwise((pl.col("strike") - price).clip(lower_bound=0.0))
    )


def soq_dates(settlements: pl.LazyFrame) -> pl.LazyFrame:
    """``expiration`` dates with a Special Opening Quotation (``am_settlement_method = 'soq'``)."""
    return settlements.filter(pl.col("am_settlement_method") == "soq").select(
        pl.col("trade_date").alias("expiration")
    )
