"""One row per modeled underlying: the fitted surface shape and spread model of its modeled chain.

dbt Python model (dbt-duckdb). Fitted on the REAL chains of the warehouse, one way:

- surface (:func:`warehouse.modeled_chain.calibration.fit_surface`): the SSVI shape (ρ, η, γ) on
  every real SPX/SPXW quote day (the 2011 week and the 2019 quarter), each expiry at its own
  chain ATM level, and the per-tenor level bias between the chain's ATM variance and the one
  solved from the day's VIX-family closes;
- spreads (:func:`warehouse.modeled_chain.spreads.fit_spread_model`): half-spreads of the real
  SPX chain (class ``index``) and of the real SPY chain (class ``etf_equity``, its level on the
  SPY rows, its shape from the index model where SPY's 20 contracts a day cannot carry one).

- equity surface shape (:func:`warehouse.modeled_chain.equity_skew.fit_equity_shape`): a stock
  with rows in ``marts.fct_iv_surfaces`` (AAPL: the 2023 qmoms surface, weekly) gets its own
  (ρ, η, γ), fitted on that surface's grid, with no level bias (no VXAPL close overlaps the
  surface year); a stock without one falls back to the SPX shape. ``surface_source`` says which.
  Their out-of-sample error: ``rpt_modeled_chain_equity_skew_error``.

Every fit is a pure function of the real rows, so a rebuild gives the same numbers.
"""

from __future__ import annotations

import json

import polars as pl

from warehouse.modeled_chain import MODEL_VERSION
from warehouse.modeled_chain.calibration import (
    MAX_CALIBRATION_DAYS,
    QUOTE_COLUMNS,
    fit_surface,
    on_evenly_spaced_days,
)
from warehouse.modeled_chain.equity_skew import fit_equity_shape, surface_grid_quotes
from warehouse.modeled_chain.spreads import REQUIRED_COLUMNS, fit_spread_model

INDEX_ROOTS = ("SPX", "SPXW")


def real_quotes(
    dbt, symbol: str, roots: tuple[str, ...] | None = None, max_days: int | None = None
) -> pl.DataFrame:
    """The real quotes of ``symbol`` (and ``roots``) the fits read, on at most ``max_days``
    evenly spaced quote days (``on_evenly_spaced_days``; all of them when fewer)."""
    columns = sorted({*QUOTE_COLUMNS, *REQUIRED_COLUMNS, "is_stale_quote", "delta"})
    relation = dbt.ref("fct_option_features").filter(f"underlying_symbol = '{symbol}'")
    if roots:
        relation = relation.filter("option_root in (" + ", ".join(f"'{r}'" for r in roots) + ")")
    if max_days is not None:
        relation = on_evenly_spaced_days(relation, max_days)
    return (
        relation.select(", ".join(columns))
        .pl()
        .sort("quote_date", "option_root", "tte_years", "log_moneyness")
    )


def model(dbt, session):
    dbt.config(materialized="table")
    indices = (
        dbt.ref("int_volatility_indices_pivoted")
        .select("trade_date as quote_date, vix_9d, vix, vix_3m, vix_6m, skew_points")
        .pl()
    )
    modeled = dbt.ref("fct_modeled_chain_inputs")
    windows = set(modeled.select("underlying_symbol").pl()["underlying_symbol"])
    # a bare dbt.config.get(...) call: dbt finds the keys a Python model reads in its source
    # and passes only those (inside `x or y` it would not see it)
    configured = dbt.config.get("max_calibration_days")
    max_days = int(configured if configured is not None else MAX_CALIBRATION_DAYS)
    spx = real_quotes(dbt, "SPX", INDEX_ROOTS, max_days)
    surface = fit_surface(spx.select(QUOTE_COLUMNS), indices)
    index_spreads = fit_spread_model(spx, underlying_class="index")
    spy = real_quotes(dbt, "SPY", max_days=max_days)
    equity_spreads = fit_spread_model(spy, underlying_class="etf_equity", base_model=index_spreads)
    grids = dbt.ref("fct_iv_surfaces").pl()
    rows = []
    for symbol in sorted(windows):
        is_index = symbol == "SPX"
        spreads = index_spreads if is_index else equity_spreads
        shape, source = surface, "SPX shape: no real chain or IV surface of this underlying"
        if symbol in ("SPX", "SPY"):  # SPY, an ETF on the index, takes the index's shape
            source = "fitted on the real SPX/SPXW chains"
        elif (grid := grids.filter(pl.col("underlying_symbol") == symbol)).height:
            shape = fit_equity_shape(surface_grid_quotes(grid))
            first, last = grid["quote_date"].min(), grid["quote_date"].max()
            source = (
                f"fitted on the {symbol} IV surface (fct_iv_surfaces, vendor-interpolated grid, "
                f"{grid['quote_date'].n_unique()} days {first} to {last}); level bias 0: no "
                "volatility-index close overlaps the surface's days"
            )
        rows.append(
            {
                "underlying_symbol": symbol,
                "model_version": MODEL_VERSION,
                **{f"surface_{k}": v for k, v in shape.to_dict().items()},
                "surface_source": source,
                "spread_model_json": json.dumps(spreads.to_dict(), sort_keys=True),
                "spread_source": spreads.shape_source,
            }
        )
    return pl.DataFrame(rows)
