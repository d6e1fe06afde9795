"""The portfolio backtest of any catalogue strategy: the run, stage by stage.

This module only orchestrates; each rule lives in the module named after it, and none does I/O
(:mod:`engine.io` reads the marts and writes the results):

1. :mod:`engine.sessions`: the clock. The run's days are NYSE sessions (exchange_calendars), not
   the vendor's dates; a session without quotes is a stale day; a longer gap in the data is
   refused. Each session carries its quote time (15:45 ET for the embedded Cboe snapshot).
2. :mod:`engine.entries`: the schedule, the signal (a forecast of ``as_of_date`` t fills at the
   first quotes taken after t's close), the contracts (the expiration nearest the target among
   those where every leg fills; same-strike legs share the strike exactly), and why a scheduled
   session opened nothing.
3. :mod:`engine.fills`: fill prices, always inside ``[bid, ask]``.
4. :mod:`engine.marks`: positions and their marks at mid, session by session (stale legs carried
   and flagged; stock at the spot of the quote time).
5. :mod:`engine.exits`: take-profit, stop-loss, N sessions, DTE, signal; every fill on a fresh
   quote; positions the data does not see closed stay open.
6. :mod:`engine.settlement`: intrinsic value at the official close (PM) or the SOQ / its named
   proxy (AM); physical exercise and assignment.
7. :mod:`engine.margin`: the Cboe Margin Manual's strategy-based requirement of each structure.
8. :mod:`engine.portfolio`: sizing, cash, equity over the whole window, the result tables;
   with ``cash_interest: tbill_1m`` the cash earns the 1-month T-bill rate (:mod:`engine.cash`).

Every approximation the run relied on (a modeled chain, the clock's stale days, the quote time and
signal lag, the margin rule, each settlement method used, the stale share of marks, the T-bill
rate standing in for the cash account's bills) is written to ``backtest.runs.approximations``.

The chain is the config's ``chain_source`` of ``marts.fct_option_chain``: the real market quotes
or the modeled chain (``warehouse.modeled_chain``: model prices stamped at the session close,
16:00 ET, 13:00 ET on an early close). Nothing below depends on which: the clock takes each
session's quote time from the chain (a signal of day t fills on the next session's close quotes),
and settlement uses the underlying's prices, never the chain's.

Sweeps (:func:`run_sweep`) evaluate a grid of exit parameters as an axis of the same
computation: positions and marks are built once, exits for every grid row in one query.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import polars as pl

from engine import cash as ca
from engine import dividends as dv
from engine import entries as en
from engine import exits as ex
from engine import marks as mk
from engine import portfolio as pf
from engine import sessions as se
from engine import settlement as st
from engine.config import BacktestConfig, ExitConfig
from engine.exits import SWEEP_KEYS
from engine.schema import (
    CHAIN_COLUMNS,
    UNDERLYING_COLUMNS,
    UNDERLYING_RATE_COLUMNS,
    require_columns,
)

__all__ = [
    "SWEEP_KEYS",
    "BacktestResult",
    "empty_result",
    "run_backtest",
    "run_sweep",
    "sweep_grid",
]


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
    skipped_entries: pl.DataFrame


def _day_signals(
    cfg: BacktestConfig,
    calendar: pl.LazyFrame,
    forecasts: pl.LazyFrame | None,
    selector: pl.LazyFrame | None,
) -> pl.LazyFrame | None:
    """The day-level signal mapped to the session it may fill on (None without one)."""
    e = cfg.entry
    if e.signal in ("prob_up_at_least", "prob_up_at_most"):
        if forecasts is None:
            raise ValueError(f"entry.signal {e.signal!r} needs forecasts (ml.predictions)")
        raw = en.prob_signals(forecasts, cfg)
    elif e.signal == "regime_in":
        if forecasts is None:
            raise ValueError("entry.signal 'regime_in' needs forecasts (ml.predictions)")
        raw = en.regime_signals(forecasts, cfg)
    elif e.signal == "selector":
        if selector is None:
            raise ValueError("entry.signal 'selector' needs forecasts.fct_strategy_signals")
        raw = en.selector_signals(selector, cfg)
    else:
        return None
    return se.signal_entry_sessions(raw, calendar, lag_sessions=e.signal_lag_sessions)


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
    sessions: pl.LazyFrame | None = None,
    settlements: pl.LazyFrame | None = None,
    dividends: pl.LazyFrame | None = None,
    dividend_yields: pl.LazyFrame | None = None,
) -> list[BacktestResult]:
    """Backtest ``cfg`` under each exit configuration of ``grid`` (default: ``cfg.exits``).

    Parameters
    ----------
    chain
        ``marts.fct_option_chain`` of the underlying and the config's ``chain_source`` (real or
        modeled, never both): one row per contract per quote_date; needs
        ``engine.schema.CHAIN_COLUMNS`` (prices in index points, ``dte`` calendar days,
        ``vega`` per vol point, ``theta`` per calendar day, ``quoted_at`` UTC).
    universe
        Entry universe: ``contract_symbol, quote_date`` rows (a ``marts`` universe view).
    underlying
        ``marts.fct_underlying_daily`` of the underlying: ``trade_date, open, close`` (raw);
        with ``cash_interest: tbill_1m`` also ``rate_1m, rate_3m`` (decimal yields as of the
        close, :data:`engine.schema.UNDERLYING_RATE_COLUMNS`).
    forecasts
        ``as_of_date, p_up`` (one row per day) for prob_up signals; ``as_of_date, prob_low,
        prob_normal, prob_high`` for ``regime_in``.
    selector
        ``as_of_date, strategy, size_tier, direction_confidence`` for the selector signal.
    scores
        ``contract_symbol, as_of_date, score`` for top_k.
    sessions
        ``session_date, is_early_close``: the exchange calendar (default: the committed NYSE
        seed, :func:`engine.sessions.nyse_sessions`).
    settlements
        ``marts.fct_settlement_values`` of the underlying (:data:`engine.settlement.
        SETTLEMENT_COLUMNS`); default: AM at the open, PM at the close of ``underlying``.
    dividends
        ``marts.fct_dividends`` of the underlying: ``ex_date, dividend_usd`` (per share, raw).
        Stock legs held over an ex-date receive it; short American calls in the money with time
        value below it are assigned on the session before. ``None``: no dividends. Ignored
        with ``stock_dividends: trailing_yield``.
    dividend_yields
        ``quote_date, dividend_yield`` (decimal per year) of the underlying
        (``marts.fct_modeled_chain_inputs``): with ``stock_dividends: trailing_yield`` stock
        legs accrue it every session instead (:func:`engine.dividends.yield_accruals`).

    Returns
    -------
    list[BacktestResult]
        One per grid row, in grid order; each is deterministic and independent of row order.

    Raises
    ------
    ValueError
        Missing columns (named), a missing signal frame, a key that repeats, no session with
        quotes in the window, ``stock_dividends: trailing_yield`` without dividend yields, or
        ``cash_interest: tbill_1m`` with a session lacking both T-bill rates (named,
        :func:`engine.cash.session_rates`).
    engine.sessions.CoverageGapError
        The window spans more than ``max_gap_sessions`` consecutive sessions without quotes.
    """
    require_columns(chain, CHAIN_COLUMNS, "chain (marts.fct_option_chain)")
    require_columns(underlying, UNDERLYING_COLUMNS, "underlying (marts.fct_underlying_daily)")
    grid = grid or [cfg.exits]
    e = cfg.entry
    chain = chain.filter(pl.col("option_root").is_in(list(cfg.option_roots)))
    rates = None
    if cfg.cash_interest != "none":
        require_columns(
            underlying,
            UNDERLYING_RATE_COLUMNS,
            f"underlying (marts.fct_underlying_daily) of cash_interest {cfg.cash_interest!r}",
        )
        rates = underlying.select("trade_date", *UNDERLYING_RATE_COLUMNS)
    underlying = underlying.select("trade_date", "open", "close")
    _refuse_repeats(chain, underlying)
    label = f"{cfg.underlying_symbol} roots {list(cfg.option_roots)}"
    calendar = se.session_calendar(
        chain,
        sessions if sessions is not None else se.nyse_sessions(),
        start_date=cfg.start_date,
        end_date=cfg.end_date,
        max_gap_sessions=cfg.max_gap_sessions,
        label=label,
    )
    if calendar.is_empty():
        raise ValueError(f"no session with quotes of {label} in the window")
    cash_rates = ca.session_rates(calendar, rates) if rates is not None else None
    if cfg.stock_dividends == "trailing_yield":
        if dividend_yields is None:
            raise ValueError(
                f"stock_dividends 'trailing_yield' needs the dividend yields of "
                f"{cfg.underlying_symbol} (marts.fct_modeled_chain_inputs)"
            )
        dividends = dv.yield_accruals(underlying, dividend_yields)
    dividends_df = (
        dividends.select("ex_date", "dividend_usd").collect() if dividends is not None else None
    )
    calendar = _with_next_dividend(calendar, dividends_df)
    cal = calendar.lazy()
    settle = st.settlement_values(underlying, settlements)
    day_signals = _day_signals(cfg, cal, forecasts, selector)
    scheduled = en.scheduled_days(cal, cfg)
    entries = en.entry_days(scheduled, cfg, signals=day_signals)
    # the universe's quotes on entry sessions (scheduled, signal on) in the expiration windows,
    # once: entries pick from them, and the skip diagnosis asks of them why a session opened
    # nothing (it asks only of entry sessions, and no entry looks outside the windows). All
    # scheduled days and every expiry was 5.9 M rows and a 7 GB peak on the 16-year modeled
    # daily straddle.
    entry_pool = (
        en.universe_quotes(chain, cfg, universe=universe, days=entries)
        .filter(en.in_expiration_windows(cfg))
        .collect()
    )
    candidates = en.tradable(entry_pool.lazy(), cfg)
    unrestricted = candidates
    if cfg.execution.am_settlement == "soq_only":
        soq = st.soq_dates(settle).with_columns(pl.lit(True).alias("_soq"))
        candidates = (
            candidates.join(soq, on="expiration", how="left")
            .filter((pl.col("settlement_type") != "AM") | pl.col("_soq").fill_null(False))
            .drop("_soq")
        )
    combos = en.expiration_combos(candidates, cfg)
    if e.signal == "top_k":
        if scores is None:
            raise ValueError("entry.signal 'top_k' needs contract scores (ml.predictions)")
        mapped = se.signal_entry_sessions(
            scores, cal, lag_sessions=e.signal_lag_sessions, by=("contract_symbol",)
        )
        legs = en.top_k_legs(candidates, cfg, scores=mapped, combos=combos)
    else:
        legs = en.select_legs(candidates, cfg, combos=combos)
    # Checkpoints: the optimiser handles each stage well but not the whole graph at once
    # (one plan took 6 s where the staged collects take 0.3 s), so collect at stage boundaries.
    entries_df, legs_df, scheduled_df = pl.collect_all([entries, legs, scheduled])
    if e.back_strike == "standing":
        legs_df = en.hold_standing_strikes(legs_df, candidates, cfg)
    signals_df = day_signals.collect() if day_signals is not None else None
    refused_am = None
    if cfg.execution.am_settlement == "soq_only" and e.signal != "top_k":
        refused_am = (
            en.select_legs(unrestricted, cfg, combos=en.expiration_combos(unrestricted, cfg))
            .select("quote_date")
            .unique()
            .collect()
        )
    skipped = en.skipped_entries(
        scheduled_df,
        signals_df,
        legs_df.select("quote_date").unique(),
        universe_pool=entry_pool.lazy(),
        cfg=cfg,
        refused_am=refused_am,
    )
    positions, position_legs = (
        lf.collect() for lf in mk.open_positions(legs_df.lazy(), cfg, entries=entries_df.lazy())
    )
    paths = mk.mark_paths(
        positions.lazy(), position_legs.lazy(), cfg, chain=chain, calendar=cal
    ).collect()
    coverage_end = cal.select(pl.col("quote_date").max().alias("coverage_end"))
    exits = ex.resolve_exits(
        positions.lazy(),
        paths.lazy(),
        ex.exit_grid(grid),
        signal_off=(
            day_signals.select("quote_date", (~pl.col("signal_on")).alias("signal_off"))
            if day_signals is not None and e.signal != "selector"
            else None
        ),
        coverage_end=coverage_end,
    ).collect()
    priced = ex.price_exits(
        exits.lazy(),
        position_legs.lazy(),
        positions.lazy(),
        cfg,
        chain=chain,
        settlements=settle,
        underlying=underlying,
        calendar=cal,
    ).collect()
    f: dict[str, Any] = {
        "calendar": calendar,
        "positions": positions,
        "position_legs": position_legs,
        "paths": paths,
        "exits": exits,
        "priced": priced,
        "skipped": skipped,
        "dividends": dividends_df,
        "cash_rates": cash_rates,
    }
    f["approximations"] = approximations(
        cfg, calendar, priced, cash_rates=cash_rates, position_legs=position_legs
    )
    if positions.is_empty():
        return [_result(pf.empty_result(cfg, exits_cfg, f)) for exits_cfg in grid]
    mats = pf.matrices(cfg, f, len(grid))
    return [_result(pf.assemble(cfg, exits_cfg, i, f, mats)) for i, exits_cfg in enumerate(grid)]


def _with_next_dividend(calendar: pl.DataFrame, dividends: pl.DataFrame | None) -> pl.DataFrame:
    """``calendar`` with ``next_ex_dividend_usd``: the dividend going ex on the next session."""
    column = pl.lit(None, dtype=pl.Float64).alias("next_ex_dividend_usd")
    if dividends is None or dividends.is_empty():
        return calendar.with_columns(column)
    return (
        calendar.with_columns(pl.col("quote_date").shift(-1).alias("_next"))
        .join(
            dividends.group_by("ex_date").agg(pl.col("dividend_usd").sum()),
            left_on="_next",
            right_on="ex_date",
            how="left",
        )
        .rename({"dividend_usd": "next_ex_dividend_usd"})
        .drop("_next")
        .sort("quote_date")
    )


def _result(tables: dict[str, Any]) -> BacktestResult:
    return BacktestResult(**tables)


def empty_result(
    cfg: BacktestConfig, calendar: pl.DataFrame, *, cash_rates: pl.DataFrame | None = None
) -> BacktestResult:
    """The result of a run that opened nothing over the sessions of ``calendar``
    (``quote_date``): flat equity at the initial capital (growing at the T-bill rate with
    ``cash_interest: tbill_1m``: pass ``cash_rates``, :func:`engine.cash.session_rates`), no
    trades, no skipped entries.

    Raises
    ------
    ValueError
        ``cash_interest: tbill_1m`` without ``cash_rates``.
    """
    skipped = pl.DataFrame(schema={"quote_date": pl.Date, "reason": pl.String, "detail": pl.String})
    f = {
        "calendar": calendar,
        "skipped": skipped,
        "approximations": "" if cash_rates is None else ca.approximation(cash_rates),
        "cash_rates": cash_rates,
    }
    return _result(pf.empty_result(cfg, cfg.exits, f))


def _refuse_repeats(chain: pl.LazyFrame, underlying: pl.LazyFrame) -> None:
    dupes, repeated = pl.collect_all(
        [
            chain.group_by("contract_symbol", "quote_date").len().filter(pl.col("len") > 1).head(1),
            underlying.group_by("trade_date").len().filter(pl.col("len") > 1).head(1),
        ]
    )
    if repeated.height:
        raise ValueError(
            f"underlying repeats trade_date {repeated['trade_date'][0]}: one close per day expected"
        )
    if dupes.height:
        row = dupes.row(0, named=True)
        raise ValueError(
            f"chain repeats contract {row['contract_symbol']!r} on "
            f"{row['quote_date']}: one row per contract per quote_date expected"
        )


def approximations(
    cfg: BacktestConfig,
    calendar: pl.DataFrame,
    priced: pl.DataFrame,
    *,
    cash_rates: pl.DataFrame | None = None,
    position_legs: pl.DataFrame | None = None,
) -> str:
    """The approximations a run relied on, one clause each, ``'; '``-separated (``cash_rates``:
    :func:`engine.cash.session_rates` of a ``cash_interest: tbill_1m`` run, else ``None``;
    ``position_legs``: the run's legs, to count short legs written at a zero bid)."""
    missing = calendar.filter(~pl.col("has_quotes"))["quote_date"]
    times = (
        calendar.filter("has_quotes")
        .select(pl.col("quoted_at").dt.convert_time_zone(se.EXCHANGE_TZ).dt.strftime("%H:%M"))
        .to_series()
        .unique()
        .sort()
        .to_list()
    )
    lag = cfg.entry.signal_lag_sessions
    out = []
    if cfg.chain_source == "modeled":
        out.append(
            "chain: MODELED quotes (marts.fct_option_quotes_modeled), not market quotes: fills, "
            "marks and P&L are model prices (warehouse.modeled_chain)"
        )
    out += [
        f"clock: NYSE sessions (exchange_calendars XNYS), {calendar.height} in the window; "
        + (
            f"{missing.len()} without vendor quotes are stale days "
            f"({', '.join(map(str, missing.to_list()))})"
            if missing.len()
            else "every session quoted"
        ),
        f"quote time: {', '.join(times)} ET"
        + (
            "; signals fill at the first quotes after their as_of_date's close"
            if lag is None
            else f"; signals fill {lag} session(s) after their as_of_date (stated in the config)"
        )
        + "; stock legs at the chain's spot at the quote time",
        "margin: Cboe Margin Manual strategy-based requirement per structure (Reg T); "
        "no portfolio margin, fixed at entry",
    ]
    if cfg.stock_dividends == "trailing_yield":
        out.append(
            "dividends: stock legs accrue the trailing 12-month dividend yield of "
            "marts.fct_modeled_chain_inputs each session (SPY's yield for SPX: a proxy for the "
            "index's own dividends, spread evenly over the year)"
        )
    if cfg.execution.stock_exit_price == "quote_time_spot":
        out.append("stock legs of settling positions close at the quote-time spot")
    if cfg.execution.zero_bid == "trade" and position_legs is not None:
        written = position_legs.filter(
            (pl.col("leg_type") != "stock") & (pl.col("sign") < 0) & (pl.col("bid") <= 0)
        ).height
        out.append(
            f"zero bid: {written} short option leg(s) opened where the bid was 0, written for "
            "nothing (execution.zero_bid: trade)"
        )
    if cfg.entry.back_strike == "standing":
        out.append(
            "standing back strike: a back leg held from one entry to the next is closed and "
            "bought again at the same quote (entry.back_strike: standing), not carried"
        )
    settled = priced.filter(pl.col("settlement_method") != "traded")
    if settled.height:
        counts = settled.group_by("settlement_method").len().sort("settlement_method").iter_rows()
        out.append("settlement: " + ", ".join(f"{m} × {n}" for m, n in counts))
    if cash_rates is not None:
        out.append(ca.approximation(cash_rates))
    return "; ".join(out)


def run_backtest(
    chain: pl.LazyFrame,
    universe: pl.LazyFrame,
    underlying: pl.LazyFrame,
    cfg: BacktestConfig,
    **signals: Any,
) -> BacktestResult:
    """Backtest one config: :func:`run_sweep` with a one-row grid."""
    return run_sweep(chain, universe, underlying, cfg, **signals)[0]


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
