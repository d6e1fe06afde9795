"""Tests of warehouse.pricing: textbook values (Hull), finite differences, parity, IV round trips
over a grid that includes deep in/out of the money and one-day options, and every status code.
All numbers are SYNTHETIC (textbook or generated) unless a test says otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from warehouse.pricing import (
    IV_STATUS_ABOVE_UPPER_BOUND,
    IV_STATUS_BELOW_INTRINSIC,
    IV_STATUS_EXPIRED,
    IV_STATUS_INVALID_INPUT,
    IV_STATUS_LABELS,
    IV_STATUS_NO_PRICE,
    IV_STATUS_NOT_CONVERGED,
    IV_STATUS_OK,
    black_greeks,
    black_price,
    implied_volatility,
)


def _forward(spot, rate, dividend_yield, tte):
    # F = S e^{(r − q)T} (Hull eq. 5.3)
    return spot * np.exp((rate - dividend_yield) * tte)


# ----------------------------------------------------------------------------- prices


def test_hull_example_15_6_call_and_put():
    # Hull, Options, Futures and Other Derivatives (10th ed.), Example 15.6: S = 42, K = 40,
    # r = 10 %, σ = 20 %, T = 0.5, no dividend: d1 = 0.7693, d2 = 0.6278, c = 4.76, p = 0.81.
    forward = _forward(42.0, 0.10, 0.0, 0.5)
    call, put = black_price(forward, 40.0, 0.5, 0.10, 0.20, [True, False])
    assert round(call, 2) == 4.76
    assert round(put, 2) == 0.81
    # to more digits: 42 N(0.76926) − 40 e^{−0.05} N(0.62784)
    assert call == pytest.approx(4.759422, abs=1e-6)
    assert put == pytest.approx(0.808599, abs=1e-6)


def test_put_call_parity_holds_on_a_grid():
    # C − P = D (F − K) for every strike, maturity and vol (Hull eq. 11.10 in forward form)
    rng = np.random.default_rng(7)
    n = 2_000
    forward = rng.uniform(50, 150, n)
    strike = forward * np.exp(rng.uniform(-1.0, 1.0, n))
    tte = rng.uniform(1 / 365, 3.0, n)
    rate = rng.uniform(-0.01, 0.08, n)
    vol = rng.uniform(0.05, 1.5, n)
    call = black_price(forward, strike, tte, rate, vol, True)
    put = black_price(forward, strike, tte, rate, vol, False)
    discount = np.exp(-rate * tte)
    np.testing.assert_allclose(call - put, discount * (forward - strike), rtol=0, atol=1e-10)


def test_price_bounds_and_domain():
    # D max(F − K, 0) ≤ C ≤ D F; invalid inputs give NaN, never raise
    price = black_price(100.0, [80.0, 100.0, 120.0], 1.0, 0.05, 0.2, True)
    discount = np.exp(-0.05)
    assert np.all(price >= discount * np.maximum(100.0 - np.array([80.0, 100.0, 120.0]), 0))
    assert np.all(price <= discount * 100.0)
    bad = black_price(
        [100.0, -1.0, 100.0, 100.0], 100.0, [1.0, 1.0, 0.0, 1.0], 0.05, [0.2, 0.2, 0.2, 0.0], True
    )
    assert np.isfinite(bad[0]) and np.isnan(bad[1:]).all()


# ----------------------------------------------------------------------------- greeks


def test_hull_greeks_example():
    # Hull (10th ed.), Examples 19.1, 19.4–19.6 / Table 19.x setting: S = 49, K = 50, r = 5 %,
    # σ = 20 %, T = 20 weeks = 0.3846, no dividend. Delta 0.522, gamma 0.066, vega 12.1 per
    # unit of σ (0.121 per vol point), theta −4.31 per year (−4.31/365 = −0.0118 per calendar
    # day), rho 8.91 per unit of r (0.0891 per rate point).
    tte = 0.3846
    g = black_greeks(49.0, _forward(49.0, 0.05, 0.0, tte), 50.0, tte, 0.05, 0.20, True)
    assert g["delta"][0] == pytest.approx(0.522, abs=5e-4)
    assert g["gamma"][0] == pytest.approx(0.066, abs=5e-4)
    assert g["vega"][0] == pytest.approx(0.121, abs=5e-4)
    assert g["theta"][0] == pytest.approx(-4.31 / 365, abs=5e-5)
    assert g["rho"][0] == pytest.approx(0.0891, abs=5e-4)


def _bsm_price(spot, strike, tte, rate, dividend_yield, vol, is_call):
    return black_price(_forward(spot, rate, dividend_yield, tte), strike, tte, rate, vol, is_call)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize(
    ("spot", "strike", "tte", "rate", "dividend_yield", "vol"),
    [
        (100.0, 100.0, 0.5, 0.03, 0.015, 0.20),  # at the money
        (100.0, 80.0, 0.1, 0.05, 0.0, 0.35),  # call in the money, put out
        (2900.0, 3100.0, 30 / 365, 0.024, 0.018, 0.12),  # SPX-like OTM call
        (368.79, 345.0, 25 / 365, 0.0008, 0.013, 0.29),  # SPY-like OTM put
        (50.0, 55.0, 2.0, -0.005, 0.04, 0.60),  # negative rate, long maturity
    ],
)
def test_greeks_match_central_finite_differences(
    spot, strike, tte, rate, dividend_yield, vol, is_call
):
    # BSM with spot S and yield q fixed: bump one input, reprice, compare (h chosen per input)
    def price(s=spot, t=tte, r=rate, v=vol):
        return _bsm_price(s, strike, t, r, dividend_yield, v, is_call)[0]

    g = black_greeks(
        spot, _forward(spot, rate, dividend_yield, tte), strike, tte, rate, vol, is_call
    )
    hs, ht, hr, hv = 1e-3 * spot * vol * np.sqrt(tte), 1e-5, 1e-5, 1e-5
    delta = (price(s=spot + hs) - price(s=spot - hs)) / (2 * hs)
    gamma = (price(s=spot + hs) - 2 * price() + price(s=spot - hs)) / hs**2
    vega = (price(v=vol + hv) - price(v=vol - hv)) / (2 * hv) * 0.01
    # theta = ∂V/∂t = −∂V/∂T, per calendar day
    theta = -(price(t=tte + ht) - price(t=tte - ht)) / (2 * ht) / 365
    rho = (price(r=rate + hr) - price(r=rate - hr)) / (2 * hr) * 0.01
    assert g["delta"][0] == pytest.approx(delta, rel=1e-6, abs=1e-9)
    assert g["gamma"][0] == pytest.approx(gamma, rel=1e-4, abs=1e-9)
    assert g["vega"][0] == pytest.approx(vega, rel=1e-6, abs=1e-9)
    assert g["theta"][0] == pytest.approx(theta, rel=1e-5, abs=1e-9)
    assert g["rho"][0] == pytest.approx(rho, rel=1e-6, abs=1e-9)


def test_greek_invariants():
    # call delta − put delta = e^{−qT}; gamma and vega equal for the call and the put
    spot, strike, tte, rate, q, vol = 100.0, 105.0, 0.25, 0.02, 0.01, 0.3
    forward = _forward(spot, rate, q, tte)
    call = black_greeks(spot, forward, strike, tte, rate, vol, True)
    put = black_greeks(spot, forward, strike, tte, rate, vol, False)
    assert call["delta"][0] - put["delta"][0] == pytest.approx(np.exp(-q * tte))
    assert call["gamma"][0] == pytest.approx(put["gamma"][0])
    assert call["vega"][0] == pytest.approx(put["vega"][0])
    assert 0 < call["delta"][0] < 1 and -1 < put["delta"][0] < 0


def test_greeks_nan_out_of_domain():
    g = black_greeks(100.0, 100.0, 100.0, [0.5, 0.0, 0.5], 0.01, [0.2, 0.2, np.nan], True)
    for values in g.values():
        assert np.isfinite(values[0]) and np.isnan(values[1:]).all()


# ----------------------------------------------------------------------------- implied vol


def test_implied_volatility_recovers_hull_example():
    forward = _forward(42.0, 0.10, 0.0, 0.5)
    price = black_price(forward, 40.0, 0.5, 0.10, 0.20, [True, False])
    vol, status = implied_volatility(price, forward, 40.0, 0.5, 0.10, [True, False])
    assert (status == IV_STATUS_OK).all()
    np.testing.assert_allclose(vol, 0.20, rtol=0, atol=1e-12)
    # the rounded textbook price 4.76 implies a vol a hair above 20 %
    vol_rounded, _ = implied_volatility(4.76, forward, 40.0, 0.5, 0.10, True)
    assert vol_rounded[0] == pytest.approx(0.20, abs=1e-3)


def test_round_trip_over_a_grid_including_deep_wings_and_one_day():
    # 41 log-moneyness × 8 maturities (1 day .. 5 years) × 12 vols × call/put = 7,872 options
    log_moneyness = np.linspace(-1.0, 1.0, 41)  # K/F from 0.37 to 2.7
    tte = np.array([1, 2, 7, 30, 91, 365, 730, 1825]) / 365
    vol = np.array([0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.5, 3.0])
    x, t, v, c = np.meshgrid(log_moneyness, tte, vol, [True, False], indexing="ij")
    x, t, v, c = x.ravel(), t.ravel(), v.ravel(), c.ravel()
    forward, rate = 100.0, 0.03
    strike = forward * np.exp(x)
    price = black_price(forward, strike, t, rate, v, c)
    discount = np.exp(-rate * t)
    intrinsic = np.maximum(np.where(c, forward - strike, strike - forward), 0.0)
    time_value = price / discount - intrinsic

    solved, status = implied_volatility(price, forward, strike, t, rate, c)

    # Options whose time value is lost in the price's last bits (or underflows to 0) cannot be
    # inverted: they, and only they, come back below_intrinsic.
    resolvable = time_value > 1e-12 * price / discount
    assert (status[~resolvable] == IV_STATUS_BELOW_INTRINSIC).all()
    assert (status[resolvable] == IV_STATUS_OK).all(), np.unique(status[resolvable])
    ok = status == IV_STATUS_OK
    assert ok.sum() > 0.7 * ok.size  # the rest: tiny vols far in the wings, price 0 or intrinsic
    vega = black_greeks(forward * discount, forward, strike, t, rate, v, c)["vega"] * 100
    # Repricing error: the 1e-10 relative vol tolerance times the price's vol elasticity
    # σ·vega/price (large only for prices of 1e-100 and below), plus a few ulp
    repriced = black_price(forward, strike[ok], t[ok], rate, solved[ok], c[ok])
    elasticity = v[ok] * vega[ok] / price[ok]
    assert (np.abs(repriced / price[ok] - 1) <= 1e-13 + 1e-10 * elasticity).all()
    # Vol error: the price's rounding (≈ 1e-16 of the undiscounted price plus the intrinsic
    # subtracted from it) propagated through 1/vega, plus a 1e-10 relative solver tolerance.
    noise = 4e-16 * (price[ok] / discount[ok] + intrinsic[ok]) / (vega[ok] / discount[ok])
    assert (np.abs(solved[ok] - v[ok]) <= 1e-10 * v[ok] + 10 * noise).all()
    # ... which is tiny wherever the vol is well determined: out-of-the-money options (their
    # whole price is time value) within 50 % in log-moneyness, a week or more, vols of 5 %
    # and up: 1e-10. (In-the-money ones lose digits to the intrinsic value subtracted.)
    out_of_the_money = np.where(c, x >= 0, x <= 0)
    core = ok & out_of_the_money & (np.abs(x) <= 0.5) & (t >= 7 / 365) & (v >= 0.05)
    assert np.abs(solved[core] - v[core]).max() < 1e-10


def test_round_trip_random_market_like_inputs():
    # 200k SPX-like options: every one solves, to 1e-9 in vol
    rng = np.random.default_rng(11)
    n = 200_000
    forward = 2900.0
    strike = forward * np.exp(rng.uniform(-0.3, 0.2, n))
    tte = rng.uniform(1, 365, n) / 365
    vol = rng.uniform(0.06, 0.6, n)
    is_call = rng.random(n) < 0.5
    price = black_price(forward, strike, tte, 0.024, vol, is_call)
    solved, status = implied_volatility(price, forward, strike, tte, 0.024, is_call)
    vega = black_greeks(forward, forward, strike, tte, 0.0, vol, is_call)["vega"] * 100
    # a 1e-13 price error moves the vol by < 1e-9 (and no price underflows)
    determined = (vega > 1e-4 * price) & (price > 1e-10)
    assert (status[determined] == IV_STATUS_OK).all()
    assert np.abs(solved[determined] - vol[determined]).max() < 1e-9


def test_at_the_money_initial_guess_is_exact():
    # θ = 0: the upper-branch guess −2 N⁻¹((1 − β)/2) is the exact inverse
    price = black_price(100.0, 100.0, 0.5, 0.0, 0.25, True)
    vol, status = implied_volatility(price, 100.0, 100.0, 0.5, 0.0, True, max_iter=1)
    assert status[0] == IV_STATUS_OK
    assert vol[0] == pytest.approx(0.25, abs=1e-14)


def test_results_do_not_depend_on_row_order_or_batching():
    rng = np.random.default_rng(3)
    n = 5_000
    strike = 100 * np.exp(rng.uniform(-0.5, 0.5, n))
    tte = rng.uniform(1, 400, n) / 365
    is_call = rng.random(n) < 0.5
    price = black_price(100.0, strike, tte, 0.01, rng.uniform(0.1, 0.5, n), is_call)
    whole, _ = implied_volatility(price, 100.0, strike, tte, 0.01, is_call)
    order = rng.permutation(n)
    shuffled, _ = implied_volatility(
        price[order], 100.0, strike[order], tte[order], 0.01, is_call[order]
    )
    np.testing.assert_array_equal(shuffled, whole[order])
    halves = np.concatenate(
        [
            implied_volatility(price[:100], 100.0, strike[:100], tte[:100], 0.01, is_call[:100])[0],
            implied_volatility(price[100:], 100.0, strike[100:], tte[100:], 0.01, is_call[100:])[0],
        ]
    )
    np.testing.assert_array_equal(halves, whole)


def test_every_failure_status():
    # F = 100, K = 90/110, T = 0.5, r = 4 %: D = e^{−0.02} = 0.98020
    discount = np.exp(-0.04 * 0.5)
    cases = [
        # (price, forward, strike, tte, rate, is_call, expected status)
        (5.0, 100.0, 100.0, 0.5, 0.04, True, IV_STATUS_OK),
        (np.nan, 100.0, 100.0, 0.5, 0.04, True, IV_STATUS_NO_PRICE),
        # call K 90: intrinsic D·10 = 9.802; at and below it there is no vol
        (discount * 10.0, 100.0, 90.0, 0.5, 0.04, True, IV_STATUS_BELOW_INTRINSIC),
        (9.0, 100.0, 90.0, 0.5, 0.04, True, IV_STATUS_BELOW_INTRINSIC),
        (0.0, 100.0, 110.0, 0.5, 0.04, True, IV_STATUS_BELOW_INTRINSIC),
        (-1.0, 100.0, 110.0, 0.5, 0.04, False, IV_STATUS_BELOW_INTRINSIC),
        # call worth D·F = 98.02 or more, put worth D·K = 107.82 or more
        (discount * 100.0, 100.0, 90.0, 0.5, 0.04, True, IV_STATUS_ABOVE_UPPER_BOUND),
        (120.0, 100.0, 90.0, 0.5, 0.04, True, IV_STATUS_ABOVE_UPPER_BOUND),
        (discount * 110.0 + 1e-9, 100.0, 110.0, 0.5, 0.04, False, IV_STATUS_ABOVE_UPPER_BOUND),
        (5.0, 100.0, 100.0, 0.0, 0.04, True, IV_STATUS_EXPIRED),
        (5.0, 100.0, 100.0, -0.001, 0.04, True, IV_STATUS_EXPIRED),
        (5.0, np.nan, 100.0, 0.5, 0.04, True, IV_STATUS_INVALID_INPUT),
        (5.0, 0.0, 100.0, 0.5, 0.04, True, IV_STATUS_INVALID_INPUT),
        (5.0, 100.0, -100.0, 0.5, 0.04, True, IV_STATUS_INVALID_INPUT),
        (5.0, 100.0, 100.0, 0.5, np.nan, True, IV_STATUS_INVALID_INPUT),
        (5.0, 100.0, 100.0, np.nan, 0.04, True, IV_STATUS_INVALID_INPUT),
    ]
    columns = list(zip(*cases, strict=True))
    vol, status = implied_volatility(*columns[:6])
    assert [IV_STATUS_LABELS[s] for s in status] == [IV_STATUS_LABELS[s] for s in columns[6]]
    assert np.isfinite(vol[0]) and np.isnan(vol[1:]).all()


def test_not_converged_when_iterations_run_out():
    # a deep out-of-the-money quote far from the initial guess needs more than one iteration
    price = black_price(100.0, 160.0, 0.25, 0.0, 0.9, True)
    vol, status = implied_volatility(price, 100.0, 160.0, 0.25, 0.0, True, max_iter=1)
    assert status[0] == IV_STATUS_NOT_CONVERGED and np.isnan(vol[0])
    vol, status = implied_volatility(price, 100.0, 160.0, 0.25, 0.0, True)
    assert status[0] == IV_STATUS_OK and vol[0] == pytest.approx(0.9, abs=1e-12)


def test_status_codes_and_labels_line_up():
    assert IV_STATUS_LABELS[IV_STATUS_OK] == "ok"
    assert IV_STATUS_LABELS[IV_STATUS_NO_PRICE] == "no_price"
    assert IV_STATUS_LABELS[IV_STATUS_BELOW_INTRINSIC] == "below_intrinsic"
    assert IV_STATUS_LABELS[IV_STATUS_ABOVE_UPPER_BOUND] == "above_upper_bound"
    assert IV_STATUS_LABELS[IV_STATUS_EXPIRED] == "expired"
    assert IV_STATUS_LABELS[IV_STATUS_NOT_CONVERGED] == "not_converged"
    assert IV_STATUS_LABELS[IV_STATUS_INVALID_INPUT] == "invalid_input"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rel_tol": 0.0}, "rel_tol must be in"),
        ({"rel_tol": 0.1}, "rel_tol must be in"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
    ],
)
def test_bad_solver_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        implied_volatility(5.0, 100.0, 100.0, 0.5, 0.0, True, **kwargs)


def test_inputs_broadcast_and_scalars_work():
    vol, status = implied_volatility([4.0, 5.0, 6.0], 100.0, 100.0, 0.5, 0.0, True)
    assert vol.shape == status.shape == (3,)
    assert np.all(np.diff(vol) > 0)  # a higher price is a higher vol
    with pytest.raises(ValueError):
        implied_volatility([1.0, 2.0], 100.0, [90.0, 100.0, 110.0], 0.5, 0.0, True)
