"""Tests of the modeled-chain generator (warehouse/modeled_chain/generate.py) and of the fused
pricing it runs on (warehouse.pricing.black_call_put, spreads.quote_bid_ask with stacked mids).

SYNTHETIC tests use hand-set inputs whose expected values are worked out in comments; the real
data test builds a fortnight of SPX inputs from the session's end-to-end warehouse
(tests/conftest.py ``real_warehouse``, built from the embedded real data: real closes, Cboe
indices, FRED rates; marked slow) and checks every generated row against the per-row reference
functions.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from loaders.contracts import occ_symbol
from tests.modeled_chain.test_spreads import constant_model
from warehouse.modeled_chain import MODELED_QUOTE_SCHEMA, listing
from warehouse.modeled_chain.adapters import Spreads, Surface
from warehouse.modeled_chain.generate import generate_chain
from warehouse.modeled_chain.spreads import SpreadModel, quote_bid_ask
from warehouse.pricing import black_call_put, black_greeks, black_price

KEY = ["quote_date", "expiration", "option_root", "option_type", "strike"]


# --------------------------------------------------------------------------------------------
# fixtures: a hand-set calibration row and inputs
# --------------------------------------------------------------------------------------------


def _spread_model_json(half_spread_usd: float = 0.10) -> str:
    """A constant half-spread model: ln h = ln(half_spread_usd), every slope 0."""
    return json.dumps(constant_model(half_spread_usd, offset=0.5).to_dict())


def _calibration(*, rho: float, eta_fraction: float, gamma: float, bias=(0.0,) * 4) -> dict:
    """A row of fct_modeled_chain_calibration with the given SSVI shape."""
    row = {
        "underlying_symbol": "SPX",
        "surface_rho": rho,
        "surface_rho_skew": 0.0,
        "surface_eta_fraction": eta_fraction,
        "surface_gamma": gamma,
        "surface_n_rows": 1,
        "surface_n_days": 1,
        "surface_fit_start": dt.date(2019, 6, 3),
        "surface_fit_end": dt.date(2019, 6, 3),
        "surface_rmse_vol_pts": 0.0,
        "surface_condition_on_skew": False,
        "spread_model_json": _spread_model_json(),
    }
    for days, b in zip((9, 30, 93, 184), bias, strict=True):
        row[f"surface_level_bias_{days}d"] = b
    return row


#: SYNTHETIC flat surface: η = 1e-9 · 2/(1+|ρ|) makes φ(θ) ~ 1e-9, so w(k, θ) = θ to ~1e-18
#: and a variance swap prices at θ (module docstring of variance_swap: V = θ on a flat smile).
FLAT = _calibration(rho=0.0, eta_fraction=1e-9, gamma=0.5)


def _inputs(
    days: list[dt.date],
    *,
    spot: float = 2900.0,
    vol: float = 0.20,
    rate: float = 0.02,
    dividend_yield: float = 0.0,
    max_dte: int = 40,
) -> pl.DataFrame:
    """SYNTHETIC fct_modeled_chain_inputs rows: every index at ``vol``, a flat rate curve."""
    n = len(days)
    return pl.DataFrame(
        {
            "underlying_symbol": ["SPX"] * n,
            "quote_date": days,
            "is_early_close": [False] * n,
            "volatility_source": ["VIX_FAMILY"] * n,
            "max_dte": [max_dte] * n,
            "underlying_price": [spot] * n,
            "vix_9d": [vol] * n,
            "vix": [vol] * n,
            "vix_3m": [vol] * n,
            "vix_6m": [vol] * n,
            "skew_points": [120.0] * n,
            "volatility_index_30d": [vol] * n,
            **{c: [rate] * n for c in ("rate_1m", "rate_3m", "rate_6m", "rate_1y", "rate_2y")},
            "dividend_yield": [dividend_yield] * n,
        },
        schema_overrides={"max_dte": pl.Int32},
    )


def _generate(
    inputs: pl.DataFrame, calibration: dict = FLAT, *, early_closes=(), band=3.0, stage_seconds=None
) -> pl.DataFrame:
    return generate_chain(
        inputs,
        calibration,
        early_closes=pl.Series(list(early_closes), dtype=pl.Date),
        strike_band_sd=band,
        surface=Surface(calibration, inputs),
        listing=listing,
        spreads=Spreads(calibration),
        stage_seconds=stage_seconds,
    )


# --------------------------------------------------------------------------------------------
# SYNTHETIC: flat surface, clock, determinism, errors
# --------------------------------------------------------------------------------------------


def test_flat_surface_prices_are_black76_synthetic() -> None:
    """SYNTHETIC one day, every index at 20 %, η ~ 1e-9: σ = 0.20 everywhere, and each mid is
    warehouse.pricing.black_price at the row's own forward, strike, T, r and σ."""
    out = _generate(_inputs([dt.date(2019, 6, 3)]))
    assert out.height > 0
    assert out.schema == pl.Schema(MODELED_QUOTE_SCHEMA)
    # θ(T) = 0.2² T at every node (V(θ) = θ), interpolated linearly: σ = sqrt(θ/T) = 0.20
    np.testing.assert_allclose(out["implied_volatility"].to_numpy(), 0.20, rtol=1e-8)
    is_call = (out["option_type"] == "call").to_numpy()
    expected = black_price(
        out["forward_price"].to_numpy(),
        out["strike"].to_numpy(),
        out["tte_years"].to_numpy(),
        out["risk_free_rate"].to_numpy(),
        out["implied_volatility"].to_numpy(),
        is_call,
    )
    assert np.array_equal(out["mid"].to_numpy(), expected)
    # one contract by hand: 2019-06-03 16:00 ET -> 2019-06-21 09:30 ET (AM SPX monthly) is
    # 17 days 17.5 hours = 425.5 h; T = 425.5/8760; F = 2900 e^{0.02 T} (q = 0);
    # call = e^{-rT} (F N(d1) - K N(d2)), d1,2 = ln(F/K)/(σ√T) ± σ√T/2
    row = out.filter(
        (pl.col("option_root") == "SPX")
        & (pl.col("expiration") == dt.date(2019, 6, 21))
        & (pl.col("strike") == 2900.0)
        & (pl.col("option_type") == "call")
    ).row(0, named=True)
    t = 425.5 / 8760.0
    f = 2900.0 * math.exp(0.02 * t)
    s = 0.20 * math.sqrt(t)
    d1 = math.log(f / 2900.0) / s + s / 2
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    by_hand = math.exp(-0.02 * t) * (f * cdf(d1) - 2900.0 * cdf(d1 - s))
    assert row["tte_years"] == pytest.approx(t, rel=1e-12)
    assert row["forward_price"] == pytest.approx(f, rel=1e-12)
    assert row["mid"] == pytest.approx(by_hand, rel=1e-7)
    # a constant 0.10 half-spread, less half a tick (0.05: mid < $3? no, ~$50 -> 0.10 tick),
    # rounded outwards to the 0.10 grid
    assert row["bid"] <= row["mid"] <= row["ask"]
    assert row["contract_symbol"] == "SPX190621C02900000"


