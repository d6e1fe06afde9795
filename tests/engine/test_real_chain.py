"""The engine on the REAL embedded chain (SPX 2019, SPY 2021), read from the published warehouse:
each rule of the clock, quote time, settlement, margin and fills checked where the audit found it
wrong (issue 14). Built once per session by the ``pipeline`` fixture; for a quick loop point
``OPTIONS_TEST_WAREHOUSE`` at a built warehouse directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engine import io
from engine.backtest import BacktestResult, run_backtest
from engine.cli import format_summary
from engine.config import BacktestConfig, load_config
from engine.sessions import CoverageGapError
from warehouse.paths import connect

pytestmark = pytest.mark.slow

D = dt.date
#: NYSE sessions the CBOE vendor did not deliver (warehouse/vendor/README.md)
VENDOR_MISSING = [D(2019, 5, 10), D(2019, 5, 17), D(2019, 6, 14), D(2019, 6, 17), D(2019, 6, 18)]


def _config(raw: dict[str, Any] | str) -> BacktestConfig:
    if isinstance(raw, str):
        return load_config(raw)
    base = {"underlying_symbol": "SPX", "option_roots": ["SPXW"], "start_date": "2019-04-25"}
    return BacktestConfig.from_mapping({**base, **raw})


def _run(warehouse: Path, cfg: BacktestConfig) -> BacktestResult:
    db = warehouse / "options.duckdb"
    con = connect(db, read_only=True)
    try:
        inputs = io.load_inputs(con, cfg, db_path=db)
        inputs = {
            "chain": inputs.chain.collect().lazy(),
            "universe": inputs.universe.collect().lazy(),
            "underlying": inputs.underlying.collect().lazy(),
            **{k: v.collect().lazy() for k, v in inputs.signals.items()},
        }
    finally:
        con.close()
    return run_backtest(cfg=cfg, **inputs)


def _chain(warehouse: Path, sql: str) -> pl.DataFrame:
    con = connect(warehouse / "options.duckdb", read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def test_holding_days_count_nyse_sessions_and_vendor_gaps_are_stale(real_warehouse):
    # entered 2019-06-07, 5 sessions later is 06-14, a session the vendor lacks (as are 06-17
    # and 06-18): the exit moves to 06-19, 8 sessions after entry, and says so (the old clock,
    # built from the vendor's dates, reported 5)
    cfg = _config(
        {
            "strategy": "long_straddle",
            "start_date": "2019-06-07",
            "entry": {"schedule": "weekly", "weekday": 5, "max_dte": 45},
            "exits": {"holding_days": 5},
        }
    )
    res = _run(real_warehouse, cfg)
    t = res.trades.filter(pl.col("entry_date") == D(2019, 6, 7)).row(0, named=True)
    assert (t["exit_date"], t["exit_type"], t["holding_days_actual"]) == (
        D(2019, 6, 19),
        "nearest_day",
        8,
    )
    missing = res.equity_daily.filter(pl.col("quote_date").is_in(VENDOR_MISSING))
    assert missing["quote_date"].to_list() == VENDOR_MISSING[2:]  # in the window, kept


def test_annualisation_counts_every_session_of_the_window(real_warehouse):
    res = _run(real_warehouse, _config("engine/configs/iron_condor_spx.yaml"))
    m = res.metrics.row(0, named=True)
    assert (m["n_sessions"], m["first_date"], m["last_date"]) == (
        61,
        D(2019, 4, 25),
        D(2019, 7, 22),
    )
    assert m["sample_note"].startswith("not meaningful: 61 sessions < 63")
    assert "5 without vendor quotes are stale days" in res.runs["approximations"][0]


def test_a_run_never_joins_the_2011_week_to_2019(real_warehouse):
    cfg = _config({"strategy": "short_put", "start_date": None, "option_roots": ["SPXW"]})
    with pytest.raises(
        CoverageGapError, match=r"2,085 consecutive NYSE sessions 2011-01-10\.\.2019-04-24"
    ):
        _run(real_warehouse, cfg)


def test_forecasts_fill_on_the_first_quotes_after_their_close(real_warehouse):
    # the 15:45 snapshot of day t precedes the close the forecast of t is computed from
    res = _run(real_warehouse, _config("engine/configs/long_straddle_spx.yaml"))
    sessions = res.equity_daily["quote_date"].to_list()
    quoted = [d for d in sessions if d not in VENDOR_MISSING]
    assert res.trades.height > 0
    for signal, entry in res.trades.select("signal_date", "entry_date").iter_rows():
        assert entry == next(d for d in quoted if d > signal)


def test_spx_monthlies_settle_on_the_special_opening_quotation(real_warehouse):
    # 2019-07-19: SPX monthlies settle on the SOQ of Cboe's published settlement values, not
    # the close (the old engine: 'intrinsic_am_proxy_close' on every 2019 monthly)
    cfg = _config(
        {
            "strategy": "long_call",
            "option_roots": ["SPX"],
            "start_date": "2019-07-01",
            "entry": {
                "schedule": "weekly",
                "expiry_type": "monthly",
                "min_dte": 1,
                "target_dte": 14,
                "max_dte": 30,
                "delta_tolerance": 0.3,
            },
        }
    )
    res = _run(real_warehouse, cfg)
    settled = res.legs.filter(pl.col("exit_date") == D(2019, 7, 19), pl.col("leg_type") == "call")
    assert settled.height > 0
    soq, close = _chain(
        real_warehouse,
        "select am_settlement_price, pm_settlement_price from marts.fct_settlement_values "
        "where underlying_symbol = 'SPX' and trade_date = date '2019-07-19'",
    ).row(0)
    assert abs(soq - close) > 5  # the open and the close differed by ~10 points that day
    for leg in settled.iter_rows(named=True):
        assert leg["settlement_method"] == "intrinsic_am_soq"
        assert leg["settlement_price"] == pytest.approx(soq)
        assert leg["exit_price"] == pytest.approx(max(soq - leg["strike"], 0.0))


def test_calendar_back_legs_are_sold_on_their_own_fresh_quote(real_warehouse):
    res = _run(real_warehouse, _config({"strategy": "long_call_calendar"}))
    traded = res.legs.filter(pl.col("exit_kind") == "traded")
    quotes = _chain(
        real_warehouse,
        "select contract_symbol, quote_date as exit_date, mid as quoted_mid "
        "from marts.fct_option_features where option_root = 'SPXW' and quote_date >= '2019-04-25'",
    )
    joined = traded.join(quotes, on=["contract_symbol", "exit_date"], how="left")
    assert joined.height > 0
    assert joined["quoted_mid"].null_count() == 0
    assert (joined["exit_mid"] == joined["quoted_mid"]).all()
    assert not traded["exit_date"].is_in(VENDOR_MISSING).any()


@pytest.mark.parametrize("strategy", ["long_straddle", "long_call_calendar"])
def test_same_strike_legs_share_the_strike_exactly(real_warehouse, strategy):
    res = _run(real_warehouse, _config({"strategy": strategy, "entry": {"schedule": "weekly"}}))
    per_trade = res.legs.group_by("trade_id").agg(pl.col("strike").n_unique().alias("n"))
    assert per_trade.height > 0 and (per_trade["n"] == 1).all()


def test_every_scheduled_entry_opens_or_says_why(real_warehouse):
    res = _run(real_warehouse, _config("engine/configs/iron_condor_spx.yaml"))
    weeks = res.equity_daily.select(pl.col("quote_date").dt.truncate("1w")).n_unique()
    assert res.trades.height + res.skipped_entries.height == weeks
    assert "no_quotes" in res.skipped_entries["reason"].to_list()  # 2019-06-17
    assert "skipped entries:" in format_summary(
        load_config("engine/configs/iron_condor_spx.yaml"), res
    )


def test_positions_open_at_the_end_stay_open(real_warehouse):
    # the condor entered on the last day (2019-07-22) is open, not closed for its costs
    res = _run(real_warehouse, _config("engine/configs/iron_condor_spx.yaml"))
    last = res.trades.filter(pl.col("entry_date") == D(2019, 7, 22)).row(0, named=True)
    assert (last["status"], last["exit_date"], last["exit_reason"]) == ("open", None, "open")
    m = res.metrics.row(0, named=True)
    closed = res.trades.filter(pl.col("status") == "closed")
    assert (
        m["n_closed_trades"] == closed.height
        and m["n_open_trades"] == res.trades.height - closed.height
    )
    assert (closed["exit_date"] <= D(2019, 7, 22)).all()


def test_every_fill_is_inside_the_real_quote(real_warehouse):
    res = _run(real_warehouse, _config("engine/configs/iron_condor_spx.yaml"))
    quotes = _chain(
        real_warehouse,
        "select contract_symbol, quote_date, bid, ask from marts.fct_option_features "
        "where option_root = 'SPXW' and quote_date >= '2019-04-25'",
    )
    entries = res.legs.join(
        quotes.rename({"quote_date": "entry_date"}), on=["contract_symbol", "entry_date"]
    )
    assert entries.height == res.legs.height
    assert (
        (entries["entry_price"] >= entries["bid"] - 1e-9)
        & (entries["entry_price"] <= entries["ask"] + 1e-9)
    ).all()
    exits = res.legs.filter(pl.col("exit_kind") == "traded").join(
        quotes.rename({"quote_date": "exit_date"}), on=["contract_symbol", "exit_date"]
    )
    assert (
        (exits["exit_price"] >= exits["bid"] - 1e-9) & (exits["exit_price"] <= exits["ask"] + 1e-9)
    ).all()
    abandoned = res.legs.filter(pl.col("exit_kind") == "abandoned")
    assert (abandoned["exit_price"] == 0).all()


def test_a_short_strangle_is_margined_as_the_greater_side_plus_the_other_premium(real_warehouse):
    # 2019-04-25, spot 2919.04: the old engine summed both naked requirements
    cfg = _config({"strategy": "short_strangle", "end_date": "2019-04-25"})
    res = _run(real_warehouse, cfg)
    t = res.trades.row(0, named=True)
    legs = res.legs.sort("leg_type").rows_by_key("leg_type", named=True, unique=True)
    call, put = legs["call"], legs["put"]
    s = t["entry_underlying_price"]
    naked_call = max(0.15 * s - max(call["strike"] - s, 0), 0.10 * s) + call["entry_price"]
    naked_put = max(0.15 * s - max(s - put["strike"], 0), 0.10 * put["strike"]) + put["entry_price"]
    cboe = max(naked_call + put["entry_price"], naked_put + call["entry_price"]) * 100
    assert t["margin_rule"] == "straddle_strangle"
    assert t["capital_at_risk_usd"] == pytest.approx(cboe)
    assert t["capital_at_risk_usd"] < 0.6 * (naked_call + naked_put) * 100


def test_spy_marks_mostly_stale_are_warned_about(real_warehouse):
    # SPY 2021: the 20 most active contracts of each day rarely repeat: most marks are stale
    cfg = BacktestConfig.from_mapping(
        {
            "strategy": "long_call",
            "underlying_symbol": "SPY",
            "option_roots": ["SPY"],
            "entry": {
                "schedule": "weekly",
                "min_dte": 7,
                "target_dte": 30,
                "max_dte": 60,
                "delta_tolerance": 0.3,
            },
        }
    )
    res = _run(real_warehouse, cfg)
    assert res.metrics["stale_mark_share"][0] > 0.2
    assert "marked on stale quotes" in format_summary(cfg, res)


def test_spy_stock_held_over_an_ex_date_earns_the_dividend_and_assignment_delivers(
    real_warehouse,
):
    # SPY 2021, covered calls: 100 shares held over the 2021-03-19 ex-date receive the
    # factor file's $1.2778 a share; an in-the-money call at expiry is assigned and the stock it
    # delivers is a legs row (the old engine paid no dividend and wrote no stock)
    cfg = BacktestConfig.from_mapping(
        {
            "strategy": "covered_call",
            "underlying_symbol": "SPY",
            "option_roots": ["SPY"],
            "end_date": "2021-03-31",
            "entry": {"schedule": "weekly", "min_dte": 7, "target_dte": 30, "max_dte": 60,
                      "delta_tolerance": 0.3},
        }
    )  # fmt: skip
    res = _run(real_warehouse, cfg)
    held = res.trades.filter(
        pl.col("entry_date") < D(2021, 3, 19),
        pl.col("exit_date").is_null() | (pl.col("exit_date") >= D(2021, 3, 19)),
    )
    assert held.height > 0
    assert held["dividends_usd"].to_list() == pytest.approx([127.78] * held.height)
    assigned = res.legs.filter(pl.col("exit_kind") == "assigned")
    delivered = res.legs.filter(pl.col("exit_kind") == "delivered")
    assert assigned.height > 0 and delivered.height == assigned.height
    assert (delivered["quantity"] == -100 * assigned["quantity"].abs()).all()
