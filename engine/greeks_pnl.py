"""Trade analytics: greeks P&L attribution per trade and session, and a trade's payoff profile.

Greeks P&L attribution
----------------------
Each session a trade is held, the change of its P&L is split with the second-order Taylor
expansion of the position's value in spot, volatility and time, evaluated with the greeks of the
**previous** session (Hull, *Options, Futures and Other Derivatives*, 10th ed., ch. 19 "The Greek
Letters", §19.6 ΔΠ = Θ Δt + ½ Γ ΔS² for a delta-neutral book, and the chapter's appendix "Taylor
series expansions and hedge parameters"; Taleb, *Dynamic Hedging*, Wiley 1997, ch. 7-8 on the
P&L of an option book explained by its greeks)::

    ΔV ≈ Δ ΔS + ½ Γ ΔS² + ν Δσ + Θ Δt,           residual = actual ΔV − the four terms

The greeks are the ones the engine stored in ``backtest.positions_daily`` (:mod:`engine.marks`),
for the trade's ``lots`` of every leg, in USD:

- ``delta_usd`` = Σ units · delta · S · multiplier (dollar delta: USD per 1 × S move), so the
  delta term is ``delta_usd[t-1] · r`` with ``r = S[t] / S[t-1] − 1``;
- ``gamma_usd`` = Σ units · gamma · S² · 0.01 · multiplier (change of dollar delta for a 1 %
  move), so ½ Γ ΔS² = ``50 · gamma_usd[t-1] · r²``;
- ``vega_usd`` = Σ units · vega · multiplier with the chain's vega **per volatility point**
  (∂V/∂σ × 0.01; ``warehouse.pricing``), so ν Δσ = ``vega_usd · Δσ · 100`` with the implied
  volatility a decimal. Each leg's volatility moves by its own amount, so the term is summed per
  leg, from the chain quotes' ``vega`` and ``implied_volatility`` (the same vegas the engine
  summed into ``vega_usd``);
- ``theta_usd`` = Σ units · theta · multiplier with theta **per calendar day** (∂V/∂t / 365), so
  Θ Δt = ``theta_usd[t-1] · calendar days between the two sessions`` (3 over a weekend).

S is the chain's ``underlying_price`` at the quote time (what the engine marks and computes
greeks with), carried forward over a session without quotes. On the session a trade exits, the
P&L is the realised one (``trades.pnl_usd``, at the fill or settlement) minus the P&L of the
last marked session; option legs that settle are taken at their ``settlement_price`` (S of that
session) and their volatility does not move (an expired option has none). A stock leg's dollar
delta is quantity · S (part of ``delta_usd``); its move is its own: to its ``exit_price`` on the
exit session (e.g. the spot at the quote time while the calls settle at the opening
quotation, ``execution.stock_exit_price: quote_time_spot``), so the stock's P&L is all delta.

The P&L of a trade is measured from its fill, net of commissions and slippage: those are not a
greek, and have a column of their own, ``costs_usd`` (entry costs on the entry session, the
rest on the exit session), so the residual is what the four greeks do not explain of the
mark-to-mid P&L: third- and higher-order terms (large moves, short-dated gamma), cross terms
(vanna, volga, charm), a stale mark carried over a session, dividends of stock legs, and the
jump to settlement.

Payoff profile
--------------
:func:`payoff_profile`: the P&L of a trade across underlying prices at entry (each option leg
at Black-76 with its entry implied volatility, the forward moving with spot: Black 1976, Hull
ch. 18.8; :func:`warehouse.pricing.black_price`) and at the front expiration (intrinsic value;
a leg expiring later keeps its time value, priced as at entry with the remaining time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from engine.marks import DP
from warehouse.pricing import black_price

#: ``backtest.positions_daily`` columns read (one row per trade per session it is open).
POSITIONS_COLUMNS: tuple[str, ...] = (
    "trade_id",
    "quote_date",
    "unrealized_pnl_usd",
    "is_stale",
    "delta_usd",
    "gamma_usd",
    "vega_usd",
    "theta_usd",
)
#: ``backtest.trades`` columns read (one row per trade).
TRADES_COLUMNS: tuple[str, ...] = (
    "trade_id",
    "status",
    "exit_date",
    "pnl_usd",
    "commission_usd",
    "slippage_usd",
)
#: ``backtest.legs`` columns read (one row per trade per leg).
LEGS_COLUMNS: tuple[str, ...] = (
    "trade_id",
    "leg_no",
    "contract_symbol",
    "leg_type",
    "quantity",
    "exit_price",
    "exit_kind",
    "settlement_price",
)
#: ``marts.fct_option_chain`` columns read (one row per contract per quote_date).
QUOTES_COLUMNS: tuple[str, ...] = (
    "contract_symbol",
    "quote_date",
    "underlying_price",
    "implied_volatility",
    "vega",
)
#: The attribution components, in stacking order; they and ``residual_usd`` sum to ``pnl_usd``.
COMPONENTS: tuple[str, ...] = (
    "delta_pnl_usd",
    "gamma_pnl_usd",
    "vega_pnl_usd",
    "theta_pnl_usd",
    "costs_usd",
    "residual_usd",
)

#: Output schema of :func:`attribute_greeks_pnl`.
SESSION_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.Int64(),
    "quote_date": pl.Date(),
    "previous_date": pl.Date(),
    "greeks_date": pl.Date(),
    "is_entry_session": pl.Boolean(),
    "is_exit_session": pl.Boolean(),
    "is_stale": pl.Boolean(),
    "spot": pl.Float64(),
    "spot_return": pl.Float64(),
    "elapsed_days": pl.Int64(),
    "pnl_usd": pl.Float64(),
    **{name: pl.Float64() for name in COMPONENTS},
}

_EXITED_LEG = "delivered"  # stock delivered on exercise: not part of the position's marks


def _lazy(frame: pl.DataFrame | pl.LazyFrame, required: Sequence[str], name: str) -> pl.LazyFrame:
    lf = frame.lazy()
    present = lf.collect_schema().names()
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(f"{name} is missing required column(s) {missing}; has {sorted(present)}")
    return lf.select(required)


def _require_unique(lf: pl.LazyFrame, key: Sequence[str], name: str) -> None:
    dupes = lf.group_by(key).len().filter(pl.col("len") > 1).head(3).collect()
    if dupes.height:
        raise ValueError(
            f"{name} must have one row per {tuple(key)}, got duplicates {dupes.drop('len').rows()}"
        )


def attribute_greeks_pnl(
    positions: pl.DataFrame | pl.LazyFrame,
    trades: pl.DataFrame | pl.LazyFrame,
    legs: pl.DataFrame | pl.LazyFrame,
    quotes: pl.DataFrame | pl.LazyFrame,
    *,
    multiplier: float = 100.0,
) -> pl.DataFrame:
    """Split each session's P&L of each trade into delta, gamma, vega, theta, costs and residual.

    Parameters
    ----------
    positions
        ``backtest.positions_daily`` of one run: one row per ``trade_id`` per ``quote_date`` the
        trade is open (entry session included, exit session not), with ``unrealized_pnl_usd``
        (USD since the fill, net of entry costs), ``is_stale`` and the trade's dollar greeks
        ``delta_usd``, ``gamma_usd`` (per 1 % move), ``vega_usd`` (per vol point),
        ``theta_usd`` (per calendar day) for all its lots (:mod:`engine.marks`).
    trades
        ``backtest.trades`` of the run: one row per ``trade_id`` with ``status``
        (``closed``/``open``), ``exit_date`` (null while open), ``pnl_usd`` (realised, USD),
        ``commission_usd`` and ``slippage_usd`` (USD, ≥ 0, entry and exit).
    legs
        ``backtest.legs`` of the run: one row per ``trade_id`` per ``leg_no`` with
        ``contract_symbol``, ``leg_type`` (``call``/``put``/``stock``), ``quantity`` (signed
        contracts of all lots; shares for stock), ``exit_price`` (index points per unit, null
        while open), ``exit_kind`` and ``settlement_price`` (index points, null unless the leg
        settled). Delivered stock (``exit_kind = 'delivered'``) is not part of the marks and
        is ignored.
    quotes
        The run's chain (``marts.fct_option_chain`` of its ``chain_source``) for the option
        legs over the trades' lives: one row per ``contract_symbol`` per ``quote_date`` with
        ``underlying_price`` (index points), ``implied_volatility`` (decimal) and ``vega`` (per
        vol point, per unit). Extra rows are ignored.
    multiplier
        Contract multiplier (units of underlying per contract; 100 for SPX), > 0.

    Returns
    -------
    polars.DataFrame
        One row per trade per session from its entry to its exit (or its last mark while open),
        sorted by ``trade_id, quote_date``, with :data:`SESSION_SCHEMA`: ``previous_date`` (null
        on the entry session), ``is_entry_session``, ``is_exit_session``, ``is_stale`` (a leg
        carried a stale mark), ``spot`` (index points), ``spot_return`` (decimal, S/S₋₁ − 1),
        ``elapsed_days`` (calendar days since the previous session), ``pnl_usd`` (change of the
        trade's P&L over the session; on the entry session the entry costs) and the USD
        components of :data:`COMPONENTS`, which sum to ``pnl_usd``. Summed over a trade's
        sessions, ``pnl_usd`` is its ``trades.pnl_usd`` (closed) or last unrealised P&L (open).
        Trades without a daily mark are left out. Greeks or quotes missing on a session count
        as 0 (as in the engine's sums) and their P&L lands in the residual.

    Raises
    ------
    ValueError
        When a frame lacks a required column, ``positions`` repeats a (trade_id, quote_date),
        ``quotes`` repeats a (contract_symbol, quote_date), ``legs`` repeats a (trade_id,
        leg_no), a trade of ``positions`` is not in ``trades``, or ``multiplier`` is not > 0;
        the message names the bad value.

    Examples
    --------
    One long call (SYNTHETIC), delta 0.5 and gamma 0.01 at S = 100, vega 0.2 per point, theta
    −0.05 a day; the next day S = 102, the volatility +1 point, the mark +1.20 a share:

    >>> import datetime as dt
    >>> d0, d1 = dt.date(2024, 1, 2), dt.date(2024, 1, 3)
    >>> pos = pl.DataFrame({"trade_id": [1, 1], "quote_date": [d0, d1],
    ...     "unrealized_pnl_usd": [0.0, 120.0], "is_stale": [False, False],
    ...     "delta_usd": [5000.0, 0.0], "gamma_usd": [100.0, 0.0],
    ...     "vega_usd": [20.0, 0.0], "theta_usd": [-5.0, 0.0]})
    >>> trd = pl.DataFrame({"trade_id": [1], "status": ["open"], "exit_date": [None],
    ...     "pnl_usd": [120.0], "commission_usd": [0.0], "slippage_usd": [0.0]})
    >>> leg = pl.DataFrame({"trade_id": [1], "leg_no": [1], "contract_symbol": ["C100"],
    ...     "leg_type": ["call"], "quantity": [1], "exit_price": [None], "exit_kind": [None],
    ...     "settlement_price": [None]})
    >>> q = pl.DataFrame({"contract_symbol": ["C100", "C100"], "quote_date": [d0, d1],
    ...     "underlying_price": [100.0, 102.0], "implied_volatility": [0.20, 0.21],
    ...     "vega": [0.2, 0.2]})
    >>> out = attribute_greeks_pnl(pos, trd, leg, q)
    >>> out.filter(pl.col("quote_date") == d1).select(COMPONENTS).row(0)
    (100.0, 2.0, 20.0, -5.0, 0.0, 3.0)
    """
    if not (isinstance(multiplier, int | float) and multiplier > 0):
        raise ValueError(f"multiplier must be > 0, got {multiplier!r}")
    pos = _lazy(positions, POSITIONS_COLUMNS, "positions")
    trd = _lazy(trades, TRADES_COLUMNS, "trades")
    leg = _lazy(legs, LEGS_COLUMNS, "legs")
    qts = _lazy(quotes, QUOTES_COLUMNS, "quotes")
    _require_unique(pos, ("trade_id", "quote_date"), "positions")
    _require_unique(qts, ("contract_symbol", "quote_date"), "quotes")
    _require_unique(leg, ("trade_id", "leg_no"), "legs")
    unknown = (
        pos.select("trade_id")
        .unique()
        .join(trd.select("trade_id"), on="trade_id", how="anti")
        .sort("trade_id")
        .collect()["trade_id"]
        .to_list()
    )
    if unknown:
        raise ValueError(f"positions hold trade_id(s) {unknown[:10]} that trades does not")

    sessions = _sessions(pos, trd)
    per_leg = _leg_terms(sessions, leg, qts, multiplier)
    return (
        sessions.join(per_leg, on=["trade_id", "quote_date"], how="left")
        .join(_stock_legs(leg), on="trade_id", how="left")
        .pipe(_components)
        .select([pl.col(name).cast(dtype) for name, dtype in SESSION_SCHEMA.items()])
        # sums inside a parallel group-by may add in another order from run to run: rounded
        # as the engine's marks are (engine.marks.DP), every output is bit-identical
        .with_columns(pl.col(pl.Float64).round(DP) + 0.0)  # + 0.0: no -0.0 on display
        .sort("trade_id", "quote_date")
        .collect()
    )


def _sessions(pos: pl.LazyFrame, trd: pl.LazyFrame) -> pl.LazyFrame:
    """The marked sessions of each trade, plus its exit session (closed trades): the P&L to
    date ``_cum_pnl`` and the stored greeks (null on the exit session)."""
    marked = pos.select(
        pl.col("trade_id").cast(pl.Int64),
        "quote_date",
        pl.col("unrealized_pnl_usd").cast(pl.Float64).alias("_cum_pnl"),
        pl.col("is_stale").fill_null(False),
        *(pl.col(g).cast(pl.Float64) for g in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")),
        pl.lit(False).alias("is_exit_session"),
    )
    last_mark = marked.group_by("trade_id").agg(pl.col("quote_date").max().alias("_last_mark"))
    exits = (
        trd.filter((pl.col("status") == "closed") & pl.col("exit_date").is_not_null())
        .with_columns(pl.col("trade_id").cast(pl.Int64))
        .join(last_mark, on="trade_id")
        .filter(pl.col("exit_date") > pl.col("_last_mark"))
        .select(
            "trade_id",
            pl.col("exit_date").alias("quote_date"),
            pl.col("pnl_usd").cast(pl.Float64).alias("_cum_pnl"),
            pl.lit(False).alias("is_stale"),
            *(
                pl.lit(None, dtype=pl.Float64).alias(g)
                for g in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd")
            ),
            pl.lit(True).alias("is_exit_session"),
        )
    )
    costs = trd.select(
        pl.col("trade_id").cast(pl.Int64),
        (
            pl.col("commission_usd").cast(pl.Float64).fill_null(0.0)
            + pl.col("slippage_usd").cast(pl.Float64).fill_null(0.0)
        ).alias("_total_costs"),
    )
    return (
        pl.concat([marked, exits], how="vertical_relaxed")
        .join(costs, on="trade_id", how="left")
        .sort("trade_id", "quote_date")
    )


def _stock_legs(leg: pl.LazyFrame) -> pl.LazyFrame:
    """Per trade with stock: ``_stock_qty`` (shares, signed) and ``_stock_exit`` (the exit
    price per share, quantity-weighted; null while any stock leg is open)."""
    stock = leg.filter(
        (pl.col("leg_type") == "stock") & (pl.col("exit_kind").fill_null("") != _EXITED_LEG)
    )
    qty = pl.col("quantity").cast(pl.Float64)
    return stock.group_by(pl.col("trade_id").cast(pl.Int64)).agg(
        qty.sum().alias("_stock_qty"),
        pl.when(pl.col("exit_price").is_not_null().all())
        .then((qty * pl.col("exit_price").cast(pl.Float64)).sum() / qty.sum())
        .alias("_stock_exit"),
    )


def _anchored(expr: pl.Expr, over: str | Sequence[str]) -> pl.Expr:
    """``expr`` on the last earlier session with every leg fresh (the greeks' session)."""
    return pl.when(~pl.col("is_stale")).then(expr).forward_fill().shift(1).over(over)


def _leg_terms(
    sessions: pl.LazyFrame, leg: pl.LazyFrame, qts: pl.LazyFrame, multiplier: float
) -> pl.LazyFrame:
    """Per trade and session: the spot S and the vega term Σ_legs ν_leg · Δσ_leg · 100, with
    ν and σ of the greeks' session (the last earlier one with every leg fresh)."""
    options = leg.filter(
        (pl.col("leg_type") != "stock") & (pl.col("exit_kind").fill_null("") != _EXITED_LEG)
    ).select(
        pl.col("trade_id").cast(pl.Int64),
        "leg_no",
        "contract_symbol",
        pl.col("quantity").cast(pl.Float64),
        pl.col("settlement_price").cast(pl.Float64),
    )
    quotes = qts.select(
        "contract_symbol",
        "quote_date",
        pl.col("underlying_price").cast(pl.Float64).alias("_quote_spot"),
        pl.col("implied_volatility").cast(pl.Float64).alias("_iv"),
        pl.col("vega").cast(pl.Float64).alias("_vega"),
    )
    settles = pl.col("is_exit_session") & pl.col("settlement_price").is_not_null()
    key = ["trade_id", "leg_no"]
    grid = (
        sessions.select("trade_id", "quote_date", "is_exit_session", "is_stale")
        .join(options, on="trade_id")
        .join(quotes, on=["contract_symbol", "quote_date"], how="left")
        .sort("trade_id", "leg_no", "quote_date")
        .with_columns(
            # a settled leg is worth its intrinsic value at the settlement price: its volatility
            # no longer moves its value
            pl.when(settles).then(None).otherwise(pl.col("_iv")).alias("_iv"),
            pl.when(settles).then(pl.col("settlement_price")).alias("_settle_spot"),
        )
        .with_columns(
            _anchored(pl.col("_iv"), key).alias("_iv_before"),
            _anchored(pl.col("quantity") * multiplier * pl.col("_vega").fill_null(0.0), key)
            .fill_null(0.0)
            .alias("_vega_usd_before"),
        )
        .with_columns(
            (pl.coalesce("_iv", "_iv_before") - pl.col("_iv_before")).fill_null(0.0).alias("_d_iv")
        )
    )
    return grid.group_by("trade_id", "quote_date").agg(
        pl.coalesce(pl.col("_settle_spot").max(), pl.col("_quote_spot").mean()).alias("_spot"),
        (pl.col("_vega_usd_before") * pl.col("_d_iv") * 100.0).sum().alias("vega_pnl_usd"),
    )


def _components(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Taylor terms from the greeks' session; costs; residual.

    A stale session (a leg kept its last mark) explains nothing: its greeks are partial (the
    engine counts a leg without a quote as 0) and its mark is carried, so its own P&L is
    residual, and the next fresh session is expanded from the last fresh one, over the whole gap.
    """
    trade = "trade_id"
    fresh = ~pl.col("is_stale")

    def anchored(name: str) -> pl.Expr:
        return _anchored(pl.col(name), trade)

    return (
        lf.sort("trade_id", "quote_date")
        .with_columns(pl.col("_spot").forward_fill().over(trade).alias("spot"))
        .with_columns(
            anchored("quote_date").alias("greeks_date"),
            pl.col("quote_date").shift(1).over(trade).alias("previous_date"),
            pl.col("_cum_pnl").first().over(trade).alias("_entry_pnl"),
        )
        .with_columns(
            pl.col("previous_date").is_null().alias("is_entry_session"),
            pl.when(fresh)
            .then(pl.col("spot") / anchored("spot") - 1.0)
            .fill_null(0.0)
            .fill_nan(0.0)
            .alias("spot_return"),
            pl.when(fresh)
            .then((pl.col("quote_date") - pl.col("greeks_date")).dt.total_days())
            .fill_null(0)
            .alias("elapsed_days"),
            (pl.col("_cum_pnl") - pl.col("_cum_pnl").shift(1).over(trade).fill_null(0.0)).alias(
                "pnl_usd"
            ),
        )
        .with_columns(
            # options move with the session's spot; stock (its dollar delta is quantity × S)
            # with its own price, its exit price on the exit session
            pl.col("_stock_qty").fill_null(0.0).alias("_stock_qty"),
            anchored("spot").alias("_spot_before"),
            pl.when(pl.col("is_exit_session") & pl.col("_stock_exit").is_not_null())
            .then(pl.col("_stock_exit"))
            .otherwise(pl.col("spot"))
            .alias("_stock_spot"),
        )
        .with_columns(
            pl.when(fresh)
            .then(
                (
                    anchored("delta_usd").fill_null(0.0)
                    - pl.col("_stock_qty") * pl.col("_spot_before")
                )
                * pl.col("spot_return")
                + pl.col("_stock_qty") * (pl.col("_stock_spot") - pl.col("_spot_before"))
            )
            .fill_null(0.0)
            .fill_nan(0.0)
            .alias("delta_pnl_usd"),
            (50.0 * anchored("gamma_usd").fill_null(0.0) * pl.col("spot_return") ** 2).alias(
                "gamma_pnl_usd"
            ),
            pl.when(fresh).then(pl.col("vega_pnl_usd")).fill_null(0.0).alias("vega_pnl_usd"),
            (anchored("theta_usd").fill_null(0.0) * pl.col("elapsed_days")).alias("theta_pnl_usd"),
            # entry: the P&L at the entry session's mid is minus the entry costs; exit: the rest
            # of commission + slippage
            pl.when(pl.col("is_entry_session"))
            .then(pl.col("_entry_pnl"))
            .when(pl.col("is_exit_session"))
            .then(-pl.col("_total_costs").fill_null(0.0) - pl.col("_entry_pnl"))
            .otherwise(0.0)
            .alias("costs_usd"),
        )
        .with_columns(
            (
                pl.col("pnl_usd")
                - pl.sum_horizontal(
                    "delta_pnl_usd", "gamma_pnl_usd", "vega_pnl_usd", "theta_pnl_usd", "costs_usd"
                )
            ).alias("residual_usd")
        )
    )


def attribution_by_trade(sessions: pl.DataFrame) -> pl.DataFrame:
    """Sum :func:`attribute_greeks_pnl` over each trade's sessions.

    Parameters
    ----------
    sessions
        The output of :func:`attribute_greeks_pnl` (one row per trade per session).

    Returns
    -------
    polars.DataFrame
        One row per ``trade_id`` (ascending): ``n_sessions`` (sessions after entry),
        ``n_stale_sessions``, ``pnl_usd`` and the USD totals of :data:`COMPONENTS`.

    Raises
    ------
    ValueError
        When a column of :data:`SESSION_SCHEMA` it sums is missing.
    """
    required = ("trade_id", "is_entry_session", "is_stale", "pnl_usd", *COMPONENTS)
    missing = [c for c in required if c not in sessions.columns]
    if missing:
        raise ValueError(f"sessions is missing required column(s) {missing}")
    return (
        sessions.group_by("trade_id")
        .agg(
            (~pl.col("is_entry_session")).sum().cast(pl.Int64).alias("n_sessions"),
            pl.col("is_stale").sum().cast(pl.Int64).alias("n_stale_sessions"),
            pl.col("pnl_usd").sum(),
            *(pl.col(c).sum() for c in COMPONENTS),
        )
        .sort("trade_id")
    )


def attribution_by_run(sessions: pl.DataFrame) -> pl.DataFrame:
    """Totals of a run, and how much of its session-by-session P&L the greeks explain.

    Parameters
    ----------
    sessions
        The output of :func:`attribute_greeks_pnl` for one run.

    Returns
    -------
    polars.DataFrame
        One row: ``n_trades``, ``n_sessions`` (trade-sessions after entry), ``pnl_usd`` and the
        USD totals of :data:`COMPONENTS`; ``residual_share`` = Σ|residual| / Σ|pnl − costs|
        over the trade-sessions after entry (0 = every session's mark P&L explained, NaN when
        that P&L is 0 throughout); ``explained_r2`` = 1 − Σ residual² / Σ (pnl − costs)², the
        share of the variance of the daily mark P&L the four greeks explain (NaN likewise).

    Raises
    ------
    ValueError
        When a column of :data:`SESSION_SCHEMA` it sums is missing.
    """
    by_trade = attribution_by_trade(sessions)
    moves = sessions.filter(~pl.col("is_entry_session")).select(
        (pl.col("pnl_usd") - pl.col("costs_usd")).alias("mark"), "residual_usd"
    )
    abs_mark = float(moves["mark"].abs().sum())
    sq_mark = float((moves["mark"] ** 2).sum())
    return by_trade.select(
        pl.len().cast(pl.Int64).alias("n_trades"),
        pl.col("n_sessions").sum().cast(pl.Int64),
        pl.col("pnl_usd").sum(),
        *(pl.col(c).sum() for c in COMPONENTS),
    ).with_columns(
        pl.lit(
            float(moves["residual_usd"].abs().sum()) / abs_mark if abs_mark > 0 else float("nan")
        ).alias("residual_share"),
        pl.lit(
            1.0 - float((moves["residual_usd"] ** 2).sum()) / sq_mark
            if sq_mark > 0
            else float("nan")
        ).alias("explained_r2"),
    )


# ---- payoff profile ----------------------------------------------------------------------------

#: ``legs`` columns :func:`payoff_profile` reads: the leg and its chain quote on the entry session.
PAYOFF_LEG_COLUMNS: tuple[str, ...] = (
    "leg_type",
    "strike",
    "expiration",
    "quantity",
    "underlying_price",
    "forward_price",
    "tte_years",
    "risk_free_rate",
    "implied_volatility",
)
#: Curves of :func:`payoff_profile`.
AT_ENTRY, AT_EXPIRY = "at entry (Black-76)", "at expiry (intrinsic)"


def payoff_profile(
    legs: pl.DataFrame,
    spots: Sequence[float] | np.ndarray,
    *,
    entry_cost_usd: float,
    multiplier: float = 100.0,
) -> pl.DataFrame:
    """A trade's P&L across underlying prices, at entry and at its front expiration.

    Parameters
    ----------
    legs
        One row per leg of the trade (delivered stock excluded) with :data:`PAYOFF_LEG_COLUMNS`:
        ``leg_type`` (``call``/``put``/``stock``), ``strike`` (index points; null for stock),
        ``expiration`` (date), ``quantity`` (signed contracts of all lots; shares for stock)
        and its chain quote on the entry session: ``underlying_price`` S₀ and
        ``forward_price`` F₀ (index points), ``tte_years`` (years to settlement),
        ``risk_free_rate`` and ``implied_volatility`` (decimals; null for stock).
    spots
        Underlying prices to evaluate, shape ``(n_spots,)``, index points, each finite and > 0.
    entry_cost_usd
        What the trade paid at its fills, USD (+ debit, − credit): ``entry_value × multiplier ×
        lots`` of ``backtest.trades``.
    multiplier
        Contract multiplier, > 0.

    Returns
    -------
    polars.DataFrame
        ``2 × n_spots`` rows: ``curve`` (:data:`AT_ENTRY` or :data:`AT_EXPIRY`), ``spot``,
        ``value_usd`` (the position's value) and ``pnl_usd`` (value − ``entry_cost_usd``).
        At entry, option legs are priced with Black-76 at their entry volatility, the forward
        moving with spot (F = F₀ · S / S₀, carry held); at the front expiration, legs expiring
        then are worth their intrinsic value and later legs are priced as at entry with the
        remaining time (their forward carry scaled to it). The entry curve is null at every
        spot when a leg lacks an entry quote (no volatility, forward or time).

    Raises
    ------
    ValueError
        When a column is missing, ``legs`` is empty, a ``leg_type`` is not call/put/stock, an
        option leg has no strike, a spot is not finite and > 0, or ``multiplier`` ≤ 0.

    Examples
    --------
    A long call struck at 100 bought for 5.00 (SYNTHETIC): at expiry the P&L is
    100 × (max(S − 100, 0) − 5).

    >>> import datetime as dt
    >>> leg = pl.DataFrame({"leg_type": ["call"], "strike": [100.0],
    ...     "expiration": [dt.date(2024, 2, 16)], "quantity": [1], "underlying_price": [100.0],
    ...     "forward_price": [100.0], "tte_years": [0.1], "risk_free_rate": [0.0],
    ...     "implied_volatility": [0.2]})
    >>> out = payoff_profile(leg, [90.0, 110.0], entry_cost_usd=500.0)
    >>> out.filter(pl.col("curve") == AT_EXPIRY)["pnl_usd"].to_list()
    [-500.0, 500.0]
    """
    missing = [c for c in PAYOFF_LEG_COLUMNS if c not in legs.columns]
    if missing:
        raise ValueError(f"legs is missing required column(s) {missing}; has {legs.columns}")
    if legs.is_empty():
        raise ValueError("legs is empty: a trade has at least one leg")
    if not multiplier > 0:
        raise ValueError(f"multiplier must be > 0, got {multiplier!r}")
    s = np.asarray(spots, dtype=np.float64).reshape(-1)
    bad = s[~(np.isfinite(s) & (s > 0))]
    if bad.size:
        raise ValueError(f"spots must be finite and > 0, got {bad[:5].tolist()}")
    kinds = set(legs["leg_type"].to_list())
    if not kinds <= {"call", "put", "stock"}:
        raise ValueError(
            f"leg_type must be call, put or stock, got {sorted(kinds - {'call', 'put', 'stock'})}"
        )
    no_strike = legs.filter((pl.col("leg_type") != "stock") & pl.col("strike").is_null())
    if no_strike.height:
        raise ValueError(f"every option leg needs a strike, got none on {no_strike.rows()[:3]}")
    is_stock = (legs["leg_type"] == "stock").to_numpy()
    strike = legs["strike"].cast(pl.Float64).fill_null(np.nan).to_numpy()

    def col(name: str) -> np.ndarray:
        return legs[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    qty = col("quantity")
    is_call = (legs["leg_type"] == "call").to_numpy()
    s0, f0, tte, rate, vol = (
        col(n)
        for n in (
            "underlying_price",
            "forward_price",
            "tte_years",
            "risk_free_rate",
            "implied_volatility",
        )
    )
    units = np.where(is_stock, qty, qty * multiplier)[None, :]  # (1, n_legs)
    grid = s[:, None]  # (n_spots, 1)
    stock_value = grid * units * is_stock[None, :]

    def priced(time_left: np.ndarray, carry_share: np.ndarray) -> np.ndarray:
        """Black-76 per unit, shape (n_spots, n_legs); F = S · (F₀/S₀)^share."""
        forward = grid * (f0 / s0) ** carry_share
        return black_price(forward, strike, time_left, rate, vol, is_call).reshape(s.size, -1)

    options = ~is_stock
    entry_ok = bool(
        np.all(np.isfinite(np.stack([s0, f0, tte, rate, vol]))[:, options])
        and np.all((tte > 0)[options])
    )
    if entry_ok and options.any():
        entry_prices = priced(tte, np.ones_like(tte))
        entry_value = np.where(options[None, :], entry_prices * units, stock_value).sum(axis=1)
    elif entry_ok:
        entry_value = stock_value.sum(axis=1)
    else:
        entry_value = np.full(s.shape, np.nan)

    expirations = legs["expiration"].to_list()
    option_dates = [d for d, o in zip(expirations, options, strict=True) if o and d is not None]
    front = min(option_dates) if option_dates else None
    expires = np.array([bool(o) and d == front for d, o in zip(expirations, options, strict=True)])
    later = options & ~expires
    intrinsic = np.where(is_call, np.maximum(grid - strike, 0.0), np.maximum(strike - grid, 0.0))
    expiry_parts = np.where(expires[None, :], intrinsic * units, stock_value)
    if later.any():
        front_tte = np.nanmin(np.where(expires, tte, np.nan)) if expires.any() else 0.0
        remaining = np.where(later, tte - front_tte, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            back = priced(remaining, remaining / tte)
        expiry_parts = np.where(later[None, :], back * units, expiry_parts)
    expiry_value = expiry_parts.sum(axis=1)

    return pl.DataFrame(
        {
            "curve": [AT_ENTRY] * s.size + [AT_EXPIRY] * s.size,
            "spot": np.concatenate([s, s]),
            "value_usd": np.concatenate([entry_value, expiry_value]),
        }
    ).with_columns(
        pl.col("value_usd").fill_nan(None),
        (pl.col("value_usd") - float(entry_cost_usd)).fill_nan(None).alias("pnl_usd"),
    )


def spot_grid(legs: pl.DataFrame, *, n: int = 121, min_half_width: float = 0.05) -> np.ndarray:
    """Underlying prices around the entry spot for :func:`payoff_profile`.

    Centred on the legs' entry ``underlying_price`` S₀; half-width the largest of
    ``min_half_width`` (decimal of S₀), three standard deviations to the front expiration
    (3 · σ · √T with the legs' mean entry volatility, a move that covers ~99.7 % of a normal
    log-return) and the farthest strike plus 2 % of S₀.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, ascending, index points, all > 0.

    Raises
    ------
    ValueError
        When ``n`` < 2, ``min_half_width`` is not in (0, 1), or no leg has an entry spot.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n!r}")
    if not 0 < min_half_width < 1:
        raise ValueError(f"min_half_width must be in (0, 1), got {min_half_width!r}")
    s0 = legs["underlying_price"].cast(pl.Float64).drop_nulls().drop_nans()
    if s0.is_empty():
        raise ValueError("no leg has an entry underlying_price to centre the grid on")
    spot = float(s0.mean())
    options = legs.filter(pl.col("leg_type") != "stock")
    vol = options["implied_volatility"].cast(pl.Float64).drop_nulls().drop_nans()
    tte = options["tte_years"].cast(pl.Float64).drop_nulls().drop_nans()
    sigma_move = (
        3.0 * float(vol.mean()) * float(tte.min()) ** 0.5 if vol.len() and tte.len() else 0.0
    )
    strikes = options["strike"].cast(pl.Float64).drop_nulls()
    strike_reach = float((strikes - spot).abs().max()) / spot + 0.02 if strikes.len() else 0.0
    half = min(max(min_half_width, sigma_move, strike_reach), 0.95)
    return np.linspace(spot * (1.0 - half), spot * (1.0 + half), n)
