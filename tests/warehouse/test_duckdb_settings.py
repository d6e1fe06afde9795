"""DuckDB's memory limit and spill directory come from the environment, for every connection the
product opens and for dbt's profile (``WAREHOUSE_DUCKDB_MEMORY_LIMIT``,
``WAREHOUSE_DUCKDB_TEMP_DIR``). SYNTHETIC one-table databases unless a test says otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from warehouse.paths import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_ENV,
    MEMORY_LIMIT_PATTERN,
    REPO_ROOT,
    TEMP_DIR_ENV,
    build_temp_directory,
    connect,
    connect_hardened,
    duckdb_memory_limit,
    reader_spill_directory,
)

#: A sort that cannot fit in 32 MB: 4M random BIGINT keys and values (64 MB) spill to disk.
SPILLING_SORT = "select count(*) from (select range from range(4000000) order by random())"


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return con.sql(f"select current_setting('{name}')").fetchall()[0][0]


def _duckdb_reading(limit: str) -> str:
    """How DuckDB itself reports ``limit`` (e.g. '1GiB' -> '1.0 GiB', '4GB' -> '3.7 GiB')."""
    with duckdb.connect(config={"memory_limit": limit}) as con:
        return _setting(con, "memory_limit")


@pytest.fixture
def warehouse_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private WAREHOUSE_DIR with no DuckDB settings in the environment; a SYNTHETIC build
    database holding rows 0..4."""
    root = tmp_path / "warehouse"
    monkeypatch.setenv("WAREHOUSE_DIR", str(root))
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    monkeypatch.delenv(TEMP_DIR_ENV, raising=False)
    with duckdb.connect(str(tmp_path / "synthetic.duckdb")) as con:
        con.execute("create table t as select range as x from range(5)")
    return root


@pytest.mark.parametrize("limit", ["1GiB", "512MiB", "2 GB", "25%"])
def test_every_product_connection_has_the_configured_memory_limit(
    warehouse_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, limit)
    db = tmp_path / "synthetic.duckdb"
    for open_connection in (
        connect,
        lambda p: connect(p, read_only=True),
        connect_hardened,
        lambda _: connect(":memory:"),
    ):
        con = open_connection(db)
        try:
            assert _setting(con, "memory_limit") == _duckdb_reading(limit)
            assert _setting(con, "TimeZone") == "UTC"
        finally:
            con.close()


