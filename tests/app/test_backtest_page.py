"""The backtest page, run headless with Streamlit's AppTest.

The first tests use SYNTHETIC warehouses (conftest); the ones marked ``slow`` run the form on the
real published warehouse (``real_published``, read-only) and save into a throwaway copy of it.
The form's widgets (legs, hidden fields, clearable exits, clones) are in test_backtest_form.py.
Deep links (``?run=<run_id>``) are round-tripped through ``AppTest.query_params``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from app import backtest_runner as runner
from app import queries, run_form
from app.db import db_version
from app.formatting import TRADE_COLUMNS, metric_tiles
from engine.config import load_config
from tests.app.conftest import (
    RUN_WITH_TRADES,
    RUN_WITHOUT_TRADES,
    SYNTHETIC_INVOCATION,
    open_app_page,
    pipeline_elsewhere,
    record_complete_run,
)

# AppTest resolves relative paths against the calling file, not the working directory.
APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
TIMEOUT_S = 60  # the first run imports altair, polars and duckdb
#: A save rebuilds the attribution models (dbt, ~10 s alone) and publishes: slower on a busy box.
SAVE_TIMEOUT_S = 300


def _run_app(*, new_run: bool = False) -> AppTest:
    """The Backtest page; with ``new_run`` its New run tab open (only the open tab is drawn)."""
    at = open_app_page("backtest.py", TIMEOUT_S)
    return _open_new_run(at) if new_run else at


def _open_new_run(at: AppTest) -> AppTest:
    at.session_state["bt_tab"] = "New run"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metrics(block) -> dict[str, str]:
    """Metric tiles of the page or of one tab."""
    return {m.label: m.value for m in block.metric}


def _chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def _saved(at: AppTest):
    """The "Saved runs" tab."""
    assert at.tabs[0].label == "Saved runs"
    return at.tabs[0]


def _new(at: AppTest):
    """The "New run" tab."""
    assert at.tabs[1].label == "New run"
    return at.tabs[1]


def test_page_shows_metrics_charts_and_trades(published_db: Path) -> None:
    at = _run_app()

    assert at.title[0].value == "Backtest"
    # The first run is selected by default; its label names no missing value as "None".
    picker = at.selectbox(key="saved_run")
    assert picker.value == RUN_WITH_TRADES
    assert all("None" not in label for label in picker.options)
    # Values from the SYNTHETIC metrics row of run 1 (see conftest); no new run yet.
    assert not _new(at).metric
    assert _metrics(at) == {
        "Total return": "2.00%",
        "CAGR": "350.00%",
        "Volatility": "25.00%",
        "Sharpe": "1.25",
        "Sortino": "1.80",
        "Calmar": "350.00",
        "Max drawdown": "-1.00%",
        "Win rate": "50.0%",
        "Trades": "2",
    }
    # every annualised figure says its sample, and that 4 sessions and 2 trades mean nothing
    deltas = {m.label: m.delta for m in at.metric}
    annualised = ("CAGR", "Volatility", "Sharpe", "Sortino", "Calmar")
    assert {label for label, delta in deltas.items() if delta} == set(annualised)
    assert {deltas[label] for label in annualised} == {"not meaningful"}
    notes = [c.value for c in _saved(at).caption]
    assert notes.count("n = 4 sessions · 2 closed trades") == len(annualised)
    assert "of 2 closed trades" in notes
    assert any(
        "not meaningful here** (4 sessions < 63, 2 closed trades < 20)" in c.value
        and "below 63 sessions" in c.value
        for c in _saved(at).caption
    )

    specs = _chart_specs(_saved(at))
    # equity, drawdown, 4 greeks; 4 days are too few for a rolling Sharpe (it says so)
    assert len(specs) == 6
    equity_spec, drawdown_spec, *greek_specs = specs
    assert equity_spec["encoding"]["y"]["field"] == "equity_usd"
    assert equity_spec["encoding"]["x"]["field"] == "quote_date"
    assert equity_spec["encoding"]["x"]["type"] == "temporal"
    assert drawdown_spec["encoding"]["y"]["field"] == "drawdown"
    assert drawdown_spec["encoding"]["y"]["axis"]["format"] == "%"
    # two columns of two charts each (the element tree lists a column at a time)
    assert {spec["encoding"]["y"]["field"] for spec in greek_specs} == {
        "delta_usd",
        "gamma_usd",
        "vega_usd",
        "theta_usd",
    }
    assert any(
        "No rolling Sharpe: this run has 4 sessions" in i.value and "at least 126" in i.value
        for i in _saved(at).info
    )

    # trades and legs (the columns that fit 1280 px); every column only when asked for
    frames = _saved(at).dataframe
    assert len(frames) == 2
    trades, legs = (frame.value for frame in frames)
    assert list(trades.columns) == [*TRADE_COLUMNS, "drill-down"]  # a saved run: its links
    assert list(trades["#"]) == list(trades["trade_id"]) == [1, 2]
    assert list(trades["pnl_usd"]) == [3000.0, -1000.0]
    # SYNTHETIC legs: a call and a put per trade, entry prices summing to the trade's entry_value
    assert list(legs["leg_type"]) == ["call", "put", "call", "put"]
    assert legs.groupby("trade_id")["entry_price"].sum().tolist() == [30.0, 10.0]
    # this SYNTHETIC warehouse predates skipped entries, and its config_json is no config
    assert any("no `backtest.skipped_entries`" in c.value for c in _saved(at).caption)
    assert len(at.warning) == 1
    assert "cannot be read back" in at.warning[0].value
    assert at.button(key="bt_clone").disabled
    assert not at.error
    # the expanders of every column load their tables when opened
    at.session_state["bt_all_trades_saved"] = True
    at.session_state["bt_all_legs_saved"] = True
    at.run()
    _, all_trades, _, all_legs = (frame.value for frame in _saved(at).dataframe)
    assert "commission_usd" in all_trades.columns and "exit_value" in all_trades.columns
    assert "settlement_price" in all_legs.columns


def test_a_saved_runs_trades_link_to_their_drill_down(published_db: Path) -> None:
    """Each trade row links to the Trades page's deep link (``?run=&trade=``, opened in a new
    tab), and the trade picker's link opens the picked trade in this tab (``st.page_link``)."""
    at = _run_app()
    trades = _saved(at).dataframe[0]
    assert list(trades.value["drill-down"]) == [
        f"trades?run={RUN_WITH_TRADES}&trade=1",
        f"trades?run={RUN_WITH_TRADES}&trade=2",
    ]
    column = json.loads(trades.proto.columns)["drill-down"]
    assert column["type_config"] == {"type": "link", "display_text": "open ↗"}
    picker = at.selectbox(key=f"bt_trade_link_saved_{RUN_WITH_TRADES}")
    assert picker.value == 1
    # SYNTHETIC trade 2: #2, 2024-01-03 -> 2024-01-05, P&L -1000 (conftest)
    assert picker.format_func(2) == "#2 · trade 2 · 2024-01-03 → 2024-01-05 · -$1,000.00"

    picker.set_value(2).run()
    (link,) = at.get("page_link")
    assert link.proto.label == "Open trade 2 on the Trades page"
    assert link.proto.page.endswith("trades")
    assert link.proto.query_string == f"run={RUN_WITH_TRADES}&trade=2"
    assert not at.exception


