"""The cash account (engine.cash, ``cash_interest: tbill_1m``) on hand-computed SYNTHETIC cases,
and the sizing of the Cboe benchmarks that hold Treasury bills (PUT, CNDR, BFLY).

Rates of 0.0365 make the interest round: a dollar earns 0.0365 × 3 / 365 = 0.0003 over a
weekend (Friday -> Monday) and 0.0001 over one night. The sessions are Friday 2024-01-05 to
Wednesday 2024-01-10 (NYSE sessions, no holiday between), so

    G = 1, 1.0003, 1.0003 × 1.0001 = 1.00040003, 1.00040003 × 1.0001 = 1.000500070003.

Rule: Cboe, "Methodology of the CBOE S&P 500 PutWrite Index" (2014): the collateral is held in
one- and three-month T-bills, reinvested on roll dates; engine.cash approximates them by one
account compounding the 1-month yield daily.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

from engine import cash, io
from engine.backtest import run_backtest
from engine.cli import main
from engine.config import BacktestConfig, ConfigError
from engine.schema import EQUITY_SCHEMA, OUTPUT_TABLES

from .conftest import Chain
from .test_io import build_db

FRI, MON, TUE, WED = (
    dt.date(2024, 1, 5),
    dt.date(2024, 1, 8),
    dt.date(2024, 1, 9),
    dt.date(2024, 1, 10),
)
DAYS = [FRI, MON, TUE, WED]
EXP = dt.date(2024, 2, 9)  # 32 days after Monday: inside the 1..45 DTE window
FAR = dt.date(2024, 12, 20)  # outside it: a quote that keeps a session in the calendar
G = [1.0, 1.0003, 1.00040003, 1.000500070003]


def _config(legs: list[dict[str, Any]] | None = None, **overrides: Any) -> BacktestConfig:
    raw: dict[str, Any] = {
        "strategy": "short_put_atm",
        "legs": legs or [{"type": "put", "side": "short", "ratio": 1, "strike_offset_pct": 0}],
        "option_roots": ["SPXW"],
        "initial_capital_usd": 100_000,
        "entry": {"target_dte": 30, "min_dte": 1, "max_dte": 45, "max_open_positions": 1},
        "sizing": {"mode": "fixed", "contracts": 1},
        "execution": {"fill": "mid", "multiplier": 100},
    }
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return BacktestConfig.from_mapping(raw)


def _with_rates(frames: dict[str, pl.LazyFrame], rate_1m: list, rate_3m: list) -> dict:
    rates = pl.LazyFrame(
        {"trade_date": DAYS, "rate_1m": rate_1m, "rate_3m": rate_3m},
        schema={"trade_date": pl.Date, "rate_1m": pl.Float64, "rate_3m": pl.Float64},
    )
    return {**frames, "underlying": frames["underlying"].join(rates, on="trade_date", how="left")}


def _premium_frames(rate_1m: list | None = None, rate_3m: list | None = None) -> dict:
    """SYNTHETIC: Friday quotes only a far call (no entry); Monday to Wednesday the 32-day put
    of strike 100 at mid 2.00, spot 100: one short put opens on Monday (+200 USD) and stays open
    (max_open_positions 1), marked at -200 USD."""
    quotes = [Chain.quote(FRI, "call", 100, 5.0, expiration=FAR)]
    quotes += [Chain.quote(d, "put", 100, 2.0, expiration=EXP) for d in (MON, TUE, WED)]
    return _with_rates(Chain.frames(quotes), rate_1m or [0.0365] * 4, rate_3m or [0.05] * 4)


# --- the growth of the account ----------------------------------------------------------------


def test_synthetic_growth_is_simple_actual_365_compounded_each_session():
    # SYNTHETIC: the module docstring's G, weekend included
    rates = cash.session_rates(
        pl.DataFrame({"quote_date": DAYS}),
        pl.DataFrame({"trade_date": DAYS, "rate_1m": [0.0365] * 4, "rate_3m": [0.05] * 4}),
    )
    assert rates["accrual"].to_list() == pytest.approx([0.0, 0.0003, 0.0001, 0.0001], abs=1e-15)
    assert rates["growth"].to_list() == pytest.approx(G, rel=1e-14)
    assert rates["cash_interest_method"].to_list() == ["tbill_1m"] * 3 + [None]


def test_synthetic_grow_credits_each_flow_from_its_own_session():
    # SYNTHETIC: 100 paid on day 0, 50 more on day 2 -> 100 × G_t + 50 × G_t / G_2
    g = np.array(G)
    grown = cash.grow(np.array([[100.0, 100.0, 150.0, 150.0]]), g)
    assert grown[0].tolist() == pytest.approx([100.0, 100.03, 150.040003, 150.0550070003])
    # linear: the growth of a sum is the sum of the growths
    a, b = np.array([1.0, 3.0, 2.0, 2.0]), np.array([0.0, -4.0, 5.0, 1.0])
    assert cash.grow(a + b, g) == pytest.approx(cash.grow(a, g) + cash.grow(b, g))


# --- a whole run --------------------------------------------------------------------------------


def test_synthetic_premium_and_capital_earn_interest_hand_computed():
    # SYNTHETIC. Capital 100,000 grows to 100,000 × G_t; the put's premium 200, received on
    # Monday, grows from Monday: 200 × G_t / G_1.
    #   cash: Fri 100,000; Mon 100,030 + 200 = 100,230; Tue 100,230 × 1.0001 = 100,240.023;
    #         Wed 100,240.023 × 1.0001 = 100,250.0470023
    #   interest: 0; 30; 10.023; 10.0240023 (the previous cash × the accrual)
    #   equity = cash - 200 (the short put's mark): 100,000; 100,030; 100,040.023; 100,050.0470023
    res = run_backtest(**_premium_frames(), cfg=_config(cash_interest="tbill_1m"))
    eq = res.equity_daily.sort("quote_date")
    assert eq["quote_date"].to_list() == DAYS
    assert eq["cash_usd"].to_list() == pytest.approx(
        [100_000.0, 100_230.0, 100_240.023, 100_250.0470023], rel=1e-13
    )
    assert eq["cash_interest_usd"].to_list() == pytest.approx(
        [0.0, 30.0, 10.023, 10.0240023], rel=1e-9
    )
    assert eq["equity_usd"].to_list() == pytest.approx(
        [100_000.0, 100_030.0, 100_040.023, 100_050.0470023], rel=1e-13
    )
    assert eq["pnl_usd"].to_list() == pytest.approx([0.0, 30.0, 10.023, 10.0240023], rel=1e-9)
    # interest is the account's: the trade's own P&L and marks exclude it
    trade = res.trades.row(0, named=True)
    assert (trade["entry_date"], trade["lots"], trade["pnl_usd"]) == (MON, 1, 0.0)
    assert res.positions_daily["unrealized_pnl_usd"].to_list() == [0.0, 0.0, 0.0]
    assert "cash_interest: tbill_1m × 3 (" in res.runs["approximations"][0]
    assert "tbill_3m_fallback" not in res.runs["approximations"][0]


def test_synthetic_none_earns_nothing():
    # SYNTHETIC: the same run without interest: cash 100,000 then 100,200, equity flat 100,000
    res = run_backtest(**_premium_frames(), cfg=_config())
    eq = res.equity_daily.sort("quote_date")
    assert eq["cash_usd"].to_list() == [100_000.0, 100_200.0, 100_200.0, 100_200.0]
    assert eq["equity_usd"].to_list() == [100_000.0] * 4
    assert eq["cash_interest_usd"].to_list() == [0.0] * 4
    assert "cash_interest" not in res.runs["approximations"][0]


def test_synthetic_none_ignores_missing_rates():
    # SYNTHETIC: without interest the rates are never read (an older mart without rate_1m runs)
    frames = _premium_frames()
    frames["underlying"] = frames["underlying"].drop("rate_1m", "rate_3m")
    assert run_backtest(**frames, cfg=_config()).trades.height == 1


def test_synthetic_lots_are_sized_on_the_grown_equity():
    # SYNTHETIC. Friday to Tuesday quote only a far call; Wednesday the cash-secured ATM put K 101
    # at mid 0.96, spot 101: a lot needs (101 - 0.96) × 100 = 10,004 USD of cash (Cboe PUT: the
    # bills cover the strike; the premium is part of them). Without interest the equity is
    # 100,000 -> floor(9.996) = 9 lots; with it 100,000 × G_3 = 100,050.0070003 -> floor(10.001)
    # = 10 lots. Interest on Wednesday: Tuesday's 100,040.003 × 0.0001 = 10.0040003.
    quotes = [Chain.quote(d, "call", 100, 5.0, expiration=FAR) for d in (FRI, MON, TUE)]
    quotes.append(Chain.quote(WED, "put", 101, 0.96, expiration=EXP, underlying_price=101.0))
    frames = _with_rates(Chain.frames(quotes), [0.0365] * 4, [0.05] * 4)
    plain = run_backtest(**frames, cfg=_put_write())
    grown = run_backtest(**frames, cfg=_put_write(cash_interest="tbill_1m"))
    assert plain.trades["margin_rule"].to_list() == ["cash_secured_put"]
    assert plain.trades["lots"].to_list() == [9]
    assert grown.trades["lots"].to_list() == [10]
    wed = grown.equity_daily.filter(pl.col("quote_date") == WED).row(0, named=True)
    assert wed["cash_interest_usd"] == pytest.approx(10.0040003, rel=1e-9)
    # the premium 10 × 96 in cash, the same marked against it
    assert wed["equity_usd"] == pytest.approx(100_050.0070003, rel=1e-13)


def _raw(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "option_roots": ["SPXW"],
        "initial_capital_usd": 100_000,
        "entry": {"target_dte": 30, "min_dte": 1, "max_dte": 45, "max_open_positions": 1},
        "execution": {"fill": "mid", "multiplier": 100},
    }
    raw.update(overrides)
    return raw


def _put_write(**overrides: Any) -> BacktestConfig:
    """The catalogue's cash-secured put (``cash_secured: true``: the strike in cash) at the
    at-the-money strike, sized with risk_fraction 1.0: the PUT index's rule."""
    return BacktestConfig.from_mapping(
        _raw(
            strategy="cash_secured_put",
            leg_overrides={1: {"strike_offset_pct": 0}},
            sizing={"mode": "risk_fraction", "fraction": 1.0},
            **overrides,
        )
    )


