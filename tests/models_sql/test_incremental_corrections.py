"""A corrected vendor file reaches the marts (issue 15). Real data: four days of the SPX 2019 chain
from 2019-06-24 (beside the other embedded chains) are landed and built; then a SYNTHETIC copy of
the 2019-06-25 file with one quote corrected, as an audit did (SPX190920C02950000, bid/ask
67.20/67.70 -> 67.30/67.80, both on the $0.10 tick), is landed under the same vendor path (the
loader supersedes the day's batch) and the incremental `dbt build` runs. The marts must carry the
corrected quote and what is computed from it, the earlier day must not be rewritten, and every
incremental model must equal a full refresh. Then two safety nets: the data test names a date
built from other batches than the landed ones, and a correction that drops a built day (a
SYNTHETIC iVolatility week without 2011-01-07) fails the incremental build naming that day.

The synthetic files live in a temporary folder, never in warehouse/vendor: the sandbox's vendor
path links to them (the loader's --allow-dir)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.models_sql.conftest import INCREMENTAL, KEYS, built_table
from warehouse.sandbox import CHAIN_DIR, Sandbox, chain_files

pytestmark = pytest.mark.slow
CORRECTED_DAY = dt.date(2019, 6, 25)
EARLIER_DAY = dt.date(2019, 6, 24)
CONTRACT = "SPX190920C02950000"
# the vendor's line for the contract on 2019-06-25 (hand-checked in the file):
# SPX,2920.02,CBOE,SPX190920C02950000,call,09/20/2019,06/25/2019,2950.0,68.45,-12.35,67.2,67.7,...
ORIGINAL_BID_ASK = ("67.2", "67.7")
CORRECTED_BID_ASK = ("67.3", "67.8")
SENTINEL = "history-not-rewritten"
STALE_TEST = "dq_built_from_landed_batches_fct_option_features"
DROPPED_DAY = dt.date(2011, 1, 7)


def _tables(sandbox: Sandbox) -> dict[str, pl.DataFrame]:
    frames = {name: built_table(sandbox, name, order) for name, order in INCREMENTAL.items()}
    frames["marts.fct_option_quotes_daily"] = built_table(
        sandbox, "marts.fct_option_quotes_daily", KEYS
    )
    return frames


def _rewrite_lines(source: Path, target: Path, rewrite) -> None:
    """Copy a gzipped vendor CSV line by line through ``rewrite(fields) -> fields | None`` (None
    drops the line); every other byte of the text stays the vendor's."""
    lines = gzip.decompress(source.read_bytes()).decode().split("\n")
    kept = [lines[0]]
    for line in lines[1:]:
        fields = rewrite(line.split(",")) if line else line.split(",")
        if fields is not None:
            kept.append(",".join(fields))
    target.write_bytes(gzip.compress("\n".join(kept).encode()))


def _correct_one_quote(fields: list[str]) -> list[str]:
    if fields[3] == CONTRACT:
        assert (fields[10], fields[11]) == ORIGINAL_BID_ASK, fields
        fields[10], fields[11] = CORRECTED_BID_ASK
    return fields


def _link(vendor_file: Path, synthetic: Path) -> None:
    """Put the synthetic file under the vendor path the original was landed from."""
    vendor_file.unlink()
    vendor_file.symlink_to(synthetic)


