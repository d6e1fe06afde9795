"""Display formatting of run metrics: pure functions, testable without Streamlit.

Degenerate metrics arrive as NaN (or NULL) from the engine; they display as ``"n/a"`` instead of
``"nan%"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

NOT_AVAILABLE = "n/a"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """Format a decimal fraction as a percentage.

    >>> fmt_pct(0.1234)
    '12.34%'
    >>> fmt_pct(float("nan"))
    'n/a'
    """
    return NOT_AVAILABLE if _missing(value) else f"{value:.{digits}%}"


def fmt_ratio(value: float | None, digits: int = 2) -> str:
    """Format a unitless ratio (Sharpe, Sortino).

    >>> fmt_ratio(1.23456)
    '1.23'
    """
    return NOT_AVAILABLE if _missing(value) else f"{value:.{digits}f}"


def fmt_usd(value: float | None, digits: int = 2) -> str:
    """Format a USD amount with a sign, thousands separators and a dollar sign.

    >>> fmt_usd(-1234.5)
    '-$1,234.50'
    """
    if _missing(value):
        return NOT_AVAILABLE
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def fmt_int(value: int | None) -> str:
    """Format a count with thousands separators.

    >>> fmt_int(1234)
    '1,234'
    """
    return NOT_AVAILABLE if _missing(value) else f"{int(value):,}"


def metric_tiles(metrics: Mapping[str, object]) -> list[tuple[str, str]]:
    """Labels and display values of a run's headline metrics, in page order.

    Parameters
    ----------
    metrics
        One row of :func:`app.queries.run_metrics` as a mapping: ``total_return``, ``cagr``,
        ``max_drawdown``, ``win_rate`` (decimal fractions), ``sharpe_ratio``, ``sortino_ratio``
        (unitless), ``n_trades`` (int).

    Returns
    -------
    list[tuple[str, str]]
        ``(label, value)`` pairs; missing or NaN values show as ``"n/a"``.

    Raises
    ------
    KeyError
        When a metric column is absent from ``metrics``.

    Examples
    --------
    >>> metric_tiles({"total_return": 0.1, "cagr": 0.05, "sharpe_ratio": 1.5,
    ...               "sortino_ratio": float("nan"), "max_drawdown": -0.2, "win_rate": 0.5,
    ...               "n_trades": 12})[:2]
    [('Total return', '10.00%'), ('CAGR', '5.00%')]
    """
    return [
        ("Total return", fmt_pct(metrics["total_return"])),
        ("CAGR", fmt_pct(metrics["cagr"])),
        ("Sharpe", fmt_ratio(metrics["sharpe_ratio"])),
        ("Sortino", fmt_ratio(metrics["sortino_ratio"])),
        ("Max drawdown", fmt_pct(metrics["max_drawdown"])),
        ("Win rate", fmt_pct(metrics["win_rate"], digits=1)),
        ("Trades", fmt_int(metrics["n_trades"])),
    ]


def table_config(frame: pl.DataFrame) -> dict[str, object]:
    """``st.dataframe`` column configs that show dates as dates.

    Streamlit draws a Polars ``Date`` as a timestamp ("2022-12-13 00:00:00"): every ``Date``
    column gets ``YYYY-MM-DD`` and every ``Datetime`` column ``YYYY-MM-DD HH:mm`` (UTC as stored).
    Merge page-specific configs over the result.
    """
    import streamlit as st

    config: dict[str, object] = {}
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            config[name] = st.column_config.DateColumn(name, format="YYYY-MM-DD")
        elif isinstance(dtype, pl.Datetime):
            config[name] = st.column_config.DatetimeColumn(name, format="YYYY-MM-DD HH:mm")
    return config
