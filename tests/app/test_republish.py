"""A running app shows a new publish on its next rerun, without a restart (SYNTHETIC warehouses)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from tests.app.conftest import build_backtest_db, open_app_page


def test_a_new_publish_shows_on_the_next_rerun(published_db: Path, tmp_path: Path) -> None:
    at = open_app_page("sql.py")
    at.text_area[0].set_value("select count(*) as n from backtest.runs")
    at.button[0].click().run()
    assert at.dataframe[-1].value["n"].to_list() == [2]

    # Publish a new version the way `python -m warehouse publish` does: write a new file, then
    # os.replace it over the published one while the app keeps running.
    staged = build_backtest_db(tmp_path / "next" / "options.duckdb")
    con = duckdb.connect(str(staged))
    try:
        con.execute(
            "insert into backtest.runs select 'synthetic-run-3', strategy, underlying_symbol, "
            "forecast_model, model_version, config_json, first_date, last_date "
            "from backtest.runs where run_id = 'synthetic-run-1'"
        )
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(staged, published_db)

    at.button[0].click().run()
    assert at.dataframe[-1].value["n"].to_list() == [3]
    at.switch_page("app_pages/overview.py").run()
    assert not at.exception