def test_the_default_memory_limit_is_4gb_and_an_empty_value_counts_as_unset(
    warehouse_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_MEMORY_LIMIT == "4GB"
    for value in (None, ""):
        if value is not None:
            monkeypatch.setenv(MEMORY_LIMIT_ENV, value)
        assert duckdb_memory_limit() == "4GB"
        with connect(tmp_path / "synthetic.duckdb") as con:
            assert _setting(con, "memory_limit") == _duckdb_reading("4GB") == "3.7 GiB"


@pytest.mark.parametrize("bad", ["4 potatoes", "4", "0GB", "-1", "none", "4G", "150%", "1e3GB"])
def test_a_bad_memory_limit_raises_naming_the_variable_and_the_value(
    warehouse_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, bad)
    fresh = tmp_path / "never_created" / "build.duckdb"
    for open_connection in (connect, connect_hardened, lambda _: connect(":memory:")):
        with pytest.raises(ValueError, match=re.escape(f"{MEMORY_LIMIT_ENV}={bad!r}")):
            open_connection(tmp_path / "synthetic.duckdb")
    with pytest.raises(ValueError, match="4GB"):
        connect(fresh)
    assert not fresh.parent.exists(), "the value is checked before anything is created"


@pytest.mark.parametrize(
    "limit", ["4GB", "4gb", " 4 GiB ", "512MiB", "1.5GB", ".5GB", "2TB", "1%", "100%", "12.5%"]
)
def test_every_limit_the_pattern_accepts_duckdb_accepts(limit: str) -> None:
    assert re.fullmatch(MEMORY_LIMIT_PATTERN, limit)
    assert _duckdb_reading(limit).endswith("iB")


def test_a_writer_spills_to_the_build_temp_directory_and_readers_keep_their_own(
    warehouse_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build_temp_directory() == warehouse_env / "build" / "tmp"
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "32MB")
    db = tmp_path / "synthetic.duckdb"
    writer = connect(db)
    try:
        writer.execute("set threads = 1")
        assert _setting(writer, "temp_directory") == str(warehouse_env / "build" / "tmp")
        assert writer.sql(SPILLING_SORT).fetchall() == [(4_000_000,)]
        spilled = list((warehouse_env / "build" / "tmp").glob(f"duckdb_temp_{os.getpid()}_*"))
        assert spilled, "the sort did not spill to <WAREHOUSE_DIR>/build/tmp"
        # A second product connection to the file after the spill: DuckDB refuses any
        # SET temp_directory once it has spilled, so connect() must not repeat it.
        with connect(db) as second:
            assert _setting(second, "temp_directory") == str(warehouse_env / "build" / "tmp")
        # and a plain connection in the same process is not refused as "a different
        # configuration" (the settings are SET, not passed as config)
        with duckdb.connect(str(db)) as plain:
            assert plain.sql("select count(*) from t").fetchall() == [(5,)]
    finally:
        writer.close()
    with connect_hardened(db) as reader:
        assert Path(_setting(reader, "temp_directory")) == reader_spill_directory(db)


def test_the_temp_directory_variable_moves_the_build_spill(
    warehouse_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere" / "spill"
    monkeypatch.setenv(TEMP_DIR_ENV, str(target))
    assert build_temp_directory() == target
    with connect(tmp_path / "synthetic.duckdb") as con:
        assert _setting(con, "temp_directory") == str(target)
    assert target.parent.is_dir(), "connect creates the spill directory's parent"
    monkeypatch.setenv(TEMP_DIR_ENV, "")
    assert build_temp_directory() == warehouse_env / "build" / "tmp"


# ---- dbt's profile -------------------------------------------------------------------------


def _render_profile(env: dict[str, str]) -> dict:
    """profiles.yml's build output as dbt renders it under ``env`` (dbt's own renderer)."""
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(env)
    raw = yaml.safe_load((REPO_ROOT / "profiles.yml").read_text())
    return ProfileRenderer({}).render_data(raw)["options_warehouse"]["outputs"]["build"]


def _profile_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (MEMORY_LIMIT_ENV, TEMP_DIR_ENV)}
    return {**env, "WAREHOUSE_DIR": "/tmp/wh", **values}


def test_the_profile_checks_the_memory_limit_with_the_same_pattern_and_default() -> None:
    text = (REPO_ROOT / "profiles.yml").read_text()
    assert f"modules.re.fullmatch('{MEMORY_LIMIT_PATTERN}', limit)" in text
    assert f"or '{DEFAULT_MEMORY_LIMIT}'" in text


@pytest.mark.parametrize(
    ("values", "memory_limit", "temp_directory"),
    [
        ({}, "4GB", "/tmp/wh/build/tmp"),
        ({MEMORY_LIMIT_ENV: "", TEMP_DIR_ENV: ""}, "4GB", "/tmp/wh/build/tmp"),
        ({MEMORY_LIMIT_ENV: "2GiB", TEMP_DIR_ENV: "/scratch/spill"}, "2GiB", "/scratch/spill"),
    ],
)
def test_the_profile_renders_the_variables(
    values: dict[str, str], memory_limit: str, temp_directory: str
) -> None:
    build = _render_profile(_profile_env(**values))
    assert build["settings"] == {"TimeZone": "UTC", "memory_limit": memory_limit}
    # config_options: set once when dbt opens the database (a per-cursor SET would be refused
    # after the first spill)
    assert build["config_options"] == {"temp_directory": temp_directory}


def test_the_profile_refuses_a_bad_memory_limit_naming_the_variable_and_value() -> None:
    with pytest.raises(Exception, match=re.escape(f"{MEMORY_LIMIT_ENV}=4 potatoes is not")):
        _render_profile(_profile_env(**{MEMORY_LIMIT_ENV: "4 potatoes"}))


def test_dbt_opens_its_connection_with_the_configured_settings(tmp_path: Path) -> None:
    """``dbt debug`` in a private warehouse: it renders the profile and opens DuckDB with it."""
    (tmp_path / "build").mkdir()
    env = {
        **_profile_env(),
        "WAREHOUSE_DIR": str(tmp_path),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
    }
    dbt = [str(Path(sys.executable).parent / "dbt"), "debug", "--no-use-colors"]

    def debug(limit: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            dbt,
            cwd=REPO_ROOT,
            env={**env, MEMORY_LIMIT_ENV: limit},
            capture_output=True,
            text=True,
            check=False,
        )

    good = debug("1GiB")
    assert good.returncode == 0, good.stdout[-3000:]
    assert "'memory_limit': '1GiB'" in good.stdout
    assert f"'temp_directory': '{tmp_path}/build/tmp'" in good.stdout
    assert "Connection test: [OK connection ok]" in good.stdout
    bad = debug("4 potatoes")
    assert bad.returncode != 0
    assert f"{MEMORY_LIMIT_ENV}=4 potatoes is not a DuckDB memory limit" in bad.stdout + bad.stderr


# ---- real data -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_reader_of_the_real_warehouse_runs_under_the_configured_limit(
    warehouse_env: Path, real_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real SPX 2019 chain's features, grouped under a 256 MiB limit (read-only), in the
    session's end-to-end warehouse (tests/conftest.py ``real_warehouse``)."""
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "256MiB")
    con = connect(real_warehouse / "options.duckdb", read_only=True)
    try:
        assert _setting(con, "memory_limit") == "256.0 MiB"
        days, rows = con.sql(
            "select count(distinct quote_date), count(*) from marts.fct_option_features"
        ).fetchall()[0]
    finally:
        con.close()
    assert days >= 56 and rows > 700_000
