"""Display formatting of run metrics: pure functions, testable without Streamlit.

Degenerate metrics arrive as NaN (or NULL) from the engine; they display as ``"n/a"`` instead of
``"nan%"``. Annualised figures travel with their sample (:func:`run_sample`, :func:`stat_tiles`):
the sessions and closed trades they rest on, the Sharpe ratio's 95 % interval where the engine
wrote one, and whether the sample is large enough to mean anything (:data:`SAMPLE_RULE`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from engine.metrics import MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES

NOT_AVAILABLE = "n/a"

#: The rule behind "not meaningful", as the page states it (the engine's thresholds,
#: engine/metrics.py: below them a Sharpe ratio's 95 % interval spans about ±4).
SAMPLE_RULE = (
    f"Annualised figures (CAGR, volatility, Sharpe, Sortino, Calmar) are marked not meaningful "
    f"below {MIN_MEANINGFUL_SESSIONS} sessions (a quarter) or {MIN_MEANINGFUL_TRADES} closed "
    "trades: the engine's rule (engine/metrics.py)."
)


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


@dataclass(frozen=True)
class RunSample:
    """What a run's statistics rest on.

    Attributes
    ----------
    n_sessions
        Sessions of the equity curve (daily returns), or ``None`` when unknown.
    n_closed_trades, n_open_trades
        Trades closed within the run (the P&L statistics' sample) and still open at its end.
    is_meaningful
        ``n_sessions >= MIN_MEANINGFUL_SESSIONS`` and ``n_closed_trades >=
        MIN_MEANINGFUL_TRADES`` (:data:`SAMPLE_RULE`).
    shortfall
        Why not, e.g. ``"61 sessions < 63, 11 closed trades < 20"``; ``""`` when meaningful.
    sharpe_ci
        The engine's 95 % interval of the Sharpe ratio (Lo 2002, IID), or ``None``.
    """

    n_sessions: int | None
    n_closed_trades: int
    n_open_trades: int
    is_meaningful: bool
    shortfall: str
    sharpe_ci: tuple[float, float] | None

    @property
    def text(self) -> str:
        """``"61 sessions · 11 closed trades"`` (and the open ones, when any)."""
        sessions = "? sessions" if self.n_sessions is None else f"{self.n_sessions:,} sessions"
        out = f"{sessions} · {self.n_closed_trades:,} closed trades"
        return out + (f" · {self.n_open_trades:,} open" if self.n_open_trades else "")


def _int_or(value: object, default: int | None) -> int | None:
    return default if _missing(value) else int(value)  # type: ignore[arg-type]


def run_sample(metrics: Mapping[str, object], n_sessions: int | None = None) -> RunSample:
    """The sample of a run's metrics row.

    Parameters
    ----------
    metrics
        One row of ``backtest.metrics`` (or a result's) as a mapping. Read: ``n_trades``
        (closed trades) and, where written (engines since issue 19), ``n_sessions``,
        ``n_closed_trades``, ``n_open_trades``, ``sharpe_ratio_ci_low`` / ``_high``.
    n_sessions
        Sessions of the run's equity curve, used when the row has no ``n_sessions``.

    Raises
    ------
    KeyError
        When ``metrics`` has neither ``n_closed_trades`` nor ``n_trades``.

    >>> s = run_sample({"n_trades": 11, "n_sessions": 61})
    >>> s.is_meaningful, s.shortfall, s.text
    (False, '61 sessions < 63, 11 closed trades < 20', '61 sessions · 11 closed trades')
    """
    sessions = _int_or(metrics.get("n_sessions"), n_sessions)
    closed = metrics.get("n_closed_trades")
    closed = _int_or(closed if not _missing(closed) else metrics["n_trades"], 0) or 0
    open_trades = _int_or(metrics.get("n_open_trades"), 0) or 0
    short = []
    if sessions is None or sessions < MIN_MEANINGFUL_SESSIONS:
        shown = "?" if sessions is None else f"{sessions:,}"
        short.append(f"{shown} sessions < {MIN_MEANINGFUL_SESSIONS}")
    if closed < MIN_MEANINGFUL_TRADES:
        short.append(f"{closed:,} closed trades < {MIN_MEANINGFUL_TRADES}")
    low, high = metrics.get("sharpe_ratio_ci_low"), metrics.get("sharpe_ratio_ci_high")
    ci = None if _missing(low) or _missing(high) else (float(low), float(high))  # type: ignore[arg-type]
    return RunSample(sessions, closed, open_trades, not short, ", ".join(short), ci)


@dataclass(frozen=True)
class StatTile:
    """One headline figure of a run, as the page draws it.

    Attributes
    ----------
    label, value
        The tile's label and formatted value (``"n/a"`` when missing).
    note
        The line under the value: the sample (annualised figures), the interval (Sharpe), or
        ``""``.
    annualised
        A figure scaled to a year (CAGR, volatility, Sharpe, Sortino, Calmar).
    meaningful
        ``False`` for an annualised figure whose sample is too small (:data:`SAMPLE_RULE`): the
        page greys it out and says "not meaningful".
    """

    label: str
    value: str
    note: str
    annualised: bool
    meaningful: bool


def stat_tiles(metrics: Mapping[str, object], n_sessions: int | None = None) -> list[StatTile]:
    """The headline figures of a run with their sample, in page order.

    Parameters
    ----------
    metrics
        One row of ``backtest.metrics`` as a mapping: ``total_return``, ``cagr``,
        ``max_drawdown``, ``win_rate`` (decimal fractions), ``sharpe_ratio``, ``sortino_ratio``
        (unitless), ``n_trades`` (int); and where present ``volatility`` (decimal),
        ``calmar_ratio`` and the sample columns of :func:`run_sample`.
    n_sessions
        Sessions of the equity curve when the row has no ``n_sessions``.

    Returns
    -------
    list[StatTile]
        Total return, CAGR, volatility, Sharpe, Sortino, Calmar, max drawdown, win rate and
        trades (volatility and Calmar only when the row has them). Every annualised tile's note
        gives ``n`` sessions and closed trades; the Sharpe's adds the engine's 95 % interval.

    Raises
    ------
    KeyError
        When one of the always-shown columns is absent.

    Examples
    --------
    >>> tiles = stat_tiles({"total_return": 0.1, "cagr": 0.05, "sharpe_ratio": 1.5,
    ...     "sortino_ratio": float("nan"), "max_drawdown": -0.2, "win_rate": 0.5,
    ...     "n_trades": 12}, n_sessions=300)
    >>> [(t.label, t.value, t.meaningful) for t in tiles[:2]]
    [('Total return', '10.00%', True), ('CAGR', '5.00%', False)]
    >>> tiles[1].note
    'n = 300 sessions · 12 closed trades'
    """
    sample = run_sample(metrics, n_sessions)
    n = f"n = {sample.text}"
    ok = sample.is_meaningful

    def annual(label: str, value: str, note: str = n) -> StatTile:
        return StatTile(label, value, note, True, ok)

    sharpe_note = n
    if sample.sharpe_ci is not None:
        low, high = sample.sharpe_ci
        sharpe_note = f"95 % CI [{fmt_ratio(low)}, {fmt_ratio(high)}] · {n}"
    sessions = "" if sample.n_sessions is None else f"over {sample.n_sessions:,} sessions"
    tiles = [
        StatTile("Total return", fmt_pct(metrics["total_return"]), sessions, False, True),
        annual("CAGR", fmt_pct(metrics["cagr"])),
    ]
    if "volatility" in metrics:
        tiles.append(annual("Volatility", fmt_pct(metrics["volatility"])))
    tiles += [
        annual("Sharpe", fmt_ratio(metrics["sharpe_ratio"]), sharpe_note),
        annual("Sortino", fmt_ratio(metrics["sortino_ratio"])),
    ]
    if "calmar_ratio" in metrics:
        tiles.append(annual("Calmar", fmt_ratio(metrics["calmar_ratio"])))
    closed = f"of {sample.n_closed_trades:,} closed trades"
    tiles += [
        StatTile("Max drawdown", fmt_pct(metrics["max_drawdown"]), sessions, False, True),
        StatTile("Win rate", fmt_pct(metrics["win_rate"], digits=1), closed, False, True),
        StatTile(
            "Trades",
            fmt_int(metrics["n_trades"]),
            f"closed; {sample.n_open_trades:,} still open" if sample.n_open_trades else "closed",
            False,
            True,
        ),
    ]
    return tiles


def metric_tiles(
    metrics: Mapping[str, object], n_sessions: int | None = None
) -> list[tuple[str, str]]:
    """``(label, value)`` of :func:`stat_tiles`, in page order.

    >>> metric_tiles({"total_return": 0.1, "cagr": 0.05, "sharpe_ratio": 1.5,
    ...               "sortino_ratio": float("nan"), "max_drawdown": -0.2, "win_rate": 0.5,
    ...               "n_trades": 12})[:2]
    [('Total return', '10.00%'), ('CAGR', '5.00%')]
    """
    return [(tile.label, tile.value) for tile in stat_tiles(metrics, n_sessions)]


def run_label(run: Mapping[str, object], chain: str = "") -> str:
    """Picker label of one run of ``backtest.runs``: id, strategy, underlying, its forecast
    gate and ``chain`` (e.g. :func:`app.queries.chain_label`); a missing value is left out or
    named, never printed as ``None``.

    >>> run_label({"run_id": "iron_condor-56dc", "strategy": "iron_condor",
    ...     "underlying_symbol": "SPX", "forecast_model": None, "model_version": None},
    ...     "real chain")
    'iron_condor-56dc · iron_condor · SPX · no forecast gate · real chain'
    >>> run_label({"run_id": "x", "strategy": "s", "underlying_symbol": "SPX",
    ...     "forecast_model": "xgb_direction_5d", "model_version": None})
    'x · s · SPX · xgb_direction_5d (version not recorded)'
    """

    def text(key: str) -> str | None:
        value = run.get(key)
        return None if value is None or value == "" else str(value)

    model, version = text("forecast_model"), text("model_version")
    if model is None:
        gate = "no forecast gate"
    else:
        gate = f"{model} {version}" if version else f"{model} (version not recorded)"
    parts = [text("run_id") or "run id missing", text("strategy"), text("underlying_symbol"), gate]
    return " · ".join(p for p in (*parts, chain or None) if p)


#: The trades table's columns, in order: they fit a 1280 px window beside the sidebar with
#: room for eight-digit P&Ls (the rest, the expiration, ``exit_value`` and the costs among them,
#: are in "All trade columns"; the legs' contract symbols carry their expirations).
TRADE_COLUMNS: tuple[str, ...] = (
    "#",
    "trade_id",
    "entry_date",
    "exit_date",
    "lots",
    "exit_reason",
    "entry_value",
    "pnl_usd",
    "trade_return",
)

#: The legs table's columns, in order, fitting 1280 px like :data:`TRADE_COLUMNS` (the exit
#: date is the trade's; every column is in "All leg columns").
LEG_COLUMNS: tuple[str, ...] = (
    "#",
    "trade_id",
    "leg_no",
    "contract_symbol",
    "leg_type",
    "strike",
    "quantity",
    "entry_price",
    "exit_price",
    "exit_kind",
)


def numbered_trades(trades: pl.DataFrame) -> pl.DataFrame:
    """``trades`` in entry order with ``#``, a display number 1, 2, 3 ... beside ``trade_id``.

    ``trade_id`` is the engine's number of the candidate position, which skips candidates that
    were never traded (:func:`app.backtest_runner.missing_trade_ids`); ``#`` counts the trades
    shown.

    >>> import datetime as dt
    >>> numbered_trades(pl.DataFrame({"trade_id": [8, 1, 5],
    ...     "entry_date": [dt.date(2019, 5, d) for d in (8, 1, 5)]}))["#"].to_list()
    [1, 2, 3]
    """
    return (
        trades.sort("entry_date", "trade_id")
        .with_row_index("#", offset=1)
        .with_columns(pl.col("#").cast(pl.Int64))
    )


def numbered_legs(legs: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    """``legs`` with the ``#`` of their trade (:func:`numbered_trades`), first column."""
    number = numbered_trades(trades).select("trade_id", "#")
    return legs.join(number, on="trade_id", how="left").select("#", *legs.columns)


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
