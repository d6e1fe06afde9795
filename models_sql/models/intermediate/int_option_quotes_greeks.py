"""One row per contract per quote_date: implied volatility of the mid and greeks, computed here.

dbt Python model (dbt-duckdb). The math is in :mod:`warehouse.pricing` (Black-76 on the parity
forward); this file only reads ``int_option_pricing_inputs``, calls it and shapes the output.

Incremental by quote_date: on an incremental run only the quote_dates the table does not have
yet are read and solved: every day later than its latest, and a whole day landed late (the
loaders land whole vendor days; a day re-landed with changed quotes, or a change to the inputs'
logic, needs ``--full-refresh``). The result of a row depends on that row's inputs only, and
rows come out sorted by (quote_date, contract_symbol), so a full refresh and any sequence of
incremental runs give identical rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from warehouse.pricing import (
    IV_STATUS_INVALID_INPUT,
    IV_STATUS_LABELS,
    IV_STATUS_OK,
    black_greeks,
    implied_volatility,
)

INPUT_COLUMNS = (
    "contract_symbol",
    "quote_date",
    "quoted_at",
    "option_type",
    "strike",
    "mid",
    "underlying_price",
    "tte_years",
    "risk_free_rate",
    "forward_price",
    "dividend_yield",
)
GREEK_COLUMNS = ("delta", "gamma", "theta", "vega", "rho")


def solve_greeks(inputs: pl.DataFrame) -> pl.DataFrame:
    """Implied volatility of the mid and the greeks at that volatility, per row.

    Parameters
    ----------
    inputs
        One row per contract per quote_date with the columns of :data:`INPUT_COLUMNS`
        (``int_option_pricing_inputs``): ``quoted_at`` the quote's instant (UTC, passed
        through: the volatility and greeks hold at that instant); ``option_type``
        ``call``/``put``; ``strike``, ``mid``, ``underlying_price``, ``forward_price`` in USD
        per share; ``tte_years`` in years from ``quoted_at`` to settlement;
        ``risk_free_rate`` and ``dividend_yield`` decimal, continuous.

    Returns
    -------
    polars.DataFrame
        Same rows sorted by (quote_date, contract_symbol): the keys, ``quoted_at``,
        ``tte_years``, ``risk_free_rate``, ``forward_price``, ``dividend_yield``, then
        ``implied_volatility`` (decimal per √year), ``iv_solve_status`` (text,
        :data:`warehouse.pricing.IV_STATUS_LABELS`)
        and ``delta``, ``gamma``, ``theta`` (per calendar day), ``vega`` (per vol point),
        ``rho`` (per rate point), per share. The volatility and the greeks are NULL (never NaN)
        where ``iv_solve_status`` is not ``ok``; a row without an ``underlying_price`` (no spot
        for the spot greeks) is ``invalid_input``.

    Raises
    ------
    ValueError
        If a column of :data:`INPUT_COLUMNS` is missing, or ``option_type`` is not call/put.
    """
    missing = [c for c in INPUT_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"int_option_pricing_inputs lacks columns {missing}")
    frame = inputs.select(INPUT_COLUMNS).sort("quote_date", "contract_symbol")
    option_type = frame["option_type"]
    bad_types = option_type.filter(~option_type.is_in(["call", "put"])).unique().to_list()
    if bad_types:
        raise ValueError(f"option_type must be 'call' or 'put', got {bad_types!r}")

    def column(name: str) -> np.ndarray:
        return frame[name].cast(pl.Float64).to_numpy()

    is_call = (option_type == "call").to_numpy()
    forward, strike, tte, rate = (
        column("forward_price"),
        column("strike"),
        column("tte_years"),
        column("risk_free_rate"),
    )
    volatility, status = implied_volatility(column("mid"), forward, strike, tte, rate, is_call)
    # Spot greeks need a spot: without one the row is invalid input, never half-filled.
    spot = column("underlying_price")
    no_spot = (status == IV_STATUS_OK) & ~(spot > 0)
    status[no_spot] = IV_STATUS_INVALID_INPUT
    volatility[no_spot] = np.nan
    greeks = black_greeks(spot, forward, strike, tte, rate, volatility, is_call)
    labels = pl.Series("iv_solve_status", IV_STATUS_LABELS, dtype=pl.String)
    return frame.select(
        "contract_symbol",
        "quote_date",
        "quoted_at",
        pl.col("tte_years").cast(pl.Float64),
        pl.col("risk_free_rate").cast(pl.Float64),
        pl.col("forward_price").cast(pl.Float64),
        pl.col("dividend_yield").cast(pl.Float64),
    ).with_columns(
        pl.Series("implied_volatility", volatility).fill_nan(None),
        labels.gather(status.astype(np.int64)),
        *(pl.Series(name, greeks[name]).fill_nan(None) for name in GREEK_COLUMNS),
    )


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        unique_key=["quote_date", "contract_symbol"],
        incremental_strategy="delete+insert",
        on_schema_change="fail",
    )
    inputs = dbt.ref("int_option_pricing_inputs").select(", ".join(INPUT_COLUMNS))
    if dbt.is_incremental:
        # Only the quote_dates the table does not have yet: every later day, and a whole day
        # landed late (a backfill) too.
        inputs = inputs.filter(f"quote_date not in (select distinct quote_date from {dbt.this})")
    return solve_greeks(inputs.pl())
