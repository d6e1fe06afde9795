"""The portfolio backtest of any catalogue strategy: pure Polars stages and NumPy sizing.

No I/O here (:mod:`engine.io` reads the marts and writes the results). A run, step by step:

1. **Entry days** (:func:`entry_days`): the trading days of the schedule (daily, weekly,
   after each monthly expiration) where the signal holds (forecast probability against a
   threshold, the strategy selector's pick); the forecast of ``as_of_date`` is known at that
   day's close, when the end-of-day quotes are taken.
2. **Contracts** (:func:`select_legs`): the front expiration nearest ``target_dte`` in its window
   (and a back one for calendars); then, leg by leg, the listed contract nearest the leg's
   target (|delta|, S/K, a strike offset or a width from an earlier leg, in % of spot) within
   the tolerance, among the entry universe's quotes with a bid and an ask and a spread under
   ``max_spread_pct``. An entry needs every leg, and distinct contracts.
3. **Marks** (:func:`mark_paths`): every trading day from entry to the front expiration, each
   leg at mid; a leg without a quote that day keeps its last mark and the day is flagged
   stale. A stock leg marks at the underlying's close.
4. **Exits** (:func:`resolve_exits`), the first of: take-profit / stop-loss on the mark P&L as
   % of the entry premium (for credits, of the credit: the maximum profit); N trading days;
   a DTE; the signal no longer holding. A trigger on a stale day moves to the next day with
   every leg quoted (never a fill on a stale quote: ``exit_type = 'nearest_day'``). Otherwise
   the position settles at the front expiration, or is closed at the last quoted day if the
   data end first.
5. **Expiry**: expiring legs are worth their intrinsic value against the underlying's raw
   (unadjusted) price: the close for PM-settled contracts (SPXW, SPY); for AM-settled SPX
   monthlies the exchange uses the Special Opening Quotation, approximated by the day's open,
   or by its close where the open is not in the data (``settlement_method`` says which).
   Physically settled (American, equity) options in the money are exercised or assigned into
   stock at the strike, and that stock is sold at the same close (a legs row records it). Back
   legs of calendars are sold at the front expiration; stock legs at its close.
6. **Fills and costs**: at mid, at the touch, at mid ± slippage, or at mid ± a fraction of the
   half spread; commissions per contract per leg and a fee per order at entry and at a traded
   exit; none at expiry.
7. **Sizing** (:func:`size_positions`, in entry order): fixed lots, or a fraction of equity by
   net premium or by capital at risk, capped per option, by gross notional, by margin and by
   the number of open positions.
8. **Equity**: cash plus every open position marked at mid, each trading day.

Margin (capital at risk of a lot, fixed at entry, used by sizing and reported): the maximum
loss at expiry of single-expiry structures whose loss is bounded (payoff evaluated at zero and
at every strike, Hull 2021 §12); for calendars the net debit; otherwise the strategy-based
approximation of the Cboe Margin Manual for each naked short option (broad-based index: 15 %
of the underlying less the out-of-the-money amount, at least 10 % of the underlying (calls) or
of the strike (puts), plus the premium; equity: 20 %), the strike for a cash-secured put, and
the value of long stock. It is an approximation: no portfolio margin, no intraday changes.

Sweeps (:func:`run_sweep`) evaluate a grid of exit parameters as an axis of the same
computation: positions and marks are built once, exits for every grid row in one query.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import numpy as np
import polars as pl

from engine import metrics as m
from engine.config import BacktestConfig, ExitConfig
from engine.schema import (
    CHAIN_COLUMNS,
    EQUITY_SCHEMA,
    LEGS_SCHEMA,
    METRICS_SCHEMA,
    POSITIONS_SCHEMA,
    RUNS_SCHEMA,
    TRADES_SCHEMA,
    UNDERLYING_COLUMNS,
    conform,
    require_columns,
)

INDEX_MARGIN_RATE, EQUITY_MARGIN_RATE, MIN_MARGIN_RATE = 0.15, 0.20, 0.10
# Float sums inside a parallel group-by may add in a different order from run to run; rounding
# them to 9 decimals (prices have 2) makes every table bit-identical and keeps a P&L that sits
# exactly on a take-profit or stop-loss threshold on the same side of it.
_DP = 9
SWEEP_KEYS: tuple[str, ...] = ("take_profit_pct", "stop_loss_pct", "holding_days", "exit_dte")


@dataclasses.dataclass(frozen=True)
class BacktestResult:
    """The frames one run writes (``engine.schema``), sorted by key."""

    run_id: str
    runs: pl.DataFrame
    trades: pl.DataFrame
    legs: pl.DataFrame
    positions_daily: pl.DataFrame
    equity_daily: pl.DataFrame
    metrics: pl.DataFrame


# --- 1. entry days -------------------------------------------------------------------------------


def trading_calendar(chain: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """One row per trading day (the chain's quote dates within the config's window).

    Returns ``quote_date`` and ``day_index`` (0, 1, …) in date order.
    """
    dates = chain.select("quote_date").unique()
    if cfg.start_date:
        dates = dates.filter(pl.col("quote_date") >= pl.lit(cfg.start_date).str.to_date())
    if cfg.end_date:
        dates = dates.filter(pl.col("quote_date") <= pl.lit(cfg.end_date).str.to_date())
    return (
        dates.sort("quote_date")
        .with_row_index("day_index")
        .with_columns(pl.col("day_index").cast(pl.Int64))
    )


def _third_fridays(calendar: pl.LazyFrame) -> pl.LazyFrame:
    months = calendar.select(pl.col("quote_date").dt.truncate("1mo").alias("month")).unique()
    # first Friday = 1 + (5 - weekday(first)) % 7; the third is 14 days later
    first = pl.col("month")
    offset = (5 - first.dt.weekday()).mod(7) + 14
    return months.select((first + pl.duration(days=offset)).alias("monthly_expiration"))


def entry_days(
    calendar: pl.LazyFrame, cfg: BacktestConfig, *, signals: pl.LazyFrame
) -> pl.LazyFrame:
    """Trading days a position may open on, with the signal value that opened it.

    Parameters
    ----------
    calendar
        Output of :func:`trading_calendar`.
    signals
        One row per ``as_of_date``: ``signal_value`` (``p_up``, or for the selector the size
        multiplier 1.0 / 0.5) and ``signal_on`` (bool). Ignored when the signal is ``none``.

    Returns
    -------
    pl.LazyFrame
        ``quote_date``, ``day_index``, ``signal_value`` (null without a signal),
        ``size_multiplier`` (1.0, or 0.5 for the selector's HALF tier).
    """
    e = cfg.entry
    days = calendar
    if e.schedule == "weekly":
        week = pl.col("quote_date").dt.truncate("1w") + pl.duration(days=e.weekday - 1)
        days = (
            days.with_columns(week.alias("_anchor"))
            .filter(pl.col("quote_date") >= pl.col("_anchor"))
            .filter(pl.col("quote_date") == pl.col("quote_date").min().over("_anchor"))
            .drop("_anchor")
        )
    elif e.schedule == "monthly_expiration":
        days = (
            days.sort("quote_date")
            .join_asof(
                _third_fridays(calendar).sort("monthly_expiration"),
                left_on="quote_date",
                right_on="monthly_expiration",
                strategy="backward",
                allow_exact_matches=False,
            )
            .filter(pl.col("monthly_expiration").is_not_null())
            .filter(pl.col("quote_date") == pl.col("quote_date").min().over("monthly_expiration"))
            .drop("monthly_expiration")
        )
    if e.signal in ("none", "top_k"):
        return days.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("signal_value"),
            pl.lit(1.0).alias("size_multiplier"),
        )
    return days.join(
        signals.filter("signal_on").select(
            pl.col("as_of_date").alias("quote_date"), "signal_value", "size_multiplier"
        ),
        on="quote_date",
        how="inner",
    )


def prob_signals(forecasts: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """``as_of_date, signal_value, signal_on, size_multiplier`` from ``p_up`` forecasts.

    ``forecasts`` has one row per ``as_of_date`` with ``p_up`` (decimal probability).
    """
    e = cfg.entry
    p = pl.col("p_up")
    on = p >= e.threshold if e.signal == "prob_up_at_least" else p <= e.threshold
    return forecasts.select(
        "as_of_date",
        p.alias("signal_value"),
        on.fill_null(False).alias("signal_on"),
        pl.lit(1.0).alias("size_multiplier"),
    )


def selector_signals(selector: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """Days the strategy selector (``forecasts.fct_strategy_signals``) picks this strategy.

    ``selector`` has ``as_of_date, strategy, size_tier`` (FULL/HALF/NONE) and
    ``direction_confidence``; FULL opens the sized lots, HALF half of them.
    """
    return selector.select(
        "as_of_date",
        pl.col("direction_confidence").alias("signal_value"),
        ((pl.col("strategy") == cfg.strategy.name) & (pl.col("size_tier") != "NONE")).alias(
            "signal_on"
        ),
        pl.when(pl.col("size_tier") == "HALF").then(0.5).otherwise(1.0).alias("size_multiplier"),
    )


# --- 2. contracts ------------------------------------------------------------------------------


def entry_candidates(
    chain: pl.LazyFrame, cfg: BacktestConfig, *, universe: pl.LazyFrame, entries: pl.LazyFrame
) -> pl.LazyFrame:
    """Quotes a leg may be opened on: in the universe, on an entry day, tradeable.

    Keeps the configured roots (adding ``root_rank``, their order of preference), quotes with
    ``bid > 0``, ``ask >= bid`` and ``spread_pct <= max_spread_pct``, and the expiry type.
    """
    roots = list(cfg.option_roots)
    lf = (
        chain.join(
            universe.select("contract_symbol", "quote_date"), on=["contract_symbol", "quote_date"]
        )
        .join(entries.select("quote_date"), on="quote_date")
        .filter(
            pl.col("option_root").is_in(roots),
            pl.col("bid") > 0,
            pl.col("ask") >= pl.col("bid"),
            pl.col("spread_pct") <= cfg.execution.max_spread_pct,
        )
        .with_columns(
            pl.col("option_root")
            .replace_strict(roots, list(range(len(roots))), return_dtype=pl.Int32)
            .alias("root_rank")
        )
    )
    if cfg.entry.expiry_type != "any":
        lf = lf.filter(pl.col("expiry_type") == cfg.entry.expiry_type)
    return lf


def choose_expirations(candidates: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """One front (and, for calendars, back) expiration per entry day.

    The expiration with ``dte`` nearest ``target_dte`` in ``[min_dte, max_dte]`` (tie: shorter,
    then the preferred root); the back one nearest ``back_target_dte`` in its window, same root.

    Returns ``quote_date, option_root, expiration`` (and ``back_expiration``).
    """
    e = cfg.entry
    expiries = candidates.select(
        "quote_date", "option_root", "root_rank", "expiration", "dte"
    ).unique()

    def nearest(lo: int, hi: int, target: int, name: str) -> pl.LazyFrame:
        return (
            expiries.filter(pl.col("dte").is_between(lo, hi))
            .with_columns((pl.col("dte") - target).abs().alias("_distance"))
            .sort("quote_date", "_distance", "dte", "root_rank")
            .group_by("quote_date", maintain_order=True)
            .first()
            .select("quote_date", "option_root", pl.col("expiration").alias(name))
        )

    front = nearest(e.min_dte, e.max_dte, e.target_dte, "expiration")
    if not cfg.strategy.has_back_expiry:
        return front
    back = (
        expiries.filter(pl.col("dte").is_between(e.back_min_dte, e.back_max_dte))
        .with_columns((pl.col("dte") - e.back_target_dte).abs().alias("_distance"))
        .sort("quote_date", "option_root", "_distance", "dte")
        .group_by("quote_date", "option_root", maintain_order=True)
        .first()
        .select("quote_date", "option_root", pl.col("expiration").alias("back_expiration"))
    )
    return front.join(back, on=["quote_date", "option_root"], how="inner")


_LEG_QUOTE = (
    "contract_symbol",
    "option_type",
    "strike",
    "expiration",
    "settlement_type",
    "exercise_style",
    "bid",
    "ask",
    "mid",
    "delta",
    "underlying_price",
)


def select_legs(
    candidates: pl.LazyFrame, cfg: BacktestConfig, *, expirations: pl.LazyFrame
) -> pl.LazyFrame:
    """Pick every leg's contract for each entry day; one row per (entry day, leg).

    Legs are resolved in order (a width refers to an earlier leg's strike); the loop runs over
    the strategy's legs (at most 4), each step vectorized over all entry days.

    Returns
    -------
    pl.LazyFrame
        ``quote_date, leg_no`` (1-based), the leg's spec (``leg_type, sign, ratio``) and its
        quote (``contract_symbol, option_type, strike, expiration, settlement_type,
        exercise_style, bid, ask, mid, delta, underlying_price``; stock legs have
        ``contract_symbol`` = the underlying and the option columns null). Entry days missing
        a leg, or using one contract twice, are dropped.
    """
    e = cfg.entry
    spec = cfg.strategy
    pool = candidates.join(
        expirations.rename({"expiration": "_front"}), on=["quote_date", "option_root"]
    )
    back = pl.col("back_expiration") if spec.has_back_expiry else pl.lit(None, dtype=pl.Date)
    # the at-the-money strike of each day's front expiration: nearest the underlying price
    atm = (
        pool.filter(pl.col("expiration") == pl.col("_front"))
        .with_columns((pl.col("strike") - pl.col("underlying_price")).abs().alias("_d"))
        .sort("quote_date", "_d", "strike")
        .group_by("quote_date", maintain_order=True)
        .first()
        .select("quote_date", pl.col("strike").alias("_atm_strike"))
    )
    chosen: list[pl.LazyFrame] = []
    strikes: dict[int, pl.LazyFrame] = {}
    for no, leg in enumerate(spec.legs, start=1):
        if leg.leg_type == "stock":
            continue
        expiry = pl.col("_front") if leg.expiry == "front" else back
        legs = pool.filter(pl.col("option_type") == leg.leg_type, pl.col("expiration") == expiry)
        spot = pl.col("underlying_price")
        if leg.rule == "delta":
            distance = (pl.col("delta").abs() - leg.value).abs()
            tolerance = e.delta_tolerance
        elif leg.rule == "moneyness":
            distance = (spot / pl.col("strike") - leg.value).abs()
            tolerance = e.moneyness_tolerance
        else:
            if leg.rule == "strike_offset_pct":
                legs = legs.join(atm, on="quote_date")
                target = pl.col("_atm_strike") + leg.value / 100.0 * spot
            else:
                legs = legs.join(strikes[leg.of], on="quote_date")
                target = pl.col("_ref_strike") + leg.value / 100.0 * spot
            distance = (pl.col("strike") - target).abs() / spot * 100.0
            tolerance = e.strike_tolerance_pct
        picked = (
            legs.with_columns(distance.alias("_distance"))
            .filter(pl.col("_distance") <= tolerance)
            .sort("quote_date", "_distance", "strike")
            .group_by("quote_date", maintain_order=True)
            .first()
        )
        strikes[no] = picked.select("quote_date", pl.col("strike").alias("_ref_strike"))
        chosen.append(
            picked.select(
                "quote_date",
                pl.lit(no, dtype=pl.Int32).alias("leg_no"),
                *_LEG_QUOTE,
            )
        )
    option_legs = pl.concat(chosen)
    n_option_legs = len(spec.option_legs)
    complete = (
        option_legs.group_by("quote_date")
        .agg(pl.len().alias("_n"), pl.col("contract_symbol").n_unique().alias("_unique"))
        .filter((pl.col("_n") == n_option_legs) & (pl.col("_unique") == n_option_legs))
        .select("quote_date")
    )
    frames = [option_legs.join(complete, on="quote_date")]
    for no, leg in enumerate(spec.legs, start=1):
        if leg.leg_type == "stock":
            frames.append(
                complete.join(
                    option_legs.filter(pl.col("leg_no") == spec.option_legs[0] + 1).select(
                        "quote_date", "underlying_price", "expiration"
                    ),
                    on="quote_date",
                ).select(
                    "quote_date",
                    pl.lit(no, dtype=pl.Int32).alias("leg_no"),
                    pl.lit(cfg.underlying_symbol).alias("contract_symbol"),
                    pl.lit("stock").alias("option_type"),
                    pl.lit(None, dtype=pl.Float64).alias("strike"),
                    "expiration",
                    pl.lit(None, dtype=pl.String).alias("settlement_type"),
                    pl.lit(None, dtype=pl.String).alias("exercise_style"),
                    pl.col("underlying_price").alias("bid"),
                    pl.col("underlying_price").alias("ask"),
                    pl.col("underlying_price").alias("mid"),
                    pl.lit(1.0).alias("delta"),
                    "underlying_price",
                )
            )
    spec_frame = pl.LazyFrame(
        {
            "leg_no": [i for i in range(1, len(spec.legs) + 1)],
            "leg_type": [leg.leg_type for leg in spec.legs],
            "sign": [leg.sign for leg in spec.legs],
            "ratio": [leg.ratio for leg in spec.legs],
        },
        schema={"leg_no": pl.Int32, "leg_type": pl.String, "sign": pl.Int32, "ratio": pl.Int32},
    )
    return pl.concat(frames, how="vertical_relaxed").join(spec_frame, on="leg_no")


def top_k_legs(
    candidates: pl.LazyFrame,
    cfg: BacktestConfig,
    *,
    scores: pl.LazyFrame,
    expirations: pl.LazyFrame,
) -> pl.LazyFrame:
    """``top_k`` entries: per entry day, the ``k`` contracts of the leg's type with the highest
    forecast score among the front expiration's candidates (one position each).

    ``scores`` has ``contract_symbol, as_of_date, score``. Returns :func:`select_legs`'s layout
    plus ``rank`` (1 = highest score) and ``signal_value`` (the score).
    """
    leg = cfg.strategy.legs[0]
    return (
        candidates.join(expirations, on=["quote_date", "option_root", "expiration"])
        .filter(pl.col("option_type") == leg.leg_type)
        .join(
            scores.select(
                "contract_symbol",
                pl.col("as_of_date").alias("quote_date"),
                pl.col("score").alias("signal_value"),
            ),
            on=["contract_symbol", "quote_date"],
        )
        .with_columns(
            pl.col("signal_value").rank("ordinal", descending=True).over("quote_date").alias("rank")
        )
        .filter(pl.col("rank") <= cfg.entry.k)
        .select(
            "quote_date",
            pl.lit(1, dtype=pl.Int32).alias("leg_no"),
            *_LEG_QUOTE,
            pl.lit(leg.leg_type).alias("leg_type"),
            pl.lit(leg.sign, dtype=pl.Int32).alias("sign"),
            pl.lit(leg.ratio, dtype=pl.Int32).alias("ratio"),
            "rank",
            "signal_value",
        )
    )


# --- fills -------------------------------------------------------------------------------------


def fill_price(buy: pl.Expr, cfg: BacktestConfig) -> pl.Expr:
    """Fill of one unit: ``buy`` True buys (pays up), False sells (receives less).

    Returns the price in index points (stock legs fill at the underlying price).
    """
    x = cfg.execution
    mid, bid, ask = pl.col("mid"), pl.col("bid"), pl.col("ask")
    direction = pl.when(buy).then(1.0).otherwise(-1.0)
    if x.fill == "mid":
        return mid
    if x.fill == "touch":
        return pl.when(buy).then(ask).otherwise(bid)
    if x.fill == "mid_slippage":
        return mid * (1.0 + direction * x.slippage_bps / 1e4)
    return mid + direction * x.spread_fraction * (ask - bid) / 2.0


# --- 3. positions and marks ----------------------------------------------------------------------


def open_positions(
    legs: pl.LazyFrame, cfg: BacktestConfig, *, entries: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Number the positions and price their entry per lot.

    Returns
    -------
    (positions, position_legs)
        ``positions``: one row per position: ``position_id`` (1, 2, … by entry day, then
        rank), ``entry_date``, ``entry_day_index``, ``expiration`` (front), ``settlement_type``
        of the front legs, ``entry_underlying_price``, ``signal_value``, ``size_multiplier``,
        ``entry_value`` (net premium per lot, index points, + debit / - credit, at fill
        prices), ``entry_mid_value`` (same at mid), ``entry_cost_usd`` (commissions per lot).
        ``position_legs``: one row per position and leg with its entry fill.
    """
    x = cfg.execution
    names = legs.collect_schema().names()
    if "rank" not in names:  # one position per entry day (top_k adds a rank per contract)
        legs = legs.with_columns(pl.lit(1, dtype=pl.UInt32).alias("rank"))
    key = ["quote_date", "rank"]
    ids = (
        legs.select(*key)
        .unique()
        .sort(*key)
        .with_row_index("position_id", offset=1)
        .with_columns(pl.col("position_id").cast(pl.Int64))
    )
    units = pl.col("sign") * pl.col("ratio")
    is_stock = pl.col("leg_type") == "stock"
    # a lot holds `ratio` contracts of an option leg, `ratio / multiplier` lots of stock
    points = pl.when(is_stock).then(1.0 / x.multiplier).otherwise(1.0)
    position_legs = (
        legs.join(ids, on=key)
        .with_columns(
            pl.when(is_stock)
            .then(pl.col("mid"))
            .otherwise(fill_price(pl.col("sign") > 0, cfg))
            .alias("entry_price"),
            (units * points).alias("units"),
        )
        .with_columns(
            (
                (pl.col("entry_price") - pl.col("mid")).abs()
                * pl.col("ratio")
                * points
                * x.multiplier
            ).alias("entry_slippage_usd")
        )
    )
    front = pl.col("expiration") == pl.col("expiration").min().over("position_id")
    per_position = position_legs.group_by("position_id").agg(
        pl.col("quote_date").first().alias("entry_date"),
        pl.col("expiration").filter(pl.col("leg_type") != "stock").min().alias("expiration"),
        pl.col("settlement_type").filter(front & ~is_stock).first().alias("settlement_type"),
        pl.col("underlying_price").first().alias("entry_underlying_price"),
        (pl.col("units") * pl.col("entry_price")).sum().round(_DP).alias("entry_value"),
        (pl.col("units") * pl.col("mid")).sum().round(_DP).alias("entry_mid_value"),
        (pl.col("ratio").filter(~is_stock).sum() * x.commission_per_contract_usd).alias(
            "entry_cost_usd"
        ),
        pl.col("entry_slippage_usd").sum().round(_DP),
        pl.col("rank").first(),
    )
    entry_info = entries.select("quote_date", "day_index", "signal_value", "size_multiplier")
    if "signal_value" in names:  # top_k: the contract's own score
        entry_info = entry_info.drop("signal_value")
        per_position = per_position.join(
            legs.group_by("quote_date", "rank")
            .agg(pl.col("signal_value").first())
            .rename({"quote_date": "entry_date"}),
            on=["entry_date", "rank"],
        )
    positions = per_position.join(
        entry_info.rename({"quote_date": "entry_date", "day_index": "entry_day_index"}),
        on="entry_date",
    )
    return positions.drop("rank").sort("position_id"), position_legs


def mark_paths(
    positions: pl.LazyFrame,
    position_legs: pl.LazyFrame,
    cfg: BacktestConfig,
    *,
    chain: pl.LazyFrame,
    underlying: pl.LazyFrame,
    calendar: pl.LazyFrame,
) -> pl.LazyFrame:
    """Daily marks per position and lot, from the entry day to the front expiration.

    Returns
    -------
    pl.LazyFrame
        One row per position per trading day ``entry_date <= quote_date <= expiration``:
        ``day_index``, ``value`` (Σ units × mid, index points per lot, stale legs carried),
        ``is_stale`` (a leg has no fresh quote), ``front_dte`` and the lot's greeks
        ``delta_usd`` (per 1 point of the underlying × underlying price: dollar delta),
        ``gamma_usd`` (dollar gamma per 1 % move), ``vega_usd`` (per vol point) and
        ``theta_usd`` (per calendar day).
    """
    x = cfg.execution
    days = (
        positions.select("position_id", "entry_date", "expiration")
        .join(calendar, how="cross")
        .filter(
            (pl.col("quote_date") >= pl.col("entry_date"))
            & (pl.col("quote_date") <= pl.col("expiration"))
        )
    )
    closes = underlying.select(
        pl.col("trade_date").alias("quote_date"), pl.col("close").alias("_close")
    )
    quotes = chain.select(
        "contract_symbol",
        "quote_date",
        pl.col("mid").alias("_mid"),
        pl.col("is_stale_quote").alias("_stale"),
        pl.col("delta").alias("_delta"),
        pl.col("gamma").alias("_gamma"),
        pl.col("vega").alias("_vega"),
        pl.col("theta").alias("_theta"),
        pl.col("underlying_price").alias("_spot"),
    )
    legs = position_legs.select(
        "position_id", "leg_no", "leg_type", "contract_symbol", "units", "mid"
    )
    grid = (
        days.join(legs, on="position_id")
        .join(quotes, on=["contract_symbol", "quote_date"], how="left")
        .join(closes, on="quote_date", how="left")
        .sort("position_id", "leg_no", "quote_date")
        .with_columns(
            pl.when(pl.col("leg_type") == "stock")
            .then(pl.col("_close"))
            .otherwise(pl.col("_mid"))
            .alias("_fresh")
        )
        .with_columns(
            pl.col("_fresh").forward_fill().over("position_id", "leg_no").alias("_mark"),
            (pl.col("_fresh").is_null() | pl.col("_stale").fill_null(False)).alias("_leg_stale"),
            pl.coalesce("_spot", "_close").forward_fill().over("position_id", "leg_no").alias("_s"),
        )
        .with_columns(pl.coalesce("_mark", "mid").alias("_mark"))
    )
    mult = x.multiplier
    stock = pl.col("leg_type") == "stock"
    u = pl.col("units")
    return (
        grid.group_by("position_id", "quote_date")
        .agg(
            (u * pl.col("_mark")).sum().round(_DP).alias("value"),
            pl.col("_leg_stale").any().alias("is_stale"),
            (
                pl.when(stock).then(u).otherwise(u * pl.col("_delta").fill_null(0.0))
                * pl.col("_s")
                * mult
            )
            .sum()
            .round(_DP)
            .alias("delta_usd"),
            (u * pl.col("_gamma").fill_null(0.0) * pl.col("_s") ** 2 * 0.01 * mult)
            .sum()
            .round(_DP)
            .alias("gamma_usd"),
            (u * pl.col("_vega").fill_null(0.0) * mult).sum().round(_DP).alias("vega_usd"),
            (u * pl.col("_theta").fill_null(0.0) * mult).sum().round(_DP).alias("theta_usd"),
            pl.col("expiration").first(),
        )
        .join(calendar, on="quote_date")
        .with_columns(
            (pl.col("expiration") - pl.col("quote_date"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("front_dte")
        )
        .drop("expiration")
        .sort("position_id", "quote_date")
    )


# --- 4. exits (over a grid of exit parameters) ---------------------------------------------------


def exit_grid(exits: list[ExitConfig]) -> pl.LazyFrame:
    """One row per exit configuration: ``config_id`` (0-based), the four swept parameters and
    ``exit_on_signal``."""
    return pl.LazyFrame(
        {
            "config_id": list(range(len(exits))),
            **{k: [getattr(x, k) for x in exits] for k in (*SWEEP_KEYS, "exit_on_signal")},
        },
        schema={
            "config_id": pl.Int64,
            "take_profit_pct": pl.Float64,
            "stop_loss_pct": pl.Float64,
            "holding_days": pl.Int64,
            "exit_dte": pl.Int64,
            "exit_on_signal": pl.Boolean,
        },
    )


def resolve_exits(
    positions: pl.LazyFrame,
    paths: pl.LazyFrame,
    grid: pl.LazyFrame,
    *,
    signal_off: pl.LazyFrame | None,
    last_data_date: pl.LazyFrame,
) -> pl.LazyFrame:
    """Each position's exit under each grid row: date, reason and how it is priced.

    Returns
    -------
    pl.LazyFrame
        One row per ``config_id`` × ``position_id``: ``exit_date``, ``exit_reason``
        (``take_profit | stop_loss | holding_period | exit_dte | signal | expiration |
        end_of_data``), ``exit_type`` (``exact``; ``nearest_day`` when the trigger fell on a
        stale day and the exit moved to the next fully quoted one; ``settlement``).
    """
    p = paths.join(
        positions.select("position_id", "entry_day_index", "entry_mid_value", "expiration"),
        on="position_id",
    )
    pnl_pct = (pl.col("value") - pl.col("entry_mid_value")) / pl.col("entry_mid_value").abs() * 100
    held = pl.col("day_index") - pl.col("entry_day_index")
    after_entry = (held > 0) & (pl.col("quote_date") < pl.col("expiration"))
    if signal_off is not None:
        p = p.join(signal_off.rename({"as_of_date": "quote_date"}), on="quote_date", how="left")
        off = pl.col("signal_off").fill_null(False)
    else:
        off = pl.lit(False)
    triggers = (
        p.join(grid, how="cross")
        .filter(after_entry)
        .with_columns(
            pl.when(pnl_pct >= pl.col("take_profit_pct"))
            .then(pl.lit("take_profit"))
            .when(pnl_pct <= -pl.col("stop_loss_pct"))
            .then(pl.lit("stop_loss"))
            .when(held >= pl.col("holding_days"))
            .then(pl.lit("holding_period"))
            .when(pl.col("front_dte") <= pl.col("exit_dte"))
            .then(pl.lit("exit_dte"))
            .when(pl.col("exit_on_signal") & off)
            .then(pl.lit("signal"))
            .alias("_reason")
        )
        .filter(pl.col("_reason").is_not_null())
        .group_by("config_id", "position_id")
        .agg(
            pl.col("quote_date").min().alias("_trigger_date"),
            pl.col("_reason").sort_by("quote_date").first().alias("exit_reason"),
        )
    )
    fresh = paths.filter(~pl.col("is_stale")).select("position_id", "quote_date")
    traded = (
        triggers.join(fresh, on="position_id")
        .join(positions.select("position_id", "expiration"), on="position_id")
        .filter(
            pl.col("quote_date") >= pl.col("_trigger_date"),
            pl.col("quote_date") < pl.col("expiration"),
        )
        .group_by("config_id", "position_id")
        .agg(
            pl.col("quote_date").min().alias("exit_date"),
            pl.col("exit_reason").first(),
            pl.col("_trigger_date").first(),
        )
        .with_columns(
            pl.when(pl.col("exit_date") == pl.col("_trigger_date"))
            .then(pl.lit("exact"))
            .otherwise(pl.lit("nearest_day"))
            .alias("exit_type")
        )
        .drop("_trigger_date")
    )
    last_fresh = fresh.group_by("position_id").agg(pl.col("quote_date").max().alias("_last"))
    rest = (
        positions.select("position_id", "expiration", "entry_date")
        .join(grid.select("config_id"), how="cross")
        .join(
            traded.select("config_id", "position_id", pl.lit(True).alias("_traded")),
            on=["config_id", "position_id"],
            how="left",
        )
        .filter(pl.col("_traded").is_null())
        .join(last_data_date, how="cross")
        .join(last_fresh, on="position_id", how="left")
        .select(
            "config_id",
            "position_id",
            pl.when(pl.col("expiration") <= pl.col("last_data_date"))
            .then(pl.col("expiration"))
            .otherwise(pl.coalesce("_last", "entry_date"))
            .alias("exit_date"),
            pl.when(pl.col("expiration") <= pl.col("last_data_date"))
            .then(pl.lit("expiration"))
            .otherwise(pl.lit("end_of_data"))
            .alias("exit_reason"),
            pl.when(pl.col("expiration") <= pl.col("last_data_date"))
            .then(pl.lit("settlement"))
            .otherwise(pl.lit("exact"))
            .alias("exit_type"),
        )
    )
    return pl.concat([traded, rest], how="vertical_relaxed").sort("config_id", "position_id")


def price_exits(
    exits: pl.LazyFrame,
    position_legs: pl.LazyFrame,
    cfg: BacktestConfig,
    *,
    chain: pl.LazyFrame,
    underlying: pl.LazyFrame,
) -> pl.LazyFrame:
    """Exit price of every leg of every (config, position).

    Traded exits fill at the exit day's quote (:func:`fill_price`, closing side); at expiry
    each expiring leg is worth its intrinsic value at the settlement price (module docstring),
    later legs fill at that day's quote (or their last one), stock at the close. ITM
    physically-settled options are ``exercised`` / ``assigned``.

    Returns one row per config × position × leg: ``exit_price`` (points per unit),
    ``exit_kind`` (``traded | settled | exercised | assigned | expired_worthless``),
    ``settlement_method``, ``settlement_price``, ``exit_slippage_usd`` (per lot).
    """
    x = cfg.execution
    spot = underlying.select(
        pl.col("trade_date").alias("exit_date"),
        pl.col("open").alias("_open"),
        pl.col("close").alias("_close"),
    )
    quotes = chain.select("contract_symbol", "quote_date", "bid", "ask", "mid")
    legs = position_legs.select(
        "position_id",
        "leg_no",
        "leg_type",
        "sign",
        "ratio",
        "units",
        "contract_symbol",
        "strike",
        "expiration",
        "settlement_type",
        "exercise_style",
    )
    rows = (
        exits.join(legs, on="position_id")
        .join(spot, on="exit_date", how="left")
        .join(
            quotes.rename({"quote_date": "exit_date"}),
            on=["contract_symbol", "exit_date"],
            how="left",
        )
        .sort("exit_date")
        .join_asof(
            quotes.rename(
                {"quote_date": "_q_date", "bid": "_lbid", "ask": "_lask", "mid": "_lmid"}
            ).sort("_q_date"),
            left_on="exit_date",
            right_on="_q_date",
            by="contract_symbol",
            strategy="backward",
            check_sortedness=False,  # both sides sorted by date overall, so within each contract
        )
        .sort("config_id", "position_id", "leg_no")
    )
    is_stock = pl.col("leg_type") == "stock"
    settles = (
        (pl.col("exit_reason") == "expiration")
        & (pl.col("expiration") == pl.col("exit_date"))
        & ~is_stock
    )
    am = pl.col("settlement_type") == "AM"
    settlement_price = (
        pl.when(am & pl.col("_open").is_not_null())
        .then(pl.col("_open"))
        .otherwise(pl.col("_close"))
    )
    method = (
        pl.when(~settles)
        .then(pl.lit("traded"))
        .when(am & pl.col("_open").is_not_null())
        .then(pl.lit("intrinsic_am_open"))
        .when(am)
        .then(pl.lit("intrinsic_am_proxy_close"))
        .otherwise(pl.lit("intrinsic_pm_close"))
    )
    intrinsic = (
        pl.when(pl.col("leg_type") == "call")
        .then((pl.col("_settle") - pl.col("strike")).clip(lower_bound=0.0))
        .otherwise((pl.col("strike") - pl.col("_settle")).clip(lower_bound=0.0))
    )
    closing_buy = pl.col("sign") < 0
    with_mid = rows.with_columns(
        pl.coalesce("mid", "_lmid").alias("mid"),
        pl.coalesce("bid", "_lbid").alias("bid"),
        pl.coalesce("ask", "_lask").alias("ask"),
        settlement_price.alias("_settle"),
    )
    physical = pl.col("exercise_style") == "american"
    points = pl.when(is_stock).then(1.0 / x.multiplier).otherwise(1.0)
    return (
        with_mid.with_columns(
            pl.when(is_stock)
            .then(pl.col("_close"))
            .when(settles)
            .then(intrinsic)
            .otherwise(fill_price(closing_buy, cfg))
            .alias("exit_price"),
            pl.when(~settles & ~is_stock)
            .then(pl.lit("traded"))
            .when(is_stock)
            .then(pl.lit("traded"))
            .when(intrinsic <= 0)
            .then(pl.lit("expired_worthless"))
            .when(physical & (pl.col("sign") < 0))
            .then(pl.lit("assigned"))
            .when(physical)
            .then(pl.lit("exercised"))
            .otherwise(pl.lit("settled"))
            .alias("exit_kind"),
            method.alias("settlement_method"),
            pl.when(settles).then(pl.col("_settle")).alias("settlement_price"),
        )
        .with_columns(
            pl.when(settles | is_stock)
            .then(0.0)
            .otherwise(
                (pl.col("exit_price") - pl.col("mid")).abs()
                * pl.col("ratio")
                * points
                * x.multiplier
            )
            .alias("exit_slippage_usd")
        )
        .select(
            "config_id",
            "position_id",
            "leg_no",
            "exit_date",
            "exit_reason",
            "exit_type",
            "exit_price",
            "exit_kind",
            "settlement_method",
            "settlement_price",
            "exit_slippage_usd",
            pl.col("mid").alias("exit_mid"),
        )
    )


# --- 5. sizing and equity (NumPy over positions x days, per config) ------------------------------


def _payoff_risk(
    position_legs: pl.DataFrame, positions: pl.DataFrame, cfg: BacktestConfig
) -> pl.DataFrame:
    """Per lot: ``max_loss_usd`` (inf when unbounded), ``margin_usd``, ``notional_usd``."""
    mult = cfg.execution.multiplier
    single_expiry = not cfg.strategy.has_back_expiry
    legs = position_legs.join(positions.select("position_id", "entry_value"), on="position_id")
    options = legs.filter(pl.col("leg_type") != "stock")
    points = (
        options.group_by("position_id")
        .agg(pl.col("strike").unique().alias("_k"))
        .with_columns(pl.concat_list(pl.lit([0.0]), "_k").alias("_s"))
        .explode("_s")
        .select("position_id", pl.col("_s").cast(pl.Float64))
    )
    value_at = (
        legs.join(points, on="position_id")
        .with_columns(
            pl.when(pl.col("leg_type") == "call")
            .then((pl.col("_s") - pl.col("strike")).clip(lower_bound=0.0))
            .when(pl.col("leg_type") == "put")
            .then((pl.col("strike") - pl.col("_s")).clip(lower_bound=0.0))
            .otherwise(pl.col("_s"))
            .alias("_payoff")
        )
        .group_by("position_id", "_s")
        .agg(
            (pl.col("units") * pl.col("_payoff")).sum().round(_DP).alias("_v"),
            pl.col("entry_value").first(),
        )
        .group_by("position_id")
        .agg(((pl.col("_v") - pl.col("entry_value")).min()).alias("_worst"))
    )
    # slope of the payoff above the highest strike: calls and stock add units each
    slope = legs.group_by("position_id").agg(
        pl.col("units").filter(pl.col("leg_type").is_in(["call", "stock"])).sum().alias("_slope")
    )
    spot = pl.col("entry_underlying_price")
    naked_rate = INDEX_MARGIN_RATE if cfg.option_roots[0].startswith("SPX") else EQUITY_MARGIN_RATE
    otm = (
        pl.when(pl.col("leg_type") == "call")
        .then((pl.col("strike") - spot).clip(lower_bound=0))
        .otherwise((spot - pl.col("strike")).clip(lower_bound=0))
    )
    floor = (
        pl.when(pl.col("leg_type") == "call")
        .then(MIN_MARGIN_RATE * spot)
        .otherwise(MIN_MARGIN_RATE * pl.col("strike"))
    )
    naked = (
        options.filter(pl.col("sign") < 0)
        .join(positions.select("position_id", "entry_underlying_price"), on="position_id")
        .with_columns(
            pl.max_horizontal(naked_rate * spot - otm, floor).alias("_req"),
        )
        .group_by("position_id")
        .agg(
            ((pl.col("_req") + pl.col("entry_price")) * pl.col("ratio"))
            .sum()
            .round(_DP)
            .alias("_naked"),
            (pl.col("strike") * pl.col("ratio")).sum().round(_DP).alias("_secured"),
        )
    )
    stock_value = (
        legs.filter(pl.col("leg_type") == "stock")
        .group_by("position_id")
        .agg((pl.col("units") * pl.col("mid")).sum().round(_DP).alias("_stock"))
    )
    notional = options.group_by("position_id").agg(
        (pl.col("ratio") * pl.col("strike")).sum().round(_DP).alias("_notional")
    )
    out = (
        positions.select("position_id", "entry_value")
        .join(value_at, on="position_id", how="left")
        .join(slope, on="position_id", how="left")
        .join(naked, on="position_id", how="left")
        .join(stock_value, on="position_id", how="left")
        .join(notional, on="position_id", how="left")
        .with_columns(pl.col("_naked", "_secured", "_stock", "_notional").fill_null(0.0))
    )
    bounded = pl.col("_slope") >= 0
    if single_expiry:
        max_loss = (
            pl.when(bounded).then((-pl.col("_worst")).clip(lower_bound=0.0)).otherwise(float("inf"))
        )
    else:
        max_loss = (
            pl.when(pl.col("entry_value") > 0).then(pl.col("entry_value")).otherwise(float("inf"))
        )
    # no short option: the debit is the most that can be lost; with short options the lesser
    # of the maximum loss (spreads: defined risk) and the naked requirement plus stock
    has_short = pl.col("_naked") > 0
    margin = (
        pl.when(pl.lit(cfg.strategy.cash_secured))
        .then(pl.col("_secured") - (-pl.col("entry_value")).clip(lower_bound=0) + pl.col("_stock"))
        .when(~has_short)
        .then(max_loss)
        .otherwise(pl.min_horizontal(max_loss, pl.col("_naked") + pl.col("_stock")))
    )
    return out.select(
        "position_id",
        (max_loss * mult).alias("max_loss_usd"),
        (margin * mult).alias("margin_usd"),
        (pl.col("_notional") * mult).alias("notional_usd"),
    )


def size_positions(
    value: np.ndarray,
    open_mask: np.ndarray,
    entry_index: np.ndarray,
    risk: dict[str, np.ndarray],
    size_multiplier: np.ndarray,
    fees: np.ndarray,
    cfg: BacktestConfig,
) -> np.ndarray:
    """Lots of each position, in entry order, for every config at once.

    Parameters
    ----------
    value
        ``(n_configs, n_positions, n_days)``: per lot, cash flows to date plus mark (USD), the
        position's contribution to equity; 0 before entry.
    open_mask
        ``(n_configs, n_positions, n_days)`` bool: the position is open that day.
    entry_index
        ``(n_positions,)`` day index of each entry (positions sorted by it).
    risk
        ``premium_usd``, ``capital_usd`` (max loss, else margin), ``margin_usd``,
        ``notional_usd``, ``max_units`` (largest leg ratio): per lot, ``(n_positions,)``.
    size_multiplier
        ``(n_positions,)``: 1, or 0.5 for a HALF selector signal.
    fees
        ``(n_configs, n_positions, n_days)``: per-order fees to date (USD), charged when lots > 0.

    Returns
    -------
    np.ndarray
        ``(n_configs, n_positions)`` int lots (0 = skipped).
    """
    s, e = cfg.sizing, cfg.entry
    n_configs, n_positions, _ = value.shape
    lots = np.zeros((n_configs, n_positions), dtype=np.int64)
    equity = np.full((n_configs, value.shape[2]), cfg.initial_capital_usd)
    for p in range(n_positions):
        t = entry_index[p]
        eq = equity[:, t]
        held = lots[:, :p] > 0
        n_open = (held & open_mask[:, :p, t]).sum(axis=1)
        used_margin = (lots[:, :p] * risk["margin_usd"][:p] * open_mask[:, :p, t]).sum(axis=1)
        used_notional = (lots[:, :p] * risk["notional_usd"][:p] * open_mask[:, :p, t]).sum(axis=1)
        if s.mode == "fixed":
            want = np.full(n_configs, float(s.contracts))
        else:
            per_lot = (
                risk["premium_usd"][p] if s.mode == "premium_fraction" else risk["capital_usd"][p]
            )
            want = np.floor(s.fraction * eq / per_lot) if per_lot > 0 else np.zeros(n_configs)
        want = np.floor(want * size_multiplier[p])
        caps = [want, np.full(n_configs, s.max_contracts_per_option // risk["max_units"][p])]
        if risk["margin_usd"][p] > 0:
            caps.append(
                np.floor((s.max_margin_fraction * eq - used_margin) / risk["margin_usd"][p])
            )
        if risk["notional_usd"][p] > 0:
            caps.append(
                np.floor(
                    (s.max_gross_notional_fraction * eq - used_notional) / risk["notional_usd"][p]
                )
            )
        n = np.clip(np.min(np.vstack(caps), axis=0), 0, None)
        n[n_open >= e.max_open_positions] = 0
        lots[:, p] = n.astype(np.int64)
        equity += n[:, None] * value[:, p, :] - (n > 0)[:, None] * fees[:, p, :]
    return lots


def run_sweep(
    chain: pl.LazyFrame,
    universe: pl.LazyFrame,
    underlying: pl.LazyFrame,
    cfg: BacktestConfig,
    *,
    grid: list[ExitConfig] | None = None,
    forecasts: pl.LazyFrame | None = None,
    selector: pl.LazyFrame | None = None,
    scores: pl.LazyFrame | None = None,
) -> list[BacktestResult]:
    """Backtest ``cfg`` under each exit configuration of ``grid`` (default: ``cfg.exits``).

    Parameters
    ----------
    chain
        ``marts.fct_option_features`` of the underlying: one row per contract per quote_date;
        needs ``engine.schema.CHAIN_COLUMNS`` (prices in index points, ``dte`` calendar days,
        ``vega`` per vol point, ``theta`` per calendar day).
    universe
        Entry universe: ``contract_symbol, quote_date`` rows (a ``marts`` universe view).
    underlying
        ``marts.fct_underlying_daily`` of the underlying: ``trade_date, open, close`` (raw).
    forecasts
        ``as_of_date, p_up`` (one row per day) for prob_up signals.
    selector
        ``as_of_date, strategy, size_tier, direction_confidence`` for the selector signal.
    scores
        ``contract_symbol, as_of_date, score`` for top_k.

    Returns
    -------
    list[BacktestResult]
        One per grid row, in grid order; each is deterministic and independent of row order.

    Raises
    ------
    ValueError
        Missing columns (named), a missing signal frame, a key that repeats, or no trading
        day in the window.
    """
    require_columns(chain, CHAIN_COLUMNS, "chain (marts.fct_option_features)")
    require_columns(underlying, UNDERLYING_COLUMNS, "underlying (marts.fct_underlying_daily)")
    grid = grid or [cfg.exits]
    e = cfg.entry
    chain = chain.filter(pl.col("option_root").is_in(list(cfg.option_roots)))
    calendar = trading_calendar(chain, cfg)
    signal_off = None
    if e.signal in ("prob_up_at_least", "prob_up_at_most"):
        if forecasts is None:
            raise ValueError(f"entry.signal {e.signal!r} needs forecasts (ml.predictions)")
        signals = prob_signals(forecasts, cfg)
        signal_off = signals.select("as_of_date", (~pl.col("signal_on")).alias("signal_off"))
    elif e.signal == "selector":
        if selector is None:
            raise ValueError("entry.signal 'selector' needs forecasts.fct_strategy_signals")
        signals = selector_signals(selector, cfg)
    else:
        signals = pl.LazyFrame(
            schema={
                "as_of_date": pl.Date,
                "signal_value": pl.Float64,
                "signal_on": pl.Boolean,
                "size_multiplier": pl.Float64,
            }
        )
    entries = entry_days(calendar, cfg, signals=signals)
    candidates = entry_candidates(chain, cfg, universe=universe, entries=entries)
    expirations = choose_expirations(candidates, cfg)
    if e.signal == "top_k":
        if scores is None:
            raise ValueError("entry.signal 'top_k' needs contract scores (ml.predictions)")
        legs = top_k_legs(candidates, cfg, scores=scores, expirations=expirations)
    else:
        legs = select_legs(candidates, cfg, expirations=expirations)
    # Checkpoints: the optimiser handles each stage well but not the whole graph at once
    # (one plan took 6 s where the staged collects take 0.3 s), so collect at stage boundaries.
    calendar, entries, legs, dupes = pl.collect_all(
        [
            calendar,
            entries,
            legs,
            chain.group_by("contract_symbol", "quote_date").len().filter(pl.col("len") > 1).head(1),
        ]
    )
    positions, position_legs = (
        lf.collect() for lf in open_positions(legs.lazy(), cfg, entries=entries.lazy())
    )
    underlying = underlying.select("trade_date", "open", "close")
    paths = mark_paths(
        positions.lazy(),
        position_legs.lazy(),
        cfg,
        chain=chain,
        underlying=underlying,
        calendar=calendar.lazy(),
    ).collect()
    last_date = calendar.lazy().select(pl.col("quote_date").max().alias("last_data_date"))
    exits = resolve_exits(
        positions.lazy(),
        paths.lazy(),
        exit_grid(grid),
        signal_off=signal_off,
        last_data_date=last_date,
    ).collect()
    priced = price_exits(
        exits.lazy(), position_legs.lazy(), cfg, chain=chain, underlying=underlying
    ).collect()
    f = {
        "calendar": calendar,
        "positions": positions,
        "position_legs": position_legs,
        "paths": paths,
        "exits": exits,
        "priced": priced,
        "dupes": dupes,
    }
    repeated = underlying.group_by("trade_date").len().filter(pl.col("len") > 1).head(1)
    repeated = repeated.collect()
    if repeated.height:
        raise ValueError(
            f"underlying repeats trade_date {repeated['trade_date'][0]}: one close per day expected"
        )
    if f["dupes"].height:
        row = f["dupes"].row(0, named=True)
        raise ValueError(
            f"chain repeats contract {row['contract_symbol']!r} on "
            f"{row['quote_date']}: one row per contract per quote_date expected"
        )
    if f["calendar"].is_empty():
        raise ValueError(
            f"no trading day of {cfg.underlying_symbol!r} roots "
            f"{list(cfg.option_roots)} in the window"
        )
    if f["positions"].is_empty():
        return [_empty_result(cfg, exits_cfg, f) for exits_cfg in grid]
    mats = _matrices(cfg, f, len(grid))
    return [_assemble(cfg, exits_cfg, i, f, mats) for i, exits_cfg in enumerate(grid)]


def run_backtest(
    chain: pl.LazyFrame,
    universe: pl.LazyFrame,
    underlying: pl.LazyFrame,
    cfg: BacktestConfig,
    **signals: Any,
) -> BacktestResult:
    """Backtest one config: :func:`run_sweep` with a one-row grid."""
    return run_sweep(chain, universe, underlying, cfg, **signals)[0]


def _matrices(cfg: BacktestConfig, f: dict[str, pl.DataFrame], n_configs: int) -> dict[str, Any]:
    """Per-lot cash, marks, open mask, fees and greeks as ``(config, position, day)`` arrays."""
    x = cfg.execution
    mult = x.multiplier
    positions = f["positions"].sort("position_id").with_row_index("_p")
    n_p = positions.height
    n_t = f["calendar"].height
    shape = (n_configs, n_p, n_t)
    pidx = positions.select("position_id", pl.col("_p").cast(pl.Int64))
    priced = f["priced"].join(
        f["position_legs"].select("position_id", "leg_no", "units", "ratio", "leg_type"),
        on=["position_id", "leg_no"],
    )
    exit_value = priced.group_by("config_id", "position_id").agg(
        (pl.col("units") * pl.col("exit_price")).sum().round(_DP).alias("exit_value"),
        (
            pl.col("ratio")
            .filter((pl.col("exit_kind") == "traded") & (pl.col("leg_type") != "stock"))
            .sum()
            .round(_DP)
            * x.commission_per_contract_usd
        ).alias("exit_cost_usd"),
        pl.col("exit_slippage_usd").sum().round(_DP),
        (pl.col("exit_kind") == "traded").all().alias("_traded_exit"),
        pl.col("exit_date").first(),
        pl.col("exit_reason").first(),
        pl.col("exit_type").first(),
        # how the expiring legs were valued; 'traded' when every leg was traded out
        pl.col("settlement_method")
        .filter(pl.col("exit_kind") != "traded")
        .first()
        .fill_null("traded"),
    )
    cal = f["calendar"]
    # cash arrives on the first trading day on or after the exit date (expiry on a day the
    # vendor skipped is booked on the next one)
    exit_value = (
        exit_value.sort("exit_date")
        .join_asof(
            cal.rename({"quote_date": "_book", "day_index": "book_index"}).sort("_book"),
            left_on="exit_date",
            right_on="_book",
            strategy="forward",
        )
        .with_columns(pl.col("book_index").fill_null(n_t))
        .join(pidx, on="position_id")
        .join(
            positions.select("position_id", "entry_day_index", "entry_value", "entry_cost_usd"),
            on="position_id",
        )
    )
    days = np.arange(n_t)
    cfgs = exit_value["config_id"].to_numpy()
    ps = exit_value["_p"].to_numpy()
    entry_i = exit_value["entry_day_index"].to_numpy()
    book_i = exit_value["book_index"].to_numpy()
    entry_cash = -(
        exit_value["entry_value"].to_numpy() * mult + exit_value["entry_cost_usd"].to_numpy()
    )
    exit_cash = exit_value["exit_value"].to_numpy() * mult - exit_value["exit_cost_usd"].to_numpy()
    cash = np.zeros(shape)
    open_mask = np.zeros(shape, dtype=bool)
    fees = np.zeros(shape)
    after_entry = days[None, :] >= entry_i[:, None]
    after_exit = days[None, :] >= book_i[:, None]
    cash[cfgs, ps, :] = entry_cash[:, None] * after_entry + exit_cash[:, None] * after_exit
    open_mask[cfgs, ps, :] = after_entry & ~after_exit
    traded_exit = exit_value["_traded_exit"].to_numpy()
    fees[cfgs, ps, :] = x.fee_per_order_usd * (after_entry + traded_exit[:, None] * after_exit)
    paths = f["paths"].join(pidx, on="position_id")
    marks = {}
    for column in ("value", "delta_usd", "gamma_usd", "vega_usd", "theta_usd"):
        one = np.zeros((n_p, n_t))
        one[paths["_p"].to_numpy(), paths["day_index"].to_numpy()] = paths[column].to_numpy()
        marks[column] = one
    stale = np.zeros((n_p, n_t), dtype=bool)
    stale[paths["_p"].to_numpy(), paths["day_index"].to_numpy()] = paths["is_stale"].to_numpy()
    mark_usd = marks["value"][None, :, :] * mult * open_mask
    # capital at risk of a lot (the maximum loss of a defined-risk structure, else its margin),
    # notional and the largest leg ratio: per position, the same for every grid row
    risk_frame = (
        _payoff_risk(f["position_legs"], positions, cfg)
        .join(positions.select("position_id", "_p"), on="position_id")
        .sort("_p")
    )
    max_units = (
        f["position_legs"]
        .filter(pl.col("leg_type") != "stock")
        .group_by("position_id")
        .agg(pl.col("ratio").max().alias("max_units"))
        .join(positions.select("position_id", "_p"), on="position_id")
        .sort("_p")
    )
    risk = {
        "premium_usd": np.abs(positions["entry_value"].to_numpy()) * mult,
        "capital_usd": risk_frame["margin_usd"].to_numpy(),
        "margin_usd": risk_frame["margin_usd"].to_numpy(),
        "notional_usd": risk_frame["notional_usd"].to_numpy(),
        "max_units": max_units["max_units"].to_numpy(),
    }
    return {
        "positions": positions,
        "exit_value": exit_value,
        "cash": cash,
        "open": open_mask,
        "fees": fees,
        "mark_usd": mark_usd,
        "greeks": marks,
        "stale": stale,
        "value": cash + mark_usd,
        "risk_frame": risk_frame,
        "risk": risk,
    }


def _assemble(
    cfg: BacktestConfig,
    exits_cfg: ExitConfig,
    config_id: int,
    f: dict[str, pl.DataFrame],
    mats: dict[str, Any],
) -> BacktestResult:
    x = cfg.execution
    positions = mats["positions"]
    risk_frame, risk = mats["risk_frame"], mats["risk"]
    c = config_id
    lots = size_positions(
        mats["value"][c : c + 1],
        mats["open"][c : c + 1],
        positions["entry_day_index"].to_numpy(),
        risk,
        positions["size_multiplier"].to_numpy(),
        mats["fees"][c : c + 1],
        cfg,
    )[0]
    run_cfg = dataclasses.replace(cfg, exits=exits_cfg)
    run_id = run_cfg.run_id
    cal = f["calendar"]
    held = lots > 0
    # the equity curve starts on the first day a position opened (the chain may hold far
    # older days, e.g. a week of 2011 before the 2019 chain)
    start = int(positions["entry_day_index"].to_numpy()[held].min()) if held.any() else 0
    cal = cal.filter(pl.col("day_index") >= start)
    cash = (
        cfg.initial_capital_usd
        + (lots[:, None] * mats["cash"][c]).sum(axis=0)
        - (held[:, None] * mats["fees"][c]).sum(axis=0)
    )
    marks = (lots[:, None] * mats["mark_usd"][c]).sum(axis=0)
    cash, marks = cash[start:], marks[start:]
    equity = cash + marks
    previous = np.concatenate([[cfg.initial_capital_usd], equity[:-1]])
    daily_return = equity / previous - 1.0
    peak = np.maximum.accumulate(np.concatenate([[cfg.initial_capital_usd], equity]))[1:]
    open_count = (held[:, None] & mats["open"][c]).sum(axis=0)[start:]
    greeks = {
        k: (lots[:, None] * mats["greeks"][k] * mats["open"][c]).sum(axis=0)[start:]
        for k in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")
    }
    equity_df = cal.select("quote_date").with_columns(
        pl.lit(run_id).alias("run_id"),
        pl.Series("cash_usd", cash),
        pl.Series("positions_value_usd", marks),
        pl.Series("equity_usd", equity),
        pl.Series("pnl_usd", equity - previous),
        pl.Series("daily_return", daily_return),
        pl.Series("drawdown", equity / peak - 1.0),
        pl.Series("open_positions", open_count.astype(np.int64)),
        *(pl.Series(k, v) for k, v in greeks.items()),
    )
    ev = mats["exit_value"].filter(pl.col("config_id") == c).sort("_p")
    mult = x.multiplier
    trades = (
        positions.join(
            ev.drop("_p", "entry_day_index", "entry_value", "entry_cost_usd"), on="position_id"
        )
        .join(risk_frame.drop("_p"), on="position_id")
        .sort("_p")
        .with_columns(pl.Series("lots", lots[positions["_p"].to_numpy()]))
        .filter(pl.col("lots") > 0)
        .with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(cfg.strategy.name).alias("strategy"),
            pl.lit(cfg.underlying_symbol).alias("underlying_symbol"),
            (
                (pl.col("entry_cost_usd") + pl.col("exit_cost_usd")) * pl.col("lots")
                + x.fee_per_order_usd * (1 + pl.col("_traded_exit").cast(pl.Int64))
            ).alias("commission_usd"),
            ((pl.col("entry_slippage_usd") + pl.col("exit_slippage_usd")) * pl.col("lots")).alias(
                "slippage_usd"
            ),
            (
                pl.col("book_index").clip(upper_bound=f["calendar"].height - 1)
                - pl.col("entry_day_index")
            ).alias("holding_days_actual"),
        )
        .with_columns(
            (
                (pl.col("exit_value") - pl.col("entry_value")) * mult * pl.col("lots")
                - pl.col("commission_usd")
            ).alias("pnl_usd"),
            (pl.col("margin_usd") * pl.col("lots")).alias("capital_at_risk_usd"),
        )
        .with_columns(
            (pl.col("pnl_usd") / pl.col("capital_at_risk_usd")).alias("trade_return"),
            pl.col("position_id").alias("trade_id"),
            (pl.col("max_loss_usd") * pl.col("lots")).alias("max_loss_usd"),
        )
    )
    trades_out = conform(trades, TRADES_SCHEMA).sort("trade_id")
    lot_of = trades_out.select("trade_id", "lots")
    legs_out = (
        f["position_legs"]
        .rename({"position_id": "trade_id"})
        .join(lot_of, on="trade_id")
        .join(
            f["priced"].filter(pl.col("config_id") == c).rename({"position_id": "trade_id"}),
            on=["trade_id", "leg_no"],
        )
        .with_columns(
            pl.lit(run_id).alias("run_id"),
            (pl.col("sign") * pl.col("ratio") * pl.col("lots")).alias("quantity"),
            pl.col("quote_date").alias("entry_date"),
            pl.col("mid").alias("entry_mid"),
        )
    )
    legs_out = conform(legs_out, LEGS_SCHEMA).sort("trade_id", "leg_no")
    pos_daily = _positions_daily(f, mats, lots, c, run_id, positions)
    summary = m.summarize(
        equity_df["daily_return"].to_numpy(),
        trades_out["pnl_usd"].to_numpy(),
        equity=equity_df["equity_usd"].to_numpy(),
        holding_days=trades_out["holding_days_actual"].to_numpy(),
        turnover_usd=float((np.abs(positions["entry_value"].to_numpy()) * mult * lots).sum()),
        exposure=float(np.mean(open_count > 0)) if len(open_count) else float("nan"),
        commissions_usd=float(trades_out["commission_usd"].sum()),
        slippage_usd=float(trades_out["slippage_usd"].sum()),
        initial_capital_usd=cfg.initial_capital_usd,
    )
    first, last = cal["quote_date"].min(), cal["quote_date"].max()
    metrics_df = conform(
        pl.DataFrame([{"run_id": run_id, **summary, "first_date": first, "last_date": last}]),
        METRICS_SCHEMA,
    )
    runs_df = _runs_row(cfg, run_cfg, first, last)
    return BacktestResult(
        run_id,
        runs_df,
        trades_out,
        legs_out,
        pos_daily,
        conform(equity_df, EQUITY_SCHEMA),
        metrics_df,
    )


def _positions_daily(
    f: dict[str, pl.DataFrame],
    mats: dict[str, Any],
    lots: np.ndarray,
    c: int,
    run_id: str,
    positions: pl.DataFrame,
) -> pl.DataFrame:
    open_c = mats["open"][c]
    p_idx, t_idx = np.nonzero((lots[:, None] > 0) & open_c)
    cal = f["calendar"]["quote_date"]
    g = mats["greeks"]
    frame = pl.DataFrame(
        {
            "run_id": run_id,
            "trade_id": positions["position_id"].to_numpy()[p_idx],
            "quote_date": cal.gather(t_idx),
            "lots": lots[p_idx],
            "mark_value_usd": lots[p_idx] * mats["mark_usd"][c, p_idx, t_idx],
            "unrealized_pnl_usd": lots[p_idx] * mats["value"][c, p_idx, t_idx],
            "is_stale": mats["stale"][p_idx, t_idx],
            **{
                k: lots[p_idx] * g[k][p_idx, t_idx]
                for k in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")
            },
        }
    )
    return conform(frame, POSITIONS_SCHEMA).sort("trade_id", "quote_date")


def _runs_row(cfg: BacktestConfig, run_cfg: BacktestConfig, first: Any, last: Any) -> pl.DataFrame:
    """The ``backtest.runs`` row of a run (model version and fingerprint are set by the CLI)."""
    return conform(
        pl.DataFrame(
            [
                {
                    "run_id": run_cfg.run_id,
                    "strategy": cfg.strategy.name,
                    "underlying_symbol": cfg.underlying_symbol,
                    "forecast_model": cfg.entry.forecast_model,
                    "model_version": None,
                    "config_json": json.dumps(run_cfg.to_dict(), sort_keys=True),
                    "config_hash": run_cfg.config_hash,
                    "data_fingerprint": None,
                    "first_date": first,
                    "last_date": last,
                }
            ]
        ),
        RUNS_SCHEMA,
    )


def _empty_result(
    cfg: BacktestConfig, exits_cfg: ExitConfig, f: dict[str, pl.DataFrame]
) -> BacktestResult:
    run_cfg = dataclasses.replace(cfg, exits=exits_cfg)
    run_id = run_cfg.run_id
    cal = f["calendar"]
    n = cal.height
    equity_df = cal.select("quote_date").with_columns(
        pl.lit(run_id).alias("run_id"),
        pl.lit(cfg.initial_capital_usd).alias("cash_usd"),
        pl.lit(0.0).alias("positions_value_usd"),
        pl.lit(cfg.initial_capital_usd).alias("equity_usd"),
        pl.lit(0.0).alias("pnl_usd"),
        pl.lit(0.0).alias("daily_return"),
        pl.lit(0.0).alias("drawdown"),
        pl.lit(0, dtype=pl.Int64).alias("open_positions"),
        *(pl.lit(0.0).alias(k) for k in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")),
    )
    summary = m.summarize(
        np.zeros(n),
        np.zeros(0),
        equity=np.full(n, cfg.initial_capital_usd),
        holding_days=np.zeros(0),
        turnover_usd=0.0,
        exposure=0.0,
        commissions_usd=0.0,
        slippage_usd=0.0,
        initial_capital_usd=cfg.initial_capital_usd,
    )
    first, last = cal["quote_date"].min(), cal["quote_date"].max()
    return BacktestResult(
        run_id,
        _runs_row(cfg, run_cfg, first, last),
        pl.DataFrame(schema=TRADES_SCHEMA),
        pl.DataFrame(schema=LEGS_SCHEMA),
        pl.DataFrame(schema=POSITIONS_SCHEMA),
        conform(equity_df, EQUITY_SCHEMA),
        conform(
            pl.DataFrame([{"run_id": run_id, **summary, "first_date": first, "last_date": last}]),
            METRICS_SCHEMA,
        ),
    )


def sweep_grid(axes: dict[str, list[Any]]) -> list[ExitConfig]:
    """The cartesian product of exit-parameter axes, as exit configs (grid order).

    Raises
    ------
    ValueError
        An axis that is not one of :data:`SWEEP_KEYS` (named).
    """
    unknown = sorted(set(axes) - set(SWEEP_KEYS))
    if unknown:
        raise ValueError(f"sweep axes must be among {list(SWEEP_KEYS)}, got {unknown}")
    keys = list(axes)
    return [
        ExitConfig(**dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*(axes[k] for k in keys))
    ]
