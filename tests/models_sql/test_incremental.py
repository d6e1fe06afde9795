"""The option-features mart is incremental by quote_date: appending a day writes only that day,
never rewrites history, and gives the same rows as a full refresh. Real data: the first three
days of the SPX 2019 chain from 2019-06-24 (beside the other embedded chains: SPX 2011, SPY 2021,
and the DataShop snapshot of 2019-06-26), then the fourth, 2019-06-27. The same throwaway
warehouse answers for the chain's quote time: its 0-DTE weeklies (Monday 06-24, Wednesday 06-26)
quoted at 15:45 ET still have 15 minutes to live."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.models_sql.conftest import INCREMENTAL, built_table
from warehouse.sandbox import Sandbox, chain_files

pytestmark = pytest.mark.slow
SENTINEL = "history-not-rewritten"


def _features(sandbox: Sandbox) -> pl.DataFrame:
    return built_table(sandbox, "marts.fct_option_features")


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
    appended = {name: built_table(sandbox, name) for name in INCREMENTAL}
    sandbox.run("dbt", "build", "--full-refresh")
    refreshed = {name: built_table(sandbox, name) for name in INCREMENTAL}
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


def test_zero_dte_weeklies_quoted_at_1545_have_time_left_and_an_iv(
    appended: tuple[Sandbox, dict],
) -> None:
    """The SPX 2019 chain is a 15:45 ET snapshot: a 0-DTE SPXW contract (PM-settled at 16:00 ET)
    has 15 minutes left, tte = 15 / (365 x 24 x 60) years, and a two-sided out-of-the-money
    quote near the money gets an implied volatility (under the former 16:00 quote time every
    0-DTE row was `expired`)."""
    features = appended[1]["refreshed"]["marts.fct_option_features"]
    zero_dte = features.filter(
        (pl.col("option_root") == "SPXW")
        & (pl.col("dte") == 0)
        & (pl.col("source") == "cboe_eod_chain")
    )
    assert sorted(zero_dte["quote_date"].unique()) == [dt.date(2019, 6, 24), dt.date(2019, 6, 26)]
    # DuckDB hands TIMESTAMPTZ over in the session's zone: compare in UTC (15:45 EDT = 19:45)
    quoted_utc = zero_dte["quoted_at"].dt.convert_time_zone("UTC").dt.strftime("%H:%M")
    assert quoted_utc.unique().to_list() == ["19:45"]
    assert zero_dte["tte_years"].unique().to_list() == [pytest.approx(15 / 525_600, rel=1e-12)]
    assert "expired" not in zero_dte["iv_solve_status"].to_list()
    # Two-sided out-of-the-money quotes within 1 % of the forward (no intrinsic value the mid
    # could fall below, as in-the-money mids sometimes do) all solve.
    out_of_the_money = (
        pl.when(pl.col("option_type") == "call")
        .then(pl.col("log_moneyness") > 0)
        .otherwise(pl.col("log_moneyness") < 0)
    )
    near_the_money = zero_dte.filter(
        (pl.col("bid") > 0) & out_of_the_money & (pl.col("log_moneyness").abs() < 0.01)
    )
    assert near_the_money["quote_date"].n_unique() == 2 and near_the_money.height >= 5
    assert near_the_money["iv_solve_status"].unique().to_list() == ["ok"]
    assert near_the_money["implied_volatility"].is_between(0.05, 2.0).all()
    assert near_the_money["delta"].is_not_null().all()
    # hand-checked against the file: SPXW190626C02915000 at 15:45 on its expiration day,
    # bid 3.20 ask 3.60, spot 2917.47 (in the money by 2.47; mid 3.40 leaves 0.93 of time value)
    row = zero_dte.filter(
        (pl.col("contract_symbol") == "SPXW190626C02915000")
        & (pl.col("quote_date") == dt.date(2019, 6, 26))
    ).row(0, named=True)
    assert (row["bid"], row["ask"], row["underlying_price"]) == (3.2, 3.6, 2917.47)
    assert row["iv_solve_status"] == "ok"
    assert 0.1 < row["implied_volatility"] < 1.0 and 0.5 < row["delta"] < 0.9
    # every quote of the marts carries its quote time
    assert features["quoted_at"].null_count() == 0