def test_am_contract_expiring_today_is_dropped_synthetic() -> None:
    """SYNTHETIC 2019-06-21, a third Friday: the AM-settled SPX monthly settles at 09:30 ET,
    before the 16:00 ET quote, so it is not quoted; the day before it is, with T = 17.5 h."""
    out = _generate(_inputs([dt.date(2019, 6, 20), dt.date(2019, 6, 21)]))
    expiring = out.filter(pl.col("expiration") == dt.date(2019, 6, 21))
    on_the_day = expiring.filter(pl.col("quote_date") == dt.date(2019, 6, 21))
    assert on_the_day.filter(pl.col("settlement_type") == "AM").is_empty()
    the_day_before = expiring.filter(
        (pl.col("quote_date") == dt.date(2019, 6, 20)) & (pl.col("option_root") == "SPX")
    )
    assert the_day_before.height > 0
    assert set(the_day_before["settlement_type"].to_list()) == {"AM"}
    # 16:00 ET -> 09:30 ET next day = 17.5 h of an ACT/365 year
    np.testing.assert_allclose(the_day_before["tte_years"].to_numpy(), 17.5 / 8760.0, rtol=1e-12)
    assert (out["tte_years"] > 0).all()


def test_only_expiring_contracts_give_an_empty_frame_synthetic() -> None:
    """SYNTHETIC: a listing that offers only the contracts expiring on the quote date (all
    settled by the 16:00 ET quote) gives an empty frame with the full schema, not an error."""
    import types

    only_expiring = types.SimpleNamespace(
        listed_expirations=lambda symbol, sessions, max_dte: listing.listed_expirations(
            symbol, sessions, max_dte=max_dte
        ).filter(pl.col("dte") == 0),
        listed_strikes=listing.listed_strikes,
    )
    inputs = _inputs([dt.date(2019, 6, 21)])
    out = generate_chain(
        inputs,
        FLAT,
        early_closes=pl.Series([], dtype=pl.Date),
        strike_band_sd=3.0,
        surface=Surface(FLAT, inputs),
        listing=only_expiring,
        spreads=Spreads(FLAT),
    )
    assert out.is_empty()
    assert out.schema == pl.Schema(MODELED_QUOTE_SCHEMA)


