"""Equity skew: the SSVI shape of a single stock, fitted on a vendor implied-volatility surface.

No real AAPL option chain overlaps the modeled AAPL years (2018–2021), but a real single-stock
surface exists for 2023: ``marts.fct_iv_surfaces`` (an OptionMetrics ``vsurfd``-style extract,
qmoms: 30, 60 and 91 days × ±10 … ±50 delta, the vendor's interpolated IV at each grid point).
Single-stock skew is flatter and more symmetric than the index's (Bakshi, Kapadia & Madan 2003,
*Stock Return Characteristics, Skew Laws, and the Differential Pricing of Individual Equity
Options*, RFS 16(1)), so the index shape fitted on SPX would overstate AAPL's put wing.

- :func:`surface_grid_quotes` turns the delta grid into the real-quote frame the calibration
  reads (:data:`.calibration.QUOTE_COLUMNS`: the grid points are treated as quotes of a
  30/60/91-day expiry, each tenor's ATM level taken from its own points);
- :func:`fit_equity_shape` fits (ρ, η, γ) on them with :func:`.calibration.fit_surface`
  (no level bias: the surface year, 2023, has no VXAPL close, which ends 2022-05-09, so the gap
  between the index and the chain's ATM level cannot be measured; it is set to 0 and the
  calibration table says so);
- :func:`walk_forward_shape_error` measures the shape out of sample: each surface day is priced
  with the shape fitted on the earlier days only, and with fixed reference shapes (the SPX fit),
  each at that day's own ATM level, so the error is the skew's and the curvature's alone.

The grid is the vendor's smoothing of traded quotes, not quotes: a shape fitted on it inherits the
vendor's interpolation (named in the mart and the calibration table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from warehouse.modeled_chain import ssvi
from warehouse.modeled_chain.calibration import (
    ERROR_COLUMNS,
    QUOTE_COLUMNS,
    CalibrationConfig,
    SurfaceCalibration,
    chain_atm_total_variance,
    fit_surface,
    with_iv_errors,
)

#: Columns of ``marts.fct_iv_surfaces`` read here.
SURFACE_COLUMNS: Final[tuple[str, ...]] = (
    "underlying_symbol",
    "quote_date",
    "days",
    "tte_years",
    "delta",
    "option_type",
    "log_moneyness",
    "implied_volatility",
)
#: The calibration of a surface grid: every grid point is kept (|delta| 0.10 … 0.50 and the
#: 30–91-day tenors are inside the filters); no level bias (module docstring).
EQUITY_SHAPE_CONFIG: Final = CalibrationConfig(fit_level_bias=False)
#: The ``shape_source`` of the walk-forward fit in :func:`walk_forward_shape_error`.
WALK_FORWARD: Final = "walk_forward"


def surface_grid_quotes(surface: pl.DataFrame) -> pl.DataFrame:
    """The grid points of one underlying's IV surface as calibration quotes.

    Parameters
    ----------
    surface
        Rows of ``marts.fct_iv_surfaces`` (:data:`SURFACE_COLUMNS`) of ONE underlying: grain
        quote_date × days × delta; delta a decimal fraction (puts negative), IV decimal,
        ``tte_years`` = days / 365, ``log_moneyness`` = ln(strike / forward_price).

    Returns
    -------
    polars.DataFrame
        :data:`.calibration.QUOTE_COLUMNS` plus ``underlying_symbol``; ``dte`` is the grid
        tenor in calendar days; sorted by quote_date, dte, log_moneyness, option_type.

    Raises
    ------
    ValueError
        If a column is missing or the frame holds more than one underlying.
    """
    missing = [c for c in SURFACE_COLUMNS if c not in surface.columns]
    if missing:
        raise ValueError(f"surface is missing columns {missing}; it has {surface.columns}")
    symbols = surface["underlying_symbol"].unique().sort().to_list()
    if len(symbols) > 1:
        raise ValueError(f"one underlying at a time, got {symbols}")
    return (
        surface.select(
            "underlying_symbol",
            "quote_date",
            "option_type",
            pl.col("days").cast(pl.Int32).alias("dte"),
            pl.col("tte_years").cast(pl.Float64),
            pl.col("log_moneyness").cast(pl.Float64),
            pl.col("implied_volatility").cast(pl.Float64),
            pl.col("delta").cast(pl.Float64),
        )
        .select("underlying_symbol", *QUOTE_COLUMNS)
        .sort("quote_date", "dte", "log_moneyness", "option_type")
    )


def fit_equity_shape(quotes: pl.DataFrame) -> SurfaceCalibration:
    """The SSVI shape (ρ, η, γ) of one stock, fitted on its surface grid.

    Parameters
    ----------
    quotes
        :func:`surface_grid_quotes` output (one underlying, any number of days).

    Returns
    -------
    SurfaceCalibration
        Level bias 0 at every tenor (module docstring); ``rmse_vol_pts`` in sample.

    Raises
    ------
    ValueError
        From :func:`.calibration.fit_surface` (no row left, a missing column).
    """
    return fit_surface(quotes, None, config=EQUITY_SHAPE_CONFIG)


def walk_forward_shape_error(
    quotes: pl.DataFrame,
    references: Mapping[str, SurfaceCalibration] | None = None,
    min_fit_days: int = 8,
) -> pl.DataFrame:
    """Out-of-sample error of the skew shape on a surface grid, at each day's own ATM level.

    For each quote_date d with at least ``min_fit_days`` earlier days: the shape fitted on the
    earlier days (:func:`fit_equity_shape`, ``shape_source`` :data:`WALK_FORWARD`) and every
    reference shape (e.g. ``{"spx": <the SPX calibration>}``) price d's grid points with
    σ_SSVI(k, T; θ_d(T)), θ_d(T) the day's own ATM total variance of each tenor
    (:func:`.calibration.chain_atm_total_variance`). The level is the day's own, so the error
    measures skew and curvature only (the level's error is the volatility index's, measured on
    the real chains by ``walk_forward_iv_error``).

    Parameters
    ----------
    quotes
        :func:`surface_grid_quotes` output of one underlying.
    references
        Fixed shapes to score on the same days, by name.
    min_fit_days
        Earlier days needed before a day is scored (≥ 1).

    Returns
    -------
    polars.DataFrame
        One row per shape_source × scored grid point: shape_source, quote_date, option_type,
        dte, tte_years, log_moneyness, delta, call_delta (N(d₁) from the real IV), is_otm,
        real_iv, model_iv, error_vol_pts (model − real, vol points), abs_error_vol_pts,
        tenor_bucket, delta_bucket (the buckets of ``walk_forward_iv_error``, so
        ``summarize_iv_error`` reads it per shape_source); sorted by shape_source, quote_date,
        dte, log_moneyness, option_type.

    Raises
    ------
    ValueError
        If ``min_fit_days`` < 1 or a column is missing.
    """
    if min_fit_days < 1:
        raise ValueError(f"min_fit_days must be >= 1, got {min_fit_days!r}")
    missing = [c for c in QUOTE_COLUMNS if c not in quotes.columns]
    if missing:
        raise ValueError(f"quotes is missing columns {missing}; it has {quotes.columns}")
    atm = chain_atm_total_variance(quotes)
    priced = (
        quotes.filter(pl.col("implied_volatility").is_finite() & (pl.col("implied_volatility") > 0))
        .select(*QUOTE_COLUMNS)
        .join(atm, on=["quote_date", "tte_years"], how="inner")
        .sort("quote_date", "dte", "log_moneyness", "option_type")
    )
    days = priced["quote_date"].unique().sort().to_list()
    parts: list[pl.DataFrame] = []
    for i, day in enumerate(days):
        if i < min_fit_days:
            continue
        today = priced.filter(pl.col("quote_date") == day)
        shapes = {WALK_FORWARD: fit_equity_shape(quotes.filter(pl.col("quote_date") < day))}
        shapes.update(references or {})
        for name, shape in shapes.items():
            iv = ssvi.implied_volatility(
                today["log_moneyness"].to_numpy(),
                today["tte_years"].to_numpy(),
                today["atm_total_variance"].to_numpy(),
                shape.params(None) if not shape.condition_on_skew else _unconditioned(shape),
            )
            parts.append(today.with_columns(shape_source=pl.lit(name), model_iv=pl.Series(iv)))
    columns = ["shape_source", "quote_date", *ERROR_COLUMNS]
    if not parts:
        return pl.DataFrame(
            schema={
                **dict.fromkeys(columns, pl.Float64),
                "shape_source": pl.String,
                "quote_date": pl.Date,
                "option_type": pl.String,
                "dte": pl.Int32,
                "is_otm": pl.Boolean,
                "tenor_bucket": pl.String,
                "delta_bucket": pl.String,
            }
        ).select(columns)
    return (
        with_iv_errors(pl.concat(parts))
        .select(columns)
        .sort("shape_source", "quote_date", "dte", "log_moneyness", "option_type")
    )


def _unconditioned(shape: SurfaceCalibration) -> ssvi.SSVIParams:
    """ρ₀, η(ρ₀), γ of a SKEW-conditioned shape (a day with SKEW at its centre, 130): the
    surface grid carries no SKEW close of its own."""
    return ssvi.SSVIParams(rho=shape.rho, eta=shape.eta, gamma=shape.gamma)
