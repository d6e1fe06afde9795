"""Builders of tiny SYNTHETIC option chains for engine tests (no real market data here)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from engine.config import StraddleConfig

QUOTE_SCHEMA = {
    "contract_symbol": pl.String,
    "underlying_symbol": pl.String,
    "option_root": pl.String,
    "settlement_type": pl.String,
    "quote_date": pl.Date,
    "expiration": pl.Date,
    "dte": pl.Int32,
    "option_type": pl.String,
    "strike": pl.Float64,
    "bid": pl.Float64,
    "ask": pl.Float64,
    "mid": pl.Float64,
    "spread_pct": pl.Float64,
    "last": pl.Float64,
    "volume": pl.Int64,
    "open_interest": pl.Int64,
    "underlying_price": pl.Float64,
    "moneyness": pl.Float64,
    "implied_volatility": pl.Float64,
    "delta": pl.Float64,
    "gamma": pl.Float64,
}
UNDERLYING_SCHEMA = {"underlying_symbol": pl.String, "trade_date": pl.Date, "close": pl.Float64}
FORECAST_SCHEMA = {
    "model_name": pl.String,
    "model_version": pl.String,
    "underlying_symbol": pl.String,
    "as_of_date": pl.Date,
    "horizon_days": pl.Int32,
    "prob_up": pl.Float64,
}


class Chain:
    """Row and frame builders; every price is in index points, every date a ``datetime.date``."""

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
        bid: float | None = None,
        ask: float | None = None,
    ) -> dict[str, Any]:
        """One quote row; bid/ask default to mid -/+ 0.05 (bid floored at 0)."""
        bid = max(mid - 0.05, 0.0) if bid is None else bid
        ask = mid + 0.05 if ask is None else ask
        cp = "C" if option_type == "call" else "P"
        return {
            "contract_symbol": f"{root}{expiration:%y%m%d}{cp}{round(strike * 1000):08d}",
            "underlying_symbol": "SPX",
            "option_root": root,
            "settlement_type": "PM" if root == "SPXW" else "AM",
            "quote_date": quote_date,
            "expiration": expiration,
            "dte": (expiration - quote_date).days,
            "option_type": option_type,
            "strike": float(strike),
            "bid": bid,
            "ask": ask,
            "mid": mid,
            "spread_pct": 100.0 * (ask - bid) / mid if mid else None,
            "last": mid,
            "volume": 10,
            "open_interest": 100,
            "underlying_price": underlying_price,
            "moneyness": underlying_price / strike,
            "implied_volatility": 0.2,
            "delta": 0.5 if option_type == "call" else -0.5,
            "gamma": 0.01,
        }

    @staticmethod
    def straddle(
        quote_date: dt.date,
        strike: float,
        mid_call: float,
        mid_put: float,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """The call and the put of one strike."""
        return [
            Chain.quote(quote_date, "call", strike, mid_call, **kwargs),
            Chain.quote(quote_date, "put", strike, mid_put, **kwargs),
        ]

    @staticmethod
    def frames(
        quotes: list[dict[str, Any]],
        *,
        closes: dict[dt.date, float] | None = None,
        prob_up: dict[dt.date, float] | None = None,
        universe: list[dict[str, Any]] | None = None,
        model_name: str = "m",
        model_version: str = "v1",
    ) -> dict[str, pl.LazyFrame]:
        """Keyword arguments of ``run_backtest`` (except cfg); universe defaults to quotes."""
        closes = closes or {}
        prob_up = prob_up or {}
        return {
            "quotes": pl.LazyFrame(quotes, schema=QUOTE_SCHEMA),
            "universe": pl.LazyFrame(quotes if universe is None else universe, schema=QUOTE_SCHEMA),
            "underlying": pl.LazyFrame(
                [
                    {"underlying_symbol": "SPX", "trade_date": d, "close": c}
                    for d, c in closes.items()
                ],
                schema=UNDERLYING_SCHEMA,
            ),
            "forecasts": pl.LazyFrame(
                [
                    {
                        "model_name": model_name,
                        "model_version": model_version,
                        "underlying_symbol": "SPX",
                        "as_of_date": d,
                        "horizon_days": 5,
                        "prob_up": p,
                    }
                    for d, p in prob_up.items()
                ],
                schema=FORECAST_SCHEMA,
            ),
        }


BASE_CONFIG: dict[str, Any] = {
    "underlying_symbol": "SPX",
    "option_roots": ["SPXW"],
    "target_dte": 30,
    "min_dte": 20,
    "max_dte": 45,
    "holding_days": 1,
    "forecast_model": "m",
    "entry_signal": "prob_up_at_most",
    "entry_threshold": 0.55,
    "contracts": 1,
    "multiplier": 100,
    "slippage_bps": 0,
    "commission_per_contract": 0,
    "initial_capital": 10_000,
}


@pytest.fixture
def chain() -> type[Chain]:
    return Chain


@pytest.fixture
def make_cfg():
    """``make_cfg(**overrides)``: a small test config (no slippage, no commission)."""

    def build(**overrides: Any) -> StraddleConfig:
        return StraddleConfig.from_mapping({**BASE_CONFIG, **overrides})

    return build
