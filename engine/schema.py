"""Column contracts of the engine, kept in one module.

Input frames are checked against the ``*_COLUMNS`` tuples at stage entry (only the columns the
engine reads are required; extra columns are ignored). Output frames are cast to the ``*_SCHEMA``
dicts, which :mod:`engine.io` also turns into the DDL of the ``backtest`` tables, so a float is
always ``DOUBLE`` and never ``DECIMAL``. Prices are index points per unit; ``*_usd`` columns are
dollars; returns and rates are decimal fractions.
"""

from __future__ import annotations

import polars as pl

# --- inputs (marts.*, ml.predictions, forecasts.*) ------------------------------------------------

#: ``marts.fct_option_chain`` of the run's ``chain_source`` (real: the rows of
#: ``marts.fct_option_features``; modeled: of ``marts.fct_option_quotes_modeled``): one row per
#: contract per quote_date; entries, marks, greeks.
CHAIN_COLUMNS: tuple[str, ...] = (
    "contract_symbol",
    "quote_date",
    "option_root",
    "option_type",
    "strike",
    "expiration",
    "dte",
    "expiry_type",
    "settlement_type",
    "exercise_style",
    "bid",
    "ask",
    "mid",
    "spread_pct",
    "underlying_price",
    "delta",
    "gamma",
    "theta",
    "vega",
    "is_stale_quote",
    "quoted_at",
)

#: ``marts.fct_underlying_daily``: raw (unadjusted) open and close; expiry settlement.
UNDERLYING_COLUMNS: tuple[str, ...] = ("trade_date", "open", "close")
#: ``marts.fct_underlying_daily`` rates the cash account reads with ``cash_interest: tbill_1m``
#: (decimal yields as of the close: FRED DGS1MO and DGS3MO; :mod:`engine.cash`).
UNDERLYING_RATE_COLUMNS: tuple[str, ...] = ("rate_1m", "rate_3m")

#: ``ml.predictions`` of an underlying model (one row per as_of_date of the current run).
FORECAST_COLUMNS: tuple[str, ...] = ("model_name", "model_version", "as_of_date", "p_up")
#: Columns of ``ml.predictions`` the ``regime_in`` signal reads (an iv_regime model's classes).
REGIME_COLUMNS: tuple[str, ...] = (
    "model_name",
    "model_version",
    "as_of_date",
    "prob_low",
    "prob_normal",
    "prob_high",
)

#: ``ml.predictions`` of a contract model (top_k entries).
SCORE_COLUMNS: tuple[str, ...] = ("model_version", "contract_symbol", "as_of_date", "score")

#: ``forecasts.fct_strategy_signals`` (selector entries).
SELECTOR_COLUMNS: tuple[str, ...] = (
    "as_of_date",
    "strategy",
    "size_tier",
    "direction_confidence",
    "direction_model_version",
)

# --- outputs (backtest.*) -------------------------------------------------------------------------

EXIT_REASONS: tuple[str, ...] = (
    "early_assignment",
    "take_profit",
    "stop_loss",
    "holding_period",
    "exit_dte",
    "signal",
    "expiration",
    "open",
)
EXIT_KINDS: tuple[str, ...] = (
    "traded",
    "settled",
    "exercised",
    "assigned",
    "expired_worthless",
    "abandoned",
    "delivered",
)
TRADE_STATUSES: tuple[str, ...] = ("closed", "open")

#: One row per run. ``model_version`` is the forecast model's (NULL without a signal);
#: ``chain_source`` is the chain the run read (``real`` | ``modeled``) and ``chain_model_version``
#: the modeled chain's model (e.g. ``ssvi-1``; NULL on the real chain).
RUNS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "strategy": pl.String(),
    "underlying_symbol": pl.String(),
    "forecast_model": pl.String(),
    "model_version": pl.String(),
    "config_json": pl.String(),
    "config_hash": pl.String(),
    "data_fingerprint": pl.String(),
    "first_date": pl.Date(),
    "last_date": pl.Date(),
    "approximations": pl.String(),
    # added after the first runs were written (ADDED_COLUMNS says what those rows hold)
    "chain_source": pl.String(),
    "chain_model_version": pl.String(),
    # the order runs were written into this warehouse, 1, 2, ... (engine.io.write_result; a
    # rewritten run takes the next number): the newest run of a config is the one with the
    # highest, a count rather than a clock, so a rebuild from the same inputs is identical
    "write_seq": pl.Int64(),
}

#: One row per position (a trade of ``lots`` units of every leg).
TRADES_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "trade_id": pl.Int64(),
    "strategy": pl.String(),
    "underlying_symbol": pl.String(),
    "expiration": pl.Date(),
    "lots": pl.Int64(),
    "status": pl.String(),
    "signal_date": pl.Date(),
    "entry_date": pl.Date(),
    "exit_date": pl.Date(),
    "holding_days_actual": pl.Int64(),
    "exit_reason": pl.String(),
    "exit_type": pl.String(),
    "settlement_method": pl.String(),
    "signal_value": pl.Float64(),
    "entry_underlying_price": pl.Float64(),
    "entry_value": pl.Float64(),
    "exit_value": pl.Float64(),
    "max_loss_usd": pl.Float64(),
    "margin_rule": pl.String(),
    "capital_at_risk_usd": pl.Float64(),
    "commission_usd": pl.Float64(),
    "slippage_usd": pl.Float64(),
    "dividends_usd": pl.Float64(),
    "pnl_usd": pl.Float64(),
    "trade_return": pl.Float64(),
}

