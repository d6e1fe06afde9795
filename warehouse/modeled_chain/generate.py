"""Generate a modeled option chain from its real inputs and a calibration.

One pass, vectorized over every (quote_date, expiration, strike, option_type) of a window:

1. the contracts the exchange listed that day (:func:`.listing.listed_expirations`, then
   :func:`.listing.listed_strikes` out to ``strike_band_sd`` ATM standard deviations around the
   forward, each strike kept until its expiration once listed
   (:func:`.listing.carry_listed_strikes`; a window's first days see only the strikes listed
   within it, so callers warm up: see the dbt model ``fct_option_quotes_modeled``);
2. the clock: modeled quotes are stamped at the session's close (16:00 ET, 13:00 ET on a
   scheduled half day: the inputs are closes); AM-settled contracts settle at 09:30 ET on their
   expiration (the Special Opening Quotation), PM-settled at that day's close; ``tte_years`` is
   ACT/365 between the two instants, as for the real chain (``int_option_pricing_inputs``);
3. the forward F = S·e^{(r−q)T} (Hull, *Options, Futures, and Other Derivatives*, 10th ed., §17.4)
   with r the FRED constant-maturity curve interpolated linearly in T between its 1m, 3m, 6m,
   1y and 2y knots (flat outside) and q the trailing dividend yield of ``fct_modeled_chain_inputs``;
4. the implied volatility of the SSVI surface whose ATM term structure solves that day's
   volatility indices as variance-swap levels (:mod:`.variance_swap`, :mod:`.ssvi`);
5. the Black-76 mid and greeks (:mod:`warehouse.pricing`); American exercise (AAPL, SPY) is
   priced as European: the early-exercise premium is ignored, an approximation named in the
   model's documentation;
6. bid and ask on the exchange's tick grid from the spread model (:mod:`.spreads`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from warehouse.modeled_chain import MODEL_VERSION, MODELED_QUOTE_SCHEMA, MODELED_SOURCE
from warehouse.modeled_chain.listing import STRIKE_INPUT_COLUMNS, carry_listed_strikes
from warehouse.pricing import black_call_put

#: ACT/365, seconds (as ``int_option_pricing_inputs``)
SECONDS_PER_YEAR = 365 * 24 * 60 * 60
#: FRED constant-maturity knots: column of ``fct_modeled_chain_inputs`` and tenor in years
CURVE_KNOTS: tuple[tuple[str, float], ...] = (
    ("rate_1m", 1.0 / 12.0),
    ("rate_3m", 0.25),
    ("rate_6m", 0.5),
    ("rate_1y", 1.0),
    ("rate_2y", 2.0),
)
#: narrowest strike band generated, as a fraction of the forward on each side (very short
#: tenors would otherwise list a handful of strikes)
MIN_BAND_FRACTION = 0.02


def interpolate_rate(curve: np.ndarray, tte_years: np.ndarray) -> np.ndarray:
    """The curve's rate at each tenor: linear between knots, flat beyond the first and last.

    Parameters
    ----------
    curve
        Shape ``(n, len(CURVE_KNOTS))``: each row's knot rates, decimal; NaN knots are skipped
        by carrying the nearest shorter knot (FRED's 1-month series starts in 2001).
    tte_years
        Shape ``(n,)``, years.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, decimal per year, treated as continuously compounded (as the real
        chain's pricing inputs do).
    """
    knots = np.array([t for _, t in CURVE_KNOTS])
    filled = curve.copy()
    for j in range(1, filled.shape[1]):
        filled[:, j] = np.where(np.isnan(filled[:, j]), filled[:, j - 1], filled[:, j])
    for j in range(filled.shape[1] - 2, -1, -1):
        filled[:, j] = np.where(np.isnan(filled[:, j]), filled[:, j + 1], filled[:, j])
    t = np.clip(tte_years, knots[0], knots[-1])
    idx = np.clip(np.searchsorted(knots, t, side="right") - 1, 0, len(knots) - 2)
    t0, t1 = knots[idx], knots[idx + 1]
    rows = np.arange(len(t))
    r0, r1 = filled[rows, idx], filled[rows, idx + 1]
    return r0 + (r1 - r0) * (t - t0) / (t1 - t0)


def _et_instant(day: pl.Expr, minutes: pl.Expr) -> pl.Expr:
    """A New York wall time on ``day`` (minutes after midnight) as a UTC instant."""
    return (
        (day.cast(pl.Datetime("us")) + pl.duration(minutes=minutes))
        .dt.replace_time_zone("America/New_York", ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def with_clock(expiries: pl.DataFrame, early_closes: pl.Series) -> pl.DataFrame:
    """Add ``quoted_at`` (the session's close), ``expires_at`` and ``tte_years``.

    ``expiries`` has quote_date, expiration and settlement_type ('AM'/'PM'); ``early_closes``
    are the scheduled half days (13:00 ET closes; seed ``nyse_sessions``). Rows whose
    settlement is not after the quote (an AM contract on its expiration day) are dropped.
    """
    half_days = early_closes.cast(pl.Date)
    close_minutes = lambda day: (  # noqa: E731
        pl.when(day.is_in(half_days.implode())).then(13 * 60).otherwise(16 * 60)
    )
    out = expiries.with_columns(
        quoted_at=_et_instant(pl.col("quote_date"), close_minutes(pl.col("quote_date"))),
        expires_at=_et_instant(
            pl.col("expiration"),
            pl.when(pl.col("settlement_type") == "AM")
            .then(pl.lit(9 * 60 + 30))
            .otherwise(close_minutes(pl.col("expiration"))),
        ),
    ).with_columns(
        tte_years=(pl.col("expires_at") - pl.col("quoted_at")).dt.total_seconds() / SECONDS_PER_YEAR
    )
    return out.filter(pl.col("tte_years") > 0)


class _StageTimer:
    """Adds the wall seconds of each ``with timer("stage"):`` block to ``seconds[stage]`` and
    the process CPU seconds (every thread) to ``seconds[stage + "_cpu"]``."""

    def __init__(self, seconds: dict[str, float] | None) -> None:
        self.seconds = seconds
        self._stage = ""
        self._start = (0.0, 0.0)

    def __call__(self, stage: str) -> _StageTimer:
        self._stage = stage
        return self

    def __enter__(self) -> None:
        if self.seconds is not None:
            self._start = (time.perf_counter(), time.process_time())

    def __exit__(self, *_exc: object) -> None:
        if self.seconds is not None:
            wall, cpu = time.perf_counter() - self._start[0], time.process_time() - self._start[1]
            for key, value in ((self._stage, wall), (f"{self._stage}_cpu", cpu)):
                self.seconds[key] = self.seconds.get(key, 0.0) + value


def _strike_order(expiry_index: np.ndarray, strike: np.ndarray) -> np.ndarray | None:
    """None when the strikes are grouped by expiry in expiry order and ascending within each
    (what :func:`.listing.listed_strikes` gives); else the stable permutation that makes it so."""
    if expiry_index.size < 2:
        return None
    step = np.diff(expiry_index)
    ordered = (step > 0) | ((step == 0) & (np.diff(strike) > 0))
    if ordered.all():
        return None
    return np.lexsort((strike, expiry_index))


def generate_chain(
    inputs: pl.DataFrame,
    calibration: Mapping[str, Any],
    *,
    early_closes: pl.Series,
    strike_band_sd: float,
    surface,
    listing,
    spreads,
    stage_seconds: dict[str, float] | None = None,
) -> pl.DataFrame:
    """Modeled quotes for every session of ``inputs`` (one underlying).

    Parameters
    ----------
    inputs
        Rows of ``marts.fct_modeled_chain_inputs`` for one underlying_symbol, one per session
        (in any order: the output does not depend on it).
    calibration
        The fitted surface and spread parameters of that underlying's class
        (``int_modeled_chain_calibration``).
    early_closes
        Dates of the scheduled 13:00 ET closes.
    strike_band_sd
        Strikes are listed within F·exp(± strike_band_sd · σ_ATM(T)·√T) (at least ±2 %), > 0.
        With the optional input column ``monthly_strike_band_pct`` (percent, > 0; NULL: none),
        the primary
        root's standard monthlies (:func:`.listing.primary_root`, ``expiry_type`` monthly) list
        at least F·exp(± ln(1 + pct / 100)): the exchange lists those far out, and the Cboe
        benchmark rules name strikes there (the CLL's 110 % call in a calm month lies beyond 3
        standard deviations).
    surface, listing, spreads
        The :mod:`.variance_swap`/:mod:`.ssvi` adapter (:class:`.adapters.Surface`),
        :mod:`.listing` and the spread adapter (:class:`.adapters.Spreads`), passed in so a test
        can substitute a hand-computable one. Protocol: ``surface.atm_total_variance(expiries,
        calibration)`` gives θ per expiry row (quote_date, tte_years, ...);
        ``surface.implied_volatility(strikes, log_moneyness, calibration)`` gives σ per row of
        ``strikes``, one row per (expiry, strike) with quote_date, tte_years,
        atm_total_variance and skew_points (a call and a put share their strike's σ);
        ``spreads.quote(strikes, mid, log_moneyness, iv, vega, calibration)`` gives (bid, ask)
        of the shape of ``mid``, ``(2, n_strikes)``: the calls' mids then the puts' on those
        rows (tte_years, underlying_price, option_root, quote_date);
        ``listing.listed_expirations`` and ``listing.listed_strikes`` as in :mod:`.listing`
        (the latter carries the extra column ``_expiry`` along, as :mod:`.listing`'s does).
    stage_seconds
        When given, the wall seconds of each stage are added to it under ``listing``,
        ``clock``, ``surface``, ``price_greeks``, ``spreads`` and ``assemble``, and the process
        CPU seconds (all threads) under the same names suffixed ``_cpu`` (the benchmark's
        breakdown); the output does not depend on it.

    Returns
    -------
    polars.DataFrame
        :data:`~warehouse.modeled_chain.MODELED_QUOTE_SCHEMA`, one row per contract per
        quote_date, sorted by (quote_date, expiration, option_root, option_type, strike).

    Raises
    ------
    ValueError
        When ``inputs`` holds more than one underlying or ``strike_band_sd`` is not > 0.

    Notes
    -----
    Work is done once per expiry (clock, rate, forward, θ) and once per (expiry, strike) for
    what a call and a put share (log-moneyness, σ, d1, d2, gamma, vega:
    :func:`warehouse.pricing.black_call_put`; the spread model's terms but the mid), then
    gathered into the rows, which are built directly in the output order (no sort). The
    values are bit-for-bit those of computing each row on its own with
    :func:`warehouse.pricing.black_price`, :func:`warehouse.pricing.black_greeks` and
    :func:`.spreads.quote_bid_ask` (tests/modeled_chain/test_generate.py), and the frame
    equals the one the row-by-row version of this function gave (``frame.equals`` on every
    year of the 2007-2023 build). Measured by ``bench/bench_modeled_chain.py``: SPX
    2007-2022 (11.1 M quotes) in ~7.4 s on the 2-core machine, 1.5 M quotes/s (the row-by-row
    version: 0.6-0.7 M/s), peak memory about a third lower.
    """
    if not strike_band_sd > 0:
        raise ValueError(f"strike_band_sd must be > 0, got {strike_band_sd!r}")
    symbols = inputs["underlying_symbol"].unique().to_list()
    if len(symbols) != 1:
        raise ValueError(f"generate_chain takes one underlying at a time, got {symbols}")
    if inputs.is_empty():
        return pl.DataFrame(schema=MODELED_QUOTE_SCHEMA)
    timer = _StageTimer(stage_seconds)
    symbol = symbols[0]
    max_dte = int(inputs["max_dte"].max())
    # the primary root's monthlies may list further out (listing.listed_expirations)
    longer = {}
    band_pct = None  # the primary monthlies' strike band floor, percent (None: none)
    if "monthly_strike_band_pct" in inputs.columns:
        band_pct = inputs["monthly_strike_band_pct"].max()
        if band_pct is not None and not band_pct > 0:
            raise ValueError(f"monthly_strike_band_pct must be > 0 percent, got {band_pct!r}")
    if "monthly_max_dte" in inputs.columns:
        longer["monthly_max_dte"] = int(inputs["monthly_max_dte"].max())
    inputs = inputs.sort("quote_date")

    with timer("listing"):
        expiries = listing.listed_expirations(
            symbol, inputs["quote_date"], max_dte=max_dte, **longer
        )
        expiries = expiries.join(inputs, on="quote_date", how="inner")
    with timer("clock"):
        # the output order: one block per expiry, keys unique (listed_expirations)
        expiries = with_clock(expiries, early_closes).sort(
            "quote_date", "expiration", "option_root"
        )
    with timer("surface"):
        tte = expiries["tte_years"].to_numpy()
        curve = expiries.select([c for c, _ in CURVE_KNOTS]).to_numpy().astype(float)
        rate = interpolate_rate(curve, tte)
        q = expiries["dividend_yield"].to_numpy()
        spot = expiries["underlying_price"].to_numpy()
        forward = spot * np.exp((rate - q) * tte)
        theta = surface.atm_total_variance(expiries, calibration)
        atm_sd = np.sqrt(theta)
        half_band = np.maximum(strike_band_sd * atm_sd, MIN_BAND_FRACTION)
        if band_pct is not None:
            floor = np.log1p(float(band_pct) / 100.0)
            primary = (
                (expiries["option_root"] == listing.primary_root(symbol))
                & (expiries["expiry_type"] == "monthly")
            ).to_numpy()
            half_band = np.where(primary, np.maximum(half_band, floor), half_band)
        expiries = expiries.with_columns(
            risk_free_rate=pl.Series(rate),
            forward_price=pl.Series(forward),
            atm_total_variance=pl.Series(theta),
            strike_min=pl.Series(forward * np.exp(-half_band)),
            strike_max=pl.Series(forward * np.exp(half_band)),
        )
    with timer("listing"):
        listed = listing.listed_strikes(
            expiries.select(STRIKE_INPUT_COLUMNS).with_row_index("_expiry")
        )
        # a strike stays listed until its expiration once listed (the band moves with the
        # market; the exchange's series do not): a held position can always be marked
        listed = carry_listed_strikes(
            listed.select("_expiry", "quote_date", "expiration", "option_root", "strike")
        )
        expiry_index = listed["_expiry"].to_numpy().astype(np.int64)
        strike = listed["strike"].to_numpy()
        del listed
        order = _strike_order(expiry_index, strike)
        if order is not None:
            expiry_index, strike = expiry_index[order], strike[order]
    with timer("surface"):
        strikes = expiries.select(
            "quote_date",
            "tte_years",
            "atm_total_variance",
            "skew_points",
            "underlying_price",
            "option_root",
        )[expiry_index]
        log_moneyness = np.log(strike / forward[expiry_index])
        iv = surface.implied_volatility(strikes, log_moneyness, calibration)
    with timer("price_greeks"):
        priced = black_call_put(
            spot[expiry_index],
            forward[expiry_index],
            strike,
            tte[expiry_index],
            rate[expiry_index],
            iv,
        )
    with timer("spreads"):
        # the call and the put of a strike share every input of the spread model but the mid
        bid, ask = spreads.quote(
            strikes, priced["price"], log_moneyness, iv, priced["vega"], calibration
        )
        del strikes
    with timer("assemble"):
        out = _assemble(expiries, expiry_index, strike, log_moneyness, iv, priced, bid, ask)
    return out


def _assemble(
    expiries: pl.DataFrame,
    expiry_index: np.ndarray,
    strike: np.ndarray,
    log_moneyness: np.ndarray,
    iv: np.ndarray,
    priced: dict[str, np.ndarray],
    bid: np.ndarray,
    ask: np.ndarray,
) -> pl.DataFrame:
    """The output rows from the expiry-level frame and the strike-level call/put values.

    ``priced`` is :func:`warehouse.pricing.black_call_put`'s; it and ``bid``, ``ask`` hold the
    calls then the puts in their ``(2, n_strikes)`` arrays. Rows are built in the
    output order: per expiry (``expiries`` is sorted by quote_date, expiration, option_root) its
    calls with strikes ascending, then its puts. Each output column is one gather: expiry
    columns by ``row_expiry``, the columns a call and a put share by ``strike_of_row``, the
    others from the (calls, puts) stack by ``source``.
    """
    n_strikes = strike.shape[0]
    index_type = np.uint32 if 2 * n_strikes < 2**32 else np.uint64
    per_expiry = np.bincount(expiry_index, minlength=expiries.height)
    first = np.cumsum(per_expiry) - per_expiry  # each expiry's first strike
    # strike j of expiry e: its call is row j + first[e] (2·first[e] rows precede the expiry),
    # its put per_expiry[e] rows later
    call_rows = np.arange(n_strikes) + first[expiry_index]
    source = np.empty(2 * n_strikes, dtype=index_type)
    source[call_rows] = np.arange(n_strikes)
    source[call_rows + per_expiry[expiry_index]] = np.arange(n_strikes, 2 * n_strikes)
    del call_rows
    is_put = source >= n_strikes
    strike_of_row = np.where(is_put, source - n_strikes, source)
    row_expiry = np.repeat(np.arange(expiries.height, dtype=index_type), 2 * per_expiry)
    # OCC symbol in loaders.contracts.occ_symbol's spelling (root, YYMMDD, C|P, strike × 1000 in
    # 8 digits) from each expiry's "root YYMMDD" and each strike's digits, instead of formatting
    # a date and a strike per row
    prefix = expiries.select(
        pl.concat_str(pl.col("option_root"), pl.col("expiration").dt.strftime("%y%m%d"))
    ).to_series()[expiry_index]
    thousandths = pl.Series(strike * 1000).round(0).cast(pl.Int64)
    if thousandths.len() and 0 <= thousandths.min() and thousandths.max() < 10**8:
        # zfill(8) as a fixed-width cast: 10^8 + x has 9 digits, drop the leading 1
        digits = (thousandths + 10**8).cast(pl.String).str.slice(1)
    else:
        digits = thousandths.cast(pl.String).str.zfill(8)
    mid = priced["price"].reshape(-1)
    bid = bid.reshape(-1)
    ask = ask.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread_pct = np.where(mid > 0, (ask - bid) / mid * 100.0, np.nan)
    by_type = pl.DataFrame(
        {
            "contract_symbol": pl.concat(
                [pl.select(pl.format(f"{{}}{letter}{{}}", prefix, digits)) for letter in "CP"]
            ).to_series(),
            "bid": bid,
            "ask": ask,
            "mid": mid,
            "spread_pct": pl.Series(spread_pct, nan_to_null=True),
            "delta": priced["delta"].reshape(-1),
            "theta": priced["theta"].reshape(-1),
            "rho": priced["rho"].reshape(-1),
        }
    ).gather(source)
    by_strike = pl.DataFrame(
        {
            "strike": strike,
            "log_moneyness": log_moneyness,
            "implied_volatility": iv,
            "gamma": priced["gamma"],
            "vega": priced["vega"],
        }
    ).gather(strike_of_row)
    by_expiry = expiries.select(
        "quote_date",
        "quoted_at",
        "underlying_symbol",
        "option_root",
        "expiration",
        "dte",
        "tte_years",
        "expiry_type",
        "settlement_type",
        "exercise_style",
        "underlying_price",
        "forward_price",
        "risk_free_rate",
        "dividend_yield",
    ).gather(row_expiry)
    out = pl.concat([by_expiry, by_strike, by_type], how="horizontal").with_columns(
        option_type=pl.Series(["call", "put"]).gather(is_put.view(np.uint8)),
        moneyness=pl.col("underlying_price") / pl.col("strike"),
        volume=pl.lit(None, pl.Int64),
        open_interest=pl.lit(None, pl.Int64),
        is_stale_quote=pl.lit(False),
        source=pl.lit(MODELED_SOURCE),
        model_version=pl.lit(MODEL_VERSION),
    )
    keep = out.select(pl.col("mid").is_finite() & pl.col("implied_volatility").is_finite())
    if not keep.to_series().all():
        out = out.filter(keep.to_series())
    return out.select([pl.col(name).cast(dtype) for name, dtype in MODELED_QUOTE_SCHEMA.items()])


def annualised_sd(theta: np.ndarray, tte_years: np.ndarray) -> np.ndarray:
    """σ_ATM = sqrt(θ / T), decimal per √year (helper for reports)."""
    return np.sqrt(theta / tte_years)


__all__ = ["annualised_sd", "generate_chain", "interpolate_rate", "with_clock"]
