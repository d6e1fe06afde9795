"""The Trades page, its queries and its charts.

On a SYNTHETIC published warehouse written below (engine DDL from engine.io, hand-written rows,
the arithmetic in comments): ``synthetic-real``, one long call on the real chain with take-profit
50 % and stop-loss 100 %, and ``synthetic-modeled``, written after it, two short puts on the
modeled chain ``ssvi-1`` (one settled, one open). Tests marked ``slow`` read the real published
warehouse (``real_published``). Deep links (``?run=…&trade=…``) are round-tripped through
``AppTest.query_params``.
"""

from __future__ import annotations

import datetime as dt
import doctest
import json
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

import app.queries as backtest_queries
import app.queries.trade_detail as trade_queries
from app.charts import trades as charts
from engine import greeks_pnl
from engine.io import ensure_output_tables
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page
from warehouse.paths import WarehousePaths

REAL_RUN, MODELED_RUN = "synthetic-real", "synthetic-modeled"
D0, D1, D2, D3 = (dt.date(2024, 1, d) for d in (2, 3, 4, 5))

_CONFIG_REAL = {
    "execution": {"multiplier": 100},
    "exits": {"take_profit_pct": 50.0, "stop_loss_pct": 100.0, "holding_days": None},
}
_CONFIG_MODELED = {
    "execution": {"multiplier": 100},
    "exits": {"take_profit_pct": 50.0, "stop_loss_pct": 200.0},
}

_QUOTES_DDL = """
create schema marts;
create table marts.fct_option_features (
    contract_symbol varchar, quote_date date, expiration date, underlying_price double,
    forward_price double,
    tte_years double, risk_free_rate double, implied_volatility double, vega double
);
create table marts.fct_option_quotes_modeled (
    contract_symbol varchar, quote_date date, expiration date, underlying_price double,
    forward_price double,
    tte_years double, risk_free_rate double, implied_volatility double, vega double,
    model_version varchar
);
"""

