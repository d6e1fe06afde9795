"""The read-only SQL console: statements split right, and no query reads or writes a file or
changes a table (SYNTHETIC one-table database)."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from warehouse.sql import run_console, statements

ATTEMPTS = [
    "select * from t union all select * from read_csv('/etc/passwd');",
    "copy (select * from t) to '{out}';",
    "copy t to '{out}' (format parquet);",
    "'; drop table t; --",
    "drop table t;",
    "insert into t values (99);",
    "attach '{other}' as other;",
    "install httpfs; load httpfs;",
    "set enable_external_access = true;",
    "select '" + "x" * 10_000 + "';",
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "published.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table t as select range as x from range(5)")  # SYNTHETIC rows 0..4
    con.close()
    return path


def _run(db: Path, text: str, max_rows: int = 100) -> tuple[int, str]:
    out = io.StringIO()
    errors = run_console(db, io.StringIO(text), out, max_rows=max_rows)
    return errors, out.getvalue()


def test_a_query_prints_its_rows_up_to_the_limit(db):
    errors, out = _run(db, "select x from t order by x;", max_rows=3)
    assert errors == 0 and "(first 3 rows shown)" in out and "│ 2   │" in out


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_no_attempt_reads_or_writes_a_file_or_changes_a_table(db, tmp_path, attempt):
    out_file, other = tmp_path / "leak.csv", tmp_path / "other.duckdb"
    _run(db, attempt.format(out=out_file, other=other) + "\nselect sum(x) as total from t;")
    assert not out_file.exists() and not other.exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.sql("select count(*), sum(x) from t").fetchall() == [(5, 10)]
    finally:
        con.close()


def test_file_access_is_refused_with_a_clear_error(db):
    errors, out = _run(db, "select * from read_csv('/etc/passwd');")
    assert errors == 1 and "file system operations are disabled" in out
    assert "root:" not in out


def test_statements_split_at_semicolons_outside_quotes():
    assert list(statements(["select ';' as a; select 2", ";", ".tables"])) == [
        "select ';' as a",
        "select 2",
        ".tables",
    ]
