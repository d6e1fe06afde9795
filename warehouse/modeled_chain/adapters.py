"""The calibration row of one underlying, as the surface and spread model the generator calls.

:func:`.generate.generate_chain` asks a *surface* for θ(T) and σ(k, T) and a *spreads* object for
bid/ask; here they are built from a row of ``marts.fct_modeled_chain_calibration`` and the day's
index closes of ``marts.fct_modeled_chain_inputs``.

An underlying whose only volatility index is a 30-day one (AAPL: VXAPL) takes its term
structure's SHAPE from the VIX family that day: its 9-day, 3-month and 6-month levels are
VXAPL × VIX9D/VIX, VXAPL × VIX3M/VIX and VXAPL × VIX6M/VIX. An approximation, named here and in
the calibration table (single stocks' term structures move with their own events, e.g. earnings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from warehouse.modeled_chain import ssvi
from warehouse.modeled_chain.calibration import (
    INDEX_COLUMNS,
    SurfaceCalibration,
    model_implied_volatility,
    surface_atm_total_variance,
)
from warehouse.modeled_chain.spreads import SpreadModel, quote_bid_ask


def index_closes(inputs: pl.DataFrame) -> pl.DataFrame:
    """One row per quote_date: the 9/30/93/184-day variance-swap levels of the underlying.

    ``inputs`` are rows of ``fct_modeled_chain_inputs`` of one underlying; for VXAPL-sourced
    rows the VIX family's ratios to VIX scale the 30-day index (module docstring).
    """
    scale = pl.col("volatility_index_30d") / pl.col("vix")
    return (
        inputs.select(
            "quote_date",
            "skew_points",
            *[
                pl.when(pl.col("volatility_source") == "VIX_FAMILY")
                .then(pl.col(c))
                .otherwise(pl.col(c) * scale)
                .alias(c)
                for c in INDEX_COLUMNS
            ],
        )
        .unique("quote_date")
        .sort("quote_date")
    )


class Surface:
    """θ(T) and σ(k, T) of the calibrated SSVI surface on the days of ``inputs``."""

    def __init__(self, calibration: Mapping[str, Any], inputs: pl.DataFrame) -> None:
        fields = {
            k.removeprefix("surface_"): v
            for k, v in calibration.items()
            if k.startswith("surface_") and k != "surface_source"
        }
        self.calibration = SurfaceCalibration.from_dict(fields)
        self.indices = index_closes(inputs)

    def atm_total_variance(self, expiries: pl.DataFrame, _calibration=None) -> np.ndarray:
        return surface_atm_total_variance(expiries, self.indices, self.calibration)

    def implied_volatility(
        self, chain: pl.DataFrame, log_moneyness: np.ndarray, _calibration=None
    ) -> np.ndarray:
        """σ(k, T) on the chain's rows; θ(T) is the ``atm_total_variance`` already on them."""
        if "atm_total_variance" not in chain.columns:
            frame = chain.select("quote_date", "tte_years").with_columns(
                log_moneyness=pl.Series(log_moneyness)
            )
            return model_implied_volatility(frame, self.indices, self.calibration)
        skew = (
            chain["skew_points"].cast(pl.Float64).to_numpy()
            if self.calibration.condition_on_skew
            else None
        )
        return ssvi.implied_volatility(
            log_moneyness,
            chain["tte_years"].to_numpy(),
            chain["atm_total_variance"].to_numpy(),
            self.calibration.params(skew),
        )


class Spreads:
    """Bid and ask from the calibration row's spread model."""

    def __init__(self, calibration: Mapping[str, Any]) -> None:
        self.model = SpreadModel.from_dict(json.loads(calibration["spread_model_json"]))

    def quote(self, chain, mid, log_moneyness, iv, vega, _calibration=None):
        """(bid, ask) of the shape of ``mid``: ``(n,)``, or ``(m, n)`` for m mids (a call and a
        put) at each of the n rows of ``chain`` (:func:`.spreads.quote_bid_ask`)."""
        return quote_bid_ask(
            mid,
            log_moneyness=log_moneyness,
            tte_years=chain["tte_years"].to_numpy(),
            vega=vega,
            underlying_price=chain["underlying_price"].to_numpy(),
            implied_volatility=iv,
            option_root=chain["option_root"],
            quote_date=chain["quote_date"],
            model=self.model,
        )