# SYNTHETIC rows.
# synthetic-real, trade 1: long 1 SPXW 2024-01-19 4700 call, filled at mid 50.00 (no costs):
#   D0 S 4700, IV 0.15, vega 2.0: mark 5000, P&L 0; delta_usd 0.5 x 4700 x 100 = 235,000,
#      gamma_usd 0.001 x 4700^2 x 0.01 x 100 = 22,090, vega_usd 200, theta_usd -200.
#   D1 S 4747 (+1 %), IV 0.16 (+1 point), mid 75.00: mark 7500, P&L 2500.
#      Attribution: delta 235,000 x 0.01 = 2350; gamma 50 x 22,090 x 0.01^2 = 110.45;
#      vega 2.0 x 100 x 1 point = 200; theta -200 x 1 = -200; residual 2500 - 2460.45 = 39.55.
#   D2 exit (take profit) at 80.00: pnl_usd (80 - 50) x 100 = 3000; S flat, IV flat;
#      theta -210 x 1 -> residual 500 + 210 = 710.
#   Levels against the fill: take profit 50 % x 5000 = 2500, stop loss -100 % x 5000 = -5000.
# synthetic-modeled, short 1 put a trade (credits, no costs):
#   trade 1: SPXW 2024-01-05 4650 put sold at 20.00 on D0 (entry_value -20), marks -2000,
#      -1500, -1200 (P&L 0, 500, 800), settled on D3 at 4640: worth -10 a lot, pnl_usd
#      (-10 - (-20)) x 100 = 1000.
#   trade 2: SPXW 2024-01-12 4650 put sold at 15.00 on D2, still open (P&L 0).
_ROWS = """
insert into backtest.runs (run_id, strategy, underlying_symbol, config_json, first_date,
                           last_date, chain_source, chain_model_version, write_seq) values
    ('synthetic-real', 'long_call', 'SPX', '{real}', '2024-01-02', '2024-01-05', 'real', null, 1),
    ('synthetic-modeled', 'short_put', 'SPX', '{modeled}', '2024-01-02', '2024-01-05',
     'modeled', 'ssvi-1', 2);
insert into backtest.trades (run_id, trade_id, strategy, underlying_symbol, expiration, lots,
    status, signal_date, entry_date, exit_date, holding_days_actual, exit_reason, exit_type,
    settlement_method, entry_underlying_price, entry_value, exit_value, commission_usd,
    slippage_usd, dividends_usd, pnl_usd, trade_return) values
    ('synthetic-real', 1, 'long_call', 'SPX', '2024-01-19', 1, 'closed', '2024-01-02',
     '2024-01-02', '2024-01-04', 2, 'take_profit', 'exact', 'traded', 4700, 50, 80, 0, 0, 0,
     3000, 0.6),
    ('synthetic-modeled', 1, 'short_put', 'SPX', '2024-01-05', 1, 'closed', '2024-01-02',
     '2024-01-02', '2024-01-05', 3, 'expiration', 'settlement', 'pm_close', 4700, -20, -10,
     0, 0, 0, 1000, 0.02),
    ('synthetic-modeled', 2, 'short_put', 'SPX', '2024-01-12', 1, 'open', '2024-01-04',
     '2024-01-04', null, 0, 'open', null, null, 4730, -15, -15, 0, 0, 0, 0, 0);
insert into backtest.legs (run_id, trade_id, leg_no, contract_symbol, leg_type, strike,
    expiration, quantity, entry_date, entry_price, entry_mid, exit_date, exit_price, exit_mid,
    exit_kind, settlement_method, settlement_price) values
    ('synthetic-real', 1, 1, 'SPXW240119C04700000', 'call', 4700, '2024-01-19', 1,
     '2024-01-02', 50, 50, '2024-01-04', 80, 80, 'traded', 'traded', null),
    ('synthetic-modeled', 1, 1, 'SPXW240105P04650000', 'put', 4650, '2024-01-05', -1,
     '2024-01-02', 20, 20, '2024-01-05', 10, null, 'settled', 'pm_close', 4640),
    ('synthetic-modeled', 2, 1, 'SPXW240112P04650000', 'put', 4650, '2024-01-12', -1,
     '2024-01-04', 15, 15, null, null, null, null, null, null);
insert into backtest.positions_daily values
    ('synthetic-real', 1, '2024-01-02', 1, 5000, 0, false, 235000, 22090, 200, -200),
    ('synthetic-real', 1, '2024-01-03', 1, 7500, 2500, false, 290000, 24000, 210, -210),
    ('synthetic-modeled', 1, '2024-01-02', 1, -2000, 0, false, 141000, -20000, -150, 150),
    ('synthetic-modeled', 1, '2024-01-03', 1, -1500, 500, false, 120000, -21000, -140, 160),
    ('synthetic-modeled', 1, '2024-01-04', 1, -1200, 800, false, 100000, -25000, -130, 180),
    ('synthetic-modeled', 2, '2024-01-04', 1, -1500, 0, false, 130000, -15000, -200, 120);
insert into marts.fct_option_features values
    ('SPXW240119C04700000', '2024-01-02', '2024-01-19', 4700, 4705, 0.047, 0.05, 0.15, 2.0),
    ('SPXW240119C04700000', '2024-01-03', '2024-01-19', 4747, 4752, 0.044, 0.05, 0.16, 2.1),
    ('SPXW240119C04700000', '2024-01-04', '2024-01-19', 4747, 4752, 0.041, 0.05, 0.16, 2.1);
insert into marts.fct_option_quotes_modeled values
    ('SPXW240105P04650000', '2024-01-02', '2024-01-05', 4700, 4701, 0.008, 0.05, 0.15, 1.5, 'ssvi-1'),
    ('SPXW240105P04650000', '2024-01-03', '2024-01-05', 4720, 4721, 0.005, 0.05, 0.14, 1.4, 'ssvi-1'),
    ('SPXW240105P04650000', '2024-01-04', '2024-01-05', 4730, 4731, 0.003, 0.05, 0.14, 1.3, 'ssvi-1'),
    ('SPXW240105P04650000', '2024-01-03', '2024-01-05', 9999, 9999, 0.005, 0.05, 0.99, 9.9, 'ssvi-0'),
    ('SPXW240112P04650000', '2024-01-04', '2024-01-12', 4730, 4731, 0.022, 0.05, 0.16, 3.0, 'ssvi-1'),
    ('SPXW240112P04650000', '2024-01-05', '2024-01-12', 4640, 4641, 0.019, 0.05, 0.18, 3.1, 'ssvi-1');
"""