# --- missing rates ---------------------------------------------------------------------------


def test_synthetic_missing_1m_rate_falls_back_to_3m_and_says_so():
    # SYNTHETIC: no DGS1MO on Monday, DGS3MO 0.073 stands in: Monday -> Tuesday accrues
    # 0.073 / 365 = 0.0002, so Tuesday's interest is Monday's cash 100,230 × 0.0002 = 20.046
    frames = _premium_frames(
        rate_1m=[0.0365, None, 0.0365, 0.0365], rate_3m=[0.05, 0.073, 0.05, 0.05]
    )
    res = run_backtest(**frames, cfg=_config(cash_interest="tbill_1m"))
    interest = res.equity_daily.sort("quote_date")["cash_interest_usd"].to_list()
    assert interest[:3] == pytest.approx([0.0, 30.0, 20.046], rel=1e-9)
    approximations = res.runs["approximations"][0]
    assert "cash_interest: tbill_1m × 2, tbill_3m_fallback × 1 (" in approximations
    assert "DGS3MO stood in for DGS1MO on 2024-01-08)" in approximations


def test_synthetic_both_rates_missing_names_the_date():
    frames = _premium_frames(
        rate_1m=[0.0365, 0.0365, None, 0.0365], rate_3m=[0.05, 0.05, None, 0.05]
    )
    with pytest.raises(ValueError, match="on 2024-01-09"):
        run_backtest(**frames, cfg=_config(cash_interest="tbill_1m"))


