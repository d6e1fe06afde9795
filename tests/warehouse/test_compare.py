"""warehouse.compare: two databases compared table by table, whatever the order of their rows;
a one-ulp difference, a missing row or table, a changed column are each named."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.compare import compare_warehouses, fingerprint_tables
from warehouse.paths import REPO_ROOT

ROWS = [(i, f"c{i % 7}", i / 7, None if i % 5 else "x") for i in range(2_000)]


def _database(path: Path, rows: list[tuple], *, reverse: bool = False, extra: str = "") -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        frame = pl.DataFrame(  # noqa: F841 - read by the query below
            rows[::-1] if reverse else rows,
            schema={"id": pl.Int32, "tag": pl.String, "value": pl.Float64, "note": pl.String},
            orient="row",
        )
        con.execute("create table marts.t as select * from frame")
        con.execute(
            "create table marts.batches as select 'b1' as load_id, 3 as n, "
            "now() as loaded_at"  # the run's own clock: differs between any two runs
        )
        con.execute("create view marts.v as select * from marts.t")
        if extra:
            con.execute(extra)
    return path


def test_the_same_rows_in_another_order_are_identical(tmp_path: Path) -> None:
    a = _database(tmp_path / "a.duckdb", ROWS)
    b = _database(tmp_path / "b.duckdb", ROWS, reverse=True)
    comparison = compare_warehouses(a, b)
    assert comparison.identical and comparison.tables == 2, comparison.lines()
    assert comparison.lines() == ["2 of 2 tables identical, 0 differ"]
    assert fingerprint_tables(a) == fingerprint_tables(b)
    # the run's own timestamps are compared only when asked
    assert [d.table for d in compare_warehouses(a, b, strict=True).differences] == ["marts.batches"]


def test_a_one_ulp_difference_is_found_and_named(tmp_path: Path) -> None:
    changed = list(ROWS)
    i, tag, value, note = changed[1234]
    changed[1234] = (i, tag, math.nextafter(value, 1.0), note)
    a = _database(tmp_path / "a.duckdb", ROWS)
    b = _database(tmp_path / "b.duckdb", changed, reverse=True)
    [difference] = compare_warehouses(a, b).differences
    assert difference.line() == (
        "marts.t: rows differ (2,000 vs 2,000 rows; 1 only in A, 1 only in B; "
        "values differ in value)"
    )


def test_duplicates_missing_rows_tables_and_columns_are_differences(tmp_path: Path) -> None:
    # A holds row 0 twice more, B row 1 twice more: same count, same bit_xor of row hashes
    a = _database(
        tmp_path / "a.duckdb",
        [*ROWS, ROWS[0], ROWS[0]],
        extra="create table marts.only_a as select 1 as x",
    )
    b = _database(
        tmp_path / "b.duckdb",
        [*ROWS, ROWS[1], ROWS[1]],
        extra="alter table marts.batches add column extra integer",
    )
    lines = compare_warehouses(a, b).lines()
    assert lines == [
        "marts.batches: columns differ ((('load_id', 'VARCHAR'), ('n', 'INTEGER')) vs "
        "(('load_id', 'VARCHAR'), ('n', 'INTEGER'), ('extra', 'INTEGER')))",
        "marts.only_a: only in A",
        "marts.t: rows differ (2,002 vs 2,002 rows; 2 only in A, 2 only in B; "
        "values differ in id, tag, value, note)",
        "0 of 3 tables identical, 3 differ",
    ]


def test_the_command_line_lists_differences_and_exits_non_zero(tmp_path: Path) -> None:
    a = _database(tmp_path / "a.duckdb", ROWS)
    b = _database(tmp_path / "b.duckdb", ROWS[:-1])

    def compare(*args: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "warehouse", "compare", *map(str, args)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    same = compare(a, a)
    assert (same.returncode, same.stdout) == (0, "2 of 2 tables identical, 0 differ\n")
    differ = compare(a, b)
    assert differ.returncode == 1
    assert differ.stdout.splitlines()[0].startswith("marts.t: rows differ (2,000 vs 1,999 rows")
    missing = compare(a, tmp_path / "nope.duckdb")
    assert missing.returncode == 2 and "warehouse database not found" in missing.stderr


@pytest.mark.parametrize("strict", [False, True])
def test_fingerprints_leave_out_only_the_run_metadata(tmp_path: Path, strict: bool) -> None:
    a = _database(tmp_path / "a.duckdb", ROWS)
    columns = [name for name, _ in fingerprint_tables(a, strict=strict)["marts.batches"].columns]
    assert columns == (["load_id", "n", "loaded_at"] if strict else ["load_id", "n"])