def build_trades_db(path: Path) -> Path:
    """Write the SYNTHETIC backtest tables (engine DDL) and chain quotes to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        ensure_output_tables(con)
        con.execute(_QUOTES_DDL)
        con.execute(
            _ROWS.format(real=json.dumps(_CONFIG_REAL), modeled=json.dumps(_CONFIG_MODELED))
        )
        con.execute("checkpoint")
    finally:
        con.close()
    return path


@pytest.fixture
def trades_db(warehouse_dir: Path) -> Path:
    """The active warehouse's published file, holding the SYNTHETIC runs above."""
    return build_trades_db(WarehousePaths.from_env().published_db)


def _chart_rows(chart, index: int = 0) -> list[pl.DataFrame]:
    """The datasets a chart element sends to the browser."""
    return [pl.from_arrow(pa.ipc.open_stream(d.data.data).read_all()) for d in chart.proto.datasets]


def _texts(at) -> list[str]:
    return [e.value for e in (*at.caption, *at.markdown, *at.info, *at.warning)]


# ---- queries --------------------------------------------------------------------------------------


def test_trade_runs_most_recent_first(trades_db: Path) -> None:
    runs = trade_queries.trade_runs(trades_db)

    assert runs.select(
        "run_id", "chain_source", "chain_model_version", "write_seq", "n_trades"
    ).rows() == [
        (MODELED_RUN, "modeled", "ssvi-1", 2, 2),
        (REAL_RUN, "real", None, 1, 1),
    ]


def test_trade_runs_of_a_warehouse_written_before_chain_sources_and_write_seq(
    trades_db: Path,
) -> None:
    con = duckdb.connect(str(trades_db))
    try:
        con.execute(
            "create table backtest.runs_old as select * exclude "
            "(chain_source, chain_model_version, write_seq) from backtest.runs"
        )
        con.execute("drop table backtest.runs")
        con.execute("alter table backtest.runs_old rename to runs")
        con.execute(
            "update backtest.runs set last_date = '2024-01-04' where run_id = ?", [MODELED_RUN]
        )
    finally:
        con.close()

    runs = trade_queries.trade_runs(trades_db)

    # without write_seq: the latest last_date first; every run read the real chain
    assert runs.select("run_id", "chain_source", "write_seq").rows() == [
        (REAL_RUN, "real", None),
        (MODELED_RUN, "real", None),
    ]


def test_trade_run_reads_the_run_and_its_own_model_quotes(trades_db: Path) -> None:
    run = trade_queries.trade_run(trades_db, MODELED_RUN)

    assert run.run["chain_source"] == "modeled" and run.run["write_seq"] == 2
    assert run.quotes_relation == "marts.fct_option_quotes_modeled"
    assert run.trades["trade_id"].to_list() == [1, 2]
    assert run.legs.height == 2 and run.positions.height == 4
    # held: trade 1 from 01-02 to its exit 01-05, trade 2 from 01-04 to the run's last date;
    # the ssvi-0 quote of another model is not read
    assert run.quotes.height == 5
    assert run.quotes["vega"].max() < 9.0
    assert run.quotes.schema["vega"] == pl.Float64
    assert run.multiplier == 100.0
    assert run.exit_levels_pct == {"take_profit_pct": 50.0, "stop_loss_pct": 200.0}


def test_trade_run_binds_its_parameter(trades_db: Path) -> None:
    run = trade_queries.trade_run(trades_db, "x' or '1'='1")

    assert run.run == {} and run.trades.is_empty() and run.quotes.is_empty()


