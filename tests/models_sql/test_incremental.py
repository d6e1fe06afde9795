"""The option-features mart is incremental by quote_date: appending a day writes only that day,
never rewrites history, and gives the same rows as a full refresh. Real data: the first three
days of the SPX 2019 chain from 2019-06-24 (beside the other embedded chains: SPX 2011, SPY 2021,
and the DataShop snapshot of 2019-06-26), then the fourth, 2019-06-27."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from warehouse.sandbox import Sandbox, chain_files

pytestmark = pytest.mark.slow
KEYS = ["quote_date", "contract_symbol"]
SENTINEL = "history-not-rewritten"
#: every incremental model, with a key that orders its rows
INCREMENTAL = {
    "intermediate.int_option_quotes_priced": KEYS,
    "intermediate.int_option_pricing_inputs": KEYS,
    "intermediate.int_option_quotes_greeks": KEYS,
    "intermediate.int_option_expiry_surface": [
        "quote_date",
        "underlying_symbol",
        "expiration",
        "settlement_type",
    ],
    "marts.fct_option_features": KEYS,
    "marts.fct_option_targets": KEYS,
}


def _table(sandbox: Sandbox, name: str) -> pl.DataFrame:
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        return con.sql(f"select * from {name}").pl().sort(INCREMENTAL[name])


def _features(sandbox: Sandbox) -> pl.DataFrame:
    return _table(sandbox, "marts.fct_option_features")


@pytest.fixture(scope="module")
def appended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, dict]]:
    first_day = [path.name for path in chain_files()].index("SPX_20190624.csv.gz")
    sandbox = Sandbox.create(tmp_path_factory.mktemp("incremental"), 3, first_day=first_day)
    sandbox.run("load")
    sandbox.run("dbt", "build")
    before = _features(sandbox)
    # Mark one historical row: an incremental run that rebuilt history would wipe the mark.
    marked = before.row(0, named=True)
    with duckdb.connect(str(sandbox.paths.build_db)) as con:
        con.execute(
            "update marts.fct_option_features set load_id = ? "
            "where quote_date = ? and contract_symbol = ?",
            [SENTINEL, marked["quote_date"], marked["contract_symbol"]],
        )
    sandbox.add_chain_day()
    sandbox.run("load")
    sandbox.run("dbt", "build")
    after = _features(sandbox)
    appended = {name: _table(sandbox, name) for name in INCREMENTAL}
    sandbox.run("dbt", "build", "--full-refresh")
    refreshed = {name: _table(sandbox, name) for name in INCREMENTAL}
    yield (
        sandbox,
        {
            "before": before,
            "after": after,
            "marked": marked,
            "appended": appended,
            "refreshed": refreshed,
        },
    )


def test_appending_a_day_adds_only_that_day(appended: tuple[Sandbox, dict]) -> None:
    _, frames = appended
    before, after = frames["before"], frames["after"]
    spx_2019 = (pl.col("quote_date").dt.year() == 2019) & (pl.col("source") == "cboe_eod_chain")
    assert before.filter(spx_2019)["quote_date"].n_unique() == 3
    assert after.filter(spx_2019)["quote_date"].n_unique() == 4
    new_day = after.filter(spx_2019)["quote_date"].max()
    assert after.filter(pl.col("quote_date") != new_day).height == before.height
    assert after.filter(pl.col("quote_date") == new_day).height > 10_000


def test_appending_a_day_does_not_rewrite_history(appended: tuple[Sandbox, dict]) -> None:
    _, frames = appended
    marked = frames["marked"]
    row = frames["after"].filter(
        (pl.col("quote_date") == marked["quote_date"])
        & (pl.col("contract_symbol") == marked["contract_symbol"])
    )
    assert row["load_id"].to_list() == [SENTINEL]


@pytest.mark.parametrize("name", sorted(INCREMENTAL))
def test_full_refresh_gives_identical_rows(appended: tuple[Sandbox, dict], name: str) -> None:
    _, frames = appended
    incremental = frames["appended"][name]
    if name == "marts.fct_option_features":
        incremental = incremental.with_columns(
            pl.when(pl.col("load_id") == SENTINEL)
            .then(pl.lit(frames["marked"]["load_id"]))
            .otherwise(pl.col("load_id"))
            .alias("load_id")
        )
    assert_frame_equal(incremental, frames["refreshed"][name], check_exact=True)
