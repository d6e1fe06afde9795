"""Vectorized Polars backtests of option strategies over the warehouse marts.

Public API: :func:`run_backtest` / :func:`run_sweep` (pure, no database), :class:`BacktestResult`,
:class:`BacktestConfig` / :func:`load_config`, the strategy catalogue
(:func:`engine.strategies.load_catalogue`), the scan mode (:mod:`engine.scan`) and the metric
functions in :mod:`engine.metrics`. :mod:`engine.io` is the only module that touches DuckDB;
``python -m engine run|scan|sweep`` wires them up.
"""

from engine.backtest import BacktestResult, run_backtest, run_sweep
from engine.config import BacktestConfig, ConfigError, load_config

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "ConfigError",
    "load_config",
    "run_backtest",
    "run_sweep",
]