def test_trade_run_without_the_chain_table(trades_db: Path) -> None:
    con = duckdb.connect(str(trades_db))
    con.execute("drop table marts.fct_option_features")
    con.close()

    run = trade_queries.trade_run(trades_db, REAL_RUN)

    assert run.quotes_relation is None and run.quotes.is_empty()
    assert run.trades.height == 1


def test_the_package_trades_function_is_not_shadowed(trades_db: Path) -> None:
    """The drill-down's queries live in app.queries.trade_detail, so the package's own
    ``trades(db, run_id)`` (the Backtest page's) stays a function after importing them."""
    assert callable(backtest_queries.trades) and not isinstance(
        backtest_queries.trades, type(trade_queries)
    )
    frame = backtest_queries.trades(trades_db, REAL_RUN)
    assert frame["pnl_usd"].to_list() == [3000.0]


# ---- charts ---------------------------------------------------------------------------------------


def test_pnl_path_adds_the_exit_and_exit_levels_by_hand(trades_db: Path) -> None:
    run = trade_queries.trade_run(trades_db, REAL_RUN)
    trade = run.trades.row(0, named=True)
    marks = run.positions.filter(pl.col("trade_id") == 1)

    path = charts.pnl_path(marks, trade)
    levels = charts.exit_levels(marks, {"take_profit_pct": 50.0, "stop_loss_pct": 100.0})

    assert path.rows() == [(D0, 0.0, "mark"), (D1, 2500.0, "mark"), (D2, 3000.0, "exit")]
    # entry mark 5000: take profit +50 % = 2500, stop loss -100 % = -5000 (no entry costs)
    assert levels.rows() == [
        ("Fill (entry)", 0.0, None),
        ("Take profit", 2500.0, 50.0),
        ("Stop loss", -5000.0, 100.0),
    ]
    # an open trade has no exit row
    assert charts.pnl_path(marks, {**trade, "status": "open"}).height == 2


def test_exit_levels_start_from_the_entry_costs_and_reject_bad_levels() -> None:
    """SYNTHETIC credit of 2000 at mid with 30 of entry costs: take profit 50 % of the
    credit is +1000 at mid, so +970 since the fill; stop loss 200 % is -4000 - 30."""
    marks = pl.DataFrame(
        {"quote_date": [D0], "mark_value_usd": [-2000.0], "unrealized_pnl_usd": [-30.0]}
    )
    levels = charts.exit_levels(marks, {"take_profit_pct": 50.0, "stop_loss_pct": 200.0})
    assert levels["pnl_usd"].to_list() == [0.0, 970.0, -4030.0]
    with pytest.raises(ValueError, match="holding_days"):
        charts.exit_levels(marks, {"holding_days": 5.0})
    with pytest.raises(ValueError, match="> 0"):
        charts.exit_levels(marks, {"stop_loss_pct": 0.0})
    with pytest.raises(ValueError, match="mark_value_usd"):
        charts.exit_levels(marks.drop("mark_value_usd"), {})


def test_pnl_path_chart_spec() -> None:
    path = pl.DataFrame({"quote_date": [D0, D1], "pnl_usd": [0.0, 10.0], "point": ["mark", "exit"]})
    levels = pl.DataFrame({"level": ["Fill (entry)", "Stop loss"], "pnl_usd": [0.0, -50.0]})

    spec = charts.pnl_path_chart(path, levels, "P&L").to_dict()

    rules, line, points = spec["layer"]
    assert rules["mark"]["type"] == "rule"
    assert rules["encoding"]["color"]["scale"]["domain"] == ["Stop loss", "Fill (entry)"]
    assert points["encoding"]["shape"]["field"] == "point"
    assert line["encoding"]["x"]["type"] == "temporal"
    with pytest.raises(ValueError, match="point"):
        charts.pnl_path_chart(path.drop("point"), levels, "P&L")


