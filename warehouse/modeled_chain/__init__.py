"""Modeled option chains: option quotes for days and underlyings without a real chain.

Real multi-year bid/ask chains are out of reach; real underlying prices, volatility indices, rates
and dividends are not. A modeled chain lists the contracts the exchange listed in that era
(:mod:`.listing`), prices them on an arbitrage-free SSVI surface (:mod:`.ssvi`) whose at-the-money
term structure is solved each day from the real volatility indices read as variance-swap levels
(:mod:`.variance_swap`) and whose skew is fitted on the real chains (:mod:`.calibration`; a
single stock's on its own implied-volatility surface where one is loaded, :mod:`.equity_skew`),
with Black-76 on a forward from the FRED curve and a dividend yield from real dividends, and
quotes a bid and an ask on the exchange's tick grid from a spread model fitted on the real chain
(:mod:`.spreads`). :mod:`.generate` puts them together.

Every modeled row says so (``source = 'modeled'``, ``model_version``); the dbt models
``fct_modeled_chain_calibration``, ``fct_option_quotes_modeled`` and the ``rpt_modeled_chain_*``
reports hold the calibration and its out-of-sample error on the real chains.
"""

from __future__ import annotations

import polars as pl

#: Bumped whenever a rule or a fitted form changes the quotes; stored on every modeled row.
#: ``ssvi-1``: every underlying on the SPX shape. ``ssvi-2``: a stock with an IV surface in
#: ``marts.fct_iv_surfaces`` (AAPL) on its own shape (:mod:`.equity_skew`).
MODEL_VERSION = "ssvi-2"

#: ``source`` of every modeled row (real rows carry their vendor layout's name).
MODELED_SOURCE = "modeled"

#: Columns and types of ``marts.fct_option_quotes_modeled`` (one row per contract per quote_date
#: per model_version). Names, units and meanings are those of ``marts.fct_option_features``:
#: prices in USD per share, ``tte_years`` in years, vols, rates and yields decimal fractions,
#: ``moneyness`` S/K. ``volume`` and ``open_interest`` are NULL: the model does not know them.
MODELED_QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "contract_symbol": pl.String(),
    "quote_date": pl.Date(),
    "quoted_at": pl.Datetime("us", "UTC"),
    "underlying_symbol": pl.String(),
    "option_root": pl.String(),
    "option_type": pl.String(),
    "strike": pl.Float64(),
    "expiration": pl.Date(),
    "dte": pl.Int32(),
    "tte_years": pl.Float64(),
    "expiry_type": pl.String(),
    "settlement_type": pl.String(),
    "exercise_style": pl.String(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "mid": pl.Float64(),
    "spread_pct": pl.Float64(),
    "underlying_price": pl.Float64(),
    "forward_price": pl.Float64(),
    "risk_free_rate": pl.Float64(),
    "dividend_yield": pl.Float64(),
    "moneyness": pl.Float64(),
    "log_moneyness": pl.Float64(),
    "implied_volatility": pl.Float64(),
    "delta": pl.Float64(),
    "gamma": pl.Float64(),
    "theta": pl.Float64(),
    "vega": pl.Float64(),
    "rho": pl.Float64(),
    "volume": pl.Int64(),
    "open_interest": pl.Int64(),
    "is_stale_quote": pl.Boolean(),
    "source": pl.String(),
    "model_version": pl.String(),
}