def test_selecting_a_run_without_trades(published_db: Path) -> None:
    at = _run_app()
    at.selectbox(key="saved_run").select(RUN_WITHOUT_TRADES).run()
    assert not at.exception

    metrics = _metrics(at)
    # NaN metrics of the SYNTHETIC run 2 show as "n/a", never "nan%".
    assert metrics["Sharpe"] == "n/a"
    assert metrics["Win rate"] == "n/a"
    assert metrics["Trades"] == "0"
    assert len(_chart_specs(_saved(at))) == 6
    assert not _saved(at).dataframe
    assert any("no trades" in info.value for info in _saved(at).info)


def test_missing_warehouse_explains_how_to_build_it(warehouse_dir: Path) -> None:
    at = _run_app()

    assert len(at.info) == 1
    assert "make all" in at.info[0].value
    assert not at.metric
    assert not at.get("vega_lite_chart")


def test_warehouse_without_backtest_tables_warns(warehouse_dir: Path) -> None:
    con = duckdb.connect(str(warehouse_dir / "options.duckdb"))
    con.execute("create table unrelated as select 1 as x")
    con.close()

    at = _run_app()

    assert not at.warning and not at.error
    assert any("No backtest has been saved" in info.value for info in _saved(at).info)
    assert not at.metric
    # the form is there to run the first one; on this warehouse (no marts) it names what is missing
    _open_new_run(at)
    assert at.selectbox(key="bt_strategy").value == "long_straddle"
    at.button(key="bt_submit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("marts.fct_option_features" in e.value for e in at.error)


def test_empty_runs_table_explains(published_db: Path) -> None:
    con = duckdb.connect(str(published_db))
    con.execute("delete from backtest.runs")
    con.close()

    at = _run_app()

    assert any("no backtest runs" in info.value for info in _saved(at).info)
    assert not _saved(at).selectbox
    # the form is still there to make one
    _open_new_run(at)
    assert at.selectbox(key="bt_strategy").value == "long_straddle"


@pytest.mark.parametrize(("table", "column"), [("metrics", "sortino_ratio")])
def test_missing_column_is_named_not_raised(published_db: Path, table: str, column: str) -> None:
    con = duckdb.connect(str(published_db))
    con.execute(f"alter table backtest.{table} drop column {column}")
    con.close()

    at = _run_app()

    assert len(at.error) == 1
    assert f"backtest.{table}" in at.error[0].value
    assert column in at.error[0].value


def test_a_publish_is_picked_up_on_the_next_run(published_db: Path, backtest_db_builder) -> None:
    at = _run_app()
    assert _metrics(at)["Total return"] == "2.00%"

    # Publish the way the warehouse does: build a new file, then os.replace the published one.
    staged = backtest_db_builder(published_db.parent / "staged.duckdb")
    con = duckdb.connect(str(staged))
    con.execute(
        "update backtest.metrics set total_return = 0.05 where run_id = ?", [RUN_WITH_TRADES]
    )
    con.close()
    os.replace(staged, published_db)

    at.run()
    assert not at.exception
    assert _metrics(at)["Total return"] == "5.00%"


# ---- deep links: ?run=<run_id> ------------------------------------------------------------------


def _linked(**params: str) -> AppTest:
    """The Backtest page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/backtest.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _link_notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link's")]


def test_the_saved_run_picked_is_in_the_url(published_db: Path) -> None:
    at = _run_app()
    assert at.query_params["run"] == RUN_WITH_TRADES  # the first run, written on open

    at.selectbox(key="saved_run").select(RUN_WITHOUT_TRADES).run()

    assert not at.exception
    assert at.query_params["run"] == RUN_WITHOUT_TRADES  # the address bar follows
    assert _metrics(at)["Trades"] == "0"
    # the New run tab and back: the pick (and the URL) stay
    _open_new_run(at)
    assert at.query_params["run"] == RUN_WITHOUT_TRADES
    at.session_state["bt_tab"] = "Saved runs"
    at.run()
    assert at.selectbox(key="saved_run").value == RUN_WITHOUT_TRADES
    assert at.query_params["run"] == RUN_WITHOUT_TRADES
    assert not _link_notes(at)


def test_a_link_opens_its_saved_run(published_db: Path) -> None:
    at = _linked(run=RUN_WITHOUT_TRADES)

    assert at.selectbox(key="saved_run").value == RUN_WITHOUT_TRADES
    assert _metrics(at)["Trades"] == "0"
    assert at.query_params["run"] == RUN_WITHOUT_TRADES
    assert not _link_notes(at)
    # the link is read once per visit: the user's pick then wins
    at.selectbox(key="saved_run").select(RUN_WITH_TRADES).run()
    assert at.selectbox(key="saved_run").value == RUN_WITH_TRADES
    assert at.query_params["run"] == RUN_WITH_TRADES


def test_a_link_to_a_run_not_saved_is_noted_and_ignored(published_db: Path) -> None:
    at = _linked(run="deleted-run")

    (note,) = _link_notes(at)
    assert "`run`" in note and "'deleted-run'" in note and "not a valid saved run" in note
    assert at.selectbox(key="saved_run").value == RUN_WITH_TRADES  # the first run instead
    assert at.query_params["run"] == RUN_WITH_TRADES  # the URL no longer holds the bad id
    assert _metrics(at)["Trades"] == "2"


# ---- the form on the real published warehouse (slow) -------------------------------------------


def _submit(at: AppTest) -> AppTest:
    if at.session_state["bt_tab"] != "New run":
        _open_new_run(at)
    at.button(key="bt_submit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.slow
def test_default_form_run_matches_the_engines_own_run(real_published: Path) -> None:
    at = _submit(_run_app())

    assert not at.error, [e.value for e in at.error]
    cfg = load_config()
    # the engine's own run of the same config: `make all` ran `python -m engine run` on it
    engine_row = runner.saved_run_extras(real_published, cfg.run_id).metrics.row(0, named=True)
    kpis = _metrics(_new(at))
    assert kpis == dict(metric_tiles(engine_row))
    assert kpis["Trades"] == "7"
    assert kpis["Total return"] == "-6.88%"
    assert any(cfg.run_id in status.label for status in at.status)
    assert "load" in at.status[0].label and "run" in at.status[0].label
    assert at.button(key="bt_save")  # it traded: it may be saved

    specs = _chart_specs(_new(at))
    # equity, drawdown, the 4 greeks; 61 sessions are too few for a rolling Sharpe
    assert len(specs) == 6
    assert specs[2]["encoding"]["y"]["field"] == "delta_usd"
    assert specs[2]["encoding"]["x"]["timeUnit"] == "yearmonthdate"
    assert any("No rolling Sharpe: this run has 61 sessions" in i.value for i in _new(at).info)
    # skipped entries by reason, trades, legs (each skip, and every column, when asked for)
    counts, trades, legs = (frame.value for frame in _new(at).dataframe)
    assert dict(zip(counts["reason"], counts["n_skipped"], strict=True)) == {
        "signal_off": 48,
        "no_quotes": 5,
        "no_signal": 1,
    }
    assert len(trades) == 7
    assert len(legs) == 14
    assert set(legs["trade_id"]) == set(trades["trade_id"])
    # the exact config it ran, as YAML, and its download
    assert _new(at).code[0].value.startswith(f"# Backtest {cfg.run_id}:")
    assert at.download_button(key="bt_download_new")
    # not only the rounded tiles: the whole equity curve and every trade equal the engine's
    saved = queries.run_detail(real_published, cfg.run_id)
    new = runner.detail_of(at.session_state["backtest_outcome"].result)
    assert new.equity.equals(saved.equity)
    assert new.trades.equals(saved.trades)


@pytest.mark.slow
def test_changing_form_values_changes_the_result(real_published: Path) -> None:
    at = _submit(_run_app())
    default = _metrics(_new(at))

    # a 10 % stop-loss cuts trades the default holds for 5 days
    at.number_input(key="bt_stop_loss_pct").set_value(10.0)
    _submit(at)
    stopped = _metrics(_new(at))
    assert stopped["Total return"] != default["Total return"]
    assert stopped["Total return"] == "-7.44%"

    # another strategy: its legs (and its own defaults) follow the picker before any run
    at.selectbox(key="bt_strategy").select("iron_condor").run()
    assert at.selectbox(key="bt_n_legs").value == 4
    assert [at.number_input(key=f"bt_leg{i}_value").value for i in (1, 3)] == [0.16, 0.16]
    assert at.number_input(key="bt_stop_loss_pct").value == 200.0
    _submit(at)
    assert not at.error, [e.value for e in at.error]
    assert any("iron_condor-" in status.label for status in at.status)


@pytest.mark.slow
def test_an_invalid_value_is_named_not_raised(real_published: Path) -> None:
    at = _run_app(new_run=True)
    at.number_input(key="bt_target_dte").set_value(50)
    _submit(at)

    assert len(at.error) == 1
    assert "min_dte <= target_dte <= max_dte, got 20, 50, 45" in at.error[0].value
    assert not _new(at).metric


# ---- saving into a throwaway copy of the real warehouse (slow) ---------------------------------

#: What a mini copy of the real warehouse keeps: the inputs the engine reads, the backtest
#: tables the pages read and what the attribution models (tag:forecasts) read, which a save
#: rebuilds.
_MINI_TABLES_SQL = """
select table_schema, table_name
from information_schema.tables
where table_catalog = 'src' and (
    table_schema = 'backtest'
    or (table_schema = 'marts' and (
        table_name in ('fct_option_features', 'fct_option_chain', 'fct_underlying_daily',
                       'fct_option_targets', 'fct_underlying_targets',
                       'fct_benchmark_index_levels')
        or table_name like 'fct_option_%universe%'))
    or (table_schema = 'ml' and table_name <> 'prediction_contributions')
    or (table_schema = 'forecasts' and table_name = 'fct_strategy_signals'))
"""


@pytest.fixture(scope="module")
def mini_warehouse(real_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway warehouse made of the real one's inputs (~170 MB, ~2 s), read-only from it:
    a published file, the same as build database, a SYNTHETIC green dbt run_results.json and the
    run manifest of a complete pipeline run that recorded it."""
    root = tmp_path_factory.mktemp("mini") / "warehouse"
    (root / "build").mkdir(parents=True)
    con = duckdb.connect(str(root / "options.duckdb"))
    try:
        con.execute(f"attach '{real_warehouse / 'options.duckdb'}' as src (read_only)")
        for schema, table in con.sql(_MINI_TABLES_SQL).fetchall():
            con.execute(f"create schema if not exists {schema}")
            columns = con.execute(
                "select column_name from information_schema.columns where table_catalog = 'src' "
                "and table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
            # the marts' real chain only: the modeled one (18 M rows) would make every copy ~5 GB,
            # and the saves tested here backtest the real chain (backtest.* stays whole: its
            # modeled runs keep their trades)
            real_only = (
                " where chain_source = 'real'"
                if schema == "marts" and ("chain_source",) in columns
                else ""
            )
            con.execute(
                f"create table {schema}.{table} as select * from src.{schema}.{table}{real_only}"
            )
        con.execute("detach src")
        con.execute("checkpoint")
    finally:
        con.close()
    shutil.copy(root / "options.duckdb", root / "build" / "build.duckdb")
    target = root / "target"
    target.mkdir()
    # SYNTHETIC: the run results of a green `dbt build` of one model
    results = [{"unique_id": "model.options.synthetic", "status": "success"}]
    metadata = {"invocation_id": SYNTHETIC_INVOCATION}
    (target / "run_results.json").write_text(
        json.dumps({"metadata": metadata, "args": {"which": "build"}, "results": results})
    )
    record_complete_run(root)
    return root


@pytest.fixture
def warehouse_copy(mini_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of :func:`mini_warehouse`, made the active warehouse (and dbt target)."""
    root = tmp_path / "warehouse"
    shutil.copytree(mini_warehouse, root)
    monkeypatch.setenv("WAREHOUSE_DIR", str(root))
    monkeypatch.setenv("DBT_TARGET_PATH", str(root / "target"))
    return root


def _published_runs(root: Path) -> list[str]:
    con = duckdb.connect(str(root / "options.duckdb"), read_only=True)
    try:
        return [row[0] for row in con.sql("select run_id from backtest.runs").fetchall()]
    finally:
        con.close()


def _stop_loss_run_id() -> str:
    values = dataclasses.replace(run_form.default_form_values(), stop_loss_pct=10.0)
    return run_form.build_config(values).run_id


@pytest.mark.slow
def test_saving_publishes_the_run(warehouse_copy: Path) -> None:
    run_id = _stop_loss_run_id()
    assert run_id not in _published_runs(warehouse_copy)
    at = _run_app(new_run=True)
    at.number_input(key="bt_stop_loss_pct").set_value(10.0)
    _submit(at)

    at.button(key="bt_save").click().run(timeout=SAVE_TIMEOUT_S)

    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any(run_id in success.value and "Saved" in success.value for success in at.success)
    # in backtest.runs of the newly published file, and picked in the saved-runs tab
    assert run_id in _published_runs(warehouse_copy)
    picker = at.selectbox(key="saved_run")
    assert any(label.startswith(f"{run_id} ·") for label in picker.options)
    assert picker.value == run_id
    assert at.query_params["run"] == run_id  # and in the URL
    assert _metrics(_saved(at))["Total return"] == "-7.44%"
    # the attribution models were rebuilt with it: the Attribution page can show it
    con = duckdb.connect(str(warehouse_copy / "options.duckdb"), read_only=True)
    try:
        attributed = con.sql(
            "select sum(n_trades) from forecasts.rpt_strategy_pnl_by_forecast "
            "where backtest_run_id = ?",
            params=[run_id],
        ).fetchall()[0][0]
    finally:
        con.close()
    assert attributed > 0


@pytest.mark.slow
def test_saving_during_a_rebuild_writes_nothing(warehouse_copy: Path) -> None:
    build_db = warehouse_copy / "build" / "build.duckdb"
    before = (build_db.stat().st_mtime_ns, db_version(warehouse_copy / "options.duckdb"))
    at = _run_app(new_run=True)
    at.number_input(key="bt_stop_loss_pct").set_value(10.0)
    _submit(at)

    with pipeline_elsewhere(warehouse_copy) as pid:
        at.button(key="bt_save").click().run(timeout=SAVE_TIMEOUT_S)

    assert not at.exception, [e.message for e in at.exception]
    message = f"The warehouse is being rebuilt (make all, pid {pid}); save again when it finishes"
    assert any(message in warning.value for warning in at.warning)
    assert (build_db.stat().st_mtime_ns, db_version(warehouse_copy / "options.duckdb")) == before
    assert _stop_loss_run_id() not in _published_runs(warehouse_copy)


@pytest.mark.slow
def test_the_form_offers_every_universe_and_current_model(real_published: Path) -> None:
    at = _run_app(new_run=True)
    assert set(at.selectbox(key="bt_universe").options) == {
        "default",
        "atm_monthly",
        "benchmark",
        "delta_wings",
        "short_dated",
        "wide",
    }
    models = set(at.selectbox(key="bt_forecast_model").options)
    assert {"xgb_direction_5d", "logit_direction_5d", "xgb_option_return_5d"} <= models