def test_synthetic_no_underlying_row_names_the_date():
    # SYNTHETIC: the underlying has no row on Tuesday at all
    frames = _premium_frames()
    frames["underlying"] = frames["underlying"].filter(pl.col("trade_date") != TUE)
    with pytest.raises(ValueError, match=r"no T-bill|none \(rate_1m or rate_3m"):
        run_backtest(**frames, cfg=_config(cash_interest="tbill_1m"))


def test_synthetic_the_last_sessions_rate_is_not_needed():
    # SYNTHETIC: Wednesday's rate would accrue to Thursday, outside the run
    frames = _premium_frames(
        rate_1m=[0.0365, 0.0365, 0.0365, None], rate_3m=[0.05, 0.05, 0.05, None]
    )
    res = run_backtest(**frames, cfg=_config(cash_interest="tbill_1m"))
    assert res.equity_daily["cash_interest_usd"].sum() == pytest.approx(50.0470023, rel=1e-9)


def test_synthetic_a_percent_rate_is_refused_with_its_value():
    frames = _premium_frames(rate_1m=[0.0365, 3.65, 0.0365, 0.0365])
    with pytest.raises(ValueError, match=r"rate_1m must be a decimal .* got 3\.65 on 2024-01-08"):
        run_backtest(**frames, cfg=_config(cash_interest="tbill_1m"))


