"""Every page that lists or shows a backtest run says which option chain it traded, on the
SYNTHETIC warehouse of conftest: its ``backtest.runs`` predates chain sources (no chain
columns: its runs read the real chain); :func:`_with_a_modeled_run` adds the columns as the
engine's migration does and makes ``synthetic-run-2`` a run on the modeled chain ``ssvi-1``."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

import app.queries as queries
from app.queries import compare
from tests.app.conftest import RUN_WITH_TRADES, RUN_WITHOUT_TRADES, open_app_page

MODELED_NOTE = "Quotes are MODELED (model ssvi-1), not real market quotes"
REAL_NOTE = "Chain: real market quotes"


def _with_a_modeled_run(db: Path) -> Path:
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "alter table backtest.runs add column chain_source varchar;"
            "alter table backtest.runs add column chain_model_version varchar;"
            "update backtest.runs set chain_source = 'real';"
            "update backtest.runs set chain_source = 'modeled', chain_model_version = 'ssvi-1' "
            f"where run_id = '{RUN_WITHOUT_TRADES}'"
        )
    finally:
        con.close()
    return db


def _texts(at) -> list[str]:
    return [e.value for e in (*at.caption, *at.markdown)]


def test_runs_of_a_table_without_chain_columns_are_real(published_db: Path) -> None:
    chains = queries.run_chains(published_db)
    assert chains.rows() == [(RUN_WITH_TRADES, "real", None), (RUN_WITHOUT_TRADES, "real", None)]
    detail = queries.run_detail(published_db, RUN_WITH_TRADES)
    assert (detail.chain_source, detail.chain_model_version) == ("real", None)


def test_run_chains_and_detail_name_the_modeled_chain(published_db: Path) -> None:
    _with_a_modeled_run(published_db)
    chains = queries.run_chains(published_db)
    assert chains.rows() == [
        (RUN_WITH_TRADES, "real", None),
        (RUN_WITHOUT_TRADES, "modeled", "ssvi-1"),
    ]
    detail = queries.run_detail(published_db, RUN_WITHOUT_TRADES)
    assert (detail.chain_source, detail.chain_model_version) == ("modeled", "ssvi-1")
    assert queries.chain_caption("modeled", "ssvi-1").startswith(MODELED_NOTE)


def test_side_by_side_says_which_chain_each_run_traded(published_db: Path) -> None:
    _with_a_modeled_run(published_db)
    metrics = compare.compare_runs(published_db, [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]).metrics
    table = compare.side_by_side(metrics.join(queries.run_chains(published_db), on="run_id"))
    assert table.row(0) == ("Chain", "real chain", "modeled chain ssvi-1")
    # without the chain columns the table is as before: no Chain row
    assert "Chain" not in compare.side_by_side(metrics)["metric"].to_list()


def test_backtest_page_flags_a_modeled_run(published_db: Path) -> None:
    _with_a_modeled_run(published_db)
    at = open_app_page("backtest.py")
    picker = at.selectbox(key="saved_run")
    assert picker.value == RUN_WITH_TRADES
    assert any(REAL_NOTE in text for text in _texts(at))
    assert not any("Modeled chain" in text for text in _texts(at))
    assert "modeled chain ssvi-1" in picker.format_func(RUN_WITHOUT_TRADES)

    picker.set_value(RUN_WITHOUT_TRADES).run()
    assert not at.exception
    texts = _texts(at)
    assert any("Modeled chain · ssvi-1" in text for text in texts)  # the badge
    assert any(MODELED_NOTE in text for text in texts)


def test_compare_page_flags_a_modeled_run(published_db: Path) -> None:
    _with_a_modeled_run(published_db)
    at = open_app_page("compare.py")
    assert at.multiselect(key="compare_runs").value == [RUN_WITH_TRADES, RUN_WITHOUT_TRADES]
    assert any("Modeled chain · ssvi-1" in text for text in _texts(at))
    assert any(f"{RUN_WITHOUT_TRADES}: {MODELED_NOTE}" in text for text in _texts(at))
    table = at.table[0]  # the metrics, a static table (Compare's first)
    assert list(pl.from_pandas(table.value).row(0)) == [
        "Chain",
        "real chain",
        "modeled chain ssvi-1",
    ]

    at.multiselect(key="compare_runs").set_value([RUN_WITH_TRADES]).run()
    assert not any("Modeled chain" in text for text in _texts(at))


def test_attribution_page_flags_a_modeled_backtest(published_db: Path) -> None:
    # SYNTHETIC attribution of the modeled run: 2 trades, one win (+30 USD) and one loss (-10)
    _with_a_modeled_run(published_db)
    con = duckdb.connect(str(published_db))
    try:
        con.execute(
            "create schema forecasts;"
            "create table forecasts.rpt_strategy_pnl_by_forecast as select "
            f"'{RUN_WITHOUT_TRADES}' as backtest_run_id, 'long_call' as strategy, "
            "'xgb_direction_5d' as forecast_model, 'v0' as forecast_model_version, "
            "'f1' as forecast_run_id, 'model_version' as forecast_run_match, "
            "decile as forecast_decile, 'NORMAL' as predicted_regime, 1::bigint as n_trades, "
            "(pnl > 0)::bigint as n_winning_trades, pnl as total_pnl_usd, pnl as mean_pnl_usd, "
            "(pnl > 0)::double as win_rate, pnl / 100 as mean_trade_return, "
            "0.0 as total_commission_usd, 0.5 as mean_forecast_p_up "
            "from (values (3, 30.0), (8, -10.0)) as t(decile, pnl);"
            "create table forecasts.rpt_forecast_deciles (run_id varchar, model_name varchar, "
            "family varchar, task varchar, underlying_symbol varchar, decile integer, "
            "n_predictions bigint, n_hit_observations bigint, min_score double, "
            "max_score double, mean_score double, hit_rate double, baseline_hit_rate double, "
            "lift double, mean_realized_return double, baseline_mean_realized_return double, "
            "excess_realized_return double)"
        )
    finally:
        con.close()
    at = open_app_page("attribution.py")
    assert "modeled chain ssvi-1" in at.selectbox[0].format_func(RUN_WITHOUT_TRADES)
    texts = _texts(at)
    assert any("Modeled chain · ssvi-1" in text for text in texts)
    assert any(MODELED_NOTE in text for text in texts)