#: One row per trade per leg: its fills.
LEGS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "trade_id": pl.Int64(),
    "leg_no": pl.Int32(),
    "contract_symbol": pl.String(),
    "leg_type": pl.String(),
    "strike": pl.Float64(),
    "expiration": pl.Date(),
    "quantity": pl.Int64(),
    "entry_date": pl.Date(),
    "entry_price": pl.Float64(),
    "entry_mid": pl.Float64(),
    "exit_date": pl.Date(),
    "exit_price": pl.Float64(),
    "exit_mid": pl.Float64(),
    "exit_kind": pl.String(),
    "settlement_method": pl.String(),
    "settlement_price": pl.Float64(),
}

#: One row per open trade per trading day: marks and dollar greeks.
POSITIONS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "trade_id": pl.Int64(),
    "quote_date": pl.Date(),
    "lots": pl.Int64(),
    "mark_value_usd": pl.Float64(),
    "unrealized_pnl_usd": pl.Float64(),
    "is_stale": pl.Boolean(),
    "delta_usd": pl.Float64(),
    "gamma_usd": pl.Float64(),
    "vega_usd": pl.Float64(),
    "theta_usd": pl.Float64(),
}

#: One row per session of the run's window. ``cash_interest_usd`` is the interest the cash account
#: earned that session (``cash_interest: tbill_1m``; 0 with ``none``), included in ``cash_usd``.
EQUITY_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "quote_date": pl.Date(),
    "cash_usd": pl.Float64(),
    "positions_value_usd": pl.Float64(),
    "equity_usd": pl.Float64(),
    "pnl_usd": pl.Float64(),
    "daily_return": pl.Float64(),
    "drawdown": pl.Float64(),
    "open_positions": pl.Int64(),
    "delta_usd": pl.Float64(),
    "gamma_usd": pl.Float64(),
    "vega_usd": pl.Float64(),
    "theta_usd": pl.Float64(),
    # added after the first runs were written (ADDED_COLUMNS says what those rows hold)
    "cash_interest_usd": pl.Float64(),
}

METRICS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "total_return": pl.Float64(),
    "cagr": pl.Float64(),
    "volatility": pl.Float64(),
    "sharpe_ratio": pl.Float64(),
    "sortino_ratio": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "calmar_ratio": pl.Float64(),
    "drawdown_length_p99_days": pl.Float64(),
    "turnover": pl.Float64(),
    "exposure": pl.Float64(),
    "win_rate": pl.Float64(),
    "avg_win_usd": pl.Float64(),
    "avg_loss_usd": pl.Float64(),
    "payoff_ratio": pl.Float64(),
    "avg_holding_days": pl.Float64(),
    "n_trades": pl.Int64(),
    "avg_trade_pnl_usd": pl.Float64(),
    "total_commission_usd": pl.Float64(),
    "total_slippage_usd": pl.Float64(),
    "n_sessions": pl.Int64(),
    "n_closed_trades": pl.Int64(),
    "n_open_trades": pl.Int64(),
    "sharpe_ratio_se": pl.Float64(),
    "sharpe_ratio_ci_low": pl.Float64(),
    "sharpe_ratio_ci_high": pl.Float64(),
    "stale_mark_share": pl.Float64(),
    "is_meaningful": pl.Boolean(),
    "sample_note": pl.String(),
    "first_date": pl.Date(),
    "last_date": pl.Date(),
}

#: One row per scheduled entry that opened nothing, with the reason (engine.entries.SKIP_REASONS).
SKIPPED_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "quote_date": pl.Date(),
    "candidate_no": pl.Int64(),
    "reason": pl.String(),
    "detail": pl.String(),
}

#: Columns appended to an output table after runs had been written to it: table -> column -> the
#: SQL literal the rows written before it hold. An older table lacking only these (at the end, in
#: this order) gains them in place (:func:`engine.io.ensure_output_tables`) instead of being
#: replaced. Every run written before chain sources existed read ``marts.fct_option_features``:
#: the real chain, with no chain model; every run written before ``cash_interest`` existed earned
#: no interest on cash; runs written before ``write_seq`` existed are older than every later one
#: (0).
ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "runs": {"chain_source": "'real'", "chain_model_version": "null", "write_seq": "0"},
    "equity_daily": {"cash_interest_usd": "0.0"},
}

#: Output table name in schema ``backtest`` -> column schema -> primary key.
OUTPUT_TABLES: dict[str, tuple[dict[str, pl.DataType], tuple[str, ...]]] = {
    "runs": (RUNS_SCHEMA, ("run_id",)),
    "trades": (TRADES_SCHEMA, ("run_id", "trade_id")),
    "legs": (LEGS_SCHEMA, ("run_id", "trade_id", "leg_no")),
    "positions_daily": (POSITIONS_SCHEMA, ("run_id", "trade_id", "quote_date")),
    "equity_daily": (EQUITY_SCHEMA, ("run_id", "quote_date")),
    "metrics": (METRICS_SCHEMA, ("run_id",)),
    "skipped_entries": (SKIPPED_SCHEMA, ("run_id", "quote_date", "candidate_no")),
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