def test_payoff_chart_spec() -> None:
    profile = pl.DataFrame(
        {
            "curve": [greeks_pnl.AT_ENTRY, greeks_pnl.AT_EXPIRY],
            "spot": [100.0, 100.0],
            "pnl_usd": [None, -5.0],
        },
        schema_overrides={"pnl_usd": pl.Float64},
    )
    spec = charts.payoff_chart(profile, 100.0, "Payoff").to_dict()

    _zero, lines, spot = spec["layer"]
    assert lines["encoding"]["x"]["field"] == "spot" and lines["encoding"]["y"]["type"] == (
        "quantitative"
    )
    assert spot["encoding"]["x"]["field"] == "entry_spot"
    rows = [r for k, v in spec["datasets"].items() for r in v if "curve" in r]
    assert rows == [{"curve": greeks_pnl.AT_EXPIRY, "spot": 100.0, "pnl_usd": -5.0}]
    assert len(charts.payoff_chart(profile, None, "Payoff").to_dict()["layer"]) == 2


def test_attribution_chart_stacks_components_in_order() -> None:
    frame = pl.DataFrame(
        {
            "trade_id": list(range(1, 51)),
            "pnl_usd": [1.0] * 50,
            **{c: [0.5] * 50 for c in greeks_pnl.COMPONENTS},
        }
    )
    spec = charts.attribution_chart(frame, "trade_id", "By trade").to_dict()

    bars, actual = spec["layer"]
    assert bars["encoding"]["color"]["scale"]["domain"] == list(charts.COMPONENT_LABELS.values())
    assert bars["encoding"]["order"]["field"] == "stack_order"
    assert bars["encoding"]["x"]["axis"]["labels"] is False  # 50 trades: no labels
    assert actual["mark"]["type"] == "point"
    with pytest.raises(ValueError, match="by must"):
        charts.attribution_chart(frame, "entry_date", "x")
    with pytest.raises(ValueError, match="residual_usd"):
        charts.attribution_chart(frame.drop("residual_usd"), "trade_id", "x")


def test_trade_from_selection() -> None:
    assert doctest.testmod(charts).failed == 0
    assert charts.trade_from_selection([1], [4, 7, 9]) == 7
    assert charts.trade_from_selection([], [4]) is None
    assert charts.trade_from_selection([5], [4]) is None


# ---- the page -------------------------------------------------------------------------------------


def test_page_opens_on_the_most_recent_run_with_the_modeled_badge(trades_db: Path) -> None:
    at = open_app_page("trades.py")

    assert at.title[0].value == "Trades"
    assert at.selectbox(key="trades_run").value == MODELED_RUN
    texts = _texts(at)
    assert any("Modeled chain · ssvi-1" in t for t in texts)
    assert any("Quotes are MODELED (model ssvi-1)" in t for t in texts)
    titles = [json.loads(c.proto.spec).get("title", "") for c in at.get("vega_lite_chart")]
    assert titles and all(
        "MODELED chain" in json.dumps(t)
        for t in titles
        if "Attribution" in json.dumps(t) or "P&L of" in json.dumps(t)
    )
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Run P&L"] == "$1,000"  # 1000 realised + 0 open
    assert tiles["Trade P&L"] == "$1,000.00"
    assert at.selectbox(key=f"trades_trade_{MODELED_RUN}").value == 1
    assert not at.error and not at.exception


