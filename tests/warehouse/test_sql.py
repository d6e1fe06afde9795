"""The read-only SQL console: statements split right, no query reads or writes a file or
changes a table, and every statement is bounded in time, memory and size (issue 15).
SYNTHETIC one-table database (rows 0..4)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from warehouse.__main__ import main as warehouse_main
from warehouse.paths import REPO_ROOT
from warehouse.sql import SqlLimits, run_console, statements

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


def _run(
    db: Path, text: str, max_rows: int = 100, limits: SqlLimits | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    errors = run_console(db, io.StringIO(text), out, max_rows=max_rows, limits=limits)
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
    assert errors == 1 and "table function read_csv() is not allowed here" in out
    assert "root:" not in out


def test_statements_split_at_semicolons_outside_quotes():
    assert list(statements(["select ';' as a; select 2", ";", ".tables"])) == [
        "select ';' as a",
        "select 2",
        ".tables",
    ]


# ---- issue 15: nothing unbounded, no file access ------------------------------------------------


def test_a_statement_past_the_timeout_is_interrupted_and_the_console_goes_on(db):
    # Before: `select count(*) from range(1e13)` pinned a core with no end (here the subprocess
    # would be killed after 60 s). The timeout comes from the environment, as a deployment sets it.
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "warehouse", "sql", "--db", str(db)],
        input="select count(*) from range(1e13::bigint);\nselect sum(x)::integer as total from t;\n",
        env={**os.environ, "WAREHOUSE_SQL_TIMEOUT_S": "0.5"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert re.search(
        r"error: statement interrupted after [\d.]+ s: the limit is 0.5 s", done.stdout
    )
    assert "│ 10    │" in done.stdout, done.stdout  # the next statement ran: 0+1+2+3+4
    assert elapsed < 20  # interpreter start and imports included


def test_a_statement_over_the_memory_limit_fails_naming_the_limit(db):
    # 20M random BIGINT sort keys and values (320 MB) cannot be sorted in 64 MiB, and nothing
    # spills. Before: no memory limit (80 % of RAM); a cross join peaked at 8.4 GB.
    errors, out = _run(
        db,
        "select count(*) from (select range from range(20000000) order by random());",
        limits=SqlLimits(memory_limit_mib=64),
    )
    assert errors == 1
    assert "error: statement needs more than the 64 MiB memory limit" in out


def test_a_statement_over_the_size_limit_is_refused_before_parsing(db):
    # Before: a 15 MB IN (...) list took 61 s and 7.5 GB to parse and bind. This one is about
    # 170 kB (30,000 numbers of up to 5 digits and their commas), over the 100 kB default.
    numbers = ",".join(str(i) for i in range(30_000))
    statement = f"select count(*) from t where x in ({numbers})"
    size = len(statement.encode())
    started = time.monotonic()
    errors, out = _run(db, statement + ";")
    assert time.monotonic() - started < 5
    assert errors == 1
    assert f"error: statement is {size:,} bytes, over the limit of 100,000 bytes" in out
    assert size > 100_000


def test_a_15_mb_in_list_is_refused_in_moments(db):
    numbers = ",".join(str(i) for i in range(2_000_000))  # 14.9 MB
    started = time.monotonic()
    errors, out = _run(db, f"select count(*) from t where x in ({numbers});")
    assert errors == 1 and "over the limit of 100,000 bytes" in out
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("suffix", [".wal", ".wal.recovery", ".wal.checkpoint"])
def test_copy_to_the_database_s_wal_is_refused_and_creates_no_file(db, suffix):
    # Before: these COPYs succeeded (DuckDB allows the database's own WAL paths even with
    # enable_external_access = false), and a foreign WAL there broke every later open.
    before = sorted(db.parent.iterdir())
    errors, out = _run(db, f"copy (select 1) to '{db}{suffix}';")
    assert errors == 1 and "COPY statements are refused" in out
    assert sorted(db.parent.iterdir()) == before
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.sql("select count(*) from t").fetchall() == [(5,)]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("attack", "refusal"),
    [
        ("select content from read_blob('{db}')", "table function read_blob() is not allowed"),
        ("select content from read_text('{db}')", "table function read_text() is not allowed"),
        ("select * from '{db}'", "looks like a file"),
        ("select * from t where x in (select 1 from '{db}.wal')", "looks like a file"),
        ("select * from glob('{dir}/*')", "table function glob() is not allowed"),
        ("select * from sniff_csv('/etc/passwd')", "table function sniff_csv() is not allowed"),
        ("select * from parquet_metadata('{dir}/x.parquet')", "parquet_metadata() is not"),
        ("select * from query('select 1')", "table function query() is not allowed"),
        ("with c as (select * from checkpoint()) select 1", "checkpoint() is not allowed"),
        ("select getenv('HOME')", "function getenv() is not allowed"),
        ("export database '{dir}/dump'", "EXPORT statements are refused"),
        ("attach '{db}' as again (read_only)", "ATTACH statements are refused"),
        ("install httpfs", "LOAD statements are refused"),
        ("load httpfs", "LOAD statements are refused"),
        ("pragma version", "PRAGMA statements are refused"),
        ("set threads = 8", "SET statements are refused"),
        ("reset memory_limit", "SET statements are refused"),
        ("call pragma_version()", "CALL statements are refused"),
        ("explain analyze copy (select 1) to '{db}.wal'", "EXPLAIN statements are refused"),
        ("select 1; copy (select 1) to '{db}.wal'", "COPY statements are refused"),
    ],
)
def test_no_statement_reads_or_creates_a_file(db, attack, refusal):
    before = sorted(db.parent.iterdir())
    errors, out = _run(db, attack.format(db=db, dir=db.parent) + ";")
    assert errors == 1 and refusal in out, out
    assert sorted(db.parent.iterdir()) == before
    assert "SQLite format" not in out and "DUCK" not in out


def test_catalogue_queries_still_run(db):
    errors, out = _run(
        db,
        "describe t; show tables; summarize t; select count(*) as n from duckdb_tables();\n"
        "from range(3); select table_name from information_schema.tables; .tables\n",
    )
    assert errors == 0, out


def test_a_comment_with_a_quote_does_not_swallow_the_next_statements(db):
    # Before: the quote in "don't" opened a string, and "select 2" ran unseen inside the chunk
    # sent with "select 3" (only the last result printed).
    text = "select 11 as a; -- don't split here\nselect 22 as b;\nselect 33 as c;\n"
    assert list(statements(text.splitlines())) == [
        "select 11 as a",
        "-- don't split here\nselect 22 as b",
        "select 33 as c",
    ]
    errors, out = _run(db, text)
    assert errors == 0 and all(f"│ {n}  │" in out for n in (11, 22, 33)), out


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["select 1 /* it's; */ as a; select 2"], ["select 1 /* it's; */ as a", "select 2"]),
        (["select /* a /* nested; */ it's */ 1;"], ["select /* a /* nested; */ it's */ 1"]),
        (["select $$it's; $$ as a; select 2"], ["select $$it's; $$ as a", "select 2"]),
        (["select $t$ ;' $t$; select $1"], ["select $t$ ;' $t$", "select $1"]),
        (["select 'it''s;' as a; select 2"], ["select 'it''s;' as a", "select 2"]),
        (["-- only a comment;", "/* and ; this */"], []),
    ],
)
def test_statements_split_outside_comments_and_every_kind_of_quote(lines, expected):
    assert list(statements(lines)) == expected


def test_a_negative_row_limit_is_refused_naming_the_value(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        warehouse_main(["sql", "--db", str(db), "--max-rows", "-5"])
    assert exit_info.value.code == 2
    assert "argument --max-rows: must be an integer from 1 to 100000, got '-5'" in (
        capsys.readouterr().err
    )
    with pytest.raises(ValueError, match=r"max_rows must be in \[1, 100000\], got -5"):
        _run(db, "select 1;", max_rows=-5)


def test_limits_come_from_the_environment_and_are_validated():
    assert SqlLimits.from_env({}) == SqlLimits(30.0, 1024, 1, 100_000)
    assert SqlLimits.from_env(
        {"WAREHOUSE_SQL_TIMEOUT_S": "2.5", "WAREHOUSE_SQL_THREADS": "2", "PATH": "/bin"}
    ) == SqlLimits(timeout_s=2.5, threads=2)
    with pytest.raises(ValueError, match="unknown variable WAREHOUSE_SQL_TIMEOUT"):
        SqlLimits.from_env({"WAREHOUSE_SQL_TIMEOUT": "5"})
    with pytest.raises(ValueError, match="WAREHOUSE_SQL_THREADS must be a number, got 'two'"):
        SqlLimits.from_env({"WAREHOUSE_SQL_THREADS": "two"})
    with pytest.raises(ValueError, match=r"memory_limit_mib must be .*, got 0"):
        SqlLimits(memory_limit_mib=0)
    with pytest.raises(ValueError, match=r"timeout_s must be in \(0, 3600\] seconds, got -1"):
        SqlLimits(timeout_s=-1)
