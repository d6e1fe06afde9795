"""The portfolio: lots per position, cash, marks and equity by session, and the result tables.

NumPy over ``(config, position, session)`` arrays, built once for a whole sweep:

- **Sizing** (:func:`size_positions`, in entry order): fixed lots, or a fraction of equity by net
  premium or by capital at risk (the Cboe strategy-based margin of :mod:`engine.margin`), capped
  per option, by gross notional, by margin and by the number of open positions. An entry sized to
  zero is written to ``backtest.skipped_entries`` with the cap that did it.
- **Equity**: cash plus every open position marked at mid, each session of the run's window (its
  configured dates clipped to the data's coverage), from the first session, not the first trade.
- **Cash interest** (``cash_interest: tbill_1m``, :mod:`engine.cash`): every cash flow, and the
  initial capital, grows at the 1-month T-bill rate from the session it was paid; the per-lot
  cumulative cash and fee arrays are replaced by their grown values (:func:`engine.cash.grow`,
  linear, so sizing stays one pass over positions), lots are sized on the grown equity, and
  ``equity_daily.cash_interest_usd`` is each session's interest. Trade P&L
  (``trades.pnl_usd``, ``positions_daily.unrealized_pnl_usd``) excludes it: it is the account's.
  With ``none`` nothing is grown and every number is what it was before the account existed.
- **Trades**: closed positions with their realised P&L; positions still open at the end with
  ``status = 'open'``, their last mark and unrealised P&L.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import polars as pl

from engine import cash as ca
from engine import metrics as m
from engine.config import BacktestConfig, ExitConfig
from engine.margin import strategy_margin
from engine.marks import DP
from engine.schema import (
    EQUITY_SCHEMA,
    LEGS_SCHEMA,
    METRICS_SCHEMA,
    POSITIONS_SCHEMA,
    RUNS_SCHEMA,
    SKIPPED_SCHEMA,
    TRADES_SCHEMA,
    conform,
)

#: Underlyings margined as broad-based indices, and ETFs on them (Cboe Margin Manual, 2021,
#: "Short Put or Call": 15 % of the underlying; p. 30 applies it to broad-based index ETFs).
BROAD_BASED_INDICES = frozenset(
    {"SPX", "XSP", "NDX", "RUT", "DJX", "OEX", "XEO", "VIX", "MXEA", "SPY", "QQQ", "IWM", "DIA"}
)
_CAPS = (
    "sizing.fraction",
    "sizing.max_contracts_per_option",
    "sizing.max_margin_fraction",
    "sizing.max_gross_notional_fraction",
)


def size_positions(
    value: np.ndarray,
    open_mask: np.ndarray,
    entry_index: np.ndarray,
    risk: dict[str, np.ndarray],
    size_multiplier: np.ndarray,
    fees: np.ndarray,
    cfg: BacktestConfig,
    growth: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lots of each position, in entry order, for every config at once.

    Parameters
    ----------
    value
        ``(n_configs, n_positions, n_days)``: per lot, cash flows to date plus mark (USD), the
        position's contribution to equity; 0 before entry. With interest on cash, the flows
        grown to each session (:func:`engine.cash.grow`).
    open_mask
        ``(n_configs, n_positions, n_days)`` bool: the position is open that day.
    entry_index
        ``(n_positions,)`` session index of each entry (positions sorted by it).
    risk
        ``premium_usd``, ``capital_usd`` (margin), ``margin_usd``, ``notional_usd``,
        ``max_units`` (largest leg ratio): per lot, ``(n_positions,)``.
    size_multiplier
        ``(n_positions,)``: 1, or 0.5 for a HALF selector signal.
    fees
        ``(n_configs, n_positions, n_days)``: per-order fees to date (USD), charged when lots > 0
        (grown like ``value``'s flows with interest on cash).
    growth
        ``(n_days,)``: the cash account's growth ``G_t`` (:func:`engine.cash.session_rates`):
        the initial capital is worth ``initial_capital_usd × G_t``; ``None``: no interest.

    Returns
    -------
    (lots, skip)
        ``(n_configs, n_positions)`` int lots (0 = skipped) and, where 0, why: the binding cap's
        config key, or ``max_open_positions`` (object array; ``None`` where sized).
    """
    s, e = cfg.sizing, cfg.entry
    n_configs, n_positions, _ = value.shape
    lots = np.zeros((n_configs, n_positions), dtype=np.int64)
    skip = np.full((n_configs, n_positions), None, dtype=object)
    equity = np.full((n_configs, value.shape[2]), cfg.initial_capital_usd)
    if growth is not None:
        equity = equity * growth[None, :]
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
        inf = np.full(n_configs, np.inf)
        caps = [
            want,
            np.full(n_configs, s.max_contracts_per_option // risk["max_units"][p]),
            inf,
            inf,
        ]
        if risk["margin_usd"][p] > 0:
            caps[2] = np.floor((s.max_margin_fraction * eq - used_margin) / risk["margin_usd"][p])
        if risk["notional_usd"][p] > 0:
            caps[3] = np.floor(
                (s.max_gross_notional_fraction * eq - used_notional) / risk["notional_usd"][p]
            )
        stacked = np.vstack(caps)
        n = np.clip(np.min(stacked, axis=0), 0, None)
        binding = np.argmin(stacked, axis=0)
        full = n_open >= e.max_open_positions
        n[full] = 0
        for c in np.flatnonzero(n == 0):
            skip[c, p] = "max_open_positions" if full[c] else _CAPS[binding[c]]
        lots[:, p] = n.astype(np.int64)
        equity += n[:, None] * value[:, p, :] - (n > 0)[:, None] * fees[:, p, :]
    return lots, skip


def matrices(cfg: BacktestConfig, f: dict[str, pl.DataFrame], n_configs: int) -> dict[str, Any]:
    """Per-lot cash, marks, open mask, fees and greeks as ``(config, position, day)`` arrays.

    ``cash`` (entry and exit cash, dividends) and ``fees`` are cumulative USD per lot; with
    ``cash_interest: tbill_1m`` (``f["cash_rates"]``, :func:`engine.cash.session_rates`) they
    are grown (:func:`engine.cash.grow`: each flow with the interest it earned since its
    session), ``growth`` is ``G_t`` (else ``None``), and ``position_value`` keeps the ungrown
    cash plus mark (the position's own P&L; the same array as ``value`` without interest).

    Raises
    ------
    ValueError
        ``cash_interest: tbill_1m`` without ``f["cash_rates"]``.
    """
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
    per_exit = priced.group_by("config_id", "position_id").agg(
        (pl.col("units") * pl.col("exit_price")).sum().round(DP).alias("exit_value"),
        (
            pl.col("ratio")
            .filter((pl.col("exit_kind") == "traded") & (pl.col("leg_type") != "stock"))
            .sum()
            .round(DP)
            * x.commission_per_contract_usd
        ).alias("exit_cost_usd"),
        pl.col("exit_slippage_usd").sum().round(DP),
        (pl.col("exit_kind").is_in(["traded", "abandoned"])).all().alias("_traded_exit"),
        # how the expiring legs were valued; 'traded' when every leg was traded out
        pl.col("settlement_method")
        .filter(~pl.col("exit_kind").is_in(["traded", "abandoned"]))
        .first()
        .fill_null("traded"),
    )
    cal = f["calendar"]
    last_value = (
        f["paths"]
        .sort("quote_date")
        .group_by("position_id")
        .agg(pl.col("value").last().alias("_last_mark"))
    )
    exit_value = (
        f["exits"]
        .join(per_exit, on=["config_id", "position_id"], how="left")
        .join(
            cal.select(
                pl.col("quote_date").alias("exit_date"), pl.col("day_index").alias("book_index")
            ),
            on="exit_date",
            how="left",
        )
        .with_columns(
            pl.col("book_index").fill_null(n_t),
            pl.col("exit_value").fill_null(0.0),
            pl.col("exit_cost_usd").fill_null(0.0),
            pl.col("exit_slippage_usd").fill_null(0.0),
            pl.col("_traded_exit").fill_null(False),
        )
        .join(pidx, on="position_id")
        .join(
            positions.select("position_id", "entry_day_index", "entry_value", "entry_cost_usd"),
            on="position_id",
        )
        .join(last_value, on="position_id", how="left")
        .sort("config_id", "_p")
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
    dividends = _dividend_cash(f, positions, entry_i, book_i, ps, n_t)
    cash[cfgs, ps, :] += dividends
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
    growth = _growth(cfg, f)
    position_value = cash + mark_usd
    if growth is not None:
        cash = ca.grow(cash, growth)
        fees = ca.grow(fees, growth)
        value = cash + mark_usd
    else:
        value = position_value
    underlying_class = (
        "broad_based_index" if cfg.underlying_symbol in BROAD_BASED_INDICES else "equity"
    )
    risk_frame = (
        strategy_margin(
            f["position_legs"],
            positions.select(
                "position_id",
                "entry_value",
                "entry_underlying_price",
                pl.lit(cfg.strategy.cash_secured).alias("is_cash_secured"),
            ),
            multiplier=mult,
            underlying_class=underlying_class,
        )
        .join(positions.select("position_id", "_p"), on="position_id")
        .sort("_p")
    )
    # the notional cap counts short options only: long wings reduce risk, they do not add to it
    max_units = (
        f["position_legs"]
        .filter(pl.col("leg_type") != "stock")
        .group_by("position_id")
        .agg(
            pl.col("ratio").max().alias("max_units"),
            (pl.col("ratio") * pl.col("strike") * mult)
            .filter(pl.col("sign") < 0)
            .sum()
            .alias("short_notional_usd"),
        )
        .join(positions.select("position_id", "_p"), on="position_id")
        .sort("_p")
    )
    risk = {
        "premium_usd": np.abs(positions["entry_value"].to_numpy()) * mult,
        "capital_usd": risk_frame["margin_usd"].to_numpy(),
        "margin_usd": risk_frame["margin_usd"].to_numpy(),
        "notional_usd": max_units["short_notional_usd"].to_numpy(),
        "max_units": max_units["max_units"].to_numpy(),
    }
    exit_value = exit_value.with_columns(
        pl.Series("dividends_per_lot_usd", dividends[:, -1] if n_t else np.zeros(len(ps)))
    )
    return {
        "positions": positions,
        "exit_value": exit_value,
        "cash": cash,
        "open": open_mask,
        "fees": fees,
        "mark_usd": mark_usd,
        "greeks": marks,
        "stale": stale,
        "value": value,
        "position_value": position_value,
        "growth": growth,
        "risk_frame": risk_frame,
        "risk": risk,
    }


def _growth(cfg: BacktestConfig, f: dict[str, Any]) -> np.ndarray | None:
    """``(n_days,)`` growth of the cash account (``None`` with ``cash_interest: none``)."""
    if cfg.cash_interest == "none":
        return None
    rates = f.get("cash_rates")
    if rates is None:
        raise ValueError(
            f"cash_interest {cfg.cash_interest!r} needs the session rates "
            "(engine.cash.session_rates) of the run"
        )
    if rates.height != f["calendar"].height:
        raise ValueError(
            f"cash rates cover {rates.height} sessions, the run {f['calendar'].height}"
        )
    return rates["growth"].to_numpy()


def _dividend_cash(
    f: dict[str, Any],
    positions: pl.DataFrame,
    entry_i: np.ndarray,
    book_i: np.ndarray,
    ps: np.ndarray,
    n_t: int,
) -> np.ndarray:
    """Dividends received (paid, when short) per lot by stock legs, ``(n_rows, n_days)`` USD.

    A lot holding stock on an ex-dividend session's open (bought before it, still held when it
    opens: entry session < ex session <= exit session) is credited shares × dividend on the
    ex-date (the accrual date; the pay date comes weeks later, with no interest modelled).
    """
    out = np.zeros((len(ps), n_t))
    dividends = f.get("dividends")
    if dividends is None or dividends.is_empty():
        return out
    shares = (
        f["position_legs"]
        .filter(pl.col("leg_type") == "stock")
        .group_by("position_id")
        .agg((pl.col("sign") * pl.col("ratio")).sum().alias("_shares"))
    )
    per_position = positions.join(shares, on="position_id", how="left")["_shares"].fill_null(0)
    per_row = per_position.to_numpy()[ps].astype(np.float64)
    if not per_row.any():
        return out
    ex = (
        f["calendar"]
        .join(dividends.rename({"ex_date": "quote_date"}), on="quote_date")
        .select("day_index", "dividend_usd")
    )
    # per session, the dividends going ex that day, and their running sum: a lot entered on
    # session e and booked out on b has received, by session t, the amounts of the ex-dates
    # in (e, min(t, b)], i.e. cumulative[min(t, b)] - cumulative[e] (0 until t > e). One pass
    # over (rows, sessions) whatever the number of ex-dates (a daily yield accrual has one per
    # session).
    per_day = np.zeros(n_t)
    np.add.at(per_day, ex["day_index"].to_numpy(), ex["dividend_usd"].to_numpy())
    cumulative = np.cumsum(per_day)
    days = np.arange(n_t)
    upto = np.minimum(days[None, :], np.minimum(book_i, n_t - 1)[:, None])
    received = cumulative[upto] - cumulative[entry_i][:, None]
    out += per_row[:, None] * np.where(days[None, :] > entry_i[:, None], received, 0.0)
    return out


def assemble(
    cfg: BacktestConfig,
    exits_cfg: ExitConfig,
    config_id: int,
    f: dict[str, Any],
    mats: dict[str, Any],
) -> dict[str, pl.DataFrame]:
    """The result tables of one grid row (``engine.schema``), keyed by table name."""
    x = cfg.execution
    positions = mats["positions"]
    risk_frame, risk = mats["risk_frame"], mats["risk"]
    c = config_id
    lots, skip = size_positions(
        mats["value"][c : c + 1],
        mats["open"][c : c + 1],
        positions["entry_day_index"].to_numpy(),
        risk,
        positions["size_multiplier"].to_numpy(),
        mats["fees"][c : c + 1],
        cfg,
        mats["growth"],
    )
    lots, skip = lots[0], skip[0]
    run_cfg = _with_exits(cfg, exits_cfg)
    run_id = run_cfg.run_id
    cal = f["calendar"]
    held = lots > 0
    initial = cfg.initial_capital_usd
    growth = mats["growth"]
    cash = (
        (initial if growth is None else initial * growth)
        + (lots[:, None] * mats["cash"][c]).sum(axis=0)
        - (held[:, None] * mats["fees"][c]).sum(axis=0)
    )
    interest = (
        np.zeros(cash.shape)
        if growth is None
        else ca.interest_earned(cash, f["cash_rates"]["accrual"].to_numpy())
    )
    marks = (lots[:, None] * mats["mark_usd"][c]).sum(axis=0)
    equity = cash + marks
    previous = np.concatenate([[cfg.initial_capital_usd], equity[:-1]])
    daily_return = equity / previous - 1.0
    peak = np.maximum.accumulate(np.concatenate([[cfg.initial_capital_usd], equity]))[1:]
    open_now = held[:, None] & mats["open"][c]
    open_count = open_now.sum(axis=0)
    greeks = {
        k: (lots[:, None] * mats["greeks"][k] * mats["open"][c]).sum(axis=0)
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
        pl.Series("cash_interest_usd", interest),
    )
    ev = mats["exit_value"].filter(pl.col("config_id") == c).sort("_p")
    mult = x.multiplier
    n_t = cal.height
    is_open = pl.col("exit_date").is_null()
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
            pl.when(is_open).then(pl.lit("open")).otherwise(pl.lit("closed")).alias("status"),
            pl.when(is_open)
            .then(pl.col("_last_mark"))
            .otherwise(pl.col("exit_value"))
            .alias("exit_value"),
            pl.when(is_open)
            .then(None)
            .otherwise(pl.col("settlement_method"))
            .alias("settlement_method"),
            (
                (pl.col("entry_cost_usd") + pl.col("exit_cost_usd")) * pl.col("lots")
                + x.fee_per_order_usd * (1 + pl.col("_traded_exit").cast(pl.Int64))
            ).alias("commission_usd"),
            ((pl.col("entry_slippage_usd") + pl.col("exit_slippage_usd")) * pl.col("lots")).alias(
                "slippage_usd"
            ),
            (pl.col("book_index").clip(upper_bound=n_t - 1) - pl.col("entry_day_index")).alias(
                "holding_days_actual"
            ),
        )
        .with_columns(
            (pl.col("dividends_per_lot_usd") * pl.col("lots")).alias("dividends_usd"),
        )
        .with_columns(
            (
                (pl.col("exit_value") - pl.col("entry_value")) * mult * pl.col("lots")
                - pl.col("commission_usd")
                + pl.col("dividends_usd")
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
            how="left",
        )
        .with_columns(
            pl.lit(run_id).alias("run_id"),
            (pl.col("sign") * pl.col("ratio") * pl.col("lots")).alias("quantity"),
            pl.col("quote_date").alias("entry_date"),
            pl.col("mid").alias("entry_mid"),
        )
    )
    legs_out = conform(legs_out, LEGS_SCHEMA)
    legs_out = pl.concat([legs_out, _delivered_stock(legs_out, cfg)]).sort("trade_id", "leg_no")
    pos_daily = _positions_daily(f, mats, lots, c, run_id, positions)
    closed = trades_out.filter(pl.col("status") == "closed")
    stale_share = float(pos_daily["is_stale"].mean()) if pos_daily.height else math.nan
    summary = m.summarize(
        equity_df["daily_return"].to_numpy(),
        closed["pnl_usd"].to_numpy(),
        equity=equity_df["equity_usd"].to_numpy(),
        holding_days=closed["holding_days_actual"].to_numpy(),
        turnover_usd=float((np.abs(positions["entry_value"].to_numpy()) * mult * lots).sum()),
        exposure=float(np.mean(open_count > 0)) if len(open_count) else math.nan,
        commissions_usd=float(trades_out["commission_usd"].sum()),
        slippage_usd=float(trades_out["slippage_usd"].sum()),
        initial_capital_usd=cfg.initial_capital_usd,
        n_open_trades=trades_out.height - closed.height,
        stale_mark_share=stale_share,
    )
    first, last = cal["quote_date"].min(), cal["quote_date"].max()
    metrics_df = conform(
        pl.DataFrame([{"run_id": run_id, **summary, "first_date": first, "last_date": last}]),
        METRICS_SCHEMA,
    )
    sizing_skips = [
        {
            "quote_date": day,
            "position_id": pid,
            "reason": "max_open_positions" if why == "max_open_positions" else "sized_to_zero",
            "detail": None if why == "max_open_positions" else f"0 lots under {why}",
        }
        for day, pid, why in zip(
            positions["entry_date"].to_list(), positions["position_id"].to_list(), skip, strict=True
        )
        if why is not None
    ]
    skipped = _skipped_frame(run_id, f["skipped"], sizing_skips, positions)
    return {
        "run_id": run_id,
        "runs": runs_row(cfg, run_cfg, first, last, f["approximations"]),
        "trades": trades_out,
        "legs": legs_out,
        "positions_daily": pos_daily,
        "equity_daily": conform(equity_df, EQUITY_SCHEMA),
        "metrics": metrics_df,
        "skipped_entries": skipped,
    }


#: The stock delivered by option leg ``n`` on exercise or assignment is legs row ``n + 10``.
DELIVERED_LEG_OFFSET = 10


def _delivered_stock(legs: pl.DataFrame, cfg: BacktestConfig) -> pl.DataFrame:
    """The stock that physically settled options delivered, one legs row each (OCC: an equity
    option exercised or assigned delivers ``multiplier`` shares per contract at the strike).

    Long calls exercised and short puts assigned receive shares; short calls assigned and long
    puts exercised deliver them. The stock is taken at the strike and closed at once at the
    price the option settled against (``exit_kind = 'delivered'``): its P&L, (settlement −
    strike) × quantity, is the option leg's intrinsic value, already in that leg's exit price,
    so the row records the delivery without counting it twice.
    """
    mult = cfg.execution.multiplier
    direction = pl.when(pl.col("leg_type") == "call").then(1).otherwise(-1)
    return legs.filter(pl.col("exit_kind").is_in(["assigned", "exercised"])).select(
        "run_id",
        "trade_id",
        (pl.col("leg_no") + DELIVERED_LEG_OFFSET).cast(pl.Int32).alias("leg_no"),
        pl.lit(cfg.underlying_symbol).alias("contract_symbol"),
        pl.lit("stock").alias("leg_type"),
        pl.lit(None, dtype=pl.Float64).alias("strike"),
        "expiration",
        (pl.col("quantity") * direction * mult).cast(pl.Int64).alias("quantity"),
        pl.col("exit_date").alias("entry_date"),
        pl.col("strike").alias("entry_price"),
        pl.col("strike").alias("entry_mid"),
        "exit_date",
        pl.col("settlement_price").alias("exit_price"),
        pl.col("settlement_price").alias("exit_mid"),
        pl.lit("delivered").alias("exit_kind"),
        "settlement_method",
        "settlement_price",
    )


def _skipped_frame(
    run_id: str, entry_skips: pl.DataFrame, sizing_skips: list[dict], positions: pl.DataFrame
) -> pl.DataFrame:
    """Entry-level skips (one per session) and sizing skips (one per position; ``candidate_no``
    is the position's rank among the session's positions, 1 without top_k)."""
    rank = positions.select(
        "position_id",
        pl.col("position_id")
        .rank("ordinal")
        .over("entry_date")
        .cast(pl.Int64)
        .alias("candidate_no"),
    )
    sizing = pl.DataFrame(
        sizing_skips,
        schema={
            "quote_date": pl.Date,
            "position_id": pl.Int64,
            "reason": pl.String,
            "detail": pl.String,
        },
    )
    sizing = sizing.join(rank, on="position_id").drop("position_id")
    entry = entry_skips.with_columns(pl.lit(1, dtype=pl.Int64).alias("candidate_no"))
    frame = pl.concat(
        [
            entry.select("quote_date", "candidate_no", "reason", "detail"),
            sizing.select("quote_date", "candidate_no", "reason", "detail"),
        ],
        how="vertical_relaxed",
    ).with_columns(pl.lit(run_id).alias("run_id"))
    return conform(frame, SKIPPED_SCHEMA).sort("quote_date", "candidate_no")


def _positions_daily(
    f: dict[str, Any],
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
            "unrealized_pnl_usd": lots[p_idx] * mats["position_value"][c, p_idx, t_idx],
            "is_stale": mats["stale"][p_idx, t_idx],
            **{
                k: lots[p_idx] * g[k][p_idx, t_idx]
                for k in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")
            },
        }
    )
    return conform(frame, POSITIONS_SCHEMA).sort("trade_id", "quote_date")