@pytest.fixture(scope="module")
def corrected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    first_day = [path.name for path in chain_files()].index("SPX_20190624.csv.gz")
    sandbox = Sandbox.create(tmp_path_factory.mktemp("corrections"), 4, first_day=first_day)
    sandbox.run("load")
    sandbox.run("dbt", "build")
    before = _tables(sandbox)
    # Mark one row of the earlier day: a correction of 06-25 must not rewrite 06-24.
    with duckdb.connect(str(sandbox.paths.build_db)) as con:
        marked = con.execute(
            "update marts.fct_option_features set load_id = ? "
            "where quote_date = ? and contract_symbol = ? returning contract_symbol",
            [SENTINEL, EARLIER_DAY, CONTRACT],
        ).fetchall()
    assert marked == [(CONTRACT,)]

    synthetic_dir = tmp_path_factory.mktemp("synthetic")
    synthetic = synthetic_dir / "SPX_20190625_SYNTHETIC_one_quote_corrected.csv.gz"
    vendor_file = sandbox.root / "vendor" / CHAIN_DIR / "SPX_20190625.csv.gz"
    _rewrite_lines(vendor_file, synthetic, _correct_one_quote)
    _link(vendor_file, synthetic)
    load_log = sandbox.run("load", "--allow-dir", str(synthetic_dir))
    build_log = sandbox.run("dbt", "build")
    after = _tables(sandbox)
    manifest = pl.read_parquet(sandbox.paths.raw_dir / "_manifest.parquet")
    sandbox.run("dbt", "build", "--full-refresh")
    refreshed = _tables(sandbox)

    return {
        "sandbox": sandbox,
        "synthetic_dir": synthetic_dir,
        "before": before,
        "after": after,
        "refreshed": refreshed,
        "manifest": manifest,
        "load_log": load_log,
        "build_log": build_log,
    }


@pytest.fixture(scope="module")
def safety_nets(corrected: dict) -> dict:
    """After the corrected build: what the data test and an impossible correction report."""
    sandbox, synthetic_dir = corrected["sandbox"], corrected["synthetic_dir"]
    # Safety net 1: a date whose rows claim other batches than the landed ones fails the data
    # test, which names it.
    with duckdb.connect(str(sandbox.paths.build_db)) as con:
        con.execute(
            "update marts.fct_option_features set batch_fingerprint = 'stale' where quote_date = ?",
            [CORRECTED_DAY],
        )
    with pytest.raises(RuntimeError) as stale_test:
        sandbox.run("dbt", "test", "--select", STALE_TEST)
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        stale_rows = con.sql(f"select * from dq_failures.{STALE_TEST}").pl()

    # Safety net 2: a correction that drops a built day cannot be rebuilt incrementally: the
    # build fails and names the day.
    ivolatility_file = sandbox.root / "vendor" / "options" / "spx_2011_week1_ivolatility.csv.gz"
    shorter = synthetic_dir / "spx_2011_week1_ivolatility_SYNTHETIC_without_0107.csv.gz"
    _rewrite_lines(
        ivolatility_file, shorter, lambda fields: None if fields[3] == "01/07/2011" else fields
    )
    _link(ivolatility_file, shorter)
    sandbox.run("load", "--allow-dir", str(synthetic_dir))
    with pytest.raises(RuntimeError) as dropped_day_build:
        sandbox.run("dbt", "build", "--select", "int_option_quotes_priced")
    return {
        "stale_test": str(stale_test.value),
        "stale_rows": stale_rows,
        "dropped_day_build": str(dropped_day_build.value),
    }


