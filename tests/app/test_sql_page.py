"""The SQL page, headless (AppTest), against the SYNTHETIC published warehouse of conftest."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from app.queries import run_readonly_sql
from warehouse.sql import SqlLimits

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


@pytest.mark.parametrize(
    ("attack", "refusal"),
    [
        # issue 15: DuckDB lets even a hardened connection write the database's WAL paths (a
        # foreign WAL there broke every later open) and read the database file itself
        ("copy (select 1) to '{db}.wal'", "COPY statements are refused"),
        ("copy (select 1) to '{db}.wal.checkpoint'", "COPY statements are refused"),
        ("select octet_length(content) from read_blob('{db}')", "read_blob() is not allowed"),
        ("select count(*) from read_text('{db}')", "read_text() is not allowed"),
        ("select * from '{db}'", "looks like a file"),
        ("select * from glob('{db}*')", "glob() is not allowed"),
    ],
)
def test_no_statement_reads_or_creates_a_file(published_db, attack, refusal) -> None:
    before = sorted(published_db.parent.iterdir())
    at = _submit(_sql_page(), attack.format(db=published_db))
    assert refusal in at.error[0].value
    assert sorted(published_db.parent.iterdir()) == before
    assert not at.dataframe[1:]  # only the catalogue's table is drawn


def test_a_missing_warehouse_is_explained(warehouse_dir: Path) -> None:
    at = _sql_page()
    assert "make all" in at.info[0].value


# ---- issue 15: the page has the console's limits ------------------------------------------------

#: Sums 10^10 numbers: about 12 s on one thread, so it only ends early when interrupted.
SLOW_QUERY = "select sum(range) from range(10000000000)"


def test_the_page_states_its_limits(published_db: Path) -> None:
    assert "30 s, 1024 MiB, 1 thread, 100,000 bytes per statement" in _sql_page().caption[0].value


def test_a_query_past_the_timeout_is_interrupted(published_db, monkeypatch) -> None:
    monkeypatch.setenv("WAREHOUSE_SQL_TIMEOUT_S", "0.5")
    started = time.monotonic()
    at = _submit(_sql_page(), SLOW_QUERY)
    assert re.search(r"statement interrupted after [\d.]+ s: the limit is 0.5 s", at.error[0].value)
    assert time.monotonic() - started < 10


def test_a_statement_over_the_size_limit_is_refused(published_db, monkeypatch) -> None:
    monkeypatch.setenv("WAREHOUSE_SQL_MAX_STATEMENT_BYTES", "1000")
    statement = (
        "select count(*) from backtest.trades where trade_id in ("
        + ",".join(str(i) for i in range(400))
        + ")"
    )
    assert len(statement) > 1001
    at = _submit(_sql_page(), statement)
    # the text area keeps one character over the limit, so the message names the limit
    assert "statement is 1,001 bytes, over the limit of 1,000 bytes" in at.error[0].value
    result = run_readonly_sql(published_db, statement, 10)
    assert f"statement is {len(statement):,} bytes, over the limit of 1,000 bytes" in result.error


def test_a_query_over_the_memory_limit_fails_naming_it(published_db, monkeypatch) -> None:
    monkeypatch.setenv("WAREHOUSE_SQL_MEMORY_LIMIT_MIB", "64")
    at = _submit(
        _sql_page(), "select count(*) from (select range from range(20000000) order by random())"
    )
    assert "needs more than the 64 MiB memory limit" in at.error[0].value


def test_a_second_statement_behind_a_comment_with_a_quote_is_refused(published_db) -> None:
    # Before: the quote in the comment hid the `;`, the page counted one statement and DuckDB
    # ran both.
    result = run_readonly_sql(published_db, "select 1 -- it's one\n; select 2", 10)
    assert result.error == "give exactly one SQL statement, got 2"


def test_one_user_s_slow_query_does_not_hold_up_another_s(published_db) -> None:
    slow: list[object] = []
    limits = SqlLimits(timeout_s=3)
    worker = threading.Thread(
        target=lambda: slow.append(run_readonly_sql(published_db, SLOW_QUERY, 10, limits))
    )
    worker.start()
    time.sleep(0.3)  # the slow query is running
    started = time.monotonic()
    quick = run_readonly_sql(published_db, "select count(*) as n from backtest.trades", 10, limits)
    quick_s = time.monotonic() - started
    worker.join(timeout=30)
    assert quick.error is None and quick.frame["n"].to_list() == [2]
    assert quick_s < 1.5 and worker.is_alive() is False
    assert slow and "interrupted" in slow[0].error