def test_synthetic_rates_columns_are_required_with_tbill():
    frames = _premium_frames()
    frames["underlying"] = frames["underlying"].drop("rate_1m")
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['rate_1m'\]"):
        run_backtest(**frames, cfg=_config(cash_interest="tbill_1m"))


# --- the config and the run id --------------------------------------------------------------


def test_run_id_unchanged_when_cash_interest_is_not_set():
    plain = _config()
    explicit = _config(cash_interest="none")
    earning = _config(cash_interest="tbill_1m")
    canonical = plain.to_dict()
    assert canonical["cash_interest"] == "none"
    for key in ("cash_interest", "chain_source", "stock_dividends"):
        canonical.pop(key)
    canonical["execution"].pop("stock_exit_price")
    canonical["entry"].pop("regimes")
    canonical["entry"].pop("back_expiry_months")
    canonical["entry"].pop("back_strike")
    canonical["execution"].pop("zero_bid")
    legacy = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    assert plain.config_hash == legacy == explicit.config_hash
    assert earning.run_id != plain.run_id


def test_an_unknown_cash_interest_is_refused_with_its_value():
    with pytest.raises(
        ConfigError, match=r"cash_interest must be one of \['none', 'tbill_1m'\], got 'tbill_3m'"
    ):
        _config(cash_interest="tbill_3m")


# --- the warehouse: read, written, old tables brought up to date ------------------------------


