"""Exits: when each position closes under each exit configuration, and at what price.

The first rule that fires, evaluated each session after entry and before the front expiration:
early assignment of a short American call before an ex-dividend date (:mod:`engine.marks`: in the
money with time value below the dividend, the standard rule: Hull 2021 §11.5), which closes the
position at that session (the call at its intrinsic value, the other legs traded). LEAN's
``DefaultOptionAssignmentModel``, read as a peer, instead assigns American options at least 5 %
in the money within 4 days of expiry when exercising beats selling at the bid; that
no-arbitrage assignment is not modelled here. Then take-profit / stop-loss on the mark P&L as %
of the entry premium (for credits, of the credit: the maximum profit); N sessions held
(:mod:`engine.sessions`: sessions, not vendor days); a DTE; the signal no longer holding.
Every fill needs a fresh quote of every leg it trades: a trigger on a stale session moves to the
next session where every leg is quoted (``exit_type = 'nearest_day'``). Otherwise the position
settles at the front expiration (:mod:`engine.settlement`); legs expiring later (calendars,
diagonals) are sold at the first session on or after it where they are quoted. A position whose
exit the data does not reach stays **open**: marked at its last quotes, reported with
``status = 'open'`` and unrealised P&L, and left out of closed-trade statistics (no hindsight
close on the last day of the data).

Sweeps evaluate a grid of exit parameters as an axis of the same computation: positions and marks
are built once, exits for every grid row in one query.
"""

from __future__ import annotations

import polars as pl

from engine.config import BacktestConfig, ExitConfig
from engine.fills import fill_price, is_abandoned
from engine.settlement import intrinsic, settlement_method, settlement_price

SWEEP_KEYS: tuple[str, ...] = ("take_profit_pct", "stop_loss_pct", "holding_days", "exit_dte")


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
    coverage_end: pl.LazyFrame,
) -> pl.LazyFrame:
    """Each position's exit under each grid row: date, reason and how it is priced.

    Parameters
    ----------
    paths
        :func:`engine.marks.mark_paths` plus ``is_back_stale`` (a leg expiring after the front
        expiration has no fresh quote).
    signal_off
        ``quote_date, signal_off`` (the signal mapped to the session it is known on), or None.
    coverage_end
        One row, ``coverage_end``: the last session with quotes in the run's window.

    Returns
    -------
    pl.LazyFrame
        One row per ``config_id`` × ``position_id``: ``exit_date`` (null while open),
        ``settle_date`` (the front expiration when the position settled, else null),
        ``exit_reason`` (``early_assignment | take_profit | stop_loss | holding_period |
        exit_dte | signal | expiration | open``), ``exit_type`` (``exact``; ``nearest_day``
        when the fill moved to the next fully quoted session; ``settlement``; null while open).
    """
    p = paths.join(
        positions.select("position_id", "entry_day_index", "entry_mid_value", "expiration"),
        on="position_id",
    )
    pnl_pct = (pl.col("value") - pl.col("entry_mid_value")) / pl.col("entry_mid_value").abs() * 100
    held = pl.col("day_index") - pl.col("entry_day_index")
    after_entry = (held > 0) & (pl.col("quote_date") < pl.col("expiration"))
    if signal_off is not None:
        p = p.join(signal_off, on="quote_date", how="left")
        off = pl.col("signal_off").fill_null(False)
    else:
        off = pl.lit(False)
    triggers = (
        p.join(grid, how="cross")
        .filter(after_entry)
        .with_columns(
            pl.when(pl.col("is_early_assignment"))
            .then(pl.lit("early_assignment"))
            .when(pnl_pct >= pl.col("take_profit_pct"))
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
            pl.lit(None, dtype=pl.Date).alias("settle_date"),
            pl.when(pl.col("exit_date") == pl.col("_trigger_date"))
            .then(pl.lit("exact"))
            .otherwise(pl.lit("nearest_day"))
            .alias("exit_type"),
        )
        .drop("_trigger_date")
    )
    # at the front expiration: settle it; later legs trade on the first session they are quoted
    back_fresh = (
        paths.filter(~pl.col("is_back_stale"))
        .join(positions.select("position_id", "expiration"), on="position_id")
        .filter(pl.col("quote_date") >= pl.col("expiration"))
        .group_by("position_id")
        .agg(pl.col("quote_date").min().alias("_settled_exit"))
    )
    rest = (
        positions.select("position_id", "expiration")
        .join(grid.select("config_id"), how="cross")
        .join(
            traded.select("config_id", "position_id", pl.lit(True).alias("_traded")),
            on=["config_id", "position_id"],
            how="left",
        )
        .filter(pl.col("_traded").is_null())
        .join(coverage_end, how="cross")
        .join(back_fresh, on="position_id", how="left")
        .with_columns(
            (
                (pl.col("expiration") <= pl.col("coverage_end"))
                & (pl.col("_settled_exit") <= pl.col("coverage_end"))
            )
            .fill_null(False)
            .alias("_settles")
        )
        .select(
            "config_id",
            "position_id",
            pl.when("_settles").then(pl.col("_settled_exit")).alias("exit_date"),
            pl.when("_settles").then(pl.col("expiration")).alias("settle_date"),
            pl.when("_settles")
            .then(pl.lit("expiration"))
            .otherwise(pl.lit("open"))
            .alias("exit_reason"),
            pl.when(pl.col("_settles") & (pl.col("_settled_exit") == pl.col("expiration")))
            .then(pl.lit("settlement"))
            .when("_settles")
            .then(pl.lit("nearest_day"))
            .alias("exit_type"),
        )
    )
    return (
        pl.concat([traded, rest], how="diagonal_relaxed")
        .select("config_id", "position_id", "exit_date", "settle_date", "exit_reason", "exit_type")
        .sort("config_id", "position_id")
    )


