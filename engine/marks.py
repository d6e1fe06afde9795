"""Positions and their daily marks, session by session at the quote time.

A position is one entry: a lot of every leg, entered at the entry session's fills
(:mod:`engine.fills`). Each session from entry to its last expiration it is marked at mid; a leg
without a fresh quote that session (the vendor skipped the session, the contract is missing, or
the warehouse flags the quote stale) keeps its last mark and the day is *stale*. Stock legs trade
and mark at the chain's spot at the quote time, the same moment as the options they pair with
(never at a close taken 15 minutes later).
"""

from __future__ import annotations

import polars as pl

from engine.config import BacktestConfig
from engine.fills import fill_price

# Float sums inside a parallel group-by may add in a different order from run to run; rounding
# them to 9 decimals (prices have 2) makes every table bit-identical and keeps a P&L that sits
# exactly on a take-profit or stop-loss threshold on the same side of it.
DP = 9


def open_positions(
    legs: pl.LazyFrame, cfg: BacktestConfig, *, entries: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Number the positions and price their entry per lot.

    Returns
    -------
    (positions, position_legs)
        ``positions``: one row per position: ``position_id`` (1, 2, … by entry session, then
        rank), ``entry_date``, ``entry_day_index``, ``expiration`` (front), ``last_expiration``,
        ``settlement_type`` of the front legs, ``entry_underlying_price``, ``signal_date``,
        ``signal_value``, ``size_multiplier``, ``entry_value`` (net premium per lot, index
        points, + debit / - credit, at fill prices), ``entry_mid_value`` (same at mid),
        ``entry_cost_usd`` (commissions per lot), ``entry_slippage_usd``.
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
            .otherwise(fill_price(pl.col("sign") > 0, x))
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
        pl.col("expiration").filter(~is_stock).min().alias("expiration"),
        pl.col("expiration").filter(~is_stock).max().alias("last_expiration"),
        pl.col("settlement_type").filter(front & ~is_stock).first().alias("settlement_type"),
        pl.col("underlying_price").first().alias("entry_underlying_price"),
        (pl.col("units") * pl.col("entry_price")).sum().round(DP).alias("entry_value"),
        (pl.col("units") * pl.col("mid")).sum().round(DP).alias("entry_mid_value"),
        (pl.col("ratio").filter(~is_stock).sum() * x.commission_per_contract_usd).alias(
            "entry_cost_usd"
        ),
        pl.col("entry_slippage_usd").sum().round(DP),
        pl.col("rank").first(),
    )
    entry_info = entries.select(
        "quote_date", "day_index", "signal_date", "signal_value", "size_multiplier"
    )
    if "signal_value" in names:  # top_k: the contract's own score and signal date
        entry_info = entry_info.drop("signal_value", "signal_date")
        per_position = per_position.join(
            legs.group_by("quote_date", "rank")
            .agg(pl.col("signal_value").first(), pl.col("signal_date").first())
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
    calendar: pl.LazyFrame,
) -> pl.LazyFrame:
    """Daily marks per position and lot, every session from entry to its last expiration.

    Returns
    -------
    pl.LazyFrame
        One row per position per session ``entry_date <= quote_date <= last_expiration``:
        ``day_index``, ``value`` (Σ units × mid, index points per lot, stale legs carried),
        ``is_stale`` (a leg has no fresh quote), ``is_back_stale`` (a leg expiring after the
        front expiration has none), ``is_early_assignment`` (a short American call is in the
        money on the last session before an ex-dividend date with time value below the
        dividend: it is assigned; ``calendar`` carries ``next_ex_dividend_usd``), ``front_dte``
        (calendar days) and the lot's greeks ``delta_usd`` (dollar delta), ``gamma_usd``
        (dollar gamma per 1 % move), ``vega_usd`` (per vol point) and ``theta_usd`` (per
        calendar day).
    """
    x = cfg.execution
    days = (
        positions.select(
            "position_id", "entry_date", pl.col("expiration").alias("_front"), "last_expiration"
        )
        .join(
            calendar.select(
                "quote_date",
                "day_index",
                pl.col("spot").alias("_day_spot"),
                "next_ex_dividend_usd",
            ),
            how="cross",
        )
        .filter(
            (pl.col("quote_date") >= pl.col("entry_date"))
            & (pl.col("quote_date") <= pl.col("last_expiration"))
        )
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
        "position_id",
        "leg_no",
        "leg_type",
        "contract_symbol",
        "units",
        "mid",
        pl.col("expiration").alias("_leg_expiration"),
        pl.col("strike").alias("_strike"),
        (
            (pl.col("leg_type") == "call")
            & (pl.col("sign") < 0)
            & (pl.col("exercise_style") == "american")
        ).alias("_short_american_call"),
    )
    stock = pl.col("leg_type") == "stock"
    grid = (
        days.join(legs, on="position_id")
        .join(quotes, on=["contract_symbol", "quote_date"], how="left")
        .sort("position_id", "leg_no", "quote_date")
        .with_columns(
            pl.when(stock).then(pl.col("_day_spot")).otherwise(pl.col("_mid")).alias("_fresh")
        )
        .with_columns(
            pl.col("_fresh").forward_fill().over("position_id", "leg_no").alias("_mark"),
            (pl.col("_fresh").is_null() | (~stock & pl.col("_stale").fill_null(False))).alias(
                "_leg_stale"
            ),
            pl.coalesce("_spot", "_day_spot")
            .forward_fill()
            .over("position_id", "leg_no")
            .alias("_s"),
        )
        .with_columns(pl.coalesce("_mark", "mid").alias("_mark"))
    )
    mult = x.multiplier
    u = pl.col("units")
    return (
        grid.group_by("position_id", "quote_date")
        .agg(
            pl.col("day_index").first(),
            (u * pl.col("_mark")).sum().round(DP).alias("value"),
            pl.col("_leg_stale").any().alias("is_stale"),
            (pl.col("_leg_stale") & (pl.col("_leg_expiration") > pl.col("_front")))
            .any()
            .alias("is_back_stale"),
            # the holder of an in-the-money American call exercises on the last cum-dividend
            # session when the dividend exceeds the call's time value (Hull 2021, §11.5)
            (
                pl.col("_short_american_call")
                & ~pl.col("_leg_stale")
                & (pl.col("_s") > pl.col("_strike"))
                & (
                    pl.col("_mark") - (pl.col("_s") - pl.col("_strike"))
                    < pl.col("next_ex_dividend_usd").fill_null(0.0)
                )
            )
            .any()
            .alias("is_early_assignment"),
            (
                pl.when(stock).then(u).otherwise(u * pl.col("_delta").fill_null(0.0))
                * pl.col("_s")
                * mult
            )
            .sum()
            .round(DP)
            .alias("delta_usd"),
            (u * pl.col("_gamma").fill_null(0.0) * pl.col("_s") ** 2 * 0.01 * mult)
            .sum()
            .round(DP)
            .alias("gamma_usd"),
            (u * pl.col("_vega").fill_null(0.0) * mult).sum().round(DP).alias("vega_usd"),
            (u * pl.col("_theta").fill_null(0.0) * mult).sum().round(DP).alias("theta_usd"),
        )
        .join(positions.select("position_id", "expiration"), on="position_id")
        .with_columns(
            (pl.col("expiration") - pl.col("quote_date"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("front_dte")
        )
        .drop("expiration")
        .sort("position_id", "quote_date")
    )
