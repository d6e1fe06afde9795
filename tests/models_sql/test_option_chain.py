"""marts.fct_option_chain and the universes over it, in a throwaway warehouse (warehouse.sandbox):
one REAL SPX chain day (2019-04-25) and a SYNTHETIC modeled chain written in place of
marts.fct_option_quotes_modeled (the generator is not used: its table is replaced by hand-made
rows with its exact schema, warehouse.modeled_chain.MODELED_QUOTE_SCHEMA).

The SYNTHETIC modeled rows are the real SPXW quotes of the day relabelled ``source = 'modeled'``,
``model_version = 'ssvi-1'``, bid/ask/mid × 1.05, stamped at the close (16:00 ET), without volume
or open interest, once on 2019-04-25 (the keys the real chain has) and once on 2019-04-26 (a day
without a real chain in this warehouse).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from warehouse.modeled_chain import MODELED_QUOTE_SCHEMA
from warehouse.sandbox import Sandbox

pytestmark = pytest.mark.slow

REAL_DAY, MODELED_ONLY_DAY = dt.date(2019, 4, 25), dt.date(2019, 4, 26)
UNIVERSES = [
    "fct_option_quotes_universe",
    "fct_option_universe_atm_monthly",
    "fct_option_universe_delta_wings",
    "fct_option_universe_short_dated",
]
#: universe_atm_monthly of dbt_project.yml without its open-interest floor
ATM_MONTHLY_NO_FLOOR = (
    "{universe_atm_monthly: {min_dte: 20, max_dte: 50, min_moneyness: 0.97, max_moneyness: 1.03,"
    " min_open_interest: 0, max_spread_pct: 5.0, exclude_stale: true, expiry_types: [monthly]}}"
)


def _synthetic_modeled(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    real = con.sql(
        f"select {', '.join(c for c in MODELED_QUOTE_SCHEMA if c != 'model_version')} "
        "from marts.fct_option_features where option_root = 'SPXW' and quote_date = $1",
        params=[REAL_DAY],
    ).pl()
    days = []
    for day in (REAL_DAY, MODELED_ONLY_DAY):
        shift = (day - REAL_DAY).days
        close = dt.datetime.combine(day, dt.time(20), tzinfo=dt.UTC)  # 16:00 EDT
        days.append(
            real.with_columns(
                pl.lit(day).alias("quote_date"),
                (pl.col("dte") - shift).cast(pl.Int32).alias("dte"),
                pl.lit(close).cast(pl.Datetime("us", "UTC")).alias("quoted_at"),
                *(pl.col(c) * 1.05 for c in ("bid", "ask", "mid")),
                pl.lit(None, dtype=pl.Int64).alias("volume"),
                pl.lit(None, dtype=pl.Int64).alias("open_interest"),
                pl.lit(True).alias("is_stale_quote"),  # the chain view must override it
                pl.lit("modeled").alias("source"),
                pl.lit("ssvi-1").alias("model_version"),
            )
        )
    return pl.concat(days).select(list(MODELED_QUOTE_SCHEMA)).cast(MODELED_QUOTE_SCHEMA)


def _frame(sandbox: Sandbox, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        return con.sql(sql).pl()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, dict[str, list]]]:
    """The sandbox, and the chain sources each universe of dbt_project.yml selects (read before
    a test rebuilds one with other vars)."""
    sandbox = Sandbox.create(tmp_path_factory.mktemp("option_chain"), 1)
    sandbox.run("load")
    sandbox.run("dbt", "seed", "--select", "nyse_sessions")
    sandbox.run("dbt", "run", "--select", "+fct_option_features")
    with duckdb.connect(str(sandbox.paths.build_db)) as con:
        modeled = _synthetic_modeled(con)
        con.register("_modeled", modeled)
        con.execute("create or replace table marts.fct_option_quotes_modeled as from _modeled")
        con.unregister("_modeled")
    sandbox.run("dbt", "run", "--select", "fct_option_chain", *UNIVERSES)
    # the chain's data tests and its unit test (real quotes take precedence), the universes'
    sandbox.run("dbt", "test", "--select", "fct_option_chain", *UNIVERSES)
    sources = {
        name: _frame(sandbox, f"select distinct chain_source from marts.{name}")[
            "chain_source"
        ].to_list()
        for name in UNIVERSES
    }
    yield sandbox, sources


def test_real_quotes_take_precedence_on_the_same_key(built: tuple[Sandbox, dict]) -> None:
    built, _ = built
    chain = _frame(built, "select * from marts.fct_option_chain")
    counts = {
        (r["chain_source"], r["quote_date"], r["is_preferred"]): r["len"]
        for r in chain.group_by("chain_source", "quote_date", "is_preferred").len().to_dicts()
    }
    n_real = _frame(built, "select count(*) as n from marts.fct_option_features")["n"][0]
    n_real_day = _frame(
        built,
        f"select count(*) as n from marts.fct_option_features where quote_date = '{REAL_DAY}'",
    )["n"][0]
    n_spxw = _frame(built, "select count(*) as n from marts.fct_option_quotes_modeled")["n"][0] // 2
    assert n_real > 10_000 and n_spxw > 1_000  # one SPX day: ~14k quotes
    assert counts.pop(("real", REAL_DAY, True)) == n_real_day  # every real quote
    # the other real chains of the sandbox (SPX 2011, SPY 2021, the 2019-06-26 snapshot)
    assert sum(n for (source, _, _), n in counts.items() if source == "real") == n_real - n_real_day
    assert all(preferred for (source, _, preferred) in counts if source == "real")
    counts = {key: n for key, n in counts.items() if key[0] == "modeled"}
    assert counts == {
        ("modeled", REAL_DAY, False): n_spxw,  # a real quote has the key
        ("modeled", MODELED_ONLY_DAY, True): n_spxw,  # none has
    }
    one = chain.filter(
        pl.col("contract_symbol") == chain.filter(pl.col("chain_source") == "modeled")[0, 0],
        pl.col("quote_date") == REAL_DAY,
    ).sort("chain_source", descending=True)
    assert one["chain_source"].to_list() == ["real", "modeled"]
    assert one["is_preferred"].to_list() == [True, False]
    assert one["model_version"].to_list() == [None, "ssvi-1"]
    assert one["mid"][1] == pytest.approx(one["mid"][0] * 1.05)
    modeled = chain.filter(pl.col("chain_source") == "modeled")
    assert not modeled["is_stale_quote"].any()  # never stale, whatever the table said
    assert modeled["open_interest"].null_count() == modeled.height


def test_universes_with_liquidity_floors_never_select_modeled_quotes(
    built: tuple[Sandbox, dict],
) -> None:
    _, sources = built
    # every universe of dbt_project.yml has min_open_interest or min_volume > 0
    assert sources == {name: ["real"] for name in UNIVERSES}


def test_a_universe_without_floors_selects_modeled_quotes_explicitly(
    built: tuple[Sandbox, dict],
) -> None:
    built, _ = built
    name = "marts.fct_option_universe_atm_monthly"
    before = _frame(built, f"select * from {name} order by contract_symbol")
    built.run(
        "dbt", "run", "--select", "fct_option_universe_atm_monthly", "--vars", ATM_MONTHLY_NO_FLOOR
    )
    after = _frame(built, f"select * from {name}")
    built.run(
        "dbt", "test", "--select", "fct_option_universe_atm_monthly", "--vars", ATM_MONTHLY_NO_FLOOR
    )
    modeled = after.filter(pl.col("chain_source") == "modeled")
    # the same filters on the modeled table by hand (no liquidity floor applies to it)
    expected = _frame(
        built,
        "select count(*) as n from marts.fct_option_quotes_modeled where dte between 20 and 50 "
        "and bid > 0 and spread_pct <= 5.0 and moneyness between 0.97 and 1.03 "
        "and expiry_type = 'monthly'",
    )["n"][0]
    assert modeled.height == expected > 0
    # the columns only the real chain has are NULL on modeled rows
    assert modeled["atm_iv_30d"].null_count() == modeled.height
    assert modeled["load_id"].null_count() == modeled.height
    # real rows: the floor of 0 lets in real quotes with open interest 0, never a NULL one
    real = after.filter(pl.col("chain_source") == "real")
    assert real.height >= before.height and real["open_interest"].null_count() == 0
    assert real["atm_iv_30d"].null_count() < real.height
