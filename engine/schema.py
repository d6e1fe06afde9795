"""Column contracts of the engine, kept in one module.

Input frames are checked against the ``*_COLUMNS`` tuples at stage entry (only the columns the
engine reads are required; extra columns are ignored). Output frames are cast to the ``*_SCHEMA``
dicts, which :mod:`engine.io` also turns into the DDL of the ``backtest`` tables, so a float is
always ``DOUBLE`` and never ``DECIMAL``.
"""

from __future__ import annotations

import polars as pl

# --- inputs (marts.* and ml.predictions) ----------------------------------------------------------

#: ``marts.fct_option_quotes_daily``: one row per contract per quote_date; marks and exits.
QUOTE_COLUMNS: tuple[str, ...] = ("contract_symbol", "underlying_symbol", "quote_date", "mid")

#: ``marts.fct_option_quotes_universe``: the liquid subset of the daily quotes; entries only.
UNIVERSE_COLUMNS: tuple[str, ...] = (
    "contract_symbol",
    "underlying_symbol",
    "option_root",
    "settlement_type",
    "quote_date",
    "expiration",
    "dte",
    "option_type",
    "strike",
    "bid",
    "ask",
    "mid",
    "underlying_price",
)

#: ``marts.fct_underlying_daily``: one row per underlying per trade_date; expiry settlement.
UNDERLYING_COLUMNS: tuple[str, ...] = ("underlying_symbol", "trade_date", "close")

#: ``ml.predictions``: one row per model, version, underlying, as_of_date (and horizon).
FORECAST_COLUMNS: tuple[str, ...] = (
    "model_name",
    "model_version",
    "underlying_symbol",
    "as_of_date",
    "prob_up",
)

# --- outputs (backtest.*) -------------------------------------------------------------------------

EXIT_REASONS: tuple[str, ...] = ("holding_period", "expiration", "end_of_data")
SETTLEMENT_METHODS: tuple[str, ...] = ("mid", "intrinsic_pm_close", "intrinsic_am_proxy_close")

RUNS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "strategy": pl.String(),
    "underlying_symbol": pl.String(),
    "forecast_model": pl.String(),
    "model_version": pl.String(),
    "config_json": pl.String(),
    "first_date": pl.Date(),
    "last_date": pl.Date(),
}

TRADES_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "trade_id": pl.Int64(),
    "underlying_symbol": pl.String(),
    "option_root": pl.String(),
    "expiration": pl.Date(),
    "strike": pl.Float64(),
    "contracts": pl.Int64(),
    "entry_date": pl.Date(),
    "exit_date": pl.Date(),
    "holding_days_actual": pl.Int64(),
    "exit_reason": pl.String(),
    "settlement_method": pl.String(),
    "entry_prob_up": pl.Float64(),
    "entry_underlying_price": pl.Float64(),
    "entry_mid_call": pl.Float64(),
    "entry_mid_put": pl.Float64(),
    "entry_price": pl.Float64(),
    "exit_price": pl.Float64(),
    "commission_usd": pl.Float64(),
    "pnl_usd": pl.Float64(),
    "trade_return": pl.Float64(),
    # Traceability beyond the minimum contract: which contracts, and what the exit was priced on.
    "contract_symbol_call": pl.String(),
    "contract_symbol_put": pl.String(),
    "exit_mid_call": pl.Float64(),
    "exit_mid_put": pl.Float64(),
    "exit_underlying_close": pl.Float64(),
}

EQUITY_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "quote_date": pl.Date(),
    "cash_usd": pl.Float64(),
    "positions_value_usd": pl.Float64(),
    "equity_usd": pl.Float64(),
    "daily_return": pl.Float64(),
    "drawdown": pl.Float64(),
    "open_positions": pl.Int64(),
}

METRICS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "total_return": pl.Float64(),
    "cagr": pl.Float64(),
    "sharpe_ratio": pl.Float64(),
    "sortino_ratio": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "win_rate": pl.Float64(),
    "n_trades": pl.Int64(),
    "avg_trade_pnl_usd": pl.Float64(),
    "first_date": pl.Date(),
    "last_date": pl.Date(),
}

#: Output table name in schema ``backtest`` -> column schema -> sort key (deterministic order).
OUTPUT_TABLES: dict[str, tuple[dict[str, pl.DataType], tuple[str, ...]]] = {
    "runs": (RUNS_SCHEMA, ("run_id",)),
    "trades": (TRADES_SCHEMA, ("run_id", "trade_id")),
    "equity_daily": (EQUITY_SCHEMA, ("run_id", "quote_date")),
    "metrics": (METRICS_SCHEMA, ("run_id",)),
}


def require_columns(lf: pl.LazyFrame, required: tuple[str, ...], frame: str) -> None:
    """Raise when ``lf`` lacks any of ``required`` (reads the schema only, not the data).

    Raises
    ------
    ValueError
        Naming the frame and every missing column.
    """
    present = set(lf.collect_schema().names())
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(f"{frame} is missing required column(s) {missing}; has {sorted(present)}")


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select ``schema``'s columns in order, cast to its dtypes (strict: a bad cast raises)."""
    return df.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
