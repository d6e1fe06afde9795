"""Long ATM straddle backtest, entries gated by an ML direction forecast: pure Polars stages.

Every stage is ``LazyFrame -> LazyFrame`` (other frames it joins come as keyword arguments);
:func:`run_backtest` chains them with ``.pipe`` and collects once (``pl.collect_all``). No I/O
here: :mod:`engine.io` reads the marts and writes the results.

The trade, step by step (``cfg`` is a :class:`engine.config.StraddleConfig`):

1. **Entry days**: trading days whose forecast passes ``entry_threshold`` (at most one entry per
   day; positions may overlap). The forecast ``as_of_date`` is assumed known at that day's close,
   when the end-of-day quotes are taken.
2. **Contract choice**: among expirations of ``option_roots`` with ``min_dte <= dte <= max_dte``
   that have at least one strike whose call *and* put are in the universe with ``bid > 0`` and
   ``ask > 0``, the one with ``dte`` nearest ``target_dte`` (tie: shorter dte, then the root listed
   first); then the strike nearest the underlying price (tie: lower strike).
3. **Exit**: the trading day ``holding_days`` after entry. If the expiration comes first
   (``expiration <=`` that day, or the data ends before that day but not before the expiration),
   the straddle is cash-settled at intrinsic ``|close - strike|`` against the underlying close on
   the expiration date. This is exact for PM-settled weeklies (SPXW); for AM-settled monthlies
   (SPX) the exchange settles on the opening Special Opening Quotation, which is not in the data,
   so the close is a proxy (``settlement_method='intrinsic_am_proxy_close'``). If a leg has no quote
   on the exit day, the next day with both legs quoted before expiration is used. If the data ends
   first, the trade is liquidated at the last day with both legs quoted (``'end_of_data'``, priced
   like a traded exit).
4. **Prices** (per straddle, index points): ``entry_price = (mid_call + mid_put) * (1 + s)``,
   traded ``exit_price = (mid_call + mid_put) * (1 - s)`` with ``s = slippage_bps / 1e4``;
   at expiration ``exit_price = |close - strike|`` (no slippage, no commission).
   ``pnl_usd = (exit_price - entry_price) * multiplier * contracts - commission_usd``.
5. **Equity**: cash plus open positions marked at mid (no slippage), forward-filling a missing leg
   mark within a trade. A settlement on a day missing from the calendar (the vendor skipped
   2019-05-10, 05-17, 06-14, 06-17 and 06-18) is booked on the next trading day.

The trading calendar is the distinct ``quote_date``s of the daily quotes of the underlying.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from engine import metrics as m
from engine.config import StraddleConfig
from engine.schema import (
    EQUITY_SCHEMA,
    FORECAST_COLUMNS,
    METRICS_SCHEMA,
    QUOTE_COLUMNS,
    RUNS_SCHEMA,
    TRADES_SCHEMA,
    UNDERLYING_COLUMNS,
    UNIVERSE_COLUMNS,
    conform,
    require_columns,
)

LEG_KEYS = ("quote_date", "option_root", "expiration", "strike")


@dataclasses.dataclass(frozen=True)
class BacktestResult:
    """Everything one run writes; every frame carries ``run_id`` and is sorted by its key.

    Attributes
    ----------
    run_id
        :attr:`StraddleConfig.run_id`.
    runs
        One row: ``engine.schema.RUNS_SCHEMA``.
    trades
        One row per trade, ``trade_id`` 1..n by ``entry_date``: ``engine.schema.TRADES_SCHEMA``.
    equity_daily
        One row per trading day of the equity window: ``engine.schema.EQUITY_SCHEMA``.
    metrics
        One row: ``engine.schema.METRICS_SCHEMA``.
    """

    run_id: str
    runs: pl.DataFrame
    trades: pl.DataFrame
    equity_daily: pl.DataFrame
    metrics: pl.DataFrame


# --- inputs ---------------------------------------------------------------------------------------


def leg_quotes(quotes: pl.LazyFrame, cfg: StraddleConfig) -> pl.LazyFrame:
    """Quoted marks of the underlying's contracts.

    Parameters
    ----------
    quotes
        ``marts.fct_option_quotes_daily``, one row per contract per quote_date; needs
        ``contract_symbol, underlying_symbol, quote_date, mid`` (mid in index points).

    Returns
    -------
    pl.LazyFrame
        ``contract_symbol, quote_date, mid``; rows with a null or non-finite mid are not quotes.
    """
    return quotes.filter(
        pl.col("underlying_symbol") == cfg.underlying_symbol,
        pl.col("mid").is_not_null(),
        pl.col("mid").is_finite(),
    ).select("contract_symbol", "quote_date", pl.col("mid").cast(pl.Float64))


def trading_calendar(quotes: pl.LazyFrame, cfg: StraddleConfig) -> pl.LazyFrame:
    """Trading days: the distinct ``quote_date``s of the underlying's daily quotes.

    Returns
    -------
    pl.LazyFrame
        ``quote_date, day_index`` (Int64, 0-based, consecutive over the days present), sorted.
        Days the vendor skipped are absent, so "N trading days later" means N rows later.

    Examples
    --------
    >>> import datetime as dt
    >>> from engine.config import StraddleConfig
    >>> cfg = StraddleConfig(underlying_symbol="SPX", forecast_model="m")
    >>> days = [dt.date(2019, 5, 16), dt.date(2019, 5, 9), dt.date(2019, 5, 13)]  # 05-10 skipped
    >>> quotes = pl.LazyFrame({"underlying_symbol": ["SPX"] * 3, "quote_date": days})
    >>> quotes.pipe(trading_calendar, cfg).collect()
    shape: (3, 2)
    ┌────────────┬───────────┐
    │ quote_date ┆ day_index │
    │ ---        ┆ ---       │
    │ date       ┆ i64       │
    ╞════════════╪═══════════╡
    │ 2019-05-09 ┆ 0         │
    │ 2019-05-13 ┆ 1         │
    │ 2019-05-16 ┆ 2         │
    └────────────┴───────────┘
    """
    return (
        quotes.filter(pl.col("underlying_symbol") == cfg.underlying_symbol)
        .select(pl.col("quote_date").unique())
        .sort("quote_date")
        .with_row_index("day_index")
        .select("quote_date", pl.col("day_index").cast(pl.Int64))
    )


def model_forecasts(forecasts: pl.LazyFrame, cfg: StraddleConfig) -> pl.LazyFrame:
    """Forecasts of ``cfg.forecast_model`` (and version, when set) for the underlying.

    Parameters
    ----------
    forecasts
        ``ml.predictions``; needs ``model_name, model_version, underlying_symbol, as_of_date,
        prob_up`` (decimal probability that the underlying is up over the model's horizon).

    Returns
    -------
    pl.LazyFrame
        ``as_of_date, prob_up, model_version``; expected one row per ``as_of_date``
        (:func:`run_backtest` raises otherwise).
    """
    lf = forecasts.filter(
        pl.col("model_name") == cfg.forecast_model,
        pl.col("underlying_symbol") == cfg.underlying_symbol,
    )
    if cfg.forecast_model_version is not None:
        lf = lf.filter(pl.col("model_version") == cfg.forecast_model_version)
    return lf.select("as_of_date", pl.col("prob_up").cast(pl.Float64), "model_version")


def entry_days(
    signals: pl.LazyFrame, cfg: StraddleConfig, *, calendar: pl.LazyFrame
) -> pl.LazyFrame:
    """Trading days whose forecast passes the entry threshold.

    Parameters
    ----------
    signals
        Output of :func:`model_forecasts`.
    calendar
        Output of :func:`trading_calendar`; forecasts on other days are ignored.

    Returns
    -------
    pl.LazyFrame
        ``entry_date, entry_day_index, entry_prob_up``, one row per entry day. A null
        ``prob_up`` never passes.
    """
    threshold = cfg.entry_threshold
    passes = (
        pl.col("prob_up") >= threshold
        if cfg.entry_signal == "prob_up_at_least"
        else pl.col("prob_up") <= threshold
    )
    return (
        signals.filter(passes)
        .join(calendar, left_on="as_of_date", right_on="quote_date", how="inner")
        .select(
            pl.col("as_of_date").alias("entry_date"),
            pl.col("day_index").alias("entry_day_index"),
            pl.col("prob_up").alias("entry_prob_up"),
        )
    )


def straddle_candidates(universe: pl.LazyFrame, cfg: StraddleConfig) -> pl.LazyFrame:
    """Strikes whose call and put are both tradable in the universe on a quote_date.

    Parameters
    ----------
    universe
        ``marts.fct_option_quotes_universe``, one row per contract per quote_date; needs
        ``engine.schema.UNIVERSE_COLUMNS``. Legs need ``bid > 0``, ``ask > 0``, ``mid > 0``,
        a root in ``cfg.option_roots`` and ``min_dte <= dte <= max_dte`` (calendar days).

    Returns
    -------
    pl.LazyFrame
        One row per ``(quote_date, option_root, expiration, strike)`` with
        ``contract_symbol_call/_put, entry_mid_call/_put, settlement_type, dte,
        entry_underlying_price`` (mean of the legs' snapshots, index points).
    """
    legs = universe.filter(
        pl.col("underlying_symbol") == cfg.underlying_symbol,
        pl.col("option_root").is_in(list(cfg.option_roots)),
        pl.col("dte").is_between(cfg.min_dte, cfg.max_dte),
        pl.col("bid") > 0,
        pl.col("ask") > 0,
        pl.col("mid") > 0,
        pl.col("underlying_price").is_not_null(),
    ).with_columns(pl.col("strike").cast(pl.Float64))
    calls = legs.filter(pl.col("option_type") == "call").select(
        *LEG_KEYS,
        "settlement_type",
        pl.col("dte").cast(pl.Int64),
        pl.col("contract_symbol").alias("contract_symbol_call"),
        pl.col("mid").cast(pl.Float64).alias("entry_mid_call"),
        pl.col("underlying_price").cast(pl.Float64).alias("underlying_price_call"),
    )
    puts = legs.filter(pl.col("option_type") == "put").select(
        *LEG_KEYS,
        pl.col("contract_symbol").alias("contract_symbol_put"),
        pl.col("mid").cast(pl.Float64).alias("entry_mid_put"),
        pl.col("underlying_price").cast(pl.Float64).alias("underlying_price_put"),
    )
    return (
        calls.join(puts, on=list(LEG_KEYS), how="inner")
        .with_columns(
            ((pl.col("underlying_price_call") + pl.col("underlying_price_put")) / 2).alias(
                "entry_underlying_price"
            )
        )
        .drop("underlying_price_call", "underlying_price_put")
    )


def select_atm_straddles(candidates: pl.LazyFrame, cfg: StraddleConfig) -> pl.LazyFrame:
    """One straddle per quote_date: expiration nearest ``target_dte``, then the ATM strike.

    Ties: nearest dte -> shorter dte -> root listed first in ``cfg.option_roots``; then
    smallest ``|strike - entry_underlying_price|`` -> lower strike. Each tie-break is a filter on
    a window minimum, so the choice does not depend on row order.

    Parameters
    ----------
    candidates
        Output of :func:`straddle_candidates`.

    Returns
    -------
    pl.LazyFrame
        The same columns, one row per ``quote_date``.
    """
    root_rank = {root: rank for rank, root in enumerate(cfg.option_roots)}
    lf = candidates.with_columns(
        (pl.col("dte") - cfg.target_dte).abs().alias("_dte_distance"),
        pl.col("option_root").replace_strict(root_rank, return_dtype=pl.Int64).alias("_root_rank"),
        (pl.col("strike") - pl.col("entry_underlying_price")).abs().alias("_strike_distance"),
    )
    for key in ("_dte_distance", "dte", "_root_rank", "expiration", "_strike_distance", "strike"):
        lf = lf.filter(pl.col(key) == pl.col(key).min().over("quote_date"))
    return lf.drop("_dte_distance", "_root_rank", "_strike_distance")


def open_trades(
    straddles: pl.LazyFrame,
    cfg: StraddleConfig,
    *,
    entries: pl.LazyFrame,
    calendar: pl.LazyFrame,
) -> pl.LazyFrame:
    """Join entry days to their straddle and schedule the holding-period exit.

    Parameters
    ----------
    straddles
        Output of :func:`select_atm_straddles`.
    entries
        Output of :func:`entry_days`.
    calendar
        Output of :func:`trading_calendar`.

    Returns
    -------
    pl.LazyFrame
        One row per trade: ``trade_id`` (1..n by ``entry_date``), ``entry_date``,
        ``entry_day_index``, ``target_exit_date`` (null when the data ends sooner), and the
        straddle's columns. Entry days without any eligible straddle open no trade.
    """
    target = calendar.select(
        (pl.col("day_index") - cfg.holding_days).alias("entry_day_index"),
        pl.col("quote_date").alias("target_exit_date"),
    )
    return (
        entries.join(straddles.rename({"quote_date": "entry_date"}), on="entry_date", how="inner")
        .join(target, on="entry_day_index", how="left")
        .sort("entry_date")
        .with_row_index("trade_id", offset=1)
        .with_columns(pl.col("trade_id").cast(pl.Int64))
    )


def _both_legs_quoted(trades: pl.LazyFrame, legs: pl.LazyFrame) -> pl.LazyFrame:
    """``trade_id, quote_date, mid_call, mid_put`` on days from entry where both legs quote."""
    calls = legs.rename({"contract_symbol": "contract_symbol_call", "mid": "mid_call"})
    puts = legs.rename({"contract_symbol": "contract_symbol_put", "mid": "mid_put"})
    return (
        trades.select("trade_id", "entry_date", "contract_symbol_call", "contract_symbol_put")
        .join(calls, on="contract_symbol_call", how="inner")
        .join(puts, on=["contract_symbol_put", "quote_date"], how="inner")
        .filter(pl.col("quote_date") >= pl.col("entry_date"))
        .select("trade_id", "quote_date", "mid_call", "mid_put")
    )


def resolve_exits(
    trades: pl.LazyFrame,
    cfg: StraddleConfig,
    *,
    legs: pl.LazyFrame,
    underlying: pl.LazyFrame,
    calendar: pl.LazyFrame,
) -> pl.LazyFrame:
    """Decide each trade's exit: holding period, expiration, or end of data.

    Parameters
    ----------
    trades
        Output of :func:`open_trades`.
    legs
        Output of :func:`leg_quotes` (all quotes, so a leg that left the universe still marks).
    underlying
        ``marts.fct_underlying_daily``; needs ``underlying_symbol, trade_date, close`` (official
        close, index points), one row per symbol per trade_date.
    calendar
        Output of :func:`trading_calendar`.

    Returns
    -------
    pl.LazyFrame
        Adds ``exit_reason`` (``'holding_period' | 'expiration' | 'end_of_data'``),
        ``exit_date`` (the expiration date itself for an expiry, even when the vendor skipped
        it), ``exit_mid_call/_put`` (null at expiry), ``exit_underlying_close`` (expiry only;
        null when the close is missing, which :func:`run_backtest` rejects),
        ``settlement_method``, ``booking_date`` (first trading day on or after ``exit_date``: when
        the cash arrives) and ``holding_days_actual`` (trading days after entry up to and
        including ``exit_date``).
    """
    both = _both_legs_quoted(trades, legs)
    traded = (
        both.join(trades.select("trade_id", "target_exit_date", "expiration"), on="trade_id")
        .filter(
            pl.col("quote_date") >= pl.col("target_exit_date"),
            pl.col("quote_date") < pl.col("expiration"),
        )
        .filter(pl.col("quote_date") == pl.col("quote_date").min().over("trade_id"))
        .select(
            "trade_id",
            pl.col("quote_date").alias("traded_exit_date"),
            pl.col("mid_call").alias("traded_mid_call"),
            pl.col("mid_put").alias("traded_mid_put"),
        )
    )
    last_quoted = both.filter(
        pl.col("quote_date") == pl.col("quote_date").max().over("trade_id")
    ).select(
        "trade_id",
        pl.col("quote_date").alias("last_quoted_date"),
        pl.col("mid_call").alias("last_mid_call"),
        pl.col("mid_put").alias("last_mid_put"),
    )
    closes = underlying.filter(pl.col("underlying_symbol") == cfg.underlying_symbol).select(
        pl.col("trade_date").alias("expiration"),
        pl.col("close").cast(pl.Float64).alias("settlement_close"),
    )
    last_data_date = calendar.select(pl.col("quote_date").max().alias("last_data_date"))

    is_expiry = (pl.col("expiration") <= pl.coalesce("target_exit_date", "last_data_date")) | (
        pl.col("traded_exit_date").is_null() & (pl.col("expiration") <= pl.col("last_data_date"))
    )
    reason = pl.col("exit_reason")
    held = reason == "holding_period"
    eod = reason == "end_of_data"
    expiry = reason == "expiration"
    cal = calendar.sort("quote_date")

    return (
        trades.join(traded, on="trade_id", how="left")
        .join(last_quoted, on="trade_id", how="left")
        .join(closes, on="expiration", how="left")
        .join(last_data_date, how="cross")
        .with_columns(
            pl.when(is_expiry)
            .then(pl.lit("expiration"))
            .when(pl.col("traded_exit_date").is_not_null())
            .then(pl.lit("holding_period"))
            .otherwise(pl.lit("end_of_data"))
            .alias("exit_reason")
        )
        .with_columns(
            pl.when(expiry)
            .then(pl.col("expiration"))
            .when(held)
            .then(pl.col("traded_exit_date"))
            .otherwise(pl.coalesce("last_quoted_date", "entry_date"))
            .alias("exit_date"),
            pl.when(held)
            .then(pl.col("traded_mid_call"))
            .when(eod)
            .then(pl.coalesce("last_mid_call", "entry_mid_call"))
            .alias("exit_mid_call"),
            pl.when(held)
            .then(pl.col("traded_mid_put"))
            .when(eod)
            .then(pl.coalesce("last_mid_put", "entry_mid_put"))
            .alias("exit_mid_put"),
            pl.when(expiry).then(pl.col("settlement_close")).alias("exit_underlying_close"),
            pl.when(~expiry)
            .then(pl.lit("mid"))
            .when(pl.col("settlement_type") == "PM")
            .then(pl.lit("intrinsic_pm_close"))
            .when(pl.col("settlement_type") == "AM")
            .then(pl.lit("intrinsic_am_proxy_close"))
            .alias("settlement_method"),
        )
        .sort("exit_date")
        .join_asof(
            cal.select(pl.col("quote_date").alias("booking_date")),
            left_on="exit_date",
            right_on="booking_date",
            strategy="forward",
        )
        .join_asof(
            cal.select(
                pl.col("quote_date").alias("_exit_calendar_date"),
                pl.col("day_index").alias("_exit_day_index"),
            ),
            left_on="exit_date",
            right_on="_exit_calendar_date",
            strategy="backward",
        )
        .with_columns(
            (pl.col("_exit_day_index") - pl.col("entry_day_index")).alias("holding_days_actual")
        )
        .drop(
            "traded_exit_date",
            "traded_mid_call",
            "traded_mid_put",
            "last_quoted_date",
            "last_mid_call",
            "last_mid_put",
            "settlement_close",
            "last_data_date",
            "_exit_calendar_date",
            "_exit_day_index",
        )
    )


def price_trades(trades: pl.LazyFrame, cfg: StraddleConfig) -> pl.LazyFrame:
    """Entry and exit prices, commissions and P&L of each trade.

    Parameters
    ----------
    trades
        Output of :func:`resolve_exits`.

    Returns
    -------
    pl.LazyFrame
        Adds ``entry_price``, ``exit_price`` (index points per straddle), ``commission_usd``
        (``commission_entry_usd + commission_exit_usd``), ``pnl_usd`` and ``trade_return``
        (decimal, ``pnl_usd / (entry_price * multiplier * contracts)``).

    Notes
    -----
    ``commission_entry_usd = commission_per_contract * contracts * 2`` legs; the same again at a
    traded exit (``holding_period``, ``end_of_data``); nothing at cash settlement.
    """
    slip = cfg.slippage_bps / 1e4
    notional = float(cfg.multiplier * cfg.contracts)
    per_side = cfg.commission_per_contract * cfg.contracts * 2
    expiry = pl.col("exit_reason") == "expiration"
    return (
        trades.with_columns(
            ((pl.col("entry_mid_call") + pl.col("entry_mid_put")) * (1 + slip)).alias(
                "entry_price"
            ),
            pl.when(expiry)
            .then((pl.col("exit_underlying_close") - pl.col("strike")).abs())
            .otherwise((pl.col("exit_mid_call") + pl.col("exit_mid_put")) * (1 - slip))
            .alias("exit_price"),
            pl.lit(per_side, dtype=pl.Float64).alias("commission_entry_usd"),
            pl.when(expiry).then(0.0).otherwise(per_side).alias("commission_exit_usd"),
            pl.lit(cfg.contracts, dtype=pl.Int64).alias("contracts"),
            pl.lit(cfg.underlying_symbol).alias("underlying_symbol"),
        )
        .with_columns(
            (pl.col("commission_entry_usd") + pl.col("commission_exit_usd")).alias("commission_usd")
        )
        .with_columns(
            (
                (pl.col("exit_price") - pl.col("entry_price")) * notional - pl.col("commission_usd")
            ).alias("pnl_usd")
        )
        .with_columns(
            (pl.col("pnl_usd") / (pl.col("entry_price") * notional)).alias("trade_return")
        )
        .sort("trade_id")
    )


# --- equity ---------------------------------------------------------------------------------------


def equity_window(
    calendar: pl.LazyFrame,
    cfg: StraddleConfig,
    *,
    signals: pl.LazyFrame,
    trades: pl.LazyFrame,
) -> pl.LazyFrame:
    """First and last trading day of the equity curve (one row: ``first_date, last_date``).

    ``equity_window='data'``: the whole calendar. ``'forecast'``: from the first trading day on or
    after the first forecast to the later of the last trading day on or before the last forecast
    and the last cash settlement, so the curve covers the strategy's live period and its unwind
    without flat days that would dilute the ratios.
    """
    if cfg.equity_window == "data":
        return calendar.select(
            pl.col("quote_date").min().alias("first_date"),
            pl.col("quote_date").max().alias("last_date"),
        )
    bounds = signals.select(
        pl.col("as_of_date").min().alias("_first_forecast"),
        pl.col("as_of_date").max().alias("_last_forecast"),
    )
    qd = pl.col("quote_date")
    return (
        calendar.join(bounds, how="cross")
        .select(
            qd.filter(qd >= pl.col("_first_forecast")).min().alias("first_date"),
            qd.filter(qd <= pl.col("_last_forecast")).max().alias("_last_forecast_day"),
        )
        .join(trades.select(pl.col("booking_date").max().alias("_last_booking")), how="cross")
        .select(
            "first_date",
            pl.max_horizontal("_last_forecast_day", "_last_booking").alias("last_date"),
        )
    )


def daily_equity(
    trades: pl.LazyFrame,
    cfg: StraddleConfig,
    *,
    legs: pl.LazyFrame,
    calendar: pl.LazyFrame,
    window: pl.LazyFrame,
) -> pl.LazyFrame:
    """Daily cash, mark-to-market positions and equity over the window, USD.

    Parameters
    ----------
    trades
        Output of :func:`price_trades`.
    legs
        Output of :func:`leg_quotes`.
    calendar
        Output of :func:`trading_calendar`.
    window
        Output of :func:`equity_window`.

    Returns
    -------
    pl.LazyFrame
        One row per trading day in the window, sorted: ``quote_date``, ``cash_usd``
        (``initial_capital`` + cumulative entry debits incl. commission, booked on
        ``entry_date``, and exit credits net of commission, booked on ``booking_date``),
        ``positions_value_usd`` (open at that close, ``entry_date <= day < booking_date``,
        marked at ``mid_call + mid_put`` without slippage, a missing leg mark forward-filled
        within the trade), ``equity_usd = cash_usd + positions_value_usd``, ``daily_return``
        (decimal; the first day's is against ``initial_capital``), ``drawdown`` (decimal, ``<= 0``,
        ``equity / max(initial_capital, running max equity) - 1``) and ``open_positions``.
    """
    notional = float(cfg.multiplier * cfg.contracts)
    calls = legs.rename({"contract_symbol": "contract_symbol_call", "mid": "mid_call"})
    puts = legs.rename({"contract_symbol": "contract_symbol_put", "mid": "mid_put"})
    is_entry_day = pl.col("quote_date") == pl.col("entry_date")
    positions = (
        trades.select(
            "trade_id",
            "entry_date",
            "booking_date",
            "contract_symbol_call",
            "contract_symbol_put",
            "entry_mid_call",
            "entry_mid_put",
        )
        .join_where(
            calendar.select("quote_date"),
            pl.col("quote_date") >= pl.col("entry_date"),
            pl.col("quote_date") < pl.col("booking_date"),
        )
        .join(calls, on=["contract_symbol_call", "quote_date"], how="left")
        .join(puts, on=["contract_symbol_put", "quote_date"], how="left")
        .with_columns(
            # The entry fill's own mids seed the forward fill (universe and daily quotes agree).
            pl.when(is_entry_day).then("entry_mid_call").otherwise("mid_call").alias("mid_call"),
            pl.when(is_entry_day).then("entry_mid_put").otherwise("mid_put").alias("mid_put"),
        )
        .with_columns(
            pl.col("mid_call").forward_fill().over("trade_id", order_by="quote_date"),
            pl.col("mid_put").forward_fill().over("trade_id", order_by="quote_date"),
        )
        .sort("quote_date", "trade_id")
        .group_by("quote_date", maintain_order=True)
        .agg(
            ((pl.col("mid_call") + pl.col("mid_put")) * notional)
            .sum()
            .alias("positions_value_usd"),
            pl.len().cast(pl.Int64).alias("open_positions"),
        )
    )
    flows = (
        pl.concat(
            [
                trades.select(
                    pl.col("entry_date").alias("quote_date"),
                    "trade_id",
                    (-(pl.col("entry_price") * notional + pl.col("commission_entry_usd"))).alias(
                        "cash_flow_usd"
                    ),
                ),
                trades.select(
                    pl.col("booking_date").alias("quote_date"),
                    "trade_id",
                    (pl.col("exit_price") * notional - pl.col("commission_exit_usd")).alias(
                        "cash_flow_usd"
                    ),
                ),
            ]
        )
        .sort("quote_date", "trade_id", "cash_flow_usd")
        .group_by("quote_date", maintain_order=True)
        .agg(pl.col("cash_flow_usd").sum())
    )
    capital = cfg.initial_capital
    equity = pl.col("equity_usd")
    return (
        calendar.join(window, how="cross")
        .filter(pl.col("quote_date").is_between(pl.col("first_date"), pl.col("last_date")))
        .select("quote_date")
        .join(flows, on="quote_date", how="left")
        .join(positions, on="quote_date", how="left")
        .with_columns(
            pl.col("cash_flow_usd").fill_null(0.0),
            pl.col("positions_value_usd").fill_null(0.0),
            pl.col("open_positions").fill_null(0),
        )
        .sort("quote_date")
        .with_columns((capital + pl.col("cash_flow_usd").cum_sum()).alias("cash_usd"))
        .with_columns((pl.col("cash_usd") + pl.col("positions_value_usd")).alias("equity_usd"))
        .with_columns(
            (equity / equity.shift(1, fill_value=capital) - 1.0).alias("daily_return"),
            (equity / pl.max_horizontal(equity.cum_max(), pl.lit(capital)) - 1.0).alias("drawdown"),
        )
        .drop("cash_flow_usd")
    )


# --- entry point ----------------------------------------------------------------------------------


def _duplicates(lf: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Up to 3 key values that occur more than once (for an error message)."""
    return lf.group_by(keys).len().filter(pl.col("len") > 1).sort(keys).head(3)


def run_backtest(
    quotes: pl.LazyFrame,
    universe: pl.LazyFrame,
    underlying: pl.LazyFrame,
    forecasts: pl.LazyFrame,
    cfg: StraddleConfig,
) -> BacktestResult:
    """Backtest a long ATM straddle gated by a forecast; see the module docstring for the rules.

    Parameters
    ----------
    quotes
        ``marts.fct_option_quotes_daily``: one row per contract per quote_date; needs
        ``engine.schema.QUOTE_COLUMNS``. Its quote_dates are the trading calendar.
    universe
        ``marts.fct_option_quotes_universe``: same grain, the liquid subset; needs
        ``engine.schema.UNIVERSE_COLUMNS`` (``dte`` in calendar days, prices in index points).
    underlying
        ``marts.fct_underlying_daily``: one row per underlying per trade_date; needs
        ``underlying_symbol, trade_date, close``.
    forecasts
        ``ml.predictions``; needs ``engine.schema.FORECAST_COLUMNS``; one row per as_of_date
        for the configured model (and version) and underlying.
    cfg
        Run settings.

    Returns
    -------
    BacktestResult
        Frames conforming to ``engine.schema``, sorted by key; the result does not depend on
        the row order of any input.

    Raises
    ------
    ValueError
        When a frame lacks a required column; when there is no forecast for the model and
        underlying, or several ``model_version``s and none configured; when a key repeats (a
        contract twice on a quote_date, two closes on a day, two forecasts on a day); when an
        expiry settlement has no underlying close or an unknown ``settlement_type``; when the
        forecasts do not overlap the trading calendar.
    """
    require_columns(quotes, QUOTE_COLUMNS, "quotes (marts.fct_option_quotes_daily)")
    require_columns(universe, UNIVERSE_COLUMNS, "universe (marts.fct_option_quotes_universe)")
    require_columns(underlying, UNDERLYING_COLUMNS, "underlying (marts.fct_underlying_daily)")
    require_columns(forecasts, FORECAST_COLUMNS, "forecasts (ml.predictions)")

    legs = quotes.pipe(leg_quotes, cfg)
    calendar = quotes.pipe(trading_calendar, cfg)
    signals = forecasts.pipe(model_forecasts, cfg)
    candidates = universe.pipe(straddle_candidates, cfg)
    entries = signals.pipe(entry_days, cfg, calendar=calendar)
    trades = (
        candidates.pipe(select_atm_straddles, cfg)
        .pipe(open_trades, cfg, entries=entries, calendar=calendar)
        .pipe(resolve_exits, cfg, legs=legs, underlying=underlying, calendar=calendar)
        .pipe(price_trades, cfg)
    )
    window = calendar.pipe(equity_window, cfg, signals=signals, trades=trades)
    equity = trades.pipe(daily_equity, cfg, legs=legs, calendar=calendar, window=window)
    checks = {
        "versions": signals.select(
            pl.len().alias("n_rows"),
            pl.col("model_version").unique().sort().implode().alias("versions"),
        ),
        "quote_keys": _duplicates(legs, ["contract_symbol", "quote_date"]),
        "candidate_keys": _duplicates(candidates.select(*LEG_KEYS), list(LEG_KEYS)),
        "close_keys": _duplicates(
            underlying.filter(pl.col("underlying_symbol") == cfg.underlying_symbol),
            ["trade_date"],
        ),
        "forecast_keys": _duplicates(signals, ["as_of_date"]),
    }
    plans = {"trades": trades, "equity": equity, "window": window, **checks}
    frames = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))

    model_version = _check_inputs(frames, cfg)
    trades_df = frames["trades"]
    _check_settlements(trades_df)
    equity_df = frames["equity"]
    if equity_df.is_empty():
        raise ValueError(
            f"forecasts of {cfg.forecast_model!r} for {cfg.underlying_symbol!r} do not overlap "
            "the trading days of the quotes"
        )
    first_date, last_date = frames["window"].row(0)
    run_id = cfg.run_id

    with_run = pl.lit(run_id).alias("run_id")
    trades_out = conform(trades_df.with_columns(with_run), TRADES_SCHEMA).sort("trade_id")
    equity_out = conform(equity_df.with_columns(with_run), EQUITY_SCHEMA).sort("quote_date")
    summary = m.summarize(equity_out["daily_return"].to_numpy(), trades_out["pnl_usd"].to_numpy())
    metrics_out = conform(
        pl.DataFrame(
            [{"run_id": run_id, **summary, "first_date": first_date, "last_date": last_date}],
            schema=METRICS_SCHEMA,
        ),
        METRICS_SCHEMA,
    )
    runs_out = pl.DataFrame(
        [
            {
                "run_id": run_id,
                "strategy": cfg.strategy,
                "underlying_symbol": cfg.underlying_symbol,
                "forecast_model": cfg.forecast_model,
                "model_version": model_version,
                "config_json": cfg.config_json,
                "first_date": first_date,
                "last_date": last_date,
            }
        ],
        schema=RUNS_SCHEMA,
    )
    return BacktestResult(
        run_id=run_id,
        runs=runs_out,
        trades=trades_out,
        equity_daily=equity_out,
        metrics=metrics_out,
    )


