"""Tests of engine.straddle on tiny SYNTHETIC chains (hand-computed) and random ones (invariants)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine.schema import EQUITY_SCHEMA, EXIT_REASONS, METRICS_SCHEMA, TRADES_SCHEMA
from engine.straddle import run_backtest

D = dt.date


def test_two_day_round_trip_hand_computed(chain, make_cfg):
    # SYNTHETIC fixture: one SPXW expiration (2024-02-02), strike 100, two quote dates.
    #   2024-01-02: S=100, call mid 5.00, put mid 4.00, prob_up 0.40 <= 0.55 -> enter
    #   2024-01-03:        call mid 6.00, put mid 3.50, prob_up 0.90        -> no entry
    # contracts=2, multiplier=100, slippage 100 bps, commission 0.50 per contract per leg.
    #   entry_price = (5 + 4) * 1.01 = 9.09; debit = 9.09 * 200 = 1818; entry commission
    #   = 0.50 * 2 contracts * 2 legs = 2 -> cash day 1 = 10000 - 1818 - 2 = 8180
    #   mark day 1 = (5 + 4) * 200 = 1800 -> equity day 1 = 9980
    #   exit_price = (6 + 3.5) * 0.99 = 9.405; credit = 1881; exit commission 2
    #   -> cash day 2 = 8180 + 1881 - 2 = 10059 = equity day 2 (flat)
    #   pnl = (9.405 - 9.09) * 200 - 4 = 63 - 4 = 59; trade_return = 59 / 1818
    exp = D(2024, 2, 2)
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    quotes = chain.straddle(d1, 100, 5.0, 4.0, expiration=exp) + chain.straddle(
        d2, 100, 6.0, 3.5, expiration=exp
    )
    cfg = make_cfg(contracts=2, slippage_bps=100, commission_per_contract=0.5)
    res = run_backtest(**chain.frames(quotes, prob_up={d1: 0.40, d2: 0.90}), cfg=cfg)

    assert res.trades.height == 1
    t = res.trades.row(0, named=True)
    assert (t["trade_id"], t["entry_date"], t["exit_date"]) == (1, d1, d2)
    assert (t["exit_reason"], t["settlement_method"], t["holding_days_actual"]) == (
        "holding_period",
        "mid",
        1,
    )
    assert t["entry_price"] == pytest.approx(9.09)
    assert t["exit_price"] == pytest.approx(9.405)
    assert t["commission_usd"] == pytest.approx(4.0)
    assert t["pnl_usd"] == pytest.approx(59.0)
    assert t["trade_return"] == pytest.approx(59.0 / 1818.0)
    assert t["entry_prob_up"] == pytest.approx(0.40)
    assert t["entry_underlying_price"] == pytest.approx(100.0)

    eq = res.equity_daily.rows(named=True)
    assert [r["quote_date"] for r in eq] == [d1, d2]
    assert eq[0]["cash_usd"] == pytest.approx(8180.0)
    assert eq[0]["positions_value_usd"] == pytest.approx(1800.0)
    assert eq[0]["equity_usd"] == pytest.approx(9980.0)
    assert eq[0]["daily_return"] == pytest.approx(-0.002)
    assert eq[0]["drawdown"] == pytest.approx(-0.002)
    assert eq[0]["open_positions"] == 1
    assert eq[1]["cash_usd"] == pytest.approx(10059.0)
    assert eq[1]["positions_value_usd"] == pytest.approx(0.0)
    assert eq[1]["equity_usd"] == pytest.approx(10059.0)
    assert eq[1]["daily_return"] == pytest.approx(10059.0 / 9980.0 - 1.0)
    assert eq[1]["drawdown"] == pytest.approx(0.0)
    assert eq[1]["open_positions"] == 0

    met = res.metrics.row(0, named=True)
    assert met["n_trades"] == 1
    assert met["total_return"] == pytest.approx(0.0059)
    assert met["win_rate"] == pytest.approx(1.0)
    assert met["avg_trade_pnl_usd"] == pytest.approx(59.0)
    assert met["max_drawdown"] == pytest.approx(-0.002)
    assert (met["first_date"], met["last_date"]) == (d1, d2)
    assert res.runs.row(0, named=True)["model_version"] == "v1"
    assert res.run_id == cfg.run_id


@pytest.mark.parametrize(
    ("root", "method"), [("SPXW", "intrinsic_pm_close"), ("SPX", "intrinsic_am_proxy_close")]
)
def test_expiration_before_exit_settles_at_intrinsic(chain, make_cfg, root, method):
    # SYNTHETIC: expiration 2024-01-03 is 1 trading day after entry, holding_days=5 -> expiry.
    #   entry_price = 2.0 + 1.5 = 3.5 (no slippage); commission at entry only = 0.65 * 1 * 2 = 1.3
    #   settlement = |close 104 - strike 100| = 4.0; pnl = (4.0 - 3.5) * 100 - 1.3 = 48.7
    #   day 1: cash 10000 - 350 - 1.3 = 9648.7, mark 350 -> equity 9998.7
    #   day 2: cash 9648.7 + 400 = 10048.7, no position; day 3 unchanged.
    d1, d2, d3 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)
    exp = d2
    quotes = (
        chain.straddle(d1, 100, 2.0, 1.5, expiration=exp, root=root)
        + chain.straddle(d2, 100, 4.2, 0.05, expiration=exp, root=root)
        + chain.straddle(d3, 110, 1.0, 1.0, expiration=D(2024, 1, 5), root=root)
    )
    cfg = make_cfg(
        option_roots=[root],
        target_dte=1,
        min_dte=0,
        max_dte=5,
        holding_days=5,
        commission_per_contract=0.65,
    )
    frames = chain.frames(quotes, closes={d2: 104.0}, prob_up={d1: 0.1, d2: 0.9, d3: 0.9})
    res = run_backtest(**frames, cfg=cfg)

    t = res.trades.row(0, named=True)
    assert res.trades.height == 1
    assert (t["exit_reason"], t["settlement_method"], t["exit_date"]) == ("expiration", method, d2)
    assert t["exit_price"] == pytest.approx(4.0)
    assert t["exit_underlying_close"] == pytest.approx(104.0)
    assert t["exit_mid_call"] is None
    assert t["commission_usd"] == pytest.approx(1.3)
    assert t["pnl_usd"] == pytest.approx(48.7)
    assert t["holding_days_actual"] == 1
    eq = res.equity_daily
    assert eq["quote_date"].to_list() == [d1, d2, d3]
    assert eq["equity_usd"].to_list() == pytest.approx([9998.7, 10048.7, 10048.7])
    assert eq["cash_usd"].to_list() == pytest.approx([9648.7, 10048.7, 10048.7])
    assert eq["open_positions"].to_list() == [1, 0, 0]


def test_expiration_on_a_day_missing_from_the_data_books_next_trading_day(chain, make_cfg):
    # SYNTHETIC, on the real vendor gap: 2019-05-17 (an expiration Friday) has no quotes.
    # Entry Mon 05-13, holding_days=5 -> target 05-21; expiration 05-17 comes first.
    # Settlement |2860 - 2850| = 10 is dated 05-17 and its cash booked on Mon 05-20.
    days = [D(2019, 5, d) for d in (13, 14, 15, 16, 20, 21)]
    exp = D(2019, 5, 17)
    quotes = []
    for i, day in enumerate(days):
        if day < exp:
            quotes += chain.straddle(
                day, 2850, 12.0 + i, 11.0, expiration=exp, underlying_price=2851
            )
        else:  # later days quote another expiration only
            quotes += chain.straddle(day, 2850, 9.0, 9.0, expiration=D(2019, 5, 24))
    cfg = make_cfg(target_dte=4, min_dte=1, max_dte=10, holding_days=5)
    prob = {day: (0.1 if day == days[0] else 0.9) for day in days}
    res = run_backtest(**chain.frames(quotes, closes={exp: 2860.0}, prob_up=prob), cfg=cfg)

    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_date"], t["exit_price"]) == ("expiration", exp, 10.0)
    assert t["holding_days_actual"] == 3  # 05-14, 05-15, 05-16 are the trading days through 05-17
    assert t["pnl_usd"] == pytest.approx((10.0 - 23.0) * 100)
    eq = res.equity_daily
    assert eq["open_positions"].to_list() == [1, 1, 1, 1, 0, 0]
    # 05-16 is marked at mid (call 15 + put 11); cash arrives on 05-20.
    assert eq["positions_value_usd"][3] == pytest.approx(2600.0)
    assert eq["cash_usd"][4] == pytest.approx(10_000 - 2300 + 1000)


def test_missing_leg_quote_on_exit_day_exits_next_day_with_both_legs(chain, make_cfg):
    # SYNTHETIC: holding_days=1 -> target exit day 2, but the put has no quote on day 2.
    #   exit moves to day 3 at (call 7 + put 2) = 9; pnl = (9 - 8) * 100 = 100.
    #   day 2 mark forward-fills the put: (call 6 + put 3 from day 1) * 100 = 900.
    d1, d2, d3, d4 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)
    exp = D(2024, 2, 2)
    quotes = [
        *chain.straddle(d1, 100, 5.0, 3.0, expiration=exp),
        chain.quote(d2, "call", 100, 6.0, expiration=exp),  # the put is missing on day 2
        *chain.straddle(d3, 100, 7.0, 2.0, expiration=exp),
        *chain.straddle(d4, 100, 8.0, 1.0, expiration=exp),
    ]
    prob = {d1: 0.1, d2: 0.9, d3: 0.9, d4: 0.9}
    res = run_backtest(**chain.frames(quotes, prob_up=prob), cfg=make_cfg())

    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_date"], t["holding_days_actual"]) == (
        "holding_period",
        d3,
        2,
    )
    assert (t["exit_mid_call"], t["exit_mid_put"]) == (7.0, 2.0)
    assert t["pnl_usd"] == pytest.approx(100.0)
    eq = res.equity_daily
    assert eq["positions_value_usd"].to_list() == pytest.approx([800.0, 900.0, 0.0, 0.0])
    assert eq["equity_usd"].to_list() == pytest.approx([10_000.0, 10_100.0, 10_100.0, 10_100.0])


def test_data_ending_before_exit_marks_at_last_day_with_both_legs(chain, make_cfg):
    # SYNTHETIC: holding_days=5 but the data has 3 days and expiration is far away.
    # The put stops quoting after day 2 -> end_of_data at day 2 mids (call 6 + put 3) * 0.99.
    d1, d2, d3 = D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)
    exp = D(2024, 2, 2)
    quotes = (
        chain.straddle(d1, 100, 5.0, 4.0, expiration=exp)
        + chain.straddle(d2, 100, 6.0, 3.0, expiration=exp)
        + [chain.quote(d3, "call", 100, 7.0, expiration=exp)]
    )
    cfg = make_cfg(holding_days=5, slippage_bps=100)
    res = run_backtest(**chain.frames(quotes, prob_up={d1: 0.1, d2: 0.9, d3: 0.9}), cfg=cfg)
    t = res.trades.row(0, named=True)
    assert (t["exit_reason"], t["exit_date"], t["settlement_method"]) == ("end_of_data", d2, "mid")
    assert t["exit_price"] == pytest.approx(9.0 * 0.99)
    assert t["pnl_usd"] == pytest.approx((8.91 - 9.09) * 100)
    assert res.equity_daily["open_positions"].to_list() == [1, 0, 0]


def test_selection_nearest_dte_then_atm_with_shorter_and_lower_tie_breaks(chain, make_cfg):
    # SYNTHETIC: dte 25 and 35 are equally near target 30 -> the shorter (25);
    # strikes 95 and 105 are equally near S=100 -> the lower (95); strike 100 has a put with
    # bid 0 so it is not tradable; expiration at dte 50 is outside [20, 45].
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    near, far, too_far = d1 + dt.timedelta(25), d1 + dt.timedelta(35), d1 + dt.timedelta(50)
    quotes = []
    for exp in (near, far, too_far):
        for k in (95.0, 105.0):
            quotes += chain.straddle(d1, k, 3.0, 3.0, expiration=exp)
            quotes += chain.straddle(d2, k, 3.0, 3.0, expiration=exp)
        quotes.append(chain.quote(d1, "call", 100.0, 4.0, expiration=exp))
        quotes.append(chain.quote(d1, "put", 100.0, 4.0, expiration=exp, bid=0.0))
    res = run_backtest(**chain.frames(quotes, prob_up={d1: 0.1}), cfg=make_cfg())
    t = res.trades.row(0, named=True)
    assert (t["expiration"], t["strike"]) == (near, 95.0)
    assert t["contract_symbol_call"] == f"SPXW{near:%y%m%d}C00095000"


@pytest.mark.parametrize(("roots", "expected"), [(["SPXW", "SPX"], "SPXW"), (["SPX"], "SPX")])
def test_both_legs_come_from_one_root_in_configured_order(chain, make_cfg, roots, expected):
    # SYNTHETIC: SPX and SPXW share the 3rd-Friday expiration; both legs from one root.
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    exp = D(2024, 2, 2)
    quotes = []
    for root in ("SPX", "SPXW"):
        for day in (d1, d2):
            quotes += chain.straddle(day, 100, 5.0, 4.0, expiration=exp, root=root)
    res = run_backtest(**chain.frames(quotes, prob_up={d1: 0.1}), cfg=make_cfg(option_roots=roots))
    t = res.trades.row(0, named=True)
    assert t["option_root"] == expected
    assert t["contract_symbol_call"].startswith(expected + "2")
    assert t["contract_symbol_put"].startswith(expected + "2")


def test_entry_signal_direction(chain, make_cfg):
    # SYNTHETIC: prob_up 0.3 / 0.7 / 0.55 on three days; at_least 0.55 enters on days 2 and 3.
    days = [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)]
    exp = D(2024, 2, 2)
    quotes = [q for day in days for q in chain.straddle(day, 100, 5.0, 4.0, expiration=exp)]
    prob = dict(zip(days, [0.3, 0.7, 0.55, None], strict=True))
    frames = chain.frames(quotes, prob_up=prob)
    at_least = run_backtest(**frames, cfg=make_cfg(entry_signal="prob_up_at_least"))
    at_most = run_backtest(**frames, cfg=make_cfg(entry_signal="prob_up_at_most"))
    assert at_least.trades["entry_date"].to_list() == days[1:3]
    assert at_most.trades["entry_date"].to_list() == [days[0], days[2]]


def random_chain(chain, seed: int = 7) -> dict[str, pl.LazyFrame]:
    """SYNTHETIC random chain: SPXW weeklies, SPX 3rd-Friday monthlies, 5 strikes, 30 weekdays."""
    rng = np.random.default_rng(seed)
    start = D(2024, 1, 1)
    days = [start + dt.timedelta(i) for i in range(45)]
    days = [d for d in days if d.weekday() < 5]
    days = [d for i, d in enumerate(days) if i not in (7, 8, 19)]  # vendor-style gaps
    fridays = [start + dt.timedelta(i) for i in range(4, 120, 7)]
    spot = 100 + np.cumsum(rng.normal(0, 1.0, len(days)))
    quotes, closes = [], {}
    for i, day in enumerate(days):
        closes[day] = float(spot[i] + rng.normal(0, 0.2))
        for root in ("SPXW", "SPX"):
            for exp in fridays:
                dte = (exp - day).days
                if not 0 <= dte <= 60 or (root == "SPX" and not 15 <= exp.day <= 21):
                    continue
                for k in (90.0, 95.0, 100.0, 105.0, 110.0):
                    for opt in ("call", "put"):
                        if rng.random() < 0.04:  # missing quote
                            continue
                        intrinsic = max(spot[i] - k, 0) if opt == "call" else max(k - spot[i], 0)
                        mid = round(intrinsic + 0.1 * np.sqrt(dte + 1) + rng.random(), 2)
                        quotes.append(
                            chain.quote(
                                day,
                                opt,
                                k,
                                mid,
                                expiration=exp,
                                root=root,
                                underlying_price=float(spot[i]),
                            )
                        )
    for exp in fridays:  # closes on expiration days even when the chain skipped them
        closes.setdefault(exp, float(100 + rng.normal(0, 3)))
    prob = {d: float(rng.random()) for d in days}
    return chain.frames(quotes, closes=closes, prob_up=prob)


@pytest.fixture
def random_frames(chain):
    return random_chain(chain)


def test_results_do_not_depend_on_input_row_order(random_frames, make_cfg):
    cfg = make_cfg(
        option_roots=["SPX", "SPXW"],
        target_dte=10,
        min_dte=2,
        max_dte=30,
        holding_days=3,
        slippage_bps=25,
        commission_per_contract=0.65,
    )
    base = run_backtest(**random_frames, cfg=cfg)
    assert base.trades.height >= 5
    assert set(base.trades["option_root"]) == {"SPX", "SPXW"}
    shuffled = {
        name: lf.collect().sample(fraction=1.0, shuffle=True, seed=i).lazy()
        for i, (name, lf) in enumerate(random_frames.items())
    }
    again = run_backtest(**shuffled, cfg=cfg)
    for attr in ("runs", "trades", "equity_daily", "metrics"):
        assert_frame_equal(getattr(base, attr), getattr(again, attr))


@pytest.mark.parametrize("holding_days", [1, 3, 8])
def test_invariants_on_random_chain(random_frames, make_cfg, holding_days):
    cfg = make_cfg(
        option_roots=["SPXW", "SPX"],
        target_dte=14,
        min_dte=3,
        max_dte=30,
        holding_days=holding_days,
        slippage_bps=50,
        commission_per_contract=0.65,
        equity_window="data",
    )
    res = run_backtest(**random_frames, cfg=cfg)
    trades, eq = res.trades, res.equity_daily
    assert dict(trades.schema) == TRADES_SCHEMA
    assert dict(eq.schema) == EQUITY_SCHEMA
    assert dict(res.metrics.schema) == METRICS_SCHEMA
    assert trades["trade_id"].to_list() == list(range(1, trades.height + 1))
    assert trades["entry_date"].is_sorted()
    assert trades["entry_date"].n_unique() == trades.height  # one entry per day at most
    assert set(trades["exit_reason"]) <= set(EXIT_REASONS)
    assert (trades["exit_date"] >= trades["entry_date"]).all()
    held = trades.filter(pl.col("exit_reason") == "holding_period")["holding_days_actual"]
    ended = trades.filter(pl.col("exit_reason") == "end_of_data")["holding_days_actual"]
    assert (held >= holding_days).all()  # later only when a leg missed its quote
    assert (ended < holding_days).all()
    assert (trades["expiration"] >= trades["exit_date"]).all()
    assert (eq["drawdown"] <= 0).all()
    assert eq["equity_usd"].to_numpy() == pytest.approx(
        (eq["cash_usd"] + eq["positions_value_usd"]).to_numpy()
    )
    assert (eq["open_positions"] >= 0).all()
    assert eq["quote_date"].is_sorted()
    # Every trade is closed by the end of the data: final equity = capital + total P&L.
    assert eq["open_positions"][-1] == 0
    assert eq["equity_usd"][-1] == pytest.approx(cfg.initial_capital + trades["pnl_usd"].sum())
    met = res.metrics.row(0, named=True)
    assert met["max_drawdown"] == pytest.approx(eq["drawdown"].min())
    assert met["n_trades"] == trades.height


def test_forecast_window_spans_forecasts_and_unwind(chain, make_cfg):
    # SYNTHETIC: quotes on 6 days, forecasts only on days 2-3; holding 3 days.
    # Entry day 3 exits on day 6 -> equity runs from day 2 (first forecast) to day 6.
    days = [D(2024, 1, d) for d in (2, 3, 4, 5, 8, 9)]
    exp = D(2024, 2, 2)
    quotes = [q for day in days for q in chain.straddle(day, 100, 5.0, 4.0, expiration=exp)]
    frames = chain.frames(quotes, prob_up={days[1]: 0.9, days[2]: 0.1})
    res = run_backtest(**frames, cfg=make_cfg(holding_days=3))
    assert res.trades["exit_date"].to_list() == [days[5]]
    assert res.equity_daily["quote_date"].to_list() == days[1:]
    assert res.runs.select("first_date", "last_date").row(0) == (days[1], days[5])
    whole = run_backtest(**frames, cfg=make_cfg(holding_days=3, equity_window="data"))
    assert whole.equity_daily["quote_date"].to_list() == days
    assert whole.run_id != res.run_id


def test_no_entries_gives_flat_equity_and_nan_metrics(chain, make_cfg):
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    exp = D(2024, 2, 2)
    quotes = chain.straddle(d1, 100, 5.0, 4.0, expiration=exp)
    quotes += chain.straddle(d2, 100, 5.0, 4.0, expiration=exp)
    res = run_backtest(**chain.frames(quotes, prob_up={d1: 0.9, d2: 0.9}), cfg=make_cfg())
    assert res.trades.height == 0
    assert res.equity_daily["equity_usd"].to_list() == [10_000.0, 10_000.0]
    met = res.metrics.row(0, named=True)
    assert met["n_trades"] == 0
    assert math.isnan(met["win_rate"]) and math.isnan(met["avg_trade_pnl_usd"])
    assert math.isnan(met["sharpe_ratio"])  # zero dispersion
    assert met["total_return"] == 0.0


def _simple(chain):
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    exp = D(2024, 2, 2)
    quotes = chain.straddle(d1, 100, 5.0, 4.0, expiration=exp)
    quotes += chain.straddle(d2, 100, 5.0, 4.0, expiration=exp)
    return quotes, d1, d2


def test_missing_column_is_named(chain, make_cfg):
    quotes, d1, _ = _simple(chain)
    frames = chain.frames(quotes, prob_up={d1: 0.1})
    frames["forecasts"] = frames["forecasts"].drop("prob_up")
    with pytest.raises(ValueError, match=r"forecasts \(ml.predictions\).*\['prob_up'\]"):
        run_backtest(**frames, cfg=make_cfg())


def test_no_forecast_for_model_is_an_error(chain, make_cfg):
    quotes, d1, _ = _simple(chain)
    frames = chain.frames(quotes, prob_up={d1: 0.1}, model_name="other")
    with pytest.raises(ValueError, match="no forecasts for forecast_model='m'"):
        run_backtest(**frames, cfg=make_cfg())


def test_several_model_versions_need_one_configured(chain, make_cfg):
    quotes, d1, d2 = _simple(chain)
    v1 = chain.frames(quotes, prob_up={d1: 0.1, d2: 0.9}, model_version="v1")
    v2 = chain.frames(quotes, prob_up={d1: 0.9, d2: 0.1}, model_version="v2")
    frames = {**v1, "forecasts": pl.concat([v1["forecasts"], v2["forecasts"]])}
    with pytest.raises(ValueError, match=r"2 model_versions \['v1', 'v2'\]"):
        run_backtest(**frames, cfg=make_cfg())
    res = run_backtest(**frames, cfg=make_cfg(forecast_model_version="v2"))
    assert res.trades["entry_date"].to_list() == [d2]
    assert res.runs["model_version"].to_list() == ["v2"]


def test_duplicate_forecast_dates_are_rejected(chain, make_cfg):
    quotes, d1, _ = _simple(chain)
    frames = chain.frames(quotes, prob_up={d1: 0.1})
    frames["forecasts"] = pl.concat([frames["forecasts"], frames["forecasts"]])
    with pytest.raises(ValueError, match="two forecasts on one as_of_date"):
        run_backtest(**frames, cfg=make_cfg())


def test_missing_settlement_close_names_the_expiration(chain, make_cfg):
    d1, d2 = D(2024, 1, 2), D(2024, 1, 3)
    quotes = chain.straddle(d1, 100, 2.0, 1.5, expiration=d2)
    quotes += chain.straddle(d2, 100, 2.0, 1.5, expiration=d2)
    cfg = make_cfg(target_dte=1, min_dte=0, max_dte=5, holding_days=5)
    with pytest.raises(ValueError, match=r"expiration date\(s\) \[datetime.date\(2024, 1, 3\)\]"):
        run_backtest(**chain.frames(quotes, prob_up={d1: 0.1}), cfg=cfg)