def test_early_close_quotes_at_13_et_synthetic() -> None:
    """SYNTHETIC 2019-07-03 (a scheduled 13:00 ET close): quoted_at is 13:00 EDT = 17:00 UTC,
    and a PM contract expiring Friday 2019-07-05 at 16:00 ET has T = 51 h / 8760 h."""
    day = dt.date(2019, 7, 3)
    out = _generate(_inputs([day]), early_closes=[day])
    assert out["quoted_at"].unique().to_list() == [dt.datetime(2019, 7, 3, 17, 0, tzinfo=dt.UTC)]
    friday = out.filter(
        (pl.col("expiration") == dt.date(2019, 7, 5)) & (pl.col("settlement_type") == "PM")
    )
    assert friday.height > 0
    np.testing.assert_allclose(friday["tte_years"].to_numpy(), 51.0 / 8760.0, rtol=1e-12)
    regular = _generate(_inputs([day]))
    assert regular["quoted_at"].unique().to_list() == [
        dt.datetime(2019, 7, 3, 20, 0, tzinfo=dt.UTC)
    ]


def test_shuffled_inputs_give_an_identical_frame_synthetic() -> None:
    """SYNTHETIC: the output does not depend on the order of the input rows."""
    days = [dt.date(2019, 6, 3) + dt.timedelta(days=i) for i in range(10)]
    days = [d for d in days if d.weekday() < 5]
    inputs = _inputs(days).with_columns(
        underlying_price=pl.Series([2900.0 + 7 * i for i in range(len(days))]),
        vix=pl.Series([0.15 + 0.01 * i for i in range(len(days))]),
    )
    skewed = _calibration(rho=-0.6, eta_fraction=0.9, gamma=0.45, bias=(0.0, -0.02, -0.05, -0.03))
    out = _generate(inputs, skewed)
    shuffled = _generate(inputs.sample(fraction=1.0, shuffle=True, seed=11), skewed)
    assert out.equals(shuffled)
    assert out.select(KEY).is_duplicated().sum() == 0
    assert out.equals(out.sort(KEY))


@pytest.mark.parametrize("band", [0.0, -1.0, float("nan")])
def test_bad_strike_band_sd_raises_naming_it_synthetic(band: float) -> None:
    with pytest.raises(ValueError, match=f"strike_band_sd must be > 0, got {band!r}"):
        _generate(_inputs([dt.date(2019, 6, 3)]), band=band)


def test_primary_monthlies_list_further_and_wider_synthetic() -> None:
    """SYNTHETIC 2019-03-15, spot 2900, every index at 10 %, r = 0.02, max_dte 40. With
    monthly_max_dte 100 the SPX AM June monthly (98 days) is listed; with
    monthly_strike_band_pct 15 the SPX AM monthlies list strikes out to at least F·exp(ln 1.15)
    = 1.15 F (3,341 at the April forward 2,905.36), where 3 sd of a 10 % vol to April 18 alone
    reaches exp(3 × 0.10 × sqrt(34.x / 365)) ≈ 1.096 F (3,184; the last strike inside: 3,175);
    SPXW series keep the 3 sd band."""
    day = dt.date(2019, 3, 15)
    base = _generate(_inputs([day], vol=0.10, max_dte=40))
    wide = _generate(
        _inputs([day], vol=0.10, max_dte=40).with_columns(
            monthly_max_dte=pl.lit(100, dtype=pl.Int32),
            monthly_strike_band_pct=pl.lit(15.0),
        )
    )
    spx = pl.col("option_root") == "SPX"
    april = dt.date(2019, 4, 18)  # Good Friday 2019-04-19 moves the April monthly to Thursday
    assert dt.date(2019, 6, 21) in wide.filter(spx)["expiration"].to_list()
    assert dt.date(2019, 6, 21) not in base["expiration"].to_list()
    top = wide.filter(spx & (pl.col("expiration") == april))
    forward = top["forward_price"][0]
    # the last strike of the grid inside the band (100 points apart that far out): 3,300
    assert top["strike"].max() == 3300.0 and 3300.0 + 100 > 1.15 * forward > 3300.0
    assert base.filter(spx & (pl.col("expiration") == april))["strike"].max() == 3175.0
    weekly = ~spx & (pl.col("expiration") == dt.date(2019, 3, 29))
    assert wide.filter(weekly)["strike"].max() == base.filter(weekly)["strike"].max()