def _quote(frame: pl.DataFrame, quote_date: dt.date = CORRECTED_DAY) -> dict:
    rows = frame.filter(
        (pl.col("quote_date") == quote_date) & (pl.col("contract_symbol") == CONTRACT)
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def test_the_loader_superseded_the_days_batch(corrected: dict) -> None:
    batches = corrected["manifest"].filter(
        pl.col("source_file").str.ends_with("SPX_20190625.csv.gz")
    )
    current = batches.filter(pl.col("superseded_by").is_null())
    assert batches.height == 2 and current.height == 1
    assert batches.filter(pl.col("superseded_by").is_not_null())["superseded_by"].to_list() == (
        current["load_id"].to_list()
    )
    assert "1 new" in corrected["load_log"]


def test_the_marts_carry_the_corrected_quote_and_what_follows_from_it(corrected: dict) -> None:
    """bid/ask 67.20/67.70 -> 67.30/67.80: mid 67.45 -> 67.55, spread 0.50 / 67.55 = 0.740 %;
    the computed IV and greeks are solved again from the new mid (a higher call price, a higher
    IV); the vendor's IV column is the file's, unchanged."""
    for name in ("marts.fct_option_features", "marts.fct_option_quotes_daily"):
        old, new = _quote(corrected["before"][name]), _quote(corrected["after"][name])
        assert (old["bid"], old["ask"], old["mid"]) == (67.2, 67.7, pytest.approx(67.45))
        assert (new["bid"], new["ask"], new["mid"]) == (67.3, 67.8, pytest.approx(67.55))
        assert new["spread_pct"] == pytest.approx(100 * 0.5 / 67.55)
    old = _quote(corrected["before"]["marts.fct_option_features"])
    new = _quote(corrected["after"]["marts.fct_option_features"])
    refreshed = _quote(corrected["refreshed"]["marts.fct_option_features"])
    assert new["iv_solve_status"] == "ok"
    assert new["implied_volatility"] > old["implied_volatility"]
    assert new["delta"] != old["delta"]
    assert new["vendor_implied_volatility"] == old["vendor_implied_volatility"]
    for column in ("implied_volatility", "delta", "gamma", "vega", "theta", "rho"):
        assert new[column] == refreshed[column], column
    # the day's batches changed, so its recorded fingerprint did
    assert new["batch_fingerprint"] != old["batch_fingerprint"]
    # the target that exits on the corrected day: 06-24's one-session return ends at 67.55
    entry = _quote(corrected["after"]["marts.fct_option_targets"], EARLIER_DAY)
    assert entry["exit_quote_date_1d"] == CORRECTED_DAY
    assert entry["forward_mid_return_1d"] == pytest.approx(67.55 / entry["mid"] - 1)


def test_the_other_days_are_untouched(corrected: dict) -> None:
    before, after = corrected["before"], corrected["after"]
    other_days = pl.col("quote_date") != CORRECTED_DAY
    for name in (*INCREMENTAL, "marts.fct_option_quotes_daily"):
        if name == "marts.fct_option_targets":
            continue  # 06-24's targets exit on 06-25: checked against a full refresh below
        old, new = before[name].filter(other_days), after[name].filter(other_days)
        if name == "marts.fct_option_features":
            new = new.with_columns(
                pl.when(pl.col("load_id") == SENTINEL)
                .then(pl.lit(_quote(old, EARLIER_DAY)["load_id"]))
                .otherwise(pl.col("load_id"))
                .alias("load_id")
            )
        assert_frame_equal(new, old, check_exact=True)
    # the earlier day was not even rewritten (its marked row survived the run)
    assert _quote(after["marts.fct_option_features"], EARLIER_DAY)["load_id"] == SENTINEL


@pytest.mark.parametrize("name", [*INCREMENTAL, "marts.fct_option_quotes_daily"])
def test_the_incremental_build_equals_a_full_refresh(corrected: dict, name: str) -> None:
    incremental = corrected["after"][name]
    if name == "marts.fct_option_features":
        incremental = incremental.with_columns(
            pl.when(pl.col("load_id") == SENTINEL)
            .then(pl.lit(_quote(corrected["refreshed"][name], EARLIER_DAY)["load_id"]))
            .otherwise(pl.col("load_id"))
            .alias("load_id")
        )
    assert_frame_equal(incremental, corrected["refreshed"][name], check_exact=True)


def test_the_build_log_names_the_rebuilt_day(corrected: dict) -> None:
    log = corrected["build_log"]
    assert "fct_option_features" in log and "rebuilding" in log
    assert "2019-06-25" in log


def test_a_date_built_from_other_batches_fails_the_data_test_by_name(safety_nets: dict) -> None:
    assert STALE_TEST in safety_nets["stale_test"]
    rows = safety_nets["stale_rows"]
    assert rows["quote_date"].to_list() == [CORRECTED_DAY]
    assert rows["problem"].to_list() == ["built from other batches than the ones landed now"]
    assert rows["built_fingerprint"].to_list() == ["stale"]
    assert rows["landed_files"].to_list() == [["options/spx_2019q2_cboe/SPX_20190625.csv.gz"]]


def test_a_correction_that_drops_a_built_day_fails_the_build_naming_it(safety_nets: dict) -> None:
    message = safety_nets["dropped_day_build"]
    assert "int_option_quotes_priced" in message
    assert DROPPED_DAY.isoformat() in message and "--full-refresh" in message
