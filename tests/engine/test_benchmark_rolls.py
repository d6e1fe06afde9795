"""One hand-computed roll of each Cboe benchmark config (engine/configs/benchmarks): the strike
each rule chooses, the contracts, the settlement value, the T-bill interest and the dividends.

Every case runs the benchmark's own YAML (its legs, entry, sizing and execution rules) on a
SYNTHETIC chain, with only the window, the capital and the chain source replaced. The chain is
the one of tests/engine/test_benchmark_bxm.py: roll 1 on Friday 2024-01-19 (spot 100.3) into the
2024-02-16 standard monthly, its last quotes on Thursday 02-15 (spot 104.0), AM settlement on
Friday 02-16 at the index open 102.5 (the SOQ proxy, ``intrinsic_am_index_open``), roll 2 the same
day at 103.0 into the 2024-03-15 monthly. Dividend yield 3.65 % (a lot of 100 units accrues
100 × (100.3 × 0.0365 × 27 / 365 + 104.0 × 0.0365 / 365) = 28.121 USD from roll 1 to roll 2);
T-bill rate 3.65 % on every session: the account grows by 0.0003 over each of the four weekends
and 0.0001 over each of the 15 other nights to 02-15, and 0.0001 more to 02-16:
G(02-15) = 1.0003^4 × 1.0001^15 = 1.00270339263, G(02-16) = G(02-15) × 1.0001 = 1.00280366297.

Rules: the Cboe methodologies cited in each config's header.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engine.backtest import run_backtest
from engine.config import BacktestConfig
from warehouse.safe_yaml import read_yaml

from .conftest import Chain

CONFIGS = Path(__file__).parents[2] / "engine" / "configs" / "benchmarks"
ROLL1, MARK, ROLL2 = dt.date(2024, 1, 19), dt.date(2024, 2, 15), dt.date(2024, 2, 16)
EXP1, EXP2 = ROLL2, dt.date(2024, 3, 15)
SPOT = {ROLL1: 100.3, MARK: 104.0, ROLL2: 103.0}
G_MARK = 1.0003**4 * 1.0001**15
G2 = G_MARK * 1.0001


def benchmark_raw(name: str) -> dict[str, Any]:
    """The benchmark's YAML mapping for a SYNTHETIC chain: its rules, with the window cleared,
    capital 100,000 and the chain source real (the synthetic quotes are 'real' rows)."""
    raw: dict[str, Any] = read_yaml(CONFIGS / f"{name}.yaml")
    raw.update(
        chain_source="real",
        start_date=None,
        end_date=None,
        initial_capital_usd=100_000,
        max_gap_sessions=30,  # the synthetic chain quotes only the sessions that matter
    )
    return raw


def _config(name: str) -> BacktestConfig:
    return BacktestConfig.from_mapping(benchmark_raw(name))


def _q(day: dt.date, option_type: str, strike: float, mid: float, delta: float | None = None):
    expiration = EXP1 if day < ROLL2 else EXP2
    return Chain.quote(
        day,
        option_type,
        strike,
        mid,
        expiration=expiration,
        underlying_price=SPOT[day],
        root="SPX",
        delta=delta,
    )


def _run(name: str, quotes: list[dict[str, Any]]):
    frames = Chain.frames(quotes, opens={ROLL2: 102.5})
    frames["chain"] = frames["chain"].with_columns(pl.lit("monthly").alias("expiry_type"))
    weekdays = [
        d for d in pl.date_range(ROLL1, ROLL2, eager=True).to_list() if d.weekday() < 5
    ]  # no exchange holiday in between
    rates = pl.DataFrame({"trade_date": weekdays, "rate_1m": 0.0365, "rate_3m": 0.05})
    frames["underlying"] = (
        rates.lazy()
        .join(frames["underlying"], on="trade_date", how="left")
        .select(*frames["underlying"].collect_schema().names(), "rate_1m", "rate_3m")
    )
    yields = pl.LazyFrame({"quote_date": [ROLL1, MARK, ROLL2], "dividend_yield": [0.0365] * 3})
    res = run_backtest(**frames, cfg=_config(name), dividend_yields=yields)
    trades = res.trades.sort("trade_id")
    legs = res.legs.sort("trade_id", "leg_no")
    equity = {r["quote_date"]: r for r in res.equity_daily.iter_rows(named=True)}
    return trades, legs, equity


def _strikes(legs: pl.DataFrame, trade_id: int) -> list[tuple[str, float, int]]:
    rows = legs.filter((pl.col("trade_id") == trade_id) & (pl.col("leg_type") != "stock"))
    return list(zip(rows["leg_type"], rows["strike"], rows["quantity"], strict=True))


def test_bxmd_writes_the_call_nearest_30_delta():
    # SYNTHETIC. Roll 1 calls (delta, mid): 100 (0.55, 2.50), 102 (0.41, 1.60), 104 (0.31, 0.90),
    # 105 (0.24, 0.60): nearest 0.30 is 104. A lot (100.3 - 0.90) x 100 = 9,940 USD: 10 lots of
    # 100,000 (600 left in cash). 02-16: the SOQ 102.5 < 104, the call settles at 0; the units
    # are sold and bought back at 103.0. Per lot: stock 270, call 90, dividends 28.121 ->
    # 388.121; 10 lots: 3,881.21. Roll 2: the call nearest 30 delta of 2024-03-15 is 107 (0.29).
    quotes = [
        _q(ROLL1, "call", 100, 2.50, 0.55),
        _q(ROLL1, "call", 102, 1.60, 0.41),
        _q(ROLL1, "call", 104, 0.90, 0.31),
        _q(ROLL1, "call", 105, 0.60, 0.24),
        _q(MARK, "call", 104, 1.20, 0.48),
        _q(ROLL2, "call", 105, 1.90, 0.40),
        _q(ROLL2, "call", 107, 1.10, 0.29),
    ]
    trades, legs, equity = _run("bxmd", quotes)
    first = trades.row(0, named=True)
    assert (first["lots"], first["settlement_method"]) == (10, "intrinsic_am_index_open")
    assert _strikes(legs, 1) == [("call", 104.0, -10)]
    assert first["dividends_usd"] == pytest.approx(281.21)
    assert first["pnl_usd"] == pytest.approx(3881.21)
    assert equity[ROLL2]["equity_usd"] == pytest.approx(103_881.21)
    assert _strikes(legs, 2)[0][:2] == ("call", 107.0)


def test_put_sells_the_strike_at_or_below_spot_collateralised_in_tbills():
    # SYNTHETIC. Roll 1 puts: 99 (1.80), 100 (2.20), 101 (2.70): the first strike at or below
    # 100.3 is 100. Cash-secured, sized at the whole equity: floor(100,000 / ((100 - 2.20) x
    # 100)) = floor(10.22) = 10 puts; the bills cover N x K = 100,000 of 102,200. 02-16: SOQ
    # 102.5 > 100, the puts expire worthless (trade P&L 2,200, interest not in it). The account:
    # (100,000 + 2,200) x G(02-16) = 102,486.534356 (interest 276.286727 to 02-15, 10.247629 on
    # 02-16).
    # Roll 2 at 103.0: strike 103 listed exactly; floor(102,486.19 / ((103 - 2.10) x 100)) = 10.
    quotes = [
        _q(ROLL1, "put", 99, 1.80),
        _q(ROLL1, "put", 100, 2.20),
        _q(ROLL1, "put", 101, 2.70),
        _q(MARK, "put", 100, 0.10),
        _q(ROLL2, "put", 102, 1.70),
        _q(ROLL2, "put", 103, 2.10),
        _q(ROLL2, "put", 104, 2.60),
    ]
    trades, legs, equity = _run("put", quotes)
    first, second = trades.row(0, named=True), trades.row(1, named=True)
    assert (first["lots"], first["pnl_usd"]) == (10, pytest.approx(2200.0))
    assert _strikes(legs, 1) == [("put", 100.0, -10)]
    to_mark = sum(r["cash_interest_usd"] for d, r in equity.items() if d <= MARK)
    assert to_mark == pytest.approx(102_200.0 * (G_MARK - 1.0))
    assert equity[ROLL2]["cash_interest_usd"] == pytest.approx(102_200.0 * (G2 - G_MARK))
    assert equity[ROLL2]["equity_usd"] == pytest.approx(102_200.0 * G2)
    assert _strikes(legs, 2) == [("put", 103.0, -10)]
    assert second["lots"] == 10


def test_pput_buys_the_put_at_or_below_95_percent_of_spot():
    # SYNTHETIC. 95 % of 100.3 is 95.285: puts 90 (0.30), 95 (0.80), 96 (1.00): the first
    # strike at or below is 95. A lot (100.3 + 0.80) x 100 = 10,110 USD: floor(100,000 /
    # 10,110) = 9 lots. 02-16: SOQ 102.5 > 95, the put expires worthless. Per lot: stock 270,
    # put -80, dividends 28.121 -> 218.121; 9 lots: 1,963.089 (equity 101,963.089).
    quotes = [
        _q(ROLL1, "put", 90, 0.30),
        _q(ROLL1, "put", 95, 0.80),
        _q(ROLL1, "put", 96, 1.00),
        _q(MARK, "put", 95, 0.05),
        _q(ROLL2, "put", 97, 0.90),
    ]
    trades, legs, equity = _run("pput", quotes)
    first = trades.row(0, named=True)
    assert _strikes(legs, 1) == [("put", 95.0, 9)]
    assert first["pnl_usd"] == pytest.approx(1963.089)
    assert equity[ROLL2]["equity_usd"] == pytest.approx(101_963.089)
    # roll 2: 95 % of 103.0 is 97.85, the first strike at or below is 97
    assert _strikes(legs, 2)[0][:2] == ("put", 97.0)


def _condor(day: dt.date) -> list[dict[str, Any]]:
    return [
        _q(day, "put", 92, 0.30, -0.05),
        _q(day, "put", 94, 0.60, -0.12),
        _q(day, "put", 96, 1.00, -0.21),
        _q(day, "call", 104, 0.90, 0.19),
        _q(day, "call", 106, 0.45, 0.11),
        _q(day, "call", 108, 0.20, 0.06),
    ]


def test_cndr_sizes_the_tbills_at_ten_times_the_maximum_loss():
    # SYNTHETIC. Roll 1 (delta): puts 92 (-0.05), 94 (-0.12), 96 (-0.21); calls 104 (0.19), 106
    # (0.11), 108 (0.06): short 96 put and 104 call (nearest 0.20), long 92 put and 108 call
    # (nearest 0.05). Credit 1.00 - 0.30 + 0.90 - 0.20 = 1.40; widths 4: the maximum loss
    # (4 - 1.40) x 100 = 260 USD a condor; 10 % of 100,000 covers floor(38.46) = 38. 02-16: SOQ
    # 102.5, every leg out of the money: P&L 38 x 140 = 5,320. The account (100,000 + 5,320) x
    # G(02-16) = 105,615.281784. Roll 2 sizes on that equity: floor(10,561.53 / 260) = 40.
    quotes = _condor(ROLL1) + _condor(MARK) + _condor(ROLL2)
    trades, legs, equity = _run("cndr", quotes)
    first, second = trades.row(0, named=True), trades.row(1, named=True)
    assert _strikes(legs, 1) == [
        ("put", 96.0, -38),
        ("put", 92.0, 38),
        ("call", 104.0, -38),
        ("call", 108.0, 38),
    ]
    assert (first["pnl_usd"], first["settlement_method"]) == (
        pytest.approx(5320.0),
        "intrinsic_am_index_open",
    )
    assert equity[ROLL2]["equity_usd"] == pytest.approx(105_320.0 * G2)
    assert second["lots"] == 40


def test_bfly_sells_the_atm_straddle_with_5_percent_wings():
    # SYNTHETIC. Spot 100.3: the at-the-money strike is 100 (call 2.50, put 2.20); wings at
    # 100 +/- 5 % of 100.3 = 105.015 / 94.985: 105 (call 0.50) and 95 (put 0.80). Credit 3.40;
    # widths 5: the maximum loss (5 - 3.40) x 100 = 160 USD; 10 % of 100,000 covers
    # floor(62.5) = 62. 02-16: SOQ 102.5, the short 100 call settles at 2.50 in the money, the
    # rest at 0: P&L 62 x (3.40 - 2.50) x 100 = 5,580. The account: the premium 21,080 grows
    # with the capital, the settlement 15,500 is paid on 02-16: 121,080 x G(02-16) - 15,500 =
    # 105,919.467513.
    def fly(day: dt.date) -> list[dict[str, Any]]:
        return [
            _q(day, "call", 100, 2.50),
            _q(day, "put", 100, 2.20),
            _q(day, "call", 105, 0.50),
            _q(day, "put", 95, 0.80),
            _q(day, "call", 110, 0.10),
            _q(day, "put", 90, 0.20),
        ]

    # roll 2 quotes one call only: no butterfly opens (a quote keeps 02-16 in the calendar)
    trades, legs, equity = _run("bfly", [*fly(ROLL1), *fly(MARK), _q(ROLL2, "call", 103, 2.0)])
    first = trades.row(0, named=True)
    assert _strikes(legs, 1) == [
        ("call", 100.0, -62),
        ("put", 100.0, -62),
        ("call", 105.0, 62),
        ("put", 95.0, 62),
    ]
    call = legs.filter((pl.col("trade_id") == 1) & (pl.col("leg_no") == 1)).row(0, named=True)
    assert (call["settlement_price"], call["exit_price"]) == (pytest.approx(102.5), 2.5)
    assert first["pnl_usd"] == pytest.approx(5580.0)
    assert equity[ROLL2]["equity_usd"] == pytest.approx(121_080.0 * G2 - 15_500.0)


# --- the default run: the replication marts are the engine's own runs ---------------------------

BENCHMARKS = ("BXM", "BXMD", "PUT", "PPUT", "CNDR", "BFLY", "CLL")  # every benchmark of `make all`


@pytest.mark.slow
def test_replication_is_the_engines_ordinary_run_of_each_config(real_warehouse: Path):
    """On the warehouse built from the embedded real data: every benchmark config of `make all`
    has its replication on the modeled and the real chain, and each replicated level series is
    its run's equity (backtest.equity_daily, the ordinary `python -m engine run` of the config)
    rescaled by one constant, session for session."""
    import duckdb

    with duckdb.connect(str(real_warehouse / "options.duckdb"), read_only=True) as con:
        joined = con.sql(
            """
            select r.benchmark_symbol, r.chain_source, r.quote_date, r.replicated_level,
                e.equity_usd, runs.strategy, runs.chain_source as run_chain_source
            from forecasts.rpt_benchmark_replication r
            join backtest.runs on runs.run_id = r.run_id
            left join backtest.equity_daily e
                on e.run_id = r.run_id and e.quote_date = r.quote_date
            order by all
            """
        ).pl()
        sessions = con.sql(
            """
            select r.benchmark_symbol, r.chain_source, count(*) as n_mart,
                (select count(*) from backtest.equity_daily e where e.run_id = any_value(r.run_id))
                    as n_run
            from forecasts.rpt_benchmark_replication r
            group by all
            """
        ).pl()
    pairs = set(zip(sessions["benchmark_symbol"], sessions["chain_source"], strict=True))
    assert pairs == {(b, s) for b in BENCHMARKS for s in ("modeled", "real")}
    assert (sessions["n_mart"] == sessions["n_run"]).all()
    assert (joined["strategy"].str.to_uppercase() == joined["benchmark_symbol"]).all()
    assert (joined["run_chain_source"] == joined["chain_source"]).all()
    ratio = (
        joined.with_columns((pl.col("replicated_level") / pl.col("equity_usd")).alias("ratio"))
        .group_by("benchmark_symbol", "chain_source")
        .agg(
            ((pl.col("ratio").max() - pl.col("ratio").min()) / pl.col("ratio").mean()).alias(
                "spread"
            )
        )
    )
    assert ratio["spread"].max() < 1e-9


@pytest.mark.slow
def test_real_2019_bxm_cycle_is_within_half_a_point_of_the_published_index(real_warehouse: Path):
    """The real SPX chain's one complete monthly cycle (2019-06-21 -> 07-19; the 05-17 roll
    session is not in the vendor's files): the replication's return is within 0.5 percentage
    points of the published BXM's (issue 18's target)."""
    import duckdb

    with duckdb.connect(str(real_warehouse / "options.duckdb"), read_only=True) as con:
        rows = con.sql(
            """
            select cycle_start_date, cycle_end_date, replicated_return, published_return
            from forecasts.rpt_benchmark_replication_cycles
            where benchmark_symbol = 'BXM' and chain_source = 'real' and is_complete_cycle
            """
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(dt.date(2019, 6, 21), dt.date(2019, 7, 19))]
    _, _, replicated, published = rows[0]
    assert abs(replicated - published) <= 0.005
