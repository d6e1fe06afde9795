"""Surface SVI (SSVI): an arbitrage-free parametric implied-volatility surface.

The surface gives the Black total implied variance w = σ²T of an option as a function of its
log-moneyness k = ln(K/F) and of the at-the-money total variance θ = σ_ATM² T of its expiry
(Gatheral, J. & Jacquier, A. (2014), "Arbitrage-free SVI volatility surfaces", *Quantitative
Finance* 14(1), 59–71, Definition 4.1):

    w(k, θ) = θ/2 · (1 + ρ φ(θ) k + √((φ(θ) k + ρ)² + 1 − ρ²)),

with the power-law curvature function (Gatheral & Jacquier 2014, §4.3, eq. 4.5 and Remark 4.4)

    φ(θ) = η / (θ^γ (1 + θ)^(1 − γ)).

ρ sets the skew (the slope of the smile at the money is ∂w/∂k|₀ = ρ θ φ(θ) / 2), η the overall
curvature and γ how curvature decays with θ (short expiries, small θ, get steeper smiles).

Arbitrage
---------
- Calendar spreads: the surface is free of calendar arbitrage iff θ is non-decreasing in T and
  0 ≤ ∂(θφ(θ))/∂θ ≤ φ(θ)(1 + √(1 − ρ²))/ρ² (Gatheral & Jacquier 2014, Theorem 4.1). For the
  power law θφ = η (θ/(1+θ))^(1−γ) is increasing and ∂(θφ)/∂θ = (1−γ) φ/(1+θ) ≤ φ, below the
  bound since (1 + √(1 − ρ²))/ρ² ≥ 1; so only θ(T) non-decreasing is left to check
  (:func:`calendar_arbitrage_free`).
- Butterflies: the smile of every slice is free of butterfly arbitrage if θφ(θ)(1 + |ρ|) < 4
  and θφ(θ)²(1 + |ρ|) ≤ 4 for every θ > 0 (Theorem 4.2). For the power law these hold for all
  θ when η(1 + |ρ|) ≤ 2 and 0 < γ ≤ 1/2 (Remark 4.4 / Corollary 4.1:
  θφ = η (θ/(1+θ))^(1−γ) < η and θφ² = η² θ^(1−2γ)/(1+θ)^(2−2γ) < η²), which
  :class:`SSVIParams` enforces on construction (:func:`butterfly_arbitrage_free`).
  :func:`durrleman_g` evaluates the density condition g(k) ≥ 0 (Gatheral & Jacquier 2014,
  Lemma 2.2, eq. 2.1) numerically, as an independent check.

Every function is vectorised with numpy broadcasting: ``k``, ``theta`` and the parameters may be
scalars or arrays of broadcastable shapes (for example one parameter set per quote_date, spread
over that day's quotes), with no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Largest |ρ| accepted (|ρ| = 1 makes the smile linear on one side and the fit degenerate).
RHO_ABS_MAX: Final = 0.999


def _as_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        bad = array[~np.isfinite(array)].reshape(-1)[0]
        raise ValueError(f"SSVI parameter {name} must be finite, got {bad!r}")
    return array


def _first_bad(array: NDArray[np.float64], bad: NDArray[np.bool_]) -> float:
    """The first offending value of ``array`` where ``bad`` holds (for error messages)."""
    return float(np.broadcast_to(array, bad.shape)[bad].reshape(-1)[0])


@dataclass(frozen=True)
class SSVIParams:
    """Parameters (ρ, η, γ) of a power-law SSVI surface, validated for static no-arbitrage.

    Attributes
    ----------
    rho
        Spot–vol correlation parameter, dimensionless, |ρ| < 1 (capped at :data:`RHO_ABS_MAX`);
        negative for an equity-index skew. Scalar or an array (e.g. one value per quote_date when
        ρ is conditioned on the SKEW index), broadcastable against ``eta`` and ``gamma``.
    eta
        Curvature level η > 0, dimensionless.
    gamma
        Curvature decay exponent, 0 < γ ≤ 1/2.

    Raises
    ------
    ValueError
        If a value is not finite, |ρ| ≥ :data:`RHO_ABS_MAX`, η ≤ 0, γ ∉ (0, 1/2], or the
        no-butterfly-arbitrage condition η(1 + |ρ|) ≤ 2 fails (Gatheral & Jacquier 2014,
        Remark 4.4); the message names the offending value.

    Examples
    --------
    >>> SSVIParams(rho=-0.7, eta=1.1, gamma=0.4).eta
    1.1
    >>> SSVIParams(rho=-0.7, eta=1.5, gamma=0.4)
    Traceback (most recent call last):
    ...
    ValueError: SSVI butterfly arbitrage: eta*(1+|rho|) must be <= 2, got eta=1.5, rho=-0.7 (2.55)
    """

    rho: float | NDArray[np.float64]
    eta: float | NDArray[np.float64]
    gamma: float | NDArray[np.float64]

    def __post_init__(self) -> None:
        rho = _as_array("rho", self.rho)
        eta = _as_array("eta", self.eta)
        gamma = _as_array("gamma", self.gamma)
        bad = np.abs(rho) >= RHO_ABS_MAX
        if np.any(bad):
            raise ValueError(
                f"SSVI rho must satisfy |rho| < {RHO_ABS_MAX}, got {_first_bad(rho, bad)!r}"
            )
        bad = eta <= 0
        if np.any(bad):
            raise ValueError(f"SSVI eta must be > 0, got {_first_bad(eta, bad)!r}")
        bad = (gamma <= 0) | (gamma > 0.5)
        if np.any(bad):
            raise ValueError(f"SSVI gamma must be in (0, 0.5], got {_first_bad(gamma, bad)!r}")
        try:
            shape = np.broadcast_shapes(rho.shape, eta.shape, gamma.shape)
        except ValueError as exc:
            raise ValueError(
                f"SSVI parameter shapes do not broadcast: rho {rho.shape}, eta {eta.shape}, "
                f"gamma {gamma.shape}"
            ) from exc
        bound = eta * (1.0 + np.abs(rho))
        bad = np.broadcast_to(bound > 2.0 + 1e-12, shape)
        if np.any(bad):
            e = _first_bad(eta, bad)
            r = _first_bad(rho, bad)
            raise ValueError(
                "SSVI butterfly arbitrage: eta*(1+|rho|) must be <= 2, "
                f"got eta={e!r}, rho={r!r} ({e * (1 + abs(r)):.6g})"
            )
        # Store numpy scalars/arrays consistently (frozen: bypass __setattr__).
        for name, value in (("rho", rho), ("eta", eta), ("gamma", gamma)):
            object.__setattr__(self, name, float(value) if value.ndim == 0 else value)

    def take(self, index: ArrayLike) -> SSVIParams:
        """Per-row parameters: each array field indexed by ``index`` (scalars are kept).

        Used to spread one parameter set per quote_date over that day's quotes.
        """

        def pick(value: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
            return value if np.ndim(value) == 0 else np.asarray(value)[index]

        return SSVIParams(rho=pick(self.rho), eta=pick(self.eta), gamma=pick(self.gamma))


def phi(theta: ArrayLike, params: SSVIParams) -> NDArray[np.float64]:
    """Power-law curvature φ(θ) = η / (θ^γ (1+θ)^(1−γ)) (Gatheral & Jacquier 2014, eq. 4.5).

    Parameters
    ----------
    theta
        At-the-money total implied variance σ_ATM² T, > 0, any shape broadcastable with the
        parameters.
    params
        Surface parameters.

    Returns
    -------
    numpy.ndarray
        φ(θ), per unit of log-moneyness; NaN where θ ≤ 0 or NaN.
    """
    theta_ = np.asarray(theta, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = params.eta / (theta_**params.gamma * (1.0 + theta_) ** (1.0 - params.gamma))
    return np.where(theta_ > 0, out, np.nan)


def total_variance(k: ArrayLike, theta: ArrayLike, params: SSVIParams) -> NDArray[np.float64]:
    """SSVI total implied variance w(k, θ) (Gatheral & Jacquier 2014, Definition 4.1).

    Parameters
    ----------
    k
        Log-moneyness ln(K/F), dimensionless; any shape broadcastable with ``theta`` and the
        parameters.
    theta
        At-the-money total variance σ_ATM² T of the expiry, > 0 (decimal vol squared × years).
    params
        Surface parameters (scalars or arrays broadcastable with ``k``).

    Returns
    -------
    numpy.ndarray
        w = σ² T in the broadcast shape, > 0; w(0, θ) = θ exactly. NaN where θ ≤ 0 or NaN.
        Nothing is raised.

    Examples
    --------
    >>> p = SSVIParams(rho=0.0, eta=1.0, gamma=0.5)
    >>> float(total_variance(0.0, 0.04, p))
    0.04
    """
    k_ = np.asarray(k, dtype=np.float64)
    theta_ = np.asarray(theta, dtype=np.float64)
    rho = params.rho
    pk = phi(theta_, params) * k_
    return 0.5 * theta_ * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho))


def implied_volatility(
    k: ArrayLike, tte_years: ArrayLike, theta: ArrayLike, params: SSVIParams
) -> NDArray[np.float64]:
    """SSVI Black implied volatility σ(k, T) = √(w(k, θ) / T).

    Parameters
    ----------
    k
        Log-moneyness ln(K/F), dimensionless.
    tte_years
        Time to expiry in years (ACT/365), > 0.
    theta
        At-the-money total variance of that expiry (see :func:`total_variance`).
    params
        Surface parameters.

    Returns
    -------
    numpy.ndarray
        Decimal volatility per √year, broadcast shape; NaN where T ≤ 0 or θ ≤ 0 or NaN.
    """
    tte = np.asarray(tte_years, dtype=np.float64)
    w = total_variance(k, theta, params)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tte > 0, np.sqrt(w / tte), np.nan)


def butterfly_arbitrage_free(params: SSVIParams) -> bool:
    """Whether the power-law SSVI is free of butterfly arbitrage for every θ > 0.

    Sufficient condition of Gatheral & Jacquier (2014), Theorem 4.2 with Remark 4.4:
    η(1 + |ρ|) ≤ 2 and 0 < γ ≤ 1/2 (checked for every element when parameters are arrays).
    A valid :class:`SSVIParams` always passes; the function exists so that callers can state
    the check explicitly (and tests can exercise it).

    Returns
    -------
    bool
        True if the condition holds for all elements.
    """
    rho = np.asarray(params.rho)
    eta = np.asarray(params.eta)
    gamma = np.asarray(params.gamma)
    ok = (eta * (1.0 + np.abs(rho)) <= 2.0 + 1e-12) & (gamma > 0) & (gamma <= 0.5)
    return bool(np.all(ok))


def durrleman_g(k: ArrayLike, theta: ArrayLike, params: SSVIParams) -> NDArray[np.float64]:
    """Durrleman's function g(k) of an SSVI slice; the slice has no butterfly arbitrage iff g ≥ 0.

    g(k) = (1 − k w′ / (2w))² − (w′²/4)(1/w + 1/4) + w″/2, with w′ = ∂w/∂k and w″ = ∂²w/∂k²
    (Gatheral & Jacquier 2014, Lemma 2.2, eq. 2.1): the risk-neutral density of ln(S_T/F) is
    g(k)/√(2πw) · exp(−d₋²/2), so g < 0 somewhere means a negative density (a butterfly with
    a negative price). The derivatives of the SSVI slice are closed-form: with x = φk + ρ and
    r = √(x² + 1 − ρ²), w′ = θφ/2 · (ρ + x/r) and w″ = θφ²/2 · (1 − ρ²)/r³.

    Parameters
    ----------
    k
        Log-moneyness grid, any shape broadcastable with ``theta`` and the parameters.
    theta
        At-the-money total variance, > 0.
    params
        Surface parameters.

    Returns
    -------
    numpy.ndarray
        g(k), dimensionless, broadcast shape; NaN where θ ≤ 0.
    """
    k_ = np.asarray(k, dtype=np.float64)
    theta_ = np.asarray(theta, dtype=np.float64)
    rho = params.rho
    ph = phi(theta_, params)
    x = ph * k_ + rho
    r = np.sqrt(x * x + 1.0 - rho * rho)
    w = 0.5 * theta_ * (1.0 + rho * ph * k_ + r)
    w1 = 0.5 * theta_ * ph * (rho + x / r)
    w2 = 0.5 * theta_ * ph * ph * (1.0 - rho * rho) / r**3
    return (1.0 - k_ * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2


def calendar_arbitrage_free(thetas: ArrayLike, *, rtol: float = 1e-12) -> bool:
    """Whether at-the-money total variances are non-decreasing in time to expiry.

    With the power-law φ (0 < γ ≤ 1) this is the whole no-calendar-arbitrage condition of an
    SSVI surface (Gatheral & Jacquier 2014, Theorem 4.1; total variance along every log-moneyness
    line is then non-decreasing in T).

    Parameters
    ----------
    thetas
        θ ordered by increasing time to expiry along the last axis: shape ``(n_expiries,)`` or
        ``(n_days, n_expiries)``. NaN entries (missing nodes) are skipped.
    rtol
        Relative tolerance for rounding: θ_{i+1} ≥ θ_i (1 − rtol) passes.

    Returns
    -------
    bool
        True if every row is non-decreasing over its finite entries.
    """
    values = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
    # Compare each finite entry with the running maximum of the finite entries before it.
    filled = np.where(np.isnan(values), -np.inf, values)
    running_max = np.maximum.accumulate(filled, axis=-1)
    prior_max = np.concatenate(
        [np.full((*values.shape[:-1], 1), -np.inf), running_max[..., :-1]], axis=-1
    )
    finite = np.isfinite(values)
    return bool(np.all(~finite | (values >= prior_max * (1.0 - rtol)) | ~np.isfinite(prior_max)))
