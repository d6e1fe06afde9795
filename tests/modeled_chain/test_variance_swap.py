"""Variance-swap strip of SSVI smiles, its inverse, and the ATM term structure from the indices.

All cases here are SYNTHETIC (hand-computable or identities); the real indices are exercised in
test_calibration.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import norm

from warehouse.modeled_chain.ssvi import SSVIParams, calendar_arbitrage_free, total_variance
from warehouse.modeled_chain.variance_swap import (
    NODE_TTE_YEARS,
    atm_term_structure,
    atm_total_variance_from_variance_swap,
    enforce_calendar_monotone,
    interpolate_theta,
    variance_swap_total_variance,
    variance_swap_variance,
)

SKEWED = SSVIParams(rho=-0.7, eta=2.0 / 1.7, gamma=0.45)  # on the butterfly bound


@pytest.mark.parametrize("theta", [1e-4, 1e-3, 0.0123, 0.1, 1.0, 2.5])
def test_synthetic_flat_smile_variance_swap_equals_theta(theta):
    # η → 0 makes the smile flat at σ² T = θ; the log-contract strip then prices σ² T exactly
    # (Demeterfi et al. 1999: the strip replicates −2 ln(S_T/F), whose mean is σ² T).
    flat = SSVIParams(rho=-0.7, eta=1e-12, gamma=0.5)
    value = variance_swap_total_variance(theta, flat)[0]
    assert value == pytest.approx(theta, rel=1e-6)


def test_synthetic_flat_smile_annualised():
    # VIX = 20 on a flat smile at T = 30/365: σ²_VS = 0.04, θ = 0.04 · 30/365
    flat = SSVIParams(rho=0.0, eta=1e-12, gamma=0.5)
    t = 30 / 365
    assert variance_swap_variance(t, 0.04 * t, flat)[0] == pytest.approx(0.04, rel=1e-6)


@pytest.mark.parametrize(
    ("params", "theta"),
    [
        (SKEWED, 0.01),
        (SSVIParams(rho=-0.9, eta=1.0, gamma=0.3), 0.2),
        (SSVIParams(rho=0.3, eta=1.4, gamma=0.5), 0.002),
    ],
)
def test_synthetic_variance_swap_is_expected_implied_variance_under_d2(params, theta):
    # Identity (Gatheral, "The Volatility Surface", 2006, ch. 11; Fukasawa 2012, Math. Finance
    # 22(4)): σ²_VS T = ∫ w(k(z)) φ(z) dz with z = −d₂ = k/√w + √w/2, which is increasing in k on
    # an arbitrage-free smile. Evaluated here by the trapezoid rule on a dense k grid: an
    # integral of a different integrand, so it checks the strip independently.
    k = np.linspace(-60 * np.sqrt(theta) - 2, 40 * np.sqrt(theta) + 1, 400_001)
    w = total_variance(k, theta, params)
    z = k / np.sqrt(w) + np.sqrt(w) / 2
    assert np.all(np.diff(z) > 0)
    expected = np.trapezoid(w * norm.pdf(z), z)
    assert variance_swap_total_variance(theta, params)[0] == pytest.approx(expected, rel=1e-6)


def test_skew_lifts_the_variance_swap_above_atm():
    # rich OTM puts: the VIX reads above the ATM vol (why VIX must not be used as ATM IV)
    theta = np.array([0.001, 0.01, 0.05])
    assert np.all(variance_swap_total_variance(theta, SKEWED) > theta * 1.05)


def test_inverse_recovers_theta_per_row():
    rng = np.random.default_rng(7)
    theta = rng.uniform(2e-4, 0.3, 200)
    tte = rng.uniform(5 / 365, 1.0, 200)
    params = SSVIParams(rho=rng.uniform(-0.9, 0.0, 200), eta=1.0, gamma=0.45)
    vs = variance_swap_total_variance(theta, params) / tte
    back = atm_total_variance_from_variance_swap(vs, tte, params)
    np.testing.assert_allclose(back, theta, rtol=1e-10)


def test_inverse_passes_nan_and_rejects_bad_values():
    out = atm_total_variance_from_variance_swap([0.04, np.nan], 30 / 365, SKEWED)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(ValueError, match=re.escape("vs_variance must be > 0, got -0.01")):
        atm_total_variance_from_variance_swap([0.04, -0.01], 30 / 365, SKEWED)
    with pytest.raises(ValueError, match=re.escape("tte_years must be > 0, got 0.0")):
        atm_total_variance_from_variance_swap(0.04, 0.0, SKEWED)


def test_term_structure_inverts_each_index_at_its_tenor():
    vix_9d, vix, vix_3m, vix_6m = 0.12, 0.14, 0.16, 0.18
    theta = atm_term_structure([vix_9d], [vix], [vix_3m], [vix_6m], SKEWED)[0]
    for vol, t, th in zip((vix_9d, vix, vix_3m, vix_6m), NODE_TTE_YEARS, theta, strict=True):
        assert variance_swap_total_variance(th, SKEWED)[0] == pytest.approx(vol**2 * t, rel=1e-9)
        assert np.sqrt(th / t) < vol  # ATM below the variance-swap level on a put skew


def test_backwardation_kept_when_total_variance_still_grows():
    # VIX9D 30 > VIX 25 (vol backwardation) but 0.30² · 9 = 0.81 < 0.25² · 30 = 1.875
    theta = atm_term_structure([0.30], [0.25], [0.22], [0.21], SKEWED)[0]
    assert calendar_arbitrage_free(theta)
    atm_vol = np.sqrt(theta / NODE_TTE_YEARS)
    assert atm_vol[0] > atm_vol[1] > atm_vol[2]  # the inverted vol term structure survives
    assert theta[0] < theta[1]  # nothing was cut


def test_calendar_arbitrage_repaired_when_vix9d_far_above_vix():
    # VIX9D 60 vs VIX 25: 0.60² · 9 = 3.24 > 0.25² · 30 = 1.875, total variance would fall from
    # 9 to 30 days. The fix keeps the VIX node (the anchor) and caps θ_9 at θ_30: flat total
    # variance between 9 and 30 days; VIX3M 13 (0.13² · 93 = 1.57 < 1.875) is floored at θ_30 too.
    raw = atm_term_structure([0.60], [0.25], [np.nan], [np.nan], SKEWED)[0]
    fixed = atm_term_structure([0.60], [0.25], [0.13], [0.30], SKEWED)[0]
    unrepaired_9d = atm_total_variance_from_variance_swap(0.36, NODE_TTE_YEARS[0], SKEWED)[0]
    assert unrepaired_9d > raw[1]  # the violation is real
    assert raw[0] == raw[1]
    assert fixed[0] == fixed[1] == fixed[2]
    assert fixed[3] > fixed[2]
    assert calendar_arbitrage_free(fixed)


def test_enforce_calendar_monotone_by_hand():
    rows = np.array(
        [
            [0.003, 0.002, 0.001, 0.004],  # 9d capped to θ_30; 93d floored to θ_30
            [np.nan, np.nan, 0.002, 0.001],  # no VIX: anchor = first finite node
            [0.001, 0.002, np.nan, 0.005],  # NaN kept
        ]
    )
    expected = np.array(
        [
            [0.002, 0.002, 0.002, 0.004],
            [np.nan, np.nan, 0.002, 0.002],
            [0.001, 0.002, np.nan, 0.005],
        ]
    )
    np.testing.assert_array_equal(enforce_calendar_monotone(rows), expected)


def test_missing_indices_leave_nan_nodes():
    theta = atm_term_structure([np.nan, 0.12], [0.15, 0.14], None, [0.2, np.nan], SKEWED)
    assert np.isnan(theta[0, 0]) and np.isnan(theta[:, 2]).all() and np.isnan(theta[1, 3])
    assert np.isfinite(theta[:, 1]).all()


def test_single_stock_borrows_the_reference_shape():
    # VXAPL only: θ_i = θ_30 · ratio_i from SPX's term structure the same day
    reference = atm_term_structure([0.12], [0.14], [0.16], [0.18], SKEWED)
    ratio = reference / reference[:, [1]]
    theta = atm_term_structure(None, [0.30], None, None, SKEWED, reference_shape=ratio)[0]
    np.testing.assert_allclose(theta / theta[1], ratio[0], rtol=1e-12)
    # without a reference the 30-day node alone is extended at a flat ATM vol
    alone = atm_term_structure(None, [0.30], None, None, SKEWED)
    t = np.array([7, 30, 60, 365]) / 365
    flat = interpolate_theta(NODE_TTE_YEARS, alone, t[None, :])[0]
    np.testing.assert_allclose(flat / t, alone[0, 1] / NODE_TTE_YEARS[1], rtol=1e-12)


def test_term_structure_rejects_bad_inputs():
    with pytest.raises(ValueError, match="vix_3m must be > 0"):
        atm_term_structure([0.1], [0.15], [0.0], [0.2], SKEWED)
    with pytest.raises(ValueError, match=r"vix .* is required"):
        atm_term_structure([0.1], None, [0.15], [0.2], SKEWED)
    with pytest.raises(ValueError, match="vix_6m has 2 days, vix has 1"):
        atm_term_structure([0.1], [0.15], [0.16], [0.2, 0.2], SKEWED)


def test_interpolation_by_hand():
    # nodes T = 0.1, 0.2 with θ = 0.01, 0.03:
    # T = 0.15: 0.01 + 0.02 · 0.5 = 0.02 (linear total variance)
    # T = 0.05: flat vol from the first node: 0.01 · 0.05/0.1 = 0.005
    # T = 0.4: flat vol from the last node: 0.03 · 0.4/0.2 = 0.06
    # a missing middle node is skipped: T = 0.2 between 0.1 and 0.3 → 0.01 + (0.05 − 0.01)/2
    out = interpolate_theta([0.1, 0.2], np.array([[0.01, 0.03]]), np.array([0.05, 0.15, 0.2, 0.4]))
    np.testing.assert_allclose(out, [0.005, 0.02, 0.03, 0.06])
    skip = interpolate_theta([0.1, 0.2, 0.3], np.array([0.01, np.nan, 0.05]), 0.2)
    assert float(skip) == pytest.approx(0.03)
    with pytest.raises(ValueError, match="increasing"):
        interpolate_theta([0.2, 0.1], np.array([0.01, 0.02]), 0.15)


def test_interpolated_theta_is_non_decreasing_in_t():
    rng = np.random.default_rng(3)
    nodes = np.sort(rng.uniform(1e-4, 0.05, (50, 4)), axis=1)
    nodes[rng.uniform(size=nodes.shape) < 0.2] = np.nan
    t = np.linspace(1 / 365, 2.0, 400)
    theta = interpolate_theta(NODE_TTE_YEARS, nodes[:, None, :], t[None, :])
    has_node = np.isfinite(nodes).any(axis=1)
    assert np.all(np.diff(theta[has_node], axis=1) >= -1e-15)
    assert np.isnan(theta[~has_node]).all()
