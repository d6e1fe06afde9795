"""SSVI surface: hand-computable SYNTHETIC cases and the no-arbitrage checks."""

from __future__ import annotations

import numpy as np
import pytest

from warehouse.modeled_chain.ssvi import (
    SSVIParams,
    butterfly_arbitrage_free,
    calendar_arbitrage_free,
    durrleman_g,
    implied_volatility,
    phi,
    total_variance,
)

K_GRID = np.linspace(-1.5, 1.5, 3001)
THETAS = np.array([1e-5, 1e-4, 1e-3, 0.01, 0.04, 0.25, 1.0, 10.0])


def _unvalidated(rho: float, eta: float, gamma: float) -> SSVIParams:
    """Parameters that skip validation (to show what the checks catch)."""
    params = object.__new__(SSVIParams)
    for name, value in (("rho", rho), ("eta", eta), ("gamma", gamma)):
        object.__setattr__(params, name, value)
    return params


def test_synthetic_hand_computed_total_variance():
    # θ = 0.04, ρ = −0.5, η = 1, γ = 0.5, k = 0.1:
    # φ = 1 / (0.04^0.5 · 1.04^0.5) = 1 / (0.2 · 1.0198039) = 4.9029034
    # φk = 0.4902903; √((φk + ρ)² + 1 − ρ²) = √(0.0000943 + 0.75) = 0.8660798
    # w = 0.02 · (1 − 0.2451452 + 0.8660798) = 0.02 · 1.6209346 = 0.0324187
    params = SSVIParams(rho=-0.5, eta=1.0, gamma=0.5)
    assert float(phi(0.04, params)) == pytest.approx(4.9029034, rel=1e-7)
    assert float(total_variance(0.1, 0.04, params)) == pytest.approx(0.0324187, rel=1e-6)
    # σ = √(w / T) at T = 0.25: √0.1296748 = 0.3601039
    assert float(implied_volatility(0.1, 0.25, 0.04, params)) == pytest.approx(0.3601039, rel=1e-6)


@pytest.mark.parametrize(
    ("rho", "eta", "gamma"), [(-0.9, 1.0, 0.5), (0.3, 1.2, 0.2), (0.0, 2.0, 0.5)]
)
def test_synthetic_atm_total_variance_is_theta(rho, eta, gamma):
    params = SSVIParams(rho=rho, eta=eta, gamma=gamma)
    np.testing.assert_allclose(total_variance(0.0, THETAS, params), THETAS, rtol=1e-15)


def test_synthetic_rho_zero_smile_is_symmetric():
    params = SSVIParams(rho=0.0, eta=1.5, gamma=0.4)
    np.testing.assert_allclose(
        total_variance(K_GRID, 0.04, params), total_variance(-K_GRID, 0.04, params), rtol=1e-14
    )


def test_synthetic_flat_smile_limit():
    # η → 0: φ → 0 and w(k, θ) → θ/2 (1 + √(ρ² + 1 − ρ²)) = θ for every k
    params = SSVIParams(rho=-0.7, eta=1e-12, gamma=0.5)
    np.testing.assert_allclose(total_variance(K_GRID, 0.04, params), 0.04, rtol=1e-10)


def test_synthetic_negative_rho_gives_a_put_skew():
    params = SSVIParams(rho=-0.7, eta=1.0, gamma=0.5)
    assert total_variance(-0.1, 0.04, params) > total_variance(0.1, 0.04, params)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"rho": 1.0, "eta": 0.5, "gamma": 0.5}, "1.0"),
        ({"rho": -1.2, "eta": 0.5, "gamma": 0.5}, "-1.2"),
        ({"rho": 0.0, "eta": 0.0, "gamma": 0.5}, "eta must be > 0, got 0.0"),
        ({"rho": 0.0, "eta": 1.0, "gamma": 0.0}, "gamma must be in (0, 0.5], got 0.0"),
        ({"rho": 0.0, "eta": 1.0, "gamma": 0.6}, "got 0.6"),
        ({"rho": -0.7, "eta": 1.5, "gamma": 0.4}, "eta=1.5, rho=-0.7"),
        ({"rho": np.array([-0.5, -0.9]), "eta": 1.1, "gamma": 0.4}, "rho=-0.9"),
        ({"rho": 0.0, "eta": float("nan"), "gamma": 0.4}, "eta must be finite"),
    ],
)
def test_bad_params_are_rejected_naming_the_value(kwargs, named):
    with pytest.raises(ValueError) as info:
        SSVIParams(**kwargs)
    assert named in str(info.value)


def test_butterfly_condition_accepts_the_boundary_and_flags_violations():
    boundary = SSVIParams(rho=-0.7, eta=2.0 / 1.7, gamma=0.5)  # η(1 + |ρ|) = 2 exactly
    assert butterfly_arbitrage_free(boundary)
    assert not butterfly_arbitrage_free(_unvalidated(-0.9, 4.0, 0.5))
    assert not butterfly_arbitrage_free(_unvalidated(-0.5, 1.0, 0.7))


@pytest.mark.parametrize(
    ("rho", "eta", "gamma"),
    [(-0.7, 2.0 / 1.7, 0.5), (-0.99 + 1e-3, 1.0, 0.45), (0.5, 4.0 / 3.0, 0.1), (0.0, 2.0, 0.25)],
)
def test_durrleman_g_is_non_negative_for_valid_params(rho, eta, gamma):
    params = SSVIParams(rho=rho, eta=eta, gamma=gamma)
    g = durrleman_g(K_GRID[:, None], THETAS[None, :], params)
    assert np.isfinite(g).all()
    assert g.min() >= 0.0


def test_durrleman_g_detects_butterfly_arbitrage():
    # η(1 + |ρ|) = 7.6 ≫ 2: the smile is too curved, its implied density goes negative
    g = durrleman_g(K_GRID, 0.01, _unvalidated(-0.9, 4.0, 0.5))
    assert g.min() < 0.0


def test_per_row_params_broadcast_like_scalars():
    rho = np.array([-0.8, -0.5, 0.2])
    params = SSVIParams(rho=rho, eta=1.0, gamma=0.4)
    k = np.array([-0.2, 0.0, 0.3])
    theta = np.array([0.01, 0.02, 0.05])
    expected = [
        float(total_variance(k[i], theta[i], SSVIParams(rho=rho[i], eta=1.0, gamma=0.4)))
        for i in range(3)
    ]
    np.testing.assert_allclose(total_variance(k, theta, params), expected, rtol=1e-15)
    np.testing.assert_allclose(
        total_variance(k[1:], theta[1:], params.take(np.array([1, 2]))), expected[1:], rtol=1e-15
    )


def test_calendar_check():
    assert calendar_arbitrage_free([0.001, 0.004, 0.004, 0.02])
    assert not calendar_arbitrage_free([0.001, 0.004, 0.003])
    # missing nodes are skipped; one row per day
    assert calendar_arbitrage_free([[np.nan, 0.004, np.nan, 0.02], [0.001, np.nan, 0.003, 0.02]])
    assert not calendar_arbitrage_free([[0.001, 0.004, 0.02], [0.005, np.nan, 0.004]])


def test_invalid_theta_gives_nan_without_raising():
    params = SSVIParams(rho=-0.5, eta=1.0, gamma=0.5)
    out = implied_volatility([0.0, 0.0, 0.0], [0.1, 0.0, 0.1], [0.01, 0.01, -1.0], params)
    assert np.isfinite(out[0])
    assert np.isnan(out[1:]).all()