def test_synthetic_cli_reads_the_rates_and_writes_the_interest(tmp_path, capsys):
    # SYNTHETIC warehouse of test_io (a straddle on 2024-01-02..04) with DGS1MO 0.0365 added:
    # the run's cash earns 0.0001 a night on 10,000 less the debit
    db = tmp_path / "build.duckdb"
    build_db(db, with_predictions=False)
    with duckdb.connect(str(db)) as con:
        con.execute(
            "alter table marts.fct_underlying_daily add column rate_1m double; "
            "alter table marts.fct_underlying_daily add column rate_3m double; "
            "update marts.fct_underlying_daily set rate_1m = 0.0365, rate_3m = 0.05"
        )
    config = tmp_path / "run.yaml"
    config.write_text(
        "strategy: long_straddle\noption_roots: [SPXW]\ninitial_capital_usd: 10000\n"
        "cash_interest: tbill_1m\nentry: {target_dte: 30, min_dte: 20, max_dte: 45, "
        "max_open_positions: 1}\n"
    )
    assert main(["run", "--config", str(config), "--db", str(db)]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql(
            "select quote_date, cash_usd, cash_interest_usd from backtest.equity_daily "
            "order by quote_date"
        ).fetchall()
        approximations = con.sql("select approximations from backtest.runs").fetchall()[0][0]
    # day 1: the straddle 5 + 4 = 9 points bought: cash 10,000 - 900 = 9,100; day 2 earns
    # 9,100 × 0.0001 = 0.91, day 3 9,100.91 × 0.0001 = 0.910091
    assert [r[2] for r in rows] == pytest.approx([0.0, 0.91, 0.910091], rel=1e-9)
    assert rows[-1][1] == pytest.approx(9_101.820091, rel=1e-12)
    assert "cash_interest: tbill_1m × 2" in approximations


def test_synthetic_tbill_run_on_a_mart_without_rates_names_the_columns(tmp_path):
    db = tmp_path / "build.duckdb"
    build_db(db, with_predictions=False)
    cfg = _config(cash_interest="tbill_1m")
    with (
        duckdb.connect(str(db), read_only=True) as con,
        pytest.raises(io.MissingTableError, match=r"lacks column\(s\) \['rate_1m', 'rate_3m'\]"),
    ):
        io.load_inputs(con, cfg, db_path=db)


def test_equity_daily_gains_cash_interest_in_place(tmp_path):
    # an equity_daily written before the column existed keeps its rows, with 0 interest
    db = tmp_path / "out.duckdb"
    with duckdb.connect(str(db)) as con:
        io.ensure_output_tables(con)
        con.execute("alter table backtest.equity_daily drop column cash_interest_usd")
        con.execute(
            "insert into backtest.equity_daily (run_id, quote_date, cash_usd) "
            "values ('old-run', '2024-01-02', 1.0)"
        )
        change = io.ensure_output_tables(con)
        rows = con.sql("select run_id, cash_interest_usd from backtest.equity_daily").fetchall()
        columns = [
            r[0]
            for r in con.sql(
                "select column_name from information_schema.columns where table_schema = "
                "'backtest' and table_name = 'equity_daily' order by ordinal_position"
            ).fetchall()
        ]
    assert change.replaced == ()
    assert change.added_columns == ("backtest.equity_daily.cash_interest_usd",)
    assert rows == [("old-run", 0.0)]
    assert columns == list(EQUITY_SCHEMA) == list(OUTPUT_TABLES["equity_daily"][0])


# --- sizing of the benchmarks that hold T-bills ----------------------------------------------


def _one_session(quotes: list[tuple[str, float, float]], spot: float = 100.0) -> dict:
    """SYNTHETIC: one session (Wednesday) of 32-day quotes (type, strike, mid)."""
    rows = [
        Chain.quote(WED, kind, strike, mid, expiration=EXP, underlying_price=spot)
        for kind, strike, mid in quotes
    ]
    return Chain.frames(rows)


def _inline_put_write(**overrides: Any) -> BacktestConfig:
    """The PUT config's form: an inline short put at the closest strike at or below the index,
    ``cash_secured: true``, risk_fraction 1.0."""
    legs = [{"type": "put", "side": "short", "ratio": 1, "strike_at_or_below_pct": 0}]
    raw = _raw(
        strategy="put",
        legs=legs,
        cash_secured=True,
        sizing={"mode": "risk_fraction", "fraction": 1.0},
    )
    return BacktestConfig.from_mapping({**raw, **overrides})


@pytest.mark.parametrize("make", [_put_write, _inline_put_write], ids=["catalogue", "inline"])
def test_synthetic_put_write_lots_cover_the_strike(make):
    # SYNTHETIC, Cboe PUT: N × K covered by the bills, the premium among them:
    # lots = floor(equity / ((K - p) × 100)) = floor(100,000 / ((100 - 1.70) × 100))
    # = floor(10.17) = 10 (cash-secured put margin: the strike less the proceeds)
    frames = _one_session([("put", 100, 1.70), ("put", 105, 5.0)])
    trade = run_backtest(**frames, cfg=make()).trades.row(0, named=True)
    assert trade["margin_rule"] == "cash_secured_put"
    assert trade["lots"] == 10
    assert trade["capital_at_risk_usd"] == pytest.approx(10 * 9_830.0)


def test_inline_cash_secured_is_hashed_and_checked():
    plain = BacktestConfig.from_mapping(
        _raw(strategy="put", legs=[{"type": "put", "side": "short", "strike_offset_pct": 0}])
    )
    assert _inline_put_write().strategy.cash_secured and not plain.strategy.cash_secured
    with pytest.raises(ConfigError, match="cash_secured must be true or false, got 'yes'"):
        _inline_put_write(cash_secured="yes")
    with pytest.raises(ConfigError, match="cash_secured goes with inline legs"):
        BacktestConfig.from_mapping(_raw(strategy="short_put", cash_secured=True))


def test_synthetic_iron_condor_lots_are_a_tenth_of_equity_over_the_max_loss():
    # SYNTHETIC, Cboe CNDR: "the Treasury bills cover ten times the maximum loss". Put spread
    # 95/90 (short 1.60, long 0.50), call spread 105/112 (short 1.40, long 0.40): credit 2.10;
    # wider side 7: max loss (7 - 2.10) × 100 = 490 per lot; floor(0.1 × 100,000 / 490)
    # = floor(20.41) = 20 lots
    frames = _one_session(
        [
            ("put", 95, 1.60),
            ("put", 90, 0.50),
            ("call", 105, 1.40),
            ("call", 112, 0.40),
            ("put", 100, 3.0),
            ("call", 100, 3.0),
        ]
    )
    legs = [
        {"type": "put", "side": "short", "ratio": 1, "strike_offset_pct": -5},
        {"type": "put", "side": "long", "ratio": 1, "width_pct": -5, "of": 1},
        {"type": "call", "side": "short", "ratio": 1, "strike_offset_pct": 5},
        {"type": "call", "side": "long", "ratio": 1, "width_pct": 7, "of": 3},
    ]
    cfg = BacktestConfig.from_mapping(
        _raw(strategy="short_wings", legs=legs, sizing={"mode": "risk_fraction", "fraction": 0.1})
    )
    trade = run_backtest(**frames, cfg=cfg).trades.row(0, named=True)
    assert trade["margin_rule"] == "iron_condor"
    assert trade["lots"] == 20
    assert trade["max_loss_usd"] == pytest.approx(20 * 490.0)
    assert trade["capital_at_risk_usd"] == pytest.approx(20 * 490.0)


def test_synthetic_iron_butterfly_lots_are_a_tenth_of_equity_over_the_max_loss():
    # SYNTHETIC, Cboe BFLY: short put and call at 100 (2.50, 2.40), long put 95 (0.60), long call
    # 106 (0.50): credit 3.80; wider side 6: max loss (6 - 3.80) × 100 = 220 per lot;
    # floor(0.1 × 100,000 / 220) = floor(45.45) = 45 lots
    frames = _one_session(
        [("put", 100, 2.50), ("call", 100, 2.40), ("put", 95, 0.60), ("call", 106, 0.50)]
    )
    legs = [
        {"type": "call", "side": "short", "ratio": 1, "strike_offset_pct": 0},
        {"type": "put", "side": "short", "ratio": 1, "same_strike_as": 1},
        {"type": "put", "side": "long", "ratio": 1, "width_pct": -5, "of": 2},
        {"type": "call", "side": "long", "ratio": 1, "width_pct": 6, "of": 1},
    ]
    cfg = BacktestConfig.from_mapping(
        _raw(strategy="short_wings", legs=legs, sizing={"mode": "risk_fraction", "fraction": 0.1})
    )
    trade = run_backtest(**frames, cfg=cfg).trades.row(0, named=True)
    assert trade["margin_rule"] == "iron_condor"
    assert trade["lots"] == 45
    assert trade["max_loss_usd"] == pytest.approx(45 * 220.0)
