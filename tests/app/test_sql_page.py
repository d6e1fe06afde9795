"""The SQL page, headless (AppTest), against the SYNTHETIC published warehouse of conftest."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from app.queries import run_readonly_sql

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"


def _sql_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("app_pages/sql.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _submit(at: AppTest, sql: str, limit: int = 200) -> AppTest:
    at.text_area[0].set_value(sql)
    at.number_input[0].set_value(limit)
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_example_query_runs(published_db: Path) -> None:
    at = _sql_page()
    assert at.title[0].value == "SQL"
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.dataframe[-1].value.shape[0] == 1  # one strategy in the SYNTHETIC trades


def test_the_row_limit_is_applied(published_db: Path) -> None:
    at = _submit(_sql_page(), "select * from range(50)", limit=7)
    assert at.dataframe[-1].value.shape[0] == 7
    assert "first 7 rows" in at.caption[-1].value


@pytest.mark.parametrize(
    "attempt",
    [
        "select * from backtest.trades union all select * from read_csv('/etc/passwd')",
        "copy (select * from backtest.trades) to '{out}'",
        "'; drop table backtest.trades; --",
        "drop table backtest.trades",
        "set enable_external_access = true",
        "select '" + "x" * 10_000 + "'",
    ],
)
def test_injection_attempts_touch_no_file_and_no_table(published_db, tmp_path, attempt) -> None:
    out = tmp_path / "leak.csv"
    at = _submit(_sql_page(), attempt.format(out=out))
    assert not out.exists()
    assert not any("root:" in str(df.value) for df in at.dataframe)
    con = duckdb.connect(str(published_db), read_only=True)
    try:
        assert con.sql("select count(*) from backtest.trades").fetchall()[0][0] == 2
    finally:
        con.close()


def test_more_than_one_statement_is_refused(published_db: Path) -> None:
    result = run_readonly_sql(published_db, "select 1; select 2", 10)
    assert result.error == "give exactly one SQL statement, got 2"


def test_a_missing_warehouse_is_explained(warehouse_dir: Path) -> None:
    at = _sql_page()
    assert "make all" in at.info[0].value
