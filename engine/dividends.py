"""Dividends of stock legs held on an index: a total-return accrual from a dividend yield.

A stock leg on an index (``underlying_symbol: SPX``) stands for the index's stock portfolio, whose
dividends are not in the data (``marts.fct_dividends`` has the ETFs' and stocks' own). With
``stock_dividends: trailing_yield`` the engine credits it, every session, the dividend a
total-return index reinvests: the previous close times the trailing 12-month dividend yield
times the calendar days since that close over 365. Those per-session amounts enter the engine as
ex-dividend amounts (:func:`engine.portfolio.matrices`: a lot holding the stock over the session's
open receives shares × amount), so the stock leg earns the total return
``(S_t + D_t) / S_{t-1}`` of S&P Dow Jones Indices' total-return definition.

Sources: S&P Dow Jones Indices, *Index Mathematics Methodology* (2023), "Total Return Indices":
``TR_t = TR_{t-1} × (S_t + D_t) / S_{t-1}`` with ``D_t`` the index dividend points going ex on
day t; Cboe, *Description of the CBOE S&P 500 BuyWrite Index (BXM)* (2010-11-19): the BXM's
stock portfolio is the S&P 500 with dividends reinvested, i.e. that total-return index. The
yield is a proxy: ``marts.fct_modeled_chain_inputs.dividend_yield`` (SPY's trailing 12-month
distributions over its close, for SPX; the yield the modeled chain's forwards use), spread
evenly over the calendar where the index's own dividends go ex in clusters.
"""

from __future__ import annotations

import polars as pl

#: Calendar days per year of the accrual (the yield is a trailing 12-month amount over a price).
DAYS_PER_YEAR = 365.0


def yield_accruals(underlying: pl.LazyFrame, yields: pl.LazyFrame) -> pl.LazyFrame:
    """Per session, the dividend points a total-return index accrues at a dividend yield.

    Parameters
    ----------
    underlying
        One row per session: ``trade_date`` (Date), ``close`` (index points, raw).
    yields
        One row per session: ``quote_date`` (Date), ``dividend_yield`` (decimal per year, e.g.
        0.019; the yield known at that session's close).

    Returns
    -------
    pl.LazyFrame
        ``ex_date, dividend_usd``: one row per session after the first with a close and a yield
        on the session before it: ``close_{t-1} × dividend_yield_{t-1} × days(t-1, t) / 365``
        (index points per index unit, the unit of ``marts.fct_dividends.dividend_usd`` per
        share). Sessions whose previous session has no yield get no row (nothing accrues).

    Raises
    ------
    ValueError
        A negative or non-finite yield, or a yield above 1 (a percent where a decimal is
        expected), naming the date and value; a session with two yields.

    Examples
    --------
    >>> import datetime as dt
    >>> days = [dt.date(2024, 1, 5), dt.date(2024, 1, 8)]
    >>> under = pl.LazyFrame({"trade_date": days, "close": [4000.0, 4010.0]})
    >>> q = pl.LazyFrame({"quote_date": days, "dividend_yield": [0.0365, 0.0365]})
    >>> yield_accruals(under, q).collect()  # 4000 * 0.0365 * 3 / 365 = 1.2 points
    shape: (1, 2)
    ┌────────────┬──────────────┐
    │ ex_date    ┆ dividend_usd │
    │ ---        ┆ ---          │
    │ date       ┆ f64          │
    ╞════════════╪══════════════╡
    │ 2024-01-08 ┆ 1.2          │
    └────────────┴──────────────┘
    """
    q = yields.select("quote_date", pl.col("dividend_yield").cast(pl.Float64))
    bad = (
        q.filter(
            ~pl.col("dividend_yield").is_finite()
            | (pl.col("dividend_yield") < 0)
            | (pl.col("dividend_yield") > 1)
        )
        .sort("quote_date")
        .head(1)
        .collect()
    )
    repeated = q.group_by("quote_date").len().filter(pl.col("len") > 1).head(1).collect()
    if repeated.height:
        raise ValueError(
            f"dividend yields repeat quote_date {repeated['quote_date'][0]}: one yield per "
            "session expected"
        )
    if bad.height:
        day, value = bad.row(0)
        raise ValueError(
            f"dividend_yield must be a decimal in [0, 1], got {value!r} on {day} "
            "(marts.fct_modeled_chain_inputs)"
        )
    return (
        underlying.select("trade_date", pl.col("close").cast(pl.Float64))
        .filter(pl.col("close").is_not_null())
        .join(q, left_on="trade_date", right_on="quote_date", how="left")
        .sort("trade_date")
        .select(
            pl.col("trade_date").alias("ex_date"),
            (
                pl.col("close").shift(1)
                * pl.col("dividend_yield").shift(1)
                * (pl.col("trade_date") - pl.col("trade_date").shift(1)).dt.total_days()
                / DAYS_PER_YEAR
            ).alias("dividend_usd"),
        )
        .filter(pl.col("dividend_usd").is_not_null())
    )