def _check_inputs(frames: dict[str, pl.DataFrame], cfg: StraddleConfig) -> str:
    """Raise on degenerate inputs found by the checks collected with the results."""
    n_rows, versions = frames["versions"].row(0)
    who = f"forecast_model={cfg.forecast_model!r}, underlying_symbol={cfg.underlying_symbol!r}"
    if cfg.forecast_model_version is not None:
        who += f", forecast_model_version={cfg.forecast_model_version!r}"
    if n_rows == 0:
        raise ValueError(f"no forecasts for {who}")
    if len(versions) != 1:
        raise ValueError(
            f"{who} has {len(versions)} model_versions {versions}: set forecast_model_version"
        )
    duplicated = {
        "quote_keys": "a contract is quoted twice on one quote_date (contract_symbol, quote_date)",
        "candidate_keys": "two universe contracts share (quote_date, option_root, expiration, "
        "option_type, strike)",
        "close_keys": f"{cfg.underlying_symbol} has two closes on one trade_date",
        "forecast_keys": f"{who} has two forecasts on one as_of_date (several horizon_days?)",
    }
    for key, what in duplicated.items():
        dup = frames[key]
        if not dup.is_empty():
            raise ValueError(f"{what}: {dup.drop('len').rows()}")
    return versions[0]


def _check_settlements(trades: pl.DataFrame) -> None:
    expiries = trades.filter(pl.col("exit_reason") == "expiration")
    missing = expiries.filter(pl.col("exit_underlying_close").is_null())
    if not missing.is_empty():
        dates = sorted(set(missing["expiration"].to_list()))
        raise ValueError(
            f"no underlying close on expiration date(s) {dates} to settle "
            f"{missing.height} trade(s); fct_underlying_daily must cover every expiration"
        )
    unknown = expiries.filter(pl.col("settlement_method").is_null())
    if not unknown.is_empty():
        types = sorted(set(unknown["settlement_type"].to_list()), key=str)
        raise ValueError(f"settlement_type must be 'AM' or 'PM', got {types!r}")