def test_bad_monthly_strike_band_pct_raises_naming_it_synthetic() -> None:
    inputs = _inputs([dt.date(2019, 3, 15)]).with_columns(monthly_strike_band_pct=pl.lit(-5.0))
    with pytest.raises(ValueError, match=r"monthly_strike_band_pct must be > 0 percent, got -5.0"):
        _generate(inputs)


def test_stage_seconds_are_reported_synthetic() -> None:
    seconds: dict[str, float] = {}
    _generate(_inputs([dt.date(2019, 6, 3)]), stage_seconds=seconds)
    stages = ("listing", "clock", "surface", "price_greeks", "spreads", "assemble")
    assert set(seconds) == {*stages, *(f"{s}_cpu" for s in stages)}
    assert all(v >= 0 for v in seconds.values())


# --------------------------------------------------------------------------------------------
# SYNTHETIC: the fused functions equal the per-type ones bit for bit
# --------------------------------------------------------------------------------------------


def test_black_call_put_equals_black_price_and_greeks_bitwise_synthetic() -> None:
    """SYNTHETIC random inputs (seed 3) plus every edge the two functions mask (0, <0, NaN, inf
    in each input), across several cache blocks."""
    rng = np.random.default_rng(3)
    n = 20_011
    spot = rng.uniform(5, 5000, n)
    forward = spot * np.exp(rng.normal(0, 0.02, n))
    strike = forward * np.exp(rng.normal(0, 0.4, n))
    tte = rng.uniform(0, 3, n)
    rate = rng.normal(0.02, 0.02, n)
    vol = rng.uniform(0.01, 2.0, n)
    for arr in (spot, forward, strike, tte, rate, vol):
        idx = rng.integers(0, n, 200)
        arr[idx] = rng.choice([0.0, -1.0, np.nan, np.inf], 200)
    out = black_call_put(spot, forward, strike, tte, rate, vol)
    for row, is_call in ((0, True), (1, False)):
        price = black_price(forward, strike, tte, rate, vol, is_call)
        greeks = black_greeks(spot, forward, strike, tte, rate, vol, is_call)
        assert np.array_equal(out["price"][row], price, equal_nan=True)
        for name in ("delta", "theta", "rho"):
            assert np.array_equal(out[name][row], greeks[name], equal_nan=True), name
        for name in ("gamma", "vega"):
            assert np.array_equal(out[name], greeks[name], equal_nan=True), name


def test_quote_bid_ask_stacked_mids_equal_one_at_a_time_synthetic() -> None:
    """SYNTHETIC: quoting a (2, n) stack of mids gives each row's 1-D quote exactly (hinge-free
    model with every slope set, homogeneous scaling, three tick schedules)."""
    rng = np.random.default_rng(5)
    n = 70_001  # > one 65,536-row block
    model = SpreadModel.from_dict(
        {
            **json.loads(_spread_model_json()),
            "coefficients": [-2.0, 0.3, 0.2, 0.1, -0.05],
            "price_scaling": "homogeneous",
            "clip_lower": [-3.0, 0.0, -6.0, -8.0],
            "clip_upper": [6.0, 5.0, 1.0, 3.0],
        }
    )
    args = {
        "log_moneyness": rng.normal(0, 0.2, n),
        "tte_years": rng.uniform(0.001, 2, n),
        "vega": rng.uniform(0, 5, n),
        "underlying_price": rng.uniform(100, 3000, n),
        "implied_volatility": rng.uniform(0.05, 1, n),
        "option_root": pl.Series(rng.choice(["SPX", "SPY", "AAPL"], n)),
        "quote_date": pl.Series([dt.date(2019, 6, 3)] * n),
        "model": model,
    }
    mids = np.abs(rng.standard_cauchy((2, n)))
    bid, ask = quote_bid_ask(mids, **args)
    for row in (0, 1):
        b, a = quote_bid_ask(mids[row], **args)
        assert np.array_equal(bid[row], b) and np.array_equal(ask[row], a)


