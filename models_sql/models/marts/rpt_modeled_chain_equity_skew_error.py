"""The equity skew's out-of-sample error on real single-stock IV surfaces, by shape.

dbt Python model (dbt-duckdb). For each underlying of ``marts.fct_iv_surfaces`` (the default run:
AAPL 2023, weekly) :func:`warehouse.modeled_chain.equity_skew.walk_forward_shape_error` prices
each surface day at its own ATM level with (a) the stock's shape fitted on its earlier days only
(``walk_forward``: the shape the AAPL modeled chain uses, fitted out of sample) and (b) the SPX
shape of ``marts.fct_modeled_chain_calibration`` (``spx``: what a stock without a surface gets).
Grain: underlying_symbol × shape_source × tenor_bucket × delta_bucket, with ``all`` rows
(:func:`warehouse.modeled_chain.calibration.summarize_iv_error`, 10-90 call delta, 7-90 days).
"""

from __future__ import annotations

import polars as pl

from warehouse.modeled_chain.calibration import SurfaceCalibration, summarize_iv_error
from warehouse.modeled_chain.equity_skew import surface_grid_quotes, walk_forward_shape_error

#: Surface days a stock's shape is fitted on before the first day is scored.
MIN_FIT_DAYS = 8


def model(dbt, session):
    dbt.config(materialized="table")
    calibration = dbt.ref("fct_modeled_chain_calibration").filter("underlying_symbol = 'SPX'").pl()
    references = {}
    if calibration.height:
        row = calibration.row(0, named=True)
        references["spx"] = SurfaceCalibration.from_dict(
            {
                k.removeprefix("surface_"): v
                for k, v in row.items()
                if k.startswith("surface_") and k != "surface_source"
            }
        )
    surfaces = dbt.ref("fct_iv_surfaces").pl()
    parts = []
    for symbol in sorted(surfaces["underlying_symbol"].unique().to_list()):
        quotes = surface_grid_quotes(surfaces.filter(pl.col("underlying_symbol") == symbol))
        errors = walk_forward_shape_error(quotes, references, min_fit_days=MIN_FIT_DAYS)
        for source in sorted(errors["shape_source"].unique().to_list()):
            summary = summarize_iv_error(errors.filter(pl.col("shape_source") == source))
            parts.append(
                summary.select(
                    pl.lit(symbol).alias("underlying_symbol"),
                    pl.lit(source).alias("shape_source"),
                    pl.all(),
                )
            )
    schema = {
        "underlying_symbol": pl.String,
        "shape_source": pl.String,
        "tenor_bucket": pl.String,
        "delta_bucket": pl.String,
        "n_quotes": pl.UInt32,
        "n_days": pl.UInt32,
        "median_abs_error_vol_pts": pl.Float64,
        "p90_abs_error_vol_pts": pl.Float64,
        "median_error_vol_pts": pl.Float64,
    }
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical_relaxed").cast(schema)
