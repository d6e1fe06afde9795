"""Modeled option quotes: one row per contract per quote_date of each modeled window.

dbt Python model (dbt-duckdb). Reads only ``fct_modeled_chain_inputs`` (real prices, volatility
indices, rates, dividends) and ``fct_modeled_chain_calibration`` (fitted on the real chains);
the rules and the math are in :mod:`warehouse.modeled_chain` (listing, SSVI surface from the
variance-swap levels, Black-76, spread model). Every row carries ``source = 'modeled'`` and
``model_version``; volume and open_interest are NULL. Modeled quotes exist on the real chain's
days too, so the two can be compared (rpt_modeled_chain_*); ``fct_option_chain`` says which
wins a key (the real one).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from warehouse.modeled_chain import MODELED_QUOTE_SCHEMA, listing
from warehouse.modeled_chain.adapters import Spreads, Surface
from warehouse.modeled_chain.generate import generate_chain
from warehouse.session_parts import append_part

#: ATM standard deviations of strikes listed around the forward when the model's config has no
#: ``strike_band_sd`` (fct_modeled_chain.yml sets it from the dbt var modeled_chain_strike_band_sd)
DEFAULT_STRIKE_BAND_SD = 3.0
#: Session temp table the years are appended to (DuckDB holds them under its memory limit and
#: spills beyond it: the model's peak is one year's chain, not 18 M rows in Python).
PARTS_TABLE = "fct_option_quotes_modeled__parts"


def model(dbt, session):
    # the parts table is the session's: dropped once materialized, or it would hold ~18 M rows
    # of DuckDB's memory for the rest of the build (dbt reuses the session for later nodes)
    dbt.config(
        materialized="table",
        post_hook="drop table if exists temp.main.fct_option_quotes_modeled__parts",
    )
    # a bare dbt.config.get(...) call: dbt finds the keys a Python model reads in its source
    # and passes only those (inside `x or y` it would not see it)
    configured = dbt.config.get("strike_band_sd")
    band = float(configured if configured is not None else DEFAULT_STRIKE_BAND_SD)
    inputs = dbt.ref("fct_modeled_chain_inputs").pl()
    calibration = {
        row["underlying_symbol"]: row
        for row in dbt.ref("fct_modeled_chain_calibration").pl().iter_rows(named=True)
    }
    early_closes = (
        dbt.ref("nyse_sessions")
        .filter("is_early_close")
        .select("session_date")
        .pl()["session_date"]
    )
    append_part(session, PARTS_TABLE, pl.DataFrame(schema=MODELED_QUOTE_SCHEMA), create=True)
    # One calendar year at a time (the temporaries of ~1M rows, not 12M), each year's listing
    # warmed up on the sessions of its max_dte days before: a strike, once listed, stays listed
    # to its expiration, so the first days of a year must see what the last days of the year
    # before had listed (those warm-up rows are generated again and dropped).
    inputs = inputs.with_columns(year=pl.col("quote_date").dt.year())
    for symbol, year in sorted(inputs.select("underlying_symbol", "year").unique().iter_rows()):
        of_symbol = inputs.filter(pl.col("underlying_symbol") == symbol)
        first = of_symbol.filter(pl.col("year") == year)["quote_date"].min()
        max_dte = int(of_symbol["max_dte"].max())
        if "monthly_max_dte" in of_symbol.columns:  # the primary root's monthlies list further
            max_dte = max(max_dte, int(of_symbol["monthly_max_dte"].max()))
        rows = of_symbol.filter(
            (pl.col("year") == year)
            | ((pl.col("year") < year) & (pl.col("quote_date") >= first - timedelta(days=max_dte)))
        ).drop("year")
        chain = generate_chain(
            rows,
            calibration[symbol],
            early_closes=early_closes,
            strike_band_sd=band,
            surface=Surface(calibration[symbol], rows),
            listing=listing,
            spreads=Spreads(calibration[symbol]),
        )
        part = chain.filter(pl.col("quote_date") >= first)
        del chain
        append_part(session, PARTS_TABLE, part, create=False)
        del part
    return session.table(PARTS_TABLE)
