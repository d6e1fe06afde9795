"""How readers connect (issue 15): they spill to a directory of their own, never beside the
published file where publish writes its copy, and a connection for user-written SQL reaches no
file even when the statement checks of ``warehouse.sql`` are bypassed. SYNTHETIC one-table
databases (rows 0..4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from warehouse.paths import (
    WarehousePaths,
    connect,
    connect_hardened,
    connect_user_sql,
    reader_spill_directory,
)
from warehouse.publish import publish

#: A sort that cannot fit in 32 MB: 4M random BIGINT keys and values (64 MB) spill to disk.
SPILLING_SORT = "select count(*) from (select range from range(4000000) order by random())"


def _green_build_results(tmp_path: Path) -> Path:
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps({"args": {"which": "build"}, "results": []}))
    return path


def _publish(paths: WarehousePaths, tmp_path: Path) -> None:
    publish(paths, _green_build_results(tmp_path), stages="build")


def _published_warehouse(tmp_path: Path) -> WarehousePaths:
    """A warehouse whose one-table build database (SYNTHETIC rows 0..4) is published once."""
    paths = WarehousePaths(tmp_path / "warehouse")
    con = connect(paths.build_db)
    try:
        con.execute("create table t as select range as x from range(5)")
    finally:
        con.close()
    _publish(paths, tmp_path)
    return paths


def _spilling_reader(paths: WarehousePaths) -> duckdb.DuckDBPyConnection:
    """A reader of the published file with a 32 MB memory limit, so a big sort spills."""
    con = connect(paths.published_db, read_only=True)
    con.execute("set memory_limit = '32MB'")
    con.execute("set threads = 1")
    return con


def _spill(con: duckdb.DuckDBPyConnection) -> Path:
    """Run the spilling sort; return the spill directory (which DuckDB creates at the spill)."""
    assert con.sql(SPILLING_SORT).fetchall() == [(4_000_000,)]
    spill_dir = Path(con.sql("select current_setting('temp_directory')").fetchall()[0][0])
    assert spill_dir.is_dir(), f"the sort did not spill to {spill_dir}"
    return spill_dir


def test_a_publish_after_a_reader_spilled_succeeds(tmp_path: Path) -> None:
    # Before: the reader spilled to options.duckdb.tmp/, the very path publish wrote its
    # temporary copy to, and publish failed with IsADirectoryError.
    paths = _published_warehouse(tmp_path)
    reader = _spilling_reader(paths)
    try:
        spill_dir = _spill(reader)
        _publish(paths, tmp_path)
    finally:
        reader.close()
    assert not spill_dir.is_relative_to(paths.root)
    assert not spill_dir.exists(), "DuckDB removes the spill directory it created on close"
    assert sorted(p.name for p in paths.root.iterdir()) == ["build", "options.duckdb"]


def test_a_reader_can_spill_while_a_publish_writes_its_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a reader spilling while publish's temporary copy existed got "File exists".
    paths = _published_warehouse(tmp_path)
    reader = _spilling_reader(paths)
    real_replace = os.replace
    spilled: list[Path] = []

    def spill_then_replace(src: str | Path, dst: str | Path) -> None:
        spilled.append(_spill(reader))  # the new copy is written, not yet swapped in
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spill_then_replace)
    try:
        _publish(paths, tmp_path)
    finally:
        reader.close()
    assert len(spilled) == 1 and not spilled[0].is_relative_to(paths.root)


def test_every_reader_spills_to_this_process_s_own_directory(tmp_path: Path) -> None:
    paths = _published_warehouse(tmp_path)
    expected = reader_spill_directory(paths.published_db)
    assert expected.parent.name.startswith(f"options-warehouse-spill-{os.getpid()}-")
    assert not expected.is_relative_to(paths.root)
    for open_reader in (lambda p: connect(p, read_only=True), connect_hardened):
        con = open_reader(paths.published_db)
        try:
            setting = con.sql("select current_setting('temp_directory')").fetchall()[0][0]
        finally:
            con.close()
        assert Path(setting) == expected


def test_hardened_readers_open_at_once_in_one_process_each_read_in_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before (issue 20): every connect_hardened of one file shared DuckDB's cached instance, so
    # a second reader opened while the first was open (two Streamlit sessions, two API requests)
    # failed on `SET TimeZone` ("the configuration has been locked"), and TimeZone, a
    # per-connection setting, could not be made UTC on it. SYNTHETIC one-table warehouse.
    monkeypatch.setenv("TZ", "America/New_York")
    paths = _published_warehouse(tmp_path)
    first = connect_hardened(paths.published_db)
    try:
        second = connect_hardened(paths.published_db)
        try:
            for con in (first, second):
                assert con.sql(
                    "select current_setting('TimeZone'), current_setting('lock_configuration'),"
                    " current_setting('enable_external_access'), current_database(), sum(x)"
                    " from t"
                ).fetchall() == [("UTC", True, False, "options", 10)]
            with pytest.raises(duckdb.Error, match="locked"):
                second.execute("SET enable_external_access = true")
        finally:
            second.close()
    finally:
        first.close()


@pytest.fixture
def published(tmp_path: Path) -> Path:
    path = tmp_path / "options.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table t as select range as x from range(5)")  # SYNTHETIC rows 0..4
    con.close()
    return path


def _user_sql(published: Path) -> duckdb.DuckDBPyConnection:
    return connect_user_sql(published, memory_limit_mib=64, threads=1, timeout_s=5)


def test_the_user_sql_connection_has_its_limits_and_reads_the_published_tables(published):
    con = _user_sql(published)
    try:
        assert con.sql("select count(*), sum(x) from t").fetchall() == [(5, 10)]
        settings = con.sql(
            "select current_setting('threads'), current_setting('memory_limit'), "
            "current_setting('max_execution_time'), current_setting('temp_directory'), "
            "current_setting('lock_configuration'), current_database()"
        ).fetchall()[0]
        assert settings == (1, "64.0 MiB", 5000, "", True, "options")
        with pytest.raises(duckdb.Error, match="lock"):
            con.execute("set threads = 4")
    finally:
        con.close()


@pytest.mark.parametrize(
    "attack",
    [
        "copy (select 1) to '{db}.wal'",
        "copy (select 1) to '{db}.wal.recovery'",
        "copy (select 1) to '{db}.wal.checkpoint'",
        "select octet_length(content) from read_blob('{db}')",
        "select count(*) from read_text('{db}')",
        "select count(*) from '{db}'",
        "attach '{db}' as again (read_only)",
        "select * from glob('{dir}/*')",
    ],
)
def test_the_engine_itself_opens_no_file_for_user_sql(published, attack):
    # DuckDB's enable_external_access = false still allows the database file, its WAL siblings
    # and the temp directory: before, `copy ... to '<db>.wal'` and read_blob('<db>') worked, and a
    # foreign WAL broke every later open. These run on the connection directly, past the
    # statement checks of warehouse.sql.
    before = sorted(published.parent.iterdir())
    con = _user_sql(published)
    try:
        with pytest.raises(duckdb.PermissionException, match="LocalFileSystem"):
            con.sql(attack.format(db=published, dir=published.parent))
    finally:
        con.close()
    assert sorted(published.parent.iterdir()) == before
    reopened = duckdb.connect(str(published), read_only=True)
    try:
        assert reopened.sql("select count(*) from t").fetchall() == [(5,)]
    finally:
        reopened.close()
