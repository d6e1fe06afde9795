"""Performance metrics: pure functions of numpy arrays, in the style of quantopian/empyrical.

Every ``returns`` argument is a 1-D array of **decimal daily returns, noncumulative**
(0.01 = +1 %), one per trading day, shape ``(n_days,)``. Risk-free rate is 0. Annualisation uses
252 trading days per year. A metric that is undefined on its input (too few observations, zero
dispersion, no trades) returns ``nan`` rather than raising; each docstring says when.

Sources: empyrical ``stats.py`` (``cum_returns_final``, ``annual_return``, ``sharpe_ratio``,
``sortino_ratio``, ``downside_risk``, ``max_drawdown``); Sharpe (1994) "The Sharpe Ratio",
J. Portfolio Management 21(1); Sortino & Price (1994) "Performance Measurement in a Downside Risk
Framework", J. Investing 3(3).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

TRADING_DAYS_PER_YEAR = 252

ArrayLike = npt.ArrayLike


def _returns(returns: ArrayLike) -> np.ndarray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"returns must be 1-D (n_days,), got shape {arr.shape!r}")
    return arr


def total_return(returns: ArrayLike) -> float:
    """Compounded return over the whole series, decimal: ``prod(1 + r) - 1``.

    ``nan`` when ``returns`` is empty.

    >>> round(total_return([0.10, -0.10]), 10)
    -0.01
    """
    r = _returns(returns)
    if r.size == 0:
        return math.nan
    return float(np.prod(1.0 + r) - 1.0)


def cagr(returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """Compound annual growth rate, decimal per year.

    ``(1 + total_return) ** (periods_per_year / n_days) - 1`` (empyrical ``annual_return``).
    ``nan`` when ``returns`` is empty or the ending wealth is <= 0 (no real root).

    >>> round(cagr([0.21] + [0.0] * 503), 10)  # +21 % over two years of 252 days
    0.1
    """
    r = _returns(returns)
    if r.size == 0:
        return math.nan
    ending = float(np.prod(1.0 + r))
    if ending <= 0:
        return math.nan
    return ending ** (periods_per_year / r.size) - 1.0


def sharpe_ratio(returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """Annualised Sharpe ratio with a zero risk-free rate, dimensionless.

    ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` (empyrical ``sharpe_ratio``).
    ``nan`` with fewer than 2 observations or a zero standard deviation.
    """
    r = _returns(returns)
    if r.size < 2:
        return math.nan
    std = float(np.std(r, ddof=1))
    if std == 0 or not math.isfinite(std):
        return math.nan
    return float(np.mean(r)) / std * math.sqrt(periods_per_year)


def sharpe_ratio_standard_error(
    returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float:
    """Standard error of the annualised Sharpe ratio under IID returns, dimensionless.

    ``sqrt((1 + SR_p ** 2 / 2) / n) * sqrt(periods_per_year)`` with ``SR_p`` the per-period
    Sharpe ratio and ``n`` the number of returns: Lo (2002), "The Statistics of Sharpe Ratios",
    Financial Analysts Journal 58(4), eq. (8) (the IID case; serial correlation widens it).
    ``nan`` where :func:`sharpe_ratio` is.

    >>> round(sharpe_ratio_standard_error([0.01, -0.01] * 126), 4)  # SR_p = 0: sqrt(252 / 252)
    1.0
    """
    sr = sharpe_ratio(returns, periods_per_year)
    if not math.isfinite(sr):
        return math.nan
    n = _returns(returns).size
    sr_p = sr / math.sqrt(periods_per_year)
    return math.sqrt((1.0 + 0.5 * sr_p**2) / n) * math.sqrt(periods_per_year)


#: The smallest sample on which the engine calls annualised figures meaningful: a quarter of
#: sessions and 20 closed trades (below either, a Sharpe's 95 % interval spans about ±4).
MIN_MEANINGFUL_SESSIONS, MIN_MEANINGFUL_TRADES = 63, 20


def downside_risk(returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """Annualised downside deviation below a 0 target, decimal.

    ``sqrt(mean(min(r, 0) ** 2)) * sqrt(periods_per_year)`` (empyrical ``downside_risk``; the
    mean runs over all observations, not only the negative ones). ``nan`` when empty.
    """
    r = _returns(returns)
    if r.size == 0:
        return math.nan
    downside = np.minimum(r, 0.0)
    return math.sqrt(float(np.mean(downside**2))) * math.sqrt(periods_per_year)


def sortino_ratio(returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """Annualised Sortino ratio with a zero target, dimensionless.

    ``mean(r) * periods_per_year / downside_risk(r)`` (empyrical ``sortino_ratio``).
    ``nan`` with fewer than 2 observations or no downside (empyrical returns ``inf`` there; an
    infinite ratio is no more informative than an undefined one, and it breaks aggregates).
    """
    r = _returns(returns)
    if r.size < 2:
        return math.nan
    dd = downside_risk(r, periods_per_year)
    if dd == 0 or not math.isfinite(dd):
        return math.nan
    return float(np.mean(r)) * periods_per_year / dd


def max_drawdown(returns: ArrayLike) -> float:
    """Largest peak-to-trough fall of the compounded wealth, decimal, ``<= 0``.

    Wealth starts at 1 before the first return, so a loss on day one is a drawdown
    (empyrical ``max_drawdown``). ``0.0`` for a series that never falls; ``nan`` when empty.

    >>> round(max_drawdown([0.10, -0.50, 0.20]), 10)  # wealth 1, 1.1, 0.55, 0.66
    -0.5
    """
    r = _returns(returns)
    if r.size == 0:
        return math.nan
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    peak = np.maximum.accumulate(wealth)
    return float(np.min(wealth / peak - 1.0))


def win_rate(pnl_usd: ArrayLike) -> float:
    """Share of trades with ``pnl_usd > 0``, decimal in ``[0, 1]``; ``nan`` with no trades.

    A zero P&L trade counts as a non-win.
    """
    pnl = _returns(pnl_usd)
    if pnl.size == 0:
        return math.nan
    return float(np.mean(pnl > 0))


def avg_trade_pnl_usd(pnl_usd: ArrayLike) -> float:
    """Mean P&L per trade, USD; ``nan`` with no trades."""
    pnl = _returns(pnl_usd)
    if pnl.size == 0:
        return math.nan
    return float(np.mean(pnl))


def volatility(returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """Annualised standard deviation of daily returns (ddof 1), decimal; ``nan`` under 2 days."""
    r = _returns(returns)
    if r.size < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def calmar_ratio(returns: ArrayLike, periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float:
    """CAGR over the absolute maximum drawdown (Young 1991); ``nan`` without a drawdown.

    >>> round(calmar_ratio([0.01] * 252 + [-0.1]), 4) > 0
    True
    """
    mdd = max_drawdown(returns)
    if not math.isfinite(mdd) or mdd == 0:
        return math.nan
    return cagr(returns, periods_per_year) / abs(mdd)


def drawdown_lengths(returns: ArrayLike) -> np.ndarray:
    """Lengths in trading days of every drawdown spell (below the running peak), shape ``(k,)``.

    A spell still open at the end counts with its length so far.

    >>> drawdown_lengths([0.1, -0.1, 0.05, 0.2, -0.01]).tolist()  # below peak: days 2-3, 5
    [2, 1]
    """
    r = _returns(returns)
    if r.size == 0:
        return np.zeros(0, dtype=np.int64)
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    below = (wealth < np.maximum.accumulate(wealth))[1:].astype(np.int8)
    edges = np.diff(np.concatenate(([0], below, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return (ends - starts).astype(np.int64)


def drawdown_length_p99(returns: ArrayLike) -> float:
    """99th percentile (linear) of the drawdown spell lengths, trading days; 0.0 with none."""
    lengths = drawdown_lengths(returns)
    return float(np.percentile(lengths, 99)) if lengths.size else 0.0


def summarize(
    returns: ArrayLike,
    pnl_usd: ArrayLike,
    *,
    equity: ArrayLike | None = None,
    holding_days: ArrayLike | None = None,
    turnover_usd: float = math.nan,
    exposure: float = math.nan,
    commissions_usd: float = math.nan,
    slippage_usd: float = math.nan,
    initial_capital_usd: float = math.nan,
    n_open_trades: int = 0,
    stale_mark_share: float = math.nan,
) -> dict[str, float | int | bool | str | None]:
    """All run metrics from daily returns ``(n_days,)`` and trade P&Ls ``(n_trades,)`` in USD.

    Parameters
    ----------
    equity
        Daily NAV, USD, ``(n_days,)``: turnover is traded premium over its mean.
    holding_days
        Trading days each trade was held, ``(n_trades,)``.
    turnover_usd
        Premium traded at entry (|net premium| × multiplier × lots, summed), USD.
    exposure
        Share of trading days with an open position, decimal.
    commissions_usd, slippage_usd
        Totals, USD (slippage: fills against mid).
    initial_capital_usd
        Unused by the formulas; kept for the caller's record.
    n_open_trades
        Positions still open at the end (their P&L is in the equity curve, not in ``pnl_usd``).
    stale_mark_share
        Share of open position-sessions marked on a stale quote, decimal.

    Returns
    -------
    dict
        ``total_return``, ``cagr``, ``volatility``, ``sharpe_ratio``, ``sortino_ratio``,
        ``max_drawdown``, ``calmar_ratio``, ``drawdown_length_p99_days``, ``turnover`` (traded
        premium / mean equity, per run), ``exposure``, ``win_rate``, ``avg_win_usd``,
        ``avg_loss_usd`` (<= 0), ``payoff_ratio`` (avg win / |avg loss|),
        ``avg_holding_days``, ``n_trades`` (int), ``avg_trade_pnl_usd``,
        ``total_commission_usd``, ``total_slippage_usd``; the sample: ``n_sessions``,
        ``n_closed_trades`` (= ``n_trades``), ``n_open_trades``, ``sharpe_ratio_se`` and the 95 %
        interval ``sharpe_ratio_ci_low`` / ``sharpe_ratio_ci_high`` (Lo 2002),
        ``stale_mark_share``, ``is_meaningful`` (at least :data:`MIN_MEANINGFUL_SESSIONS`
        sessions and :data:`MIN_MEANINGFUL_TRADES` closed trades) and ``sample_note`` (why not,
        else null). ``pnl_usd`` holds closed trades only. NaN where undefined.
    """
    pnl = _returns(pnl_usd)
    wins, losses = pnl[pnl > 0], pnl[pnl <= 0]
    avg_win = float(np.mean(wins)) if wins.size else math.nan
    avg_loss = float(np.mean(losses)) if losses.size else math.nan
    eq = None if equity is None else _returns(equity)
    held = None if holding_days is None else _returns(holding_days)
    n_sessions = int(_returns(returns).size)
    sharpe = sharpe_ratio(returns)
    se = sharpe_ratio_standard_error(returns)
    short = []
    if n_sessions < MIN_MEANINGFUL_SESSIONS:
        short.append(f"{n_sessions} sessions < {MIN_MEANINGFUL_SESSIONS}")
    if pnl.size < MIN_MEANINGFUL_TRADES:
        short.append(f"{pnl.size} closed trades < {MIN_MEANINGFUL_TRADES}")
    return {
        "total_return": total_return(returns),
        "cagr": cagr(returns),
        "volatility": volatility(returns),
        "sharpe_ratio": sharpe_ratio(returns),
        "sortino_ratio": sortino_ratio(returns),
        "max_drawdown": max_drawdown(returns),
        "calmar_ratio": calmar_ratio(returns),
        "drawdown_length_p99_days": drawdown_length_p99(returns),
        "turnover": (turnover_usd / float(np.mean(eq)) if eq is not None and eq.size else math.nan),
        "exposure": exposure,
        "win_rate": win_rate(pnl),
        "avg_win_usd": avg_win,
        "avg_loss_usd": avg_loss,
        "payoff_ratio": (
            avg_win / abs(avg_loss)
            if math.isfinite(avg_win) and math.isfinite(avg_loss) and avg_loss != 0
            else math.nan
        ),
        "avg_holding_days": float(np.mean(held)) if held is not None and held.size else math.nan,
        "n_trades": int(pnl.size),
        "avg_trade_pnl_usd": avg_trade_pnl_usd(pnl),
        "total_commission_usd": commissions_usd,
        "total_slippage_usd": slippage_usd,
        "n_sessions": n_sessions,
        "n_closed_trades": int(pnl.size),
        "n_open_trades": int(n_open_trades),
        "sharpe_ratio_se": se,
        "sharpe_ratio_ci_low": sharpe - 1.96 * se,
        "sharpe_ratio_ci_high": sharpe + 1.96 * se,
        "stale_mark_share": stale_mark_share,
        "is_meaningful": not short,
        "sample_note": ("not meaningful: " + ", ".join(short)) if short else None,
    }