def price_exits(
    exits: pl.LazyFrame,
    position_legs: pl.LazyFrame,
    positions: pl.LazyFrame,
    cfg: BacktestConfig,
    *,
    chain: pl.LazyFrame,
    settlements: pl.LazyFrame,
    underlying: pl.LazyFrame,
    calendar: pl.LazyFrame,
) -> pl.LazyFrame:
    """Exit price of every leg of every closed (config, position).

    Option legs expiring on the settle date are worth their intrinsic value at the settlement
    price (:mod:`engine.settlement`); other option legs fill at their exit session's quote
    (:func:`engine.fills.fill_price`, closing side; a long leg without a bid is abandoned at 0);
    stock legs at the settlement price when the position settles (or, with
    ``execution.stock_exit_price: quote_time_spot``, at the expiration session's spot at the quote
    time, where a roll on that session buys it back: no gap in the stock between two positions),
    else at the session's spot at the quote time. ITM physically settled options are
    ``exercised`` / ``assigned``.

    Returns one row per config × closed position × leg: ``exit_date`` (the leg's own),
    ``exit_reason``, ``exit_type``, ``exit_price`` (points per unit), ``exit_kind`` (``traded |
    settled | exercised | assigned | expired_worthless | abandoned``), ``settlement_method``,
    ``settlement_price``, ``exit_slippage_usd`` (per lot), ``exit_mid``.
    """
    x = cfg.execution
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
    ).join(
        positions.select("position_id", pl.col("settlement_type").alias("_front_settlement")),
        on="position_id",
    )
    is_stock = pl.col("leg_type") == "stock"
    closed = exits.filter(pl.col("exit_date").is_not_null())
    rows = (
        closed.join(legs, on="position_id")
        .with_columns(
            (
                pl.col("settle_date").is_not_null()
                & (is_stock | (pl.col("expiration") == pl.col("settle_date")))
            ).alias("_settles")
        )
        .with_columns(
            pl.when("_settles")
            .then(pl.col("settle_date"))
            .otherwise(pl.col("exit_date"))
            .alias("_leg_date"),
            pl.coalesce("settlement_type", "_front_settlement").alias("_stype"),
        )
        .join(settlements.rename({"trade_date": "_leg_date"}), on="_leg_date", how="left")
        .join(
            underlying.select(
                pl.col("trade_date").alias("_leg_date"), pl.col("close").alias("_close")
            ),
            on="_leg_date",
            how="left",
        )
        .join(
            calendar.select(pl.col("quote_date").alias("_leg_date"), pl.col("spot").alias("_spot")),
            on="_leg_date",
            how="left",
        )
        .join(
            chain.select(
                "contract_symbol", pl.col("quote_date").alias("_leg_date"), "bid", "ask", "mid"
            ),
            on=["contract_symbol", "_leg_date"],
            how="left",
        )
        .with_columns(
            # the stock leg of a settling position is valued with its options' settlement type
            pl.col("_stype").alias("settlement_type"),
        )
        .with_columns(settlement_price().alias("_settle"), settlement_method().alias("_method"))
    )
    closing_buy = pl.col("sign") < 0
    value = intrinsic(pl.col("_settle"))
    early = (
        (pl.col("exit_reason") == "early_assignment")
        & (pl.col("leg_type") == "call")
        & (pl.col("sign") < 0)
        & (pl.col("exercise_style") == "american")
        & (pl.col("_spot") > pl.col("strike"))
    )
    physical = pl.col("exercise_style") == "american"
    points = pl.when(is_stock).then(1.0 / x.multiplier).otherwise(1.0)
    abandoned = ~is_stock & ~pl.col("_settles") & ~early & is_abandoned(closing_buy)
    # a stock leg that is not settled against the options' settlement price trades at the spot
    stock_settles = is_stock & pl.col("_settles")
    if x.stock_exit_price == "quote_time_spot":
        stock_settles = stock_settles & pl.col("_spot").is_null()
    return (
        rows.with_columns(
            pl.when(early)
            .then(pl.col("_spot") - pl.col("strike"))
            .when(stock_settles)
            .then(pl.col("_settle"))
            .when(is_stock)
            .then(pl.col("_spot"))
            .when(pl.col("_settles"))
            .then(value)
            .when(abandoned)
            .then(0.0)
            .otherwise(fill_price(closing_buy, x))
            .alias("exit_price"),
            pl.when(early)
            .then(pl.lit("assigned"))
            .when(is_stock | ~pl.col("_settles"))
            .then(pl.when(abandoned).then(pl.lit("abandoned")).otherwise(pl.lit("traded")))
            .when(value <= 0)
            .then(pl.lit("expired_worthless"))
            .when(physical & (pl.col("sign") < 0))
            .then(pl.lit("assigned"))
            .when(physical)
            .then(pl.lit("exercised"))
            .otherwise(pl.lit("settled"))
            .alias("exit_kind"),
            pl.when(is_stock & pl.col("_settles") & ~stock_settles)
            .then(pl.lit("traded"))
            .when(pl.col("_settles"))
            .then(pl.col("_method"))
            .when(early)
            .then(pl.lit("early_assignment_quote_time_spot"))
            .otherwise(pl.lit("traded"))
            .alias("settlement_method"),
            pl.when(is_stock & pl.col("_settles") & ~stock_settles)
            .then(None)
            .when(pl.col("_settles"))
            .then(pl.col("_settle"))
            .when(early)
            .then(pl.col("_spot"))
            .alias("settlement_price"),
            pl.when(is_stock).then(pl.col("_spot")).otherwise(pl.col("mid")).alias("exit_mid"),
        )
        .with_columns(
            pl.when(pl.col("_settles") | is_stock | abandoned | early)
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
            pl.col("_leg_date").alias("exit_date"),
            "exit_reason",
            "exit_type",
            "exit_price",
            "exit_kind",
            "settlement_method",
            "settlement_price",
            "exit_slippage_usd",
            "exit_mid",
        )
        .sort("config_id", "position_id", "leg_no")
    )
