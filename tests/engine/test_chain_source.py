"""The engine on a chosen chain source (config ``chain_source``), on throwaway DuckDB files of
SYNTHETIC tables: the straddle of tests/engine/test_io.py quoted on the real chain, and the
same contracts on a modeled chain whose mids are 1.00 higher, stamped at the session close.

Arithmetic (the config of test_io: ``prob_up_at_most`` 0.55, p_up 0.4 on day 1, so the position
opens on day 2's quotes, the first after day 1's close, and exits one session later at mid):
real chain    day 2: 6 + 3.5 = 9.5, day 3: 7 + 3 = 10    -> (10 - 9.5) x 100 = 50 USD
modeled chain day 2: 7 + 4.5 = 11.5, day 3: 8 + 4 = 12   -> (12 - 11.5) x 100 = 50 USD,
entered at 11.5 (not 9.5): the entry value tells which chain was read. The modeled quotes are
stamped 16:00 ET (the session close), not after it: the signal of day 1 still fills on day 2.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine import io
from engine.backtest import run_backtest
from engine.cli import main
from engine.config import BacktestConfig, ConfigError, load_config
from engine.schema import OUTPUT_TABLES, RUNS_SCHEMA

from .test_io import CONFIG, build_db

MODEL = "ssvi-1"


def _modeled(chain: pl.DataFrame, *, version: str = MODEL, mid_shift: float = 1.0) -> pl.DataFrame:
    """SYNTHETIC modeled rows of ``chain``'s contracts: mid (and bid, ask) + ``mid_shift``, quoted
    at the session close (16:00 ET = 21:00 UTC in January), no volume or open interest."""
    close_utc = pl.col("quote_date").cast(pl.Datetime("us")) + pl.duration(hours=21)
    return chain.with_columns(
        *(pl.col(c) + mid_shift for c in ("bid", "ask", "mid")),
        close_utc.dt.replace_time_zone("UTC").alias("quoted_at"),
        pl.lit("modeled").alias("chain_source"),
        pl.lit(version).alias("model_version"),
    )


def _add_modeled(path: Path, *, universe: bool = True, versions: tuple[str, ...] = (MODEL,)):
    """Append modeled rows to the chain (and, unless ``universe`` is False, to the universe)."""
    con = duckdb.connect(str(path))
    try:
        real = con.sql("select * from marts.fct_option_chain where chain_source = 'real'").pl()
        modeled = pl.concat([_modeled(real, version=v) for v in versions])
        con.register("_modeled", modeled)
        con.execute("insert into marts.fct_option_chain by name select * from _modeled")
        if universe:
            con.execute(
                "insert into marts.fct_option_quotes_universe by name select * from _modeled"
            )
        con.unregister("_modeled")
    finally:
        con.close()


def _config(tmp_path: Path, chain_source: str | None) -> Path:
    path = tmp_path / f"run_{chain_source}.yaml"
    extra = f"chain_source: {chain_source}\n" if chain_source else ""
    path.write_text(CONFIG + extra)
    return path


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "build.duckdb"
    build_db(path)
    _add_modeled(path)
    return path


# ---- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["synthetic", "REAL", "", 1, None])
def test_chain_source_must_be_real_or_modeled(value) -> None:
    with pytest.raises(ConfigError, match=r"chain_source must be one of \['real', 'modeled'\]"):
        BacktestConfig.from_mapping({"strategy": "long_straddle", "chain_source": value})


def test_a_bad_chain_source_is_named_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("strategy: long_straddle\nchain_source: vendor\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: chain_source .* got 'vendor'"):
        load_config(path)


def test_real_configs_keep_their_run_id_and_modeled_ones_never_collide() -> None:
    cfg = load_config()  # engine/configs/long_straddle_spx.yaml, the real chain by default
    assert cfg.chain_source == "real"
    # the run id published before chain sources existed (warehouse/options.duckdb backtest.runs)
    assert cfg.run_id == "long_straddle-d719ff03e26b"
    modeled = dataclasses.replace(cfg, chain_source="modeled")
    assert modeled.run_id != cfg.run_id and modeled.config_hash != cfg.config_hash
    assert modeled.to_dict()["chain_source"] == "modeled"


# ---- runs --------------------------------------------------------------------------------------


def test_a_modeled_run_reads_only_modeled_rows_and_says_so(db: Path, tmp_path: Path, capsys):
    assert main(["run", "--config", str(_config(tmp_path, "modeled")), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"[modeled {MODEL}]: 1 closed trades" in out
    (row,) = _rows(
        db,
        "select runs.chain_source, runs.chain_model_version, runs.approximations, "
        "trades.entry_date, trades.entry_value, trades.pnl_usd "
        "from backtest.runs inner join backtest.trades using (run_id)",
    )
    source, version, approximations, entry_date, entry_value, pnl = row
    assert (source, version) == ("modeled", MODEL)
    assert approximations.startswith("chain: MODELED quotes")
    assert "quote time: 16:00 ET" in approximations
    # day 2 at the modeled mids 7 + 4.5 = 11.5 (the real ones are 6 + 3.5 = 9.5)
    assert (entry_date, entry_value) == (dt.date(2024, 1, 3), pytest.approx(11.5))
    assert pnl == pytest.approx(50.0)
    assert main(["summary", "--db", str(db)]) == 0
    assert f"[modeled {MODEL}] (2024-01-02..2024-01-04" in capsys.readouterr().out


def test_a_real_run_is_the_same_with_or_without_a_modeled_chain(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, None))
    results = []
    for name, modeled in (("real_only", False), ("both", True)):
        path = tmp_path / f"{name}.duckdb"
        build_db(path)
        if modeled:
            _add_modeled(path)
        con = io.open_database(path)
        try:
            inputs = io.load_inputs(con, cfg, db_path=path)
        finally:
            con.close()
        assert (inputs.chain_source, inputs.chain_model_version) == ("real", None)
        result = run_backtest(
            inputs.chain, inputs.universe, inputs.underlying, cfg, **inputs.signals
        )
        results.append((io.with_provenance(result, inputs), inputs.data_fingerprint))
    (only, fingerprint_only), (both, fingerprint_both) = results
    assert fingerprint_only == fingerprint_both
    for table in OUTPUT_TABLES:
        assert_frame_equal(getattr(only, table), getattr(both, table))
    assert only.trades["entry_value"].to_list() == [pytest.approx(9.5)]
    assert only.runs.select("chain_source", "chain_model_version").row(0) == ("real", None)


def test_real_and_modeled_runs_of_one_config_are_two_runs(db: Path, tmp_path: Path, capsys):
    for source in ("real", "modeled"):
        assert main(["run", "--config", str(_config(tmp_path, source)), "--db", str(db)]) == 0
    rows = _rows(
        db,
        "select runs.chain_source, runs.chain_model_version, trades.entry_value "
        "from backtest.runs inner join backtest.trades using (run_id) order by 1",
    )
    assert rows == [("modeled", MODEL, pytest.approx(11.5)), ("real", None, pytest.approx(9.5))]
    configs = [json.loads(r[0]) for r in _rows(db, "select config_json from backtest.runs")]
    assert sorted(c["chain_source"] for c in configs) == ["modeled", "real"]


def test_a_universe_without_modeled_quotes_is_refused_for_a_modeled_run(tmp_path: Path, capsys):
    # SYNTHETIC: the modeled chain is there, the universe kept only real rows (as every
    # universe with min_open_interest > 0 does: a modeled quote has no open interest)
    path = tmp_path / "build.duckdb"
    build_db(path)
    _add_modeled(path, universe=False)
    assert main(["run", "--config", str(_config(tmp_path, "modeled")), "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert "universe 'default'" in err and "holds no modeled quote of SPX" in err
    assert "min_open_interest: 0 and min_volume: 0" in err


def test_a_missing_modeled_chain_is_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "build.duckdb"
    build_db(path)  # real chain only
    assert main(["run", "--config", str(_config(tmp_path, "modeled")), "--db", str(path)]) == 1
    assert "no modeled quotes of SPX roots ['SPXW'] in marts.fct_option_chain" in (
        capsys.readouterr().err
    )


def test_a_modeled_chain_of_two_model_versions_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "build.duckdb"
    build_db(path)
    _add_modeled(path, versions=(MODEL, "ssvi-2"))
    assert main(["run", "--config", str(_config(tmp_path, "modeled")), "--db", str(path)]) == 1
    assert "holds model versions ['ssvi-1', 'ssvi-2']" in capsys.readouterr().err


def test_a_warehouse_without_the_chain_view_names_it(tmp_path: Path, capsys) -> None:
    path = tmp_path / "build.duckdb"
    build_db(path)
    con = duckdb.connect(str(path))
    con.execute("alter table marts.fct_option_chain rename to fct_option_features")
    con.close()
    assert main(["run", "--config", str(_config(tmp_path, None)), "--db", str(path)]) == 1
    assert "table marts.fct_option_chain not found" in capsys.readouterr().err


# ---- backtest.runs written before chain sources existed -----------------------------------------


def test_an_older_runs_table_gains_the_chain_columns_in_place(db: Path, tmp_path: Path, capsys):
    # SYNTHETIC: every backtest table as an engine before chain sources wrote it, with one run
    con = duckdb.connect(str(db))
    io.ensure_output_tables(con)
    con.execute("alter table backtest.runs drop column write_seq")
    con.execute("alter table backtest.runs drop column chain_model_version")
    con.execute("alter table backtest.runs drop column chain_source")
    con.execute("insert into backtest.runs (run_id, strategy) values ('earlier-run', 'x')")
    con.execute("insert into backtest.metrics (run_id) values ('earlier-run')")
    con.close()
    assert main(["run", "--config", str(_config(tmp_path, "modeled")), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "added column backtest.runs.chain_source" in out and "replaced" not in out
    rows = _rows(
        db, "select run_id, chain_source, chain_model_version from backtest.runs order by 1"
    )
    assert rows[0] == ("earlier-run", "real", None)  # kept, and it read the real chain
    assert rows[1][1:] == ("modeled", MODEL)
    columns = _rows(
        db,
        "select column_name from information_schema.columns where table_schema = 'backtest' "
        "and table_name = 'runs' order by ordinal_position",
    )
    assert [c[0] for c in columns] == list(RUNS_SCHEMA)
    # the migrated table is the one a fresh engine creates: nothing changes on the next run
    con = duckdb.connect(str(db))
    try:
        assert io.ensure_output_tables(con) == io.OutputTablesChange()
    finally:
        con.close()
    # and a summary of the old and the new runs labels the modeled one only
    assert main(["summary", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "[modeled" in line] == [
        line for line in lines if "long_straddle" in line
    ]
