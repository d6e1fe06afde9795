"""One row per real SPX quote of a tested day: the modeled chain's out-of-sample error on it.

dbt Python model (dbt-duckdb). Walk-forward (:func:`warehouse.modeled_chain.calibration.
walk_forward_iv_error`): for each real quote_date d, the surface shape is fitted on the real days
strictly before d and d's ATM term structure is solved from d's VIX-family closes only (d's
chain is never used), so every error here is out of sample. Besides the implied-volatility
error, the modeled mid (Black-76 at the real forward, rate and strike, at the model's IV) is
compared with the real market: ``mid_error_half_spreads`` = (modeled mid − real mid) / real
half-spread, and ``is_mid_inside`` says whether the modeled mid lies within the real bid/ask.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from warehouse.modeled_chain.calibration import (
    MAX_CALIBRATION_DAYS,
    QUOTE_COLUMNS,
    on_evenly_spaced_days,
    walk_forward_iv_error,
)
from warehouse.pricing import black_price

KEY = ("quote_date", "option_root", "expiration", "strike", "option_type")
MIN_FIT_DAYS = 3
#: Each day is fitted on at most the WINDOW_DAYS real days before it (every earlier day of the
#: 61 held here); the days read are capped by the ``max_calibration_days`` config
#: (fct_modeled_chain.yml sets it from the dbt var modeled_chain_max_calibration_days).
WINDOW_DAYS = 60


def model(dbt, session):
    dbt.config(materialized="table")
    # a bare dbt.config.get(...) call: dbt finds the keys a Python model reads in its source
    # and passes only those (inside `x or y` it would not see it)
    configured = dbt.config.get("max_calibration_days")
    max_days = int(configured if configured is not None else MAX_CALIBRATION_DAYS)
    spx = on_evenly_spaced_days(
        dbt.ref("fct_option_features").filter(
            "underlying_symbol = 'SPX' and option_root in ('SPX', 'SPXW') and bid > 0"
        ),
        max_days,
    )
    real = (
        spx.select(
            ", ".join(
                sorted(
                    {*QUOTE_COLUMNS, *KEY, "forward_price", "risk_free_rate", "bid", "ask", "mid"}
                )
            )
        )
        .pl()
        .sort(KEY)
    )
    indices = (
        dbt.ref("int_volatility_indices_pivoted")
        .select("trade_date as quote_date, vix_9d, vix, vix_3m, vix_6m, skew_points")
        .pl()
    )
    errors = walk_forward_iv_error(
        real.select(*QUOTE_COLUMNS, "option_root", "expiration", "strike"),
        indices,
        MIN_FIT_DAYS,
        window_days=WINDOW_DAYS,
    )
    priced = errors.join(
        real.select(
            *KEY, "forward_price", "risk_free_rate", "bid", "ask", pl.col("mid").alias("real_mid")
        ),
        on=list(KEY),
        how="inner",
    )
    model_mid = black_price(
        priced["forward_price"].to_numpy(),
        priced["strike"].to_numpy(),
        priced["tte_years"].to_numpy(),
        priced["risk_free_rate"].to_numpy(),
        priced["model_iv"].to_numpy(),
        (priced["option_type"] == "call").to_numpy(),
    )
    half_spread = (priced["ask"] - priced["bid"]).to_numpy() / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mid_error = np.where(
            half_spread > 0, (model_mid - priced["real_mid"].to_numpy()) / half_spread, np.nan
        )
    return priced.with_columns(
        model_mid=pl.Series(model_mid),
        mid_error_half_spreads=pl.Series(mid_error),
        is_mid_inside=pl.Series(
            (model_mid >= priced["bid"].to_numpy()) & (model_mid <= priced["ask"].to_numpy())
        ),
    ).sort(KEY)
