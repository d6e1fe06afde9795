"""The day-bar join of marts.fct_option_quotes_daily, in a throwaway warehouse (warehouse.sandbox):
one real SPX chain day (2019-04-25) and a hand-made SYNTHETIC day-bar file in Polygon's layout.

The embedded bars (2023) and the embedded quotes (2011, 2019, 2021) never share a day, so the
join can only be shown on SYNTHETIC bars: two of them share contract and day with real quotes,
two do not (a day without a chain, a strike that is not listed). The SYNTHETIC file also has no
``cycle_start`` column (the layout's optional column: a user's own Polygon export has none).
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from warehouse.sandbox import Sandbox

pytestmark = pytest.mark.slow

#: SYNTHETIC day bars (invented prices and counts), Polygon layout less cycle_start.
SYNTHETIC_BARS = """\
underlying,trade_date,expiration,strike,option_type,open,high,low,close,volume,volume_weighted_average_price,number_of_transactions,trade_datetime_utc
SPX,2019-04-25,2019-05-17,2900.0,C,41.00,45.00,40.00,43.00,1234.0,42.50,77,2019-04-25 04:00:00
SPX,2019-04-25,2019-05-17,2900.0,P,26.00,27.00,24.00,25.00,321.0,25.25,12,2019-04-25 04:00:00
SPX,2019-04-26,2019-05-17,2900.0,C,50.00,56.00,49.00,54.00,900.0,53.00,40,2019-04-26 04:00:00
SPX,2019-04-25,2019-05-17,2901.0,C,40.00,44.00,39.00,42.00,5.0,41.00,1,2019-04-25 04:00:00
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    sandbox = Sandbox.create(tmp_path_factory.mktemp("option_day_bars"), 1)
    options = sandbox.root / "vendor" / "options"
    # the real 2023 bars out, the SYNTHETIC ones into the layout's drop folder
    for path in (options / "polygon_option_bars_2023").glob("*.csv.gz"):
        path.unlink()
    (options / "polygon").mkdir()
    (options / "polygon" / "SYNTHETIC_spx_20190425_day_bars.csv").write_text(SYNTHETIC_BARS)
    sandbox.run("load")
    sandbox.run("dbt", "seed", "--select", "nyse_sessions")
    sandbox.run("dbt", "run", "--select", "+fct_option_quotes_daily")
    # the tests of the new models and the join's row-count test, not the whole chain's
    sandbox.run(
        "dbt", "test", "--select", "stg_polygon__option_day_bars", "fct_option_day_bars",
        "fct_option_quotes_daily,test_name:equal_row_count",
    )  # fmt: skip
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        yield con


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    return con.sql(sql).pl()


def test_the_join_keeps_one_row_per_quote(built: duckdb.DuckDBPyConnection) -> None:
    quotes = _frame(built, "select * from marts.fct_option_quotes_daily")
    features = _frame(built, "select contract_symbol, quote_date from marts.fct_option_features")
    assert quotes.height == features.height > 10_000  # one SPX day: ~14k quotes
    assert not quotes.select("contract_symbol", "quote_date").is_duplicated().any()
    # only the two bars that share contract and day with a quote reach it
    assert quotes["traded_volume"].is_not_null().sum() == 2


def test_a_quote_and_a_bar_of_one_contract_and_day_meet(built: duckdb.DuckDBPyConnection) -> None:
    met = _frame(
        built,
        "select contract_symbol, quote_date, volume, traded_volume, vwap, transactions "
        "from marts.fct_option_quotes_daily where traded_volume is not null "
        "order by contract_symbol",
    )
    assert met.select("contract_symbol", "traded_volume", "vwap", "transactions").rows() == [
        ("SPX190517C02900000", 1234, 42.5, 77),  # SYNTHETIC line 2
        ("SPX190517P02900000", 321, 25.25, 12),  # SYNTHETIC line 3
    ]
    # the quote vendor's own volume (real CBOE file: 167 and 592) is untouched beside it
    assert met["volume"].to_list() == [167, 592]
    assert set(met["quote_date"].cast(pl.String)) == {"2019-04-25"}


def test_bars_without_a_quote_stay_in_the_bars_mart(built: duckdb.DuckDBPyConnection) -> None:
    bars = _frame(
        built,
        "select contract_symbol, trade_date, dte, cycle_start, underlying_close "
        "from marts.fct_option_day_bars order by trade_date, contract_symbol",
    )
    assert bars.height == 4 and bars["cycle_start"].is_null().all()
    # 2019-04-25 to 2019-05-17: 22 calendar days
    assert bars["dte"].to_list() == [22, 22, 22, 21]
    # the S&P 500 index close of 2019-04-25 (Yahoo index file): 2926.17
    assert bars["underlying_close"][0] == pytest.approx(2926.17, abs=0.005)