# --------------------------------------------------------------------------------------------
# real data: SPX 2019 closes, Cboe indices and FRED rates from the session's warehouse
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_inputs(real_warehouse: Path) -> pl.DataFrame:
    """Two weeks of SPX inputs as fct_modeled_chain_inputs would hold them, from the real
    closes, Cboe indices and FRED curve of the session's published warehouse (tests/conftest.py
    ``real_warehouse``; the dividend yield is fixed at 1.9 %, about SPY's trailing yield then:
    the input, not the generator, is not what is tested)."""
    import duckdb

    published = real_warehouse / "options.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    try:
        frame = con.sql(
            """
            select
                'SPX' as underlying_symbol,
                bars.trade_date as quote_date,
                false as is_early_close,
                'VIX_FAMILY' as volatility_source,
                70::integer as max_dte,
                bars.close as underlying_price,
                ix.vix_9d, ix.vix, ix.vix_3m, ix.vix_6m, ix.skew_points,
                ix.vix as volatility_index_30d,
                rates.rate_1m, rates.rate_3m, rates.rate_6m, rates.rate_1y, rates.rate_2y,
                0.019::double as dividend_yield
            from marts.fct_underlying_daily as bars
            inner join intermediate.int_volatility_indices_pivoted as ix
                on ix.trade_date = bars.trade_date
            asof left join intermediate.int_rates_pivoted as rates
                on rates.observation_date <= bars.trade_date
            where bars.underlying_symbol = 'SPX'
                and bars.trade_date between date '2019-06-03' and date '2019-06-14'
            """
        ).pl()
    finally:
        con.close()
    assert frame.height >= 5, f"{published} lacks the 2019 SPX closes or indices"
    return frame


@pytest.mark.slow
def test_real_rows_equal_the_per_row_reference(real_inputs: pl.DataFrame) -> None:
    """Every generated row equals what the per-row reference functions give from its own
    columns: mid = black_price, greeks = black_greeks, (bid, ask) = quote_bid_ask,
    log_moneyness = ln(K/F), contract_symbol = loaders.contracts.occ_symbol; keys unique and
    sorted; shuffled inputs give the same frame."""
    calibration = _calibration(
        rho=-0.65, eta_fraction=1.0, gamma=0.45, bias=(0.001, -0.029, -0.057, -0.039)
    )
    out = _generate(real_inputs, calibration, band=3.5)
    assert out.height > 30_000  # ~4,900 quotes a day
    assert out["quote_date"].n_unique() == real_inputs.height
    assert out.equals(out.sort(KEY))
    assert out.select("contract_symbol", "quote_date").is_duplicated().sum() == 0
    is_call = (out["option_type"] == "call").to_numpy()
    col = {c: out[c].to_numpy() for c in out.columns if out.schema[c] == pl.Float64}
    args = (col["forward_price"], col["strike"], col["tte_years"], col["risk_free_rate"])
    assert np.array_equal(col["mid"], black_price(*args, col["implied_volatility"], is_call))
    greeks = black_greeks(col["underlying_price"], *args, col["implied_volatility"], is_call)
    for name in ("delta", "gamma", "theta", "vega", "rho"):
        assert np.array_equal(col[name], greeks[name]), name
    assert np.array_equal(col["log_moneyness"], np.log(col["strike"] / col["forward_price"]))
    bid, ask = quote_bid_ask(
        col["mid"],
        log_moneyness=col["log_moneyness"],
        tte_years=col["tte_years"],
        vega=col["vega"],
        underlying_price=col["underlying_price"],
        implied_volatility=col["implied_volatility"],
        option_root=out["option_root"],
        quote_date=out["quote_date"],
        model=Spreads(calibration).model,
    )
    assert np.array_equal(col["bid"], bid) and np.array_equal(col["ask"], ask)
    symbols = out.select(
        occ_symbol(
            pl.col("option_root"), pl.col("expiration"), pl.col("option_type"), pl.col("strike")
        )
    ).to_series()
    assert (symbols == out["contract_symbol"]).all()
    # put-call parity of the model mids: C - P = e^{-rT} (F - K), to rounding
    calls = out.filter(pl.col("option_type") == "call")
    puts = out.filter(pl.col("option_type") == "put")
    assert calls.select([*KEY[:3], "strike"]).equals(puts.select([*KEY[:3], "strike"]))
    parity = np.exp(-calls["risk_free_rate"] * calls["tte_years"]) * (
        calls["forward_price"] - calls["strike"]
    )
    np.testing.assert_allclose(
        (calls["mid"] - puts["mid"]).to_numpy(), parity.to_numpy(), atol=1e-8 * 3000
    )
    shuffled = _generate(
        real_inputs.sample(fraction=1.0, shuffle=True, seed=2), calibration, band=3.5
    )
    assert out.equals(shuffled)
