"""Builders of tiny SYNTHETIC option chains for engine tests (no real market data here).

Prices are index points; every date is a ``datetime.date``. :func:`bs_chain` prices a full
strike grid with Black-Scholes (zero rates) along a given underlying path, for invariants;
:meth:`Chain.quote` writes single rows for hand-computed cases.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from engine.config import BacktestConfig

CHAIN_SCHEMA = {
    "contract_symbol": pl.String,
    "quote_date": pl.Date,
    "underlying_symbol": pl.String,
    "option_root": pl.String,
    "option_type": pl.String,
    "strike": pl.Float64,
    "expiration": pl.Date,
    "dte": pl.Int32,
    "expiry_type": pl.String,
    "settlement_type": pl.String,
    "exercise_style": pl.String,
    "bid": pl.Float64,
    "ask": pl.Float64,
    "mid": pl.Float64,
    "spread_pct": pl.Float64,
    "underlying_price": pl.Float64,
    "delta": pl.Float64,
    "gamma": pl.Float64,
    "theta": pl.Float64,
    "vega": pl.Float64,
    "is_stale_quote": pl.Boolean,
    "quoted_at": pl.Datetime("us", "UTC"),
}
UNDERLYING_SCHEMA = {"trade_date": pl.Date, "open": pl.Float64, "close": pl.Float64}


class Chain:
    """Row and frame builders for hand-computed SYNTHETIC chains."""

    @staticmethod
    def quote(
        quote_date: dt.date,
        option_type: str,
        strike: float,
        mid: float,
        *,
        expiration: dt.date,
        underlying_price: float = 100.0,
        root: str = "SPXW",
        delta: float | None = None,
        half_spread: float = 0.05,
        stale: bool = False,
    ) -> dict[str, Any]:
        """One quote; bid/ask = mid -/+ half_spread (bid floored at 0)."""
        cp = "C" if option_type == "call" else "P"
        bid, ask = max(mid - half_spread, 0.0), mid + half_spread
        american = root in ("SPY",)
        return {
            "contract_symbol": f"{root}{expiration:%y%m%d}{cp}{round(strike * 1000):08d}",
            "quote_date": quote_date,
            "underlying_symbol": "SPY" if american else "SPX",
            "option_root": root,
            "option_type": option_type,
            "strike": float(strike),
            "expiration": expiration,
            "dte": (expiration - quote_date).days,
            "expiry_type": "weekly",
            "settlement_type": "AM" if root == "SPX" else "PM",
            "exercise_style": "american" if american else "european",
            "bid": bid,
            "ask": ask,
            "mid": mid,
            "spread_pct": 100.0 * (ask - bid) / mid if mid else None,
            "underlying_price": underlying_price,
            "delta": (0.5 if option_type == "call" else -0.5) if delta is None else delta,
            "gamma": 0.01,
            "theta": -0.05,
            "vega": 0.1,
            "is_stale_quote": stale,
            # the Cboe end-of-day snapshot's time, 15:45 New York (EST in these January dates)
            "quoted_at": _quote_time(quote_date),
        }

    @staticmethod
    def frames(
        quotes: list[dict[str, Any]],
        *,
        closes: dict[dt.date, float] | None = None,
        opens: dict[dt.date, float] | None = None,
        universe: list[dict[str, Any]] | None = None,
    ) -> dict[str, pl.LazyFrame]:
        """``chain``, ``universe`` (defaults to every quote) and ``underlying`` frames."""
        closes, opens = closes or {}, opens or {}
        chain = pl.LazyFrame(quotes, schema=CHAIN_SCHEMA)
        uni = chain if universe is None else pl.LazyFrame(universe, schema=CHAIN_SCHEMA)
        days = sorted(set(closes) | set(opens) | {q["quote_date"] for q in quotes})
        return {
            "chain": chain,
            "universe": uni.select("contract_symbol", "quote_date"),
            "underlying": pl.LazyFrame(
                [
                    {
                        "trade_date": d,
                        "open": opens.get(d),
                        "close": closes.get(
                            d,
                            next(
                                (q["underlying_price"] for q in quotes if q["quote_date"] == d),
                                None,
                            ),
                        ),
                    }
                    for d in days
                ],
                schema=UNDERLYING_SCHEMA,
            ),
        }


def _quote_time(day: dt.date) -> dt.datetime:
    """15:45 America/New_York on ``day``, in UTC."""
    local = dt.datetime.combine(day, dt.time(15, 45), tzinfo=ZoneInfo("America/New_York"))
    return local.astimezone(dt.UTC)


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def bs_chain(
    spots: list[float],
    *,
    start: dt.date = dt.date(2024, 1, 2),
    expirations: tuple[int, ...] = (30, 60),
    strikes: range = range(80, 125, 5),
    vol: float = 0.25,
    root: str = "SPXW",
    half_spread: float = 0.05,
) -> dict[str, pl.LazyFrame]:
    """SYNTHETIC: one quote per strike, type and expiration on each business day of ``spots``,
    priced by Black-Scholes at zero rates with ``vol``; expirations are calendar days after
    ``start`` (moved to a business day)."""
    days, d = [], start
    while len(days) < len(spots):
        if d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    exps = []
    for n in expirations:
        e = start + dt.timedelta(days=n)
        while e.weekday() >= 5:
            e += dt.timedelta(days=1)
        exps.append(e)
    quotes = []
    for day, s in zip(days, spots, strict=True):
        for e in exps:
            t = (e - day).days / 365.0
            for k in strikes:
                for cp in ("call", "put"):
                    if t <= 0:
                        mid = max(s - k, 0.0) if cp == "call" else max(k - s, 0.0)
                        delta = float(mid > 0) * (1 if cp == "call" else -1)
                    else:
                        d1 = (math.log(s / k) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
                        d2 = d1 - vol * math.sqrt(t)
                        call = s * _ncdf(d1) - k * _ncdf(d2)
                        mid = call if cp == "call" else call - s + k
                        delta = _ncdf(d1) if cp == "call" else _ncdf(d1) - 1.0
                    mid = round(max(mid, 0.10), 2)
                    quotes.append(
                        Chain.quote(
                            day,
                            cp,
                            k,
                            mid,
                            expiration=e,
                            underlying_price=s,
                            root=root,
                            delta=delta,
                            half_spread=half_spread,
                        )
                    )
    return Chain.frames(quotes, closes=dict(zip(days, spots, strict=True)))


def make_config(strategy: str = "long_straddle", **sections: Any) -> BacktestConfig:
    """A small test config: SPXW, 30-day target, no costs, fixed 1 lot, big caps."""
    raw: dict[str, Any] = {
        "strategy": strategy,
        "option_roots": ["SPXW"],
        "initial_capital_usd": 1_000_000,
        "entry": {
            "target_dte": 30,
            "min_dte": 1,
            "max_dte": 45,
            "back_min_dte": 46,
            "back_target_dte": 60,
            "back_max_dte": 90,
            "delta_tolerance": 0.2,
            "strike_tolerance_pct": 3.0,
        },
        "sizing": {"mode": "fixed", "contracts": 1, "max_margin_fraction": 100.0},
        "execution": {"fill": "mid", "multiplier": 100},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            raw[key] = {**raw.get(key, {}), **value}
        else:
            raw[key] = value
    return BacktestConfig.from_mapping(raw)


@pytest.fixture
def chain() -> type[Chain]:
    return Chain