def test_picking_a_run_and_a_trade_round_trips(trades_db: Path) -> None:
    at = open_app_page("trades.py")
    at.selectbox(key=f"trades_trade_{MODELED_RUN}").set_value(2).run()

    assert at.selectbox(key=f"trades_trade_{MODELED_RUN}").value == 2
    assert any(h.value == "Trade 2" for h in at.subheader)

    at.selectbox(key="trades_run").set_value(REAL_RUN).run()

    assert not at.exception and not at.error
    # each run has its own trade picker (its options and labels are the run's), on trade 1
    assert at.selectbox(key=f"trades_trade_{REAL_RUN}").value == 1
    assert any(h.value == "Trade 1" for h in at.subheader)
    texts = _texts(at)
    assert not any("Modeled chain" in t for t in texts)
    assert any("Take profit 50 %, Stop loss 100 %" in t for t in texts)
    # the session table of the trade: D1 as computed by hand in the comment of _ROWS
    sessions = at.dataframe[-1].value
    d1 = sessions.iloc[1]
    assert str(d1["quote_date"])[:10] == D1.isoformat()
    assert d1["Delta (USD)"] == pytest.approx(2350.0)
    assert d1["Gamma (USD)"] == pytest.approx(110.45)
    assert d1["Vega (USD)"] == pytest.approx(200.0)
    assert d1["Residual (USD)"] == pytest.approx(39.55)
    # narrow money columns are headed by the component alone (issue 19: "Gamma (US" was cut)
    for table in (at.dataframe[0], at.dataframe[-1]):
        labels = {name: c.get("label") for name, c in json.loads(table.proto.columns).items()}
        assert [labels[f"{c} (USD)"] for c in ("Delta", "Gamma", "Residual")] == [
            "Delta",
            "Gamma",
            "Residual",
        ]
    # the P&L path carries the take-profit and stop-loss rules
    charts_by_title = {
        json.dumps(json.loads(c.proto.spec).get("title")): c for c in at.get("vega_lite_chart")
    }
    (pnl_chart,) = [c for t, c in charts_by_title.items() if "P&L of trade 1" in t]
    levels = next(df for df in _chart_rows(pnl_chart) if "level" in df.columns)
    assert sorted(levels["pnl_usd"].to_list()) == [-5000.0, 0.0, 2500.0]


def test_page_without_positions_daily_explains(published_db: Path) -> None:
    """conftest's SYNTHETIC warehouse predates positions_daily and the trade status."""
    at = open_app_page("trades.py")

    assert not at.error
    assert any("backtest.positions_daily" in w.value for w in at.warning)
    assert not at.selectbox


def test_page_without_chain_quotes_warns_and_still_drills_down(trades_db: Path) -> None:
    con = duckdb.connect(str(trades_db))
    con.execute("drop table marts.fct_option_quotes_modeled")
    con.close()

    at = open_app_page("trades.py")

    assert not at.exception and not at.error
    assert any("no chain quotes" in w.value for w in at.warning)
    assert any(h.value == "Trade 1" for h in at.subheader)


def test_page_of_a_run_without_trades(trades_db: Path) -> None:
    con = duckdb.connect(str(trades_db))
    con.execute("delete from backtest.trades where run_id = ?", [MODELED_RUN])
    con.close()

    at = open_app_page("trades.py")

    assert any("made no trades" in i.value for i in at.info)
    assert not at.error


# ---- deep links: ?run=<run_id>&trade=<trade_id> ------------------------------------------------


