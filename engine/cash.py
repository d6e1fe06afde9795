"""The cash account: idle cash, premiums and collateral earning the 1-month Treasury bill rate.

With ``cash_interest: tbill_1m`` (:class:`engine.config.BacktestConfig`) the run's cash earns, from
each session to the next, the previous session's 1-month T-bill rate as simple interest over the
calendar days between them (actual/365), compounded session by session:

    G_0 = 1,    G_t = G_{t-1} × (1 + r_{t-1} × (d_t − d_{t-1}) / 365)

where ``d_t`` is session t's date and ``r_t`` the rate known at its close (decimal). ``G`` is the
growth of one dollar held from the first session. The account is LINEAR in its cash flows: a flow
``c`` paid at session s (a premium received, a debit paid, a dividend, a fee) is worth
``c × G_t / G_s`` at session t, and the initial capital ``initial × G_t``. A cumulative per-lot cash
array ``C[..., t]`` therefore grows to ``G_t × Σ_{s ≤ t} (C_s − C_{s−1}) / G_s`` (:func:`grow`),
which keeps the engine's sizing vectorized over lots (:mod:`engine.portfolio`). A negative balance
(a debit spread or stock paid beyond the cash) is charged the same rate: no borrowing spread.

The rate
--------
``marts.fct_underlying_daily.rate_1m``: FRED series DGS1MO, the 1-month Treasury constant-maturity
yield as the Federal Reserve's H.15 release publishes it (a bond-equivalent yield, in percent
there, a decimal here), as of the session's close (the latest observation on or before it). DGS1MO
starts on 2001-07-31: a session without it earns ``rate_3m`` (DGS3MO) instead, and the run names
those sessions ``tbill_3m_fallback`` in ``backtest.runs.approximations``; a session without
either is refused with its date.

Sources and approximation
-------------------------
Cboe, *Methodology of the CBOE S&P 500 PutWrite Index (PUT)* (2014), and Cboe, *Sources of CBOE
PutWrite Index Returns*: the PUT portfolio's collateral is held in one- and three-month Treasury
bills, bought at each roll date and reinvested on the next, the premiums with them; the CNDR and
BFLY indices hold Treasury bills the same way. This module approximates those bills by one account
compounding the 1-month constant-maturity yield daily (simple interest actual/365 between
sessions, the money-market convention of the bill's bond-equivalent yield) instead of holding
discount bills of fixed maturity to the next roll: the approximation is named ``tbill_1m`` in the
run's approximations.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.schema import UNDERLYING_RATE_COLUMNS

#: Calendar days per year of the accrual (actual/365).
DAYS_PER_YEAR = 365.0
#: ``marts.fct_underlying_daily`` columns the account reads (decimal yields, as of the close).
RATE_COLUMNS: tuple[str, ...] = UNDERLYING_RATE_COLUMNS
#: Plausible range of a decimal T-bill yield (the dbt contract's range of ``rate_3m``): a value
#: outside it is most likely a percent where a decimal is expected.
RATE_RANGE = (-0.05, 0.25)
#: How a session's rate was obtained (``backtest.runs.approximations``, clause ``cash_interest``).
METHOD_1M = "tbill_1m"
METHOD_3M_FALLBACK = "tbill_3m_fallback"


def session_rates(calendar: pl.DataFrame, underlying: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """The account's rate and growth on every session of the run.

    Parameters
    ----------
    calendar
        The run's sessions (:func:`engine.sessions.session_calendar`): one row per session,
        ``quote_date`` (Date), in any order.
    underlying
        ``marts.fct_underlying_daily`` of the underlying: one row per ``trade_date`` with
        ``rate_1m`` and ``rate_3m`` (decimal yields as of that close; NULL where unpublished).

    Returns
    -------
    pl.DataFrame
        One row per session, sorted by ``quote_date``: ``rate`` (decimal per year, the rate the
        balance earns from this session to the next: ``rate_1m``, else ``rate_3m``),
        ``cash_interest_method`` (``tbill_1m`` | ``tbill_3m_fallback``; NULL on the last session,
        whose rate accrues nothing), ``accrual`` (``r_{t-1} × (d_t − d_{t-1}) / 365``, the
        interest per dollar held at the previous session; 0 on the first) and ``growth``
        (``G_t``, 1.0 on the first session).

    Raises
    ------
    ValueError
        A session before the last without ``rate_1m`` and ``rate_3m`` (no underlying row, or
        both NULL), naming the first such date; a rate outside :data:`RATE_RANGE` (a percent
        where a decimal is expected) or not finite, naming the date, the column and the value.

    Examples
    --------
    >>> import datetime as dt
    >>> days = [dt.date(2024, 1, 5), dt.date(2024, 1, 8), dt.date(2024, 1, 9)]
    >>> cal = pl.DataFrame({"quote_date": days})
    >>> under = pl.DataFrame({"trade_date": days, "rate_1m": [0.0365] * 3, "rate_3m": [0.04] * 3})
    >>> # Fri -> Mon: 1 + 0.0365 × 3 / 365 = 1.0003; Mon -> Tue: 1.0003 × 1.0001 = 1.00040003
    >>> session_rates(cal, under)["growth"].to_list()
    [1.0, 1.0003, 1.00040003]
    """
    rates = underlying.lazy().select(
        "trade_date", *(pl.col(c).cast(pl.Float64) for c in RATE_COLUMNS)
    )
    days = (
        calendar.lazy()
        .select("quote_date")
        .join(rates, left_on="quote_date", right_on="trade_date", how="left")
        .sort("quote_date")
        .collect()
    )
    low, high = RATE_RANGE
    for column in RATE_COLUMNS:
        value = pl.col(column)
        out_of_range = ~value.is_finite() | (value < low) | (value > high)
        bad = days.filter(value.is_not_null() & out_of_range)
        if bad.height:
            day, rate = bad["quote_date"][0], bad[column][0]
            raise ValueError(
                f"{column} must be a decimal yield in [{low}, {high}], got {rate!r} on {day} "
                "(marts.fct_underlying_daily; FRED publishes percent, the mart decimals)"
            )
    accruing = pl.int_range(pl.len()) < pl.len() - 1  # the last session's rate earns nothing
    missing = days.filter(accruing & pl.col("rate_1m").is_null() & pl.col("rate_3m").is_null())
    if missing.height:
        raise ValueError(
            f"cash_interest 'tbill_1m' needs a T-bill rate on every session of the run: none "
            f"(rate_1m or rate_3m of marts.fct_underlying_daily) on {missing['quote_date'][0]}"
            + (f" and {missing.height - 1} later session(s)" if missing.height > 1 else "")
        )
    out = days.select(
        "quote_date",
        pl.coalesce("rate_1m", "rate_3m").alias("rate"),
        pl.when(~accruing)
        .then(None)
        .when(pl.col("rate_1m").is_not_null())
        .then(pl.lit(METHOD_1M))
        .otherwise(pl.lit(METHOD_3M_FALLBACK))
        .alias("cash_interest_method"),
        (
            pl.coalesce("rate_1m", "rate_3m").shift(1)
            * (pl.col("quote_date") - pl.col("quote_date").shift(1)).dt.total_days()
            / DAYS_PER_YEAR
        )
        .fill_null(0.0)
        .alias("accrual"),
    )
    return out.with_columns(pl.Series("growth", np.cumprod(1.0 + out["accrual"].to_numpy())))


def grow(cumulative: np.ndarray, growth: np.ndarray) -> np.ndarray:
    """Cumulative cash flows with the interest each flow earned since the session it was paid.

    Parameters
    ----------
    cumulative
        ``(..., n_days)``: cash received to date (USD, negative when paid), e.g. per config, lot
        and session.
    growth
        ``(n_days,)``: the account's growth ``G_t`` (:func:`session_rates`), ``G_0 = 1``.

    Returns
    -------
    np.ndarray
        Same shape: ``G_t × cumsum((C_t − C_{t−1}) / G_t)`` along the last axis (``C_{−1} = 0``):
        every flow ``c`` of session s worth ``c × G_t / G_s`` at t. Linear in ``cumulative``.

    Examples
    --------
    >>> g = np.array([1.0, 1.001, 1.002001])
    >>> grow(np.array([100.0, 100.0, 150.0]), g).round(6).tolist()  # 100 grows; 50 from day 2
    [100.0, 100.1, 150.2001]
    """
    flows = np.diff(cumulative, axis=-1, prepend=0.0)
    return growth * np.cumsum(flows / growth, axis=-1)


def interest_earned(cash: np.ndarray, accrual: np.ndarray) -> np.ndarray:
    """Interest the account earned on each session, USD.

    Parameters
    ----------
    cash
        ``(n_days,)``: the account's balance at each session's end (USD), interest included.
    accrual
        ``(n_days,)``: :func:`session_rates`'s ``accrual`` (0 on the first session).

    Returns
    -------
    np.ndarray
        ``(n_days,)``: ``cash_{t−1} × accrual_t`` (0 on the first session), which is the balance's
        change less the session's flows: ``G_t/G_{t−1} − 1 = accrual_t``.
    """
    previous = np.concatenate([[0.0], cash[:-1]])
    return previous * accrual


def approximation(rates: pl.DataFrame) -> str:
    """The run's ``cash_interest`` clause of ``backtest.runs.approximations``: the accruing
    sessions counted by how their rate was obtained, then what the account is, e.g.
    ``cash_interest: tbill_1m × 54, tbill_3m_fallback × 2 (the account earns …; DGS3MO stood in
    for DGS1MO on 2001-07-27, 2001-07-30)``, the fallback's dates listed up to 5."""
    used = rates.filter(pl.col("cash_interest_method").is_not_null())
    n_1m = used.filter(pl.col("cash_interest_method") == METHOD_1M).height
    fallback = used.filter(pl.col("cash_interest_method") == METHOD_3M_FALLBACK)["quote_date"]
    counts = f"{METHOD_1M} × {n_1m}"
    if fallback.len():
        counts += f", {METHOD_3M_FALLBACK} × {fallback.len()}"
    clause = (
        f"cash_interest: {counts} (the cash account earns the previous session's 1-month T-bill "
        "yield, FRED DGS1MO, simple actual/365 compounded each session: an approximation of "
        "Cboe's 1- and 3-month T-bills reinvested on roll dates"
    )
    if fallback.len():
        shown = ", ".join(map(str, fallback.head(5).to_list()))
        clause += f"; DGS3MO stood in for DGS1MO on {shown}" + (", …" if fallback.len() > 5 else "")
    return clause + ")"
