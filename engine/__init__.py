"""Vectorized Polars backtests of option strategies over the warehouse marts.

Public API: :func:`run_backtest` (pure, no database), :class:`BacktestResult`,
:class:`StraddleConfig` / :func:`load_config`, and the metric functions in :mod:`engine.metrics`.
:mod:`engine.io` is the only module that touches DuckDB; ``python -m engine run`` wires them up.
"""

from engine.config import ConfigError, StraddleConfig, load_config
from engine.straddle import BacktestResult, run_backtest

__all__ = ["BacktestResult", "ConfigError", "StraddleConfig", "load_config", "run_backtest"]