def _linked(**params: str) -> AppTest:
    """The Trades page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/trades.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _link_notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link's")]


def test_the_run_and_trade_picked_are_in_the_url(trades_db: Path) -> None:
    at = open_app_page("trades.py")
    assert at.query_params == {"run": MODELED_RUN, "trade": "1"}  # written on open

    at.selectbox(key=f"trades_trade_{MODELED_RUN}").set_value(2).run()
    assert at.query_params == {"run": MODELED_RUN, "trade": "2"}

    at.selectbox(key="trades_run").set_value(REAL_RUN).run()  # the other run's first trade
    assert not at.exception and not _link_notes(at)
    assert at.query_params == {"run": REAL_RUN, "trade": "1"}


def test_a_trade_picked_in_the_table_is_in_the_url(trades_db: Path) -> None:
    at = open_app_page("trades.py")
    # a row click's callback (_on_table_select) puts the row's trade in the picker's state;
    # AppTest fires no on_select callback for a selection written to the state, so the test
    # writes what the callback writes
    at.session_state[f"trades_trade_{MODELED_RUN}"] = 2
    at.run()

    assert any(h.value == "Trade 2" for h in at.subheader)
    assert at.query_params["trade"] == "2"


def test_a_link_opens_its_run_and_trade(trades_db: Path) -> None:
    at = _linked(run=REAL_RUN, trade="1")

    assert at.selectbox(key="trades_run").value == REAL_RUN
    assert at.selectbox(key=f"trades_trade_{REAL_RUN}").value == 1
    assert any(h.value == "Trade 1" for h in at.subheader)
    assert not _link_notes(at) and not at.error

    at = _linked(run=MODELED_RUN, trade="2")
    assert at.selectbox(key=f"trades_trade_{MODELED_RUN}").value == 2
    assert any(h.value == "Trade 2" for h in at.subheader)
    assert at.query_params == {"run": MODELED_RUN, "trade": "2"}
    # a trade without a run: a trade of the newest run
    at = _linked(trade="2")
    assert at.selectbox(key=f"trades_trade_{MODELED_RUN}").value == 2
    assert at.query_params == {"run": MODELED_RUN, "trade": "2"}


@pytest.mark.parametrize(
    ("params", "noted", "picked"),
    [
        # a run not saved: the newest run, on its first trade (the link's trade was the other's)
        ({"run": "deleted-run", "trade": "2"}, ["'deleted-run'", "not a valid saved run"], 1),
        # a trade the run does not have, or not a number: the run's first trade
        ({"run": MODELED_RUN, "trade": "99"}, ["'99'", "not a valid trade of run"], 1),
        ({"run": MODELED_RUN, "trade": "two"}, ["'two'", "not a valid trade of run"], 1),
    ],
)
def test_a_bad_link_is_noted_and_ignored(
    trades_db: Path, params: dict[str, str], noted: list[str], picked: int
) -> None:
    at = _linked(**params)

    (note,) = _link_notes(at)
    assert all(text in note for text in noted), note
    assert at.selectbox(key="trades_run").value == MODELED_RUN
    assert at.selectbox(key=f"trades_trade_{MODELED_RUN}").value == picked
    # the URL now holds what is shown, and the note is not repeated on the next rerun
    assert at.query_params == {"run": MODELED_RUN, "trade": str(picked)}
    at.run()
    assert not _link_notes(at)


def test_a_link_to_a_run_without_trades_drops_its_trade(trades_db: Path) -> None:
    con = duckdb.connect(str(trades_db))
    con.execute("delete from backtest.trades where run_id = ?", [REAL_RUN])
    con.close()

    at = _linked(run=REAL_RUN, trade="1")

    assert any("made no trades" in i.value for i in at.info)
    assert at.query_params == {"run": REAL_RUN}


# ---- real data ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_page_on_real_runs(real_published: Path) -> None:
    """The real SPX straddle and the modeled run with the most trades: no error, every chart
    drawn; prints the AppTest time of each (the Chromium time is in the report)."""
    runs = trade_queries.trade_runs(real_published)
    if runs.is_empty():
        pytest.skip("the published warehouse has no runs")
    picks = []
    straddles = runs.filter(
        (pl.col("strategy") == "long_straddle") & (pl.col("chain_source") == "real")
    )
    if straddles.height:
        picks.append(straddles["run_id"][0])
    modeled = runs.filter(pl.col("chain_source") == "modeled").sort("n_trades", descending=True)
    if modeled.height:
        picks.append(modeled["run_id"][0])
    at = open_app_page("trades.py")
    for run_id in picks:
        started = time.monotonic()
        at.selectbox(key="trades_run").set_value(run_id).run()
        elapsed = time.monotonic() - started
        assert not at.exception and not at.error, run_id
        assert len(at.get("vega_lite_chart")) >= 7, run_id  # run, path, 4 greeks, payoff, trade
        # a tile shows its amount whole: a modeled run's hundreds of millions compact, at most
        # 11 characters ("-$783.2M"; "-$783,242,…" was cut), cents kept below a million
        tiles = {m.label: m.value for m in at.metric}
        assert all(len(tiles[k]) <= 11 for k in ("Run P&L", "Delta", "Residual")), tiles
        trades = at.dataframe[0]
        largest = trades.value["pnl_usd"].abs().max()
        money = json.loads(trades.proto.columns)["pnl_usd"]["type_config"]["format"]
        assert money == ("dollar" if largest < 1e5 else "compact"), (run_id, largest, money)
        print(f"{run_id}: {elapsed:.2f} s in AppTest")