def _with_exits(cfg: BacktestConfig, exits_cfg: ExitConfig) -> BacktestConfig:
    return dataclasses.replace(cfg, exits=exits_cfg)


def runs_row(
    cfg: BacktestConfig, run_cfg: BacktestConfig, first: Any, last: Any, approximations: str
) -> pl.DataFrame:
    """The ``backtest.runs`` row of a run (the forecast and chain model versions and the data
    fingerprint are set from the inputs by :func:`engine.io.with_provenance`)."""
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
                    "approximations": approximations,
                    "chain_source": cfg.chain_source,
                    "chain_model_version": None,
                    "write_seq": None,  # numbered when written (engine.io.write_result)
                }
            ]
        ),
        RUNS_SCHEMA,
    )


def empty_result(cfg: BacktestConfig, exits_cfg: ExitConfig, f: dict[str, Any]) -> dict[str, Any]:
    """The tables of a run that opened no position (equity flat over the window, or the initial
    capital growing at the T-bill rate with ``cash_interest: tbill_1m``)."""
    run_cfg = _with_exits(cfg, exits_cfg)
    run_id = run_cfg.run_id
    cal = f["calendar"]
    n = cal.height
    initial = cfg.initial_capital_usd
    growth = _growth(cfg, f)
    if growth is None:
        equity = np.full(n, initial)
        daily_return = np.zeros(n)
        flows = [
            pl.lit(initial).alias("cash_usd"),
            pl.lit(0.0).alias("positions_value_usd"),
            pl.lit(initial).alias("equity_usd"),
            pl.lit(0.0).alias("pnl_usd"),
            pl.lit(0.0).alias("daily_return"),
            pl.lit(0.0).alias("drawdown"),
        ]
        interest: pl.Expr | pl.Series = pl.lit(0.0)
    else:
        equity = initial * growth
        previous = np.concatenate([[initial], equity[:-1]])
        daily_return = equity / previous - 1.0
        peak = np.maximum.accumulate(np.concatenate([[initial], equity]))[1:]
        flows = [
            pl.Series("cash_usd", equity),
            pl.lit(0.0).alias("positions_value_usd"),
            pl.Series("equity_usd", equity),
            pl.Series("pnl_usd", equity - previous),
            pl.Series("daily_return", daily_return),
            pl.Series("drawdown", equity / peak - 1.0),
        ]
        interest = pl.Series(ca.interest_earned(equity, f["cash_rates"]["accrual"].to_numpy()))
    equity_df = cal.select("quote_date").with_columns(
        pl.lit(run_id).alias("run_id"),
        *flows,
        pl.lit(0, dtype=pl.Int64).alias("open_positions"),
        *(pl.lit(0.0).alias(k) for k in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")),
        interest.alias("cash_interest_usd"),
    )
    summary = m.summarize(
        daily_return,
        np.zeros(0),
        equity=equity,
        holding_days=np.zeros(0),
        turnover_usd=0.0,
        exposure=0.0,
        commissions_usd=0.0,
        slippage_usd=0.0,
        initial_capital_usd=cfg.initial_capital_usd,
    )
    first, last = cal["quote_date"].min(), cal["quote_date"].max()
    return {
        "run_id": run_id,
        "runs": runs_row(cfg, run_cfg, first, last, f["approximations"]),
        "trades": pl.DataFrame(schema=TRADES_SCHEMA),
        "legs": pl.DataFrame(schema=LEGS_SCHEMA),
        "positions_daily": pl.DataFrame(schema=POSITIONS_SCHEMA),
        "equity_daily": conform(equity_df, EQUITY_SCHEMA),
        "metrics": conform(
            pl.DataFrame([{"run_id": run_id, **summary, "first_date": first, "last_date": last}]),
            METRICS_SCHEMA,
        ),
        "skipped_entries": _skipped_frame(
            run_id,
            f["skipped"],
            [],
            pl.DataFrame(schema={"position_id": pl.Int64, "entry_date": pl.Date}),
        ),
    }
