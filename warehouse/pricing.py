"""European option pricing on the forward: Black-76 price, implied volatility and greeks.

Every function is vectorised over numpy arrays (inputs broadcast against each other; no Python
loop over options) and uses the Black (1976) form of Black–Scholes–Merton:

    V_call = D · (F · N(d1) − K · N(d2)),    V_put = D · (K · N(−d2) − F · N(−d1)),
    d1 = ln(F / K) / (σ√T) + σ√T / 2,        d2 = d1 − σ√T,        D = e^{−rT},

with F the forward of the underlying to the option's settlement (in the warehouse: implied from
put–call parity, ``int_option_pricing_inputs.forward_price``), K the strike, T the time to
settlement and r the continuously compounded risk-free rate. With a spot S and a continuous
dividend yield q, F = S · e^{(r − q)T}: this is Black–Scholes–Merton (Hull, *Options, Futures and
Other Derivatives*, 10th ed., ch. 17.4 and 18.8; Black, F. (1976), "The pricing of commodity
contracts", *J. Financial Economics* 3, 167–179).

Units, house-wide
-----------------
- prices, forwards, strikes, spots: USD per share of underlying (not per contract);
- ``tte_years``: years, ACT/365 calendar time (see ``int_option_pricing_inputs``);
- ``rate``: decimal fraction per year, continuously compounded (0.0243 = 2.43 %);
- ``volatility``: decimal fraction per √year (0.20 = 20 %);
- greeks in the vendors' conventions (checked on the real iVolatility 2011 and CBOE SPY 2021
  rows, see ``rpt_option_iv_vendor_agreement``): ``delta`` per share per USD of spot, ``gamma``
  per share per USD² of spot, ``vega`` per 1 volatility point (∂V/∂σ × 0.01), ``theta`` per
  calendar day (∂V/∂t / 365, negative for a long option as time passes), ``rho`` per 1
  percentage point of rate (∂V/∂r × 0.01, q held fixed).

Implied volatility
------------------
:func:`implied_volatility` inverts the normalised Black price of the out-of-the-money
equivalent option (put–call symmetry: an in-the-money option's time value is the price of the
out-of-the-money option at the same strike), following the reduction in Jäckel, P. (2015),
"Let's be rational", *Wilmott* 2015(75), 40–53, §2:

    b(θ, s) = e^{θ/2} N(θ/s + s/2) − e^{−θ/2} N(θ/s − s/2),    θ = −|ln(F/K)| ≤ 0,  s = σ√T,

which increases strictly from 0 (s → 0) to e^{θ/2} (s → ∞) and has one inflection point at
s_c = √(2|θ|). The initial guess is Jäckel's two-branch approximation (Jäckel, P. (2006),
"By implication", *Wilmott* Nov. 2006, 60–66): below the inflection point
s₀ = √(2θ² / (|θ| − 4 ln(β / b_c))), above it s₀ = −2 N⁻¹((e^{θ/2} − β) / (e^{θ/2} − b_c) ·
N(−s_c/2)), exact at-the-money. It is refined by Halley's method (third-order; b′ and b″ are
closed-form) on ln b below the inflection point and on b above it, inside a bracket [lo, hi]
that every evaluation tightens: a step that leaves the bracket is replaced by bisection (or by
doubling s while no upper end is known). Typical market inputs converge in 2–4 iterations.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

# Status codes of implied_volatility (int8); the text labels are what the warehouse stores.
IV_STATUS_OK: Final = 0
IV_STATUS_NO_PRICE: Final = 1
IV_STATUS_BELOW_INTRINSIC: Final = 2
IV_STATUS_ABOVE_UPPER_BOUND: Final = 3
IV_STATUS_EXPIRED: Final = 4
IV_STATUS_NOT_CONVERGED: Final = 5
IV_STATUS_INVALID_INPUT: Final = 6
IV_STATUS_LABELS: Final[tuple[str, ...]] = (
    "ok",
    "no_price",
    "below_intrinsic",
    "above_upper_bound",
    "expired",
    "not_converged",
    "invalid_input",
)

DAYS_PER_YEAR: Final = 365.0  # theta per calendar day, as iVolatility and the CBOE SPY file
VOL_POINT: Final = 0.01  # vega per 1 volatility point
RATE_POINT: Final = 0.01  # rho per 1 percentage point of rate

# Relative distance to either no-arbitrage bound below which a price carries no vol (rounding).
TIME_VALUE_FLOOR: Final = 1e-12
_INV_SQRT_2PI: Final = 0.3989422804014327  # 1 / √(2π)


def _as_float_arrays(*values: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """Broadcast ``values`` against each other as contiguous float64 arrays (copies, flat)."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
    return tuple(np.ascontiguousarray(a).reshape(-1) for a in arrays)


def _d1_d2(
    forward: NDArray[np.float64],
    strike: NDArray[np.float64],
    total_vol: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """d1 and d2 of Black (1976) for total volatility s = σ√T > 0."""
    d1 = np.log(forward / strike) / total_vol + 0.5 * total_vol
    return d1, d1 - total_vol


def black_price(
    forward: ArrayLike,
    strike: ArrayLike,
    tte_years: ArrayLike,
    rate: ArrayLike,
    volatility: ArrayLike,
    is_call: ArrayLike,
) -> NDArray[np.float64]:
    """Discounted Black-76 price of a European call or put (Black 1976; Hull ch. 18.8).

    Parameters
    ----------
    forward, strike
        Forward of the underlying to settlement and strike, USD per share, shape ``(n,)`` or
        broadcastable to it; both > 0.
    tte_years
        Time to settlement in years (ACT/365), > 0.
    rate
        Continuously compounded risk-free rate, decimal fraction per year; discounts by e^{−rT}.
    volatility
        Black volatility, decimal fraction per √year, > 0.
    is_call
        Boolean, True for a call, False for a put.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)`` (the broadcast shape, flattened), USD per share. NaN where an input is
        out of its domain (σ ≤ 0, T ≤ 0, F ≤ 0, K ≤ 0 or NaN); nothing is raised.

    Examples
    --------
    Hull (10th ed., Example 15.6): S = 42, K = 40, r = 10 %, σ = 20 %, T = 0.5, no dividend, so
    F = 42 e^{0.05}; call 4.76, put 0.81.

    >>> import numpy as np
    >>> forward = 42 * np.exp(0.10 * 0.5)
    >>> black_price(forward, 40.0, 0.5, 0.10, 0.20, [True, False]).round(2)
    array([4.76, 0.81])
    """
    forward, strike, tte, rate_, vol, call = _as_float_arrays(
        forward, strike, tte_years, rate, volatility, is_call
    )
    valid = (forward > 0) & (strike > 0) & (tte > 0) & (vol > 0) & np.isfinite(rate_)
    with np.errstate(invalid="ignore", divide="ignore"):
        total_vol = np.where(valid, vol * np.sqrt(np.where(valid, tte, 1.0)), np.nan)
        d1, d2 = _d1_d2(forward, strike, total_vol)
        discount = np.exp(-rate_ * tte)
        sign = np.where(call > 0, 1.0, -1.0)
        price = discount * sign * (forward * ndtr(sign * d1) - strike * ndtr(sign * d2))
    return np.where(valid, price, np.nan)


def _halley_total_vol(
    theta: NDArray[np.float64],
    beta: NDArray[np.float64],
    exp_half_theta: NDArray[np.float64],
    s0: NDArray[np.float64],
    log_objective: bool,
    rel_tol: float,
    max_iter: int,
) -> NDArray[np.float64]:
    """Solve b(θ, s) = β for the total vol s by safeguarded Halley iterations, vectorised.

    Parameters
    ----------
    theta, beta, exp_half_theta, s0
        θ ≤ 0, the normalised price 0 < β < e^{θ/2}, e^{θ/2} and the initial guess s₀ > 0, each
        shape ``(m,)``.
    log_objective
        Iterate on f = ln b − ln β (True: below the inflection point, where b is convex and
        spans many decades) or on f = b − β (False).
    rel_tol, max_iter
        As in :func:`implied_volatility`.

    Returns
    -------
    numpy.ndarray
        Shape ``(m,)``: s, NaN where it did not converge within ``max_iter`` iterations.

    Notes
    -----
    With d1 = θ/s + s/2: b = e^{θ/2} N(d1) − e^{−θ/2} N(d1 − s), b′ = e^{θ/2} φ(d1) and
    b″/b′ = θ²/s³ − s/4 (Jäckel 2015, eqs. 2.5–2.8). Every evaluation tightens a bracket
    [lo, hi] (b increases in s); a step that leaves it is replaced by bisection, or by doubling s
    while hi is unknown. Converged: the price matches to 8 ulp, or the step is below
    ``rel_tol · s``, or a Halley step inside the bracket is below (rel_tol)^{1/3} / 10 relative,
    after which cubic convergence leaves an error of order its cube.
    """
    out = np.full(theta.shape[0], np.nan)
    idx = np.arange(theta.shape[0])
    th, bt, eh, s = theta, beta, exp_half_theta, s0
    inv_eh = 1.0 / eh
    theta_sq = th * th
    log_bt = np.log(bt) if log_objective else bt
    lo = np.zeros_like(s)
    hi = np.full_like(s, np.inf)
    cubic_step_tol = 0.1 * rel_tol ** (1.0 / 3.0)
    residual_tol = 8.0 * np.finfo(np.float64).eps
    for _ in range(max_iter):
        if idx.size == 0:
            break
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            inv_s = 1.0 / s
            d1 = th * inv_s + 0.5 * s
            b = eh * ndtr(d1) - inv_eh * ndtr(d1 - s)
            vega = (eh * _INV_SQRT_2PI) * np.exp(-0.5 * d1 * d1)
            curvature = theta_sq * inv_s * inv_s * inv_s - 0.25 * s  # b″/b′
            under = b < bt
            np.copyto(lo, s, where=under)
            np.copyto(hi, s, where=~under)
            # Halley: step = (f/f′) / (1 − (f/f′) · f″/(2f′))
            if log_objective:
                vega_over_b = vega / b
                newton = (np.log(b) - log_bt) / vega_over_b
                halley = 1.0 - 0.5 * newton * (curvature - vega_over_b)
            else:
                newton = (b - bt) / vega
                halley = 1.0 - 0.5 * newton * curvature
            step = np.where(halley > 0.25, newton / halley, newton)
            s_halley = s - step
            inside = (s_halley > lo) & (s_halley < hi)
            relative_step = np.abs(step) * inv_s
            residual_small = np.abs(b - bt) <= residual_tol * bt
            done = (
                residual_small
                | (relative_step <= rel_tol)
                | (inside & (relative_step <= cubic_step_tol))
            )
            s_next = np.where(inside, s_halley, np.where(hi < np.inf, 0.5 * (lo + hi), 2.0 * s))
        if done.any():
            solved = np.where(residual_small | ~inside, s, s_halley)
            out[idx[done]] = solved[done]
            keep = ~done
            idx, th, bt, eh, inv_eh = idx[keep], th[keep], bt[keep], eh[keep], inv_eh[keep]
            theta_sq, log_bt, lo, hi = theta_sq[keep], log_bt[keep], lo[keep], hi[keep]
            s = s_next[keep]
        else:
            s = s_next
    return out


def _initial_total_vol(
    theta: NDArray[np.float64],
    beta: NDArray[np.float64],
    exp_half_theta: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Jäckel (2006) initial guess s₀ and the inflection price b_c, each shape ``(m,)``.

    Below the inflection point (β < b_c), keeping the leading term of b's small-s asymptotics,
    b ≈ b_c · exp(θ²/(2s_c²) − θ²/(2s²)), gives s₀ = √(2θ² / (|θ| − 4 ln(β/b_c))); above it
    the distance to the upper bound scales like N(−s/2), giving
    s₀ = −2 N⁻¹((e^{θ/2} − β)/(e^{θ/2} − b_c) · N(−s_c/2)). Both branches meet at (s_c, b_c);
    the upper one is exact for θ = 0.
    """
    s_c = np.sqrt(-2.0 * theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_c = np.where(
            s_c > 0,
            exp_half_theta * ndtr(theta / s_c + 0.5 * s_c)
            - ndtr(theta / s_c - 0.5 * s_c) / exp_half_theta,
            0.0,
        )
        lower = beta < b_c
        s_lower = np.sqrt(2.0 * theta * theta / (-theta - 4.0 * np.log(beta / b_c)))
        ratio = (exp_half_theta - beta) / (exp_half_theta - b_c) * ndtr(-0.5 * s_c)
        s_upper = -2.0 * ndtri(np.clip(ratio, 1e-300, 0.5))
    s0 = np.where(lower, s_lower, s_upper)
    # A guess of 0 or NaN (β at the edge of double precision) restarts from the inflection
    # point or a 100 % vol·√year guess; the bracket does the rest.
    fallback = np.where(s_c > 0, s_c, 1.0)
    s0 = np.where(np.isfinite(s0) & (s0 > 0), s0, fallback)
    return s0, b_c


def implied_volatility(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    tte_years: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
    *,
    rel_tol: float = 1e-11,
    max_iter: int = 32,
) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Black-76 implied volatility of European option prices, vectorised.

    Parameters
    ----------
    price
        Discounted option price (e.g. the mid quote), USD per share, shape ``(n,)`` or
        broadcastable to the other inputs.
    forward, strike
        Forward to settlement and strike, USD per share, > 0.
    tte_years
        Time to settlement in years (ACT/365).
    rate
        Continuously compounded risk-free rate, decimal fraction per year (discount e^{−rT}).
    is_call
        Boolean, True for a call, False for a put.
    rel_tol
        Convergence tolerance on the total volatility s = σ√T, relative: the iteration stops
        when a step changes s by at most ``rel_tol · s`` (Halley converges cubically, so the
        error left is far below it; the default leaves |Δσ| < 1e-11 · σ and a repriced value
        within ~1e-12 relative of ``price`` on market inputs), or when the undiscounted price
        residual is within 8 ulp of the normalised price.
    max_iter
        Iterations at most (each one evaluates two normal CDFs per unsolved option).

    Returns
    -------
    volatility : numpy.ndarray
        Shape ``(n,)``, float64, decimal fraction per √year; NaN wherever ``status`` is not
        ``IV_STATUS_OK``.
    status : numpy.ndarray
        Shape ``(n,)``, int8, index into :data:`IV_STATUS_LABELS`:

        - ``ok`` (0): solved;
        - ``no_price`` (1): ``price`` is NaN (no mid: no ask);
        - ``below_intrinsic`` (2): price ≤ discounted forward intrinsic value
          D · max(±(F − K), 0) (the vol would be 0 or does not exist), or above it by no more
          than :data:`TIME_VALUE_FLOOR` of the price (a time value lost in rounding);
        - ``above_upper_bound`` (3): price ≥ the no-arbitrage upper bound D · F (call) or
          D · K (put), or within :data:`TIME_VALUE_FLOOR` (relative) of it;
        - ``expired`` (4): ``tte_years`` ≤ 0;
        - ``not_converged`` (5): no convergence within ``max_iter`` iterations;
        - ``invalid_input`` (6): F, K, T or r NaN, or F ≤ 0 or K ≤ 0.

    Raises
    ------
    ValueError
        If ``rel_tol`` is not in (0, 1e-3] or ``max_iter`` < 1, or the inputs do not broadcast.

    Notes
    -----
    Reduction to the normalised out-of-the-money call and the guess and iteration are described
    in the module docstring (Jäckel 2006, 2015). Precision: b is evaluated as a difference of
    two normal CDFs, which loses digits when s ≪ |θ| (a price many standard deviations out of
    the money): at s/|θ| = 0.01 about 4 of 16. That is far below any quote's tick.

    Examples
    --------
    >>> import numpy as np
    >>> forward = 42 * np.exp(0.10 * 0.5)
    >>> price = black_price(forward, 40.0, 0.5, 0.10, 0.20, True)
    >>> vol, status = implied_volatility(price, forward, 40.0, 0.5, 0.10, True)
    >>> float(vol[0].round(12)), IV_STATUS_LABELS[status[0]]
    (0.2, 'ok')
    """
    if not 0.0 < rel_tol <= 1e-3:
        raise ValueError(f"rel_tol must be in (0, 1e-3], got {rel_tol!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    price_, forward_, strike_, tte, rate_, call = _as_float_arrays(
        price, forward, strike, tte_years, rate, is_call
    )
    n = price_.shape[0]
    status = np.full(n, IV_STATUS_OK, dtype=np.int8)
    total_vol = np.full(n, np.nan)

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        invalid = ~(
            (forward_ > 0)
            & (strike_ > 0)
            & np.isfinite(forward_)
            & np.isfinite(strike_)
            & np.isfinite(rate_)
            & ~np.isnan(tte)
        )
        expired = ~invalid & (tte <= 0)
        no_price = ~invalid & ~expired & np.isnan(price_)
        # Undiscounted price and its time value over the forward intrinsic value: by put–call
        # parity the time value is the price of the out-of-the-money option at the same strike.
        undiscounted = price_ * np.exp(rate_ * tte)
        is_call_ = call > 0
        intrinsic = np.maximum(np.where(is_call_, forward_ - strike_, strike_ - forward_), 0.0)
        time_value = undiscounted - intrinsic
        root_fk = np.sqrt(forward_ * strike_)
        theta = -np.abs(np.log(forward_ / strike_))
        exp_half_theta = np.exp(0.5 * theta)
        beta = time_value / root_fk
        pending = ~(invalid | expired | no_price)
        # A time value within rounding of zero carries no volatility information.
        below = pending & ~(time_value > TIME_VALUE_FLOOR * undiscounted)
        # Likewise a price within rounding of the upper bound has no finite vol.
        above = pending & ~below & ~(beta < exp_half_theta * (1.0 - TIME_VALUE_FLOOR))
    status[invalid] = IV_STATUS_INVALID_INPUT
    status[expired] = IV_STATUS_EXPIRED
    status[no_price] = IV_STATUS_NO_PRICE
    status[below] = IV_STATUS_BELOW_INTRINSIC
    status[above] = IV_STATUS_ABOVE_UPPER_BOUND
    solvable = pending & ~below & ~above

    idx = np.flatnonzero(solvable)
    th, bt, eh = theta[idx], beta[idx], exp_half_theta[idx]
    s0, b_c = _initial_total_vol(th, bt, eh)
    # Below the inflection point iterate on ln b, above it on b (two batches, no masking).
    below_inflection = bt < b_c
    for log_objective in (True, False):
        part = below_inflection if log_objective else ~below_inflection
        total_vol[idx[part]] = _halley_total_vol(
            th[part], bt[part], eh[part], s0[part], log_objective, rel_tol, max_iter
        )
    status[solvable & np.isnan(total_vol)] = IV_STATUS_NOT_CONVERGED

    with np.errstate(invalid="ignore"):
        volatility = total_vol / np.sqrt(np.where(status == IV_STATUS_OK, tte, np.nan))
    return volatility, status


def black_greeks(
    spot: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    tte_years: ArrayLike,
    rate: ArrayLike,
    volatility: ArrayLike,
    is_call: ArrayLike,
) -> dict[str, NDArray[np.float64]]:
    """Black–Scholes–Merton greeks w.r.t. spot, in the vendors' units (Hull ch. 19, Table 19.6).

    The dividend yield is the one the forward implies, e^{−qT} = D · F / S (so q = r − ln(F/S)/T),
    and the greeks are those of BSM with that q: the spot delta of a call is e^{−qT} N(d1), not
    the forward delta N(d1).

    Parameters
    ----------
    spot
        Underlying price at the quote, USD per share, > 0.
    forward, strike
        Forward to settlement and strike, USD per share, > 0.
    tte_years
        Time to settlement in years (ACT/365), > 0.
    rate
        Continuously compounded risk-free rate, decimal fraction per year.
    volatility
        Black volatility, decimal fraction per √year, > 0 (e.g. from :func:`implied_volatility`).
    is_call
        Boolean, True for a call, False for a put.

    Returns
    -------
    dict of str to numpy.ndarray
        Each shape ``(n,)`` (the broadcast shape, flattened); NaN where an input is NaN or out
        of its domain. Units (per share of underlying, not per contract):

        - ``delta``: ∂V/∂S, call e^{−qT} N(d1) in [0, 1], put −e^{−qT} N(−d1) in [−1, 0];
        - ``gamma``: ∂²V/∂S², e^{−qT} φ(d1) / (S σ √T), per USD;
        - ``vega``: ∂V/∂σ per 1 volatility point, S e^{−qT} φ(d1) √T × 0.01, USD;
        - ``theta``: ∂V/∂t per calendar day, USD / day:
          call (−S e^{−qT} φ(d1) σ / (2√T) − r K D N(d2) + q S e^{−qT} N(d1)) / 365,
          put (−S e^{−qT} φ(d1) σ / (2√T) + r K D N(−d2) − q S e^{−qT} N(−d1)) / 365;
        - ``rho``: ∂V/∂r per 1 percentage point with S and q fixed, call K T D N(d2) × 0.01,
          put −K T D N(−d2) × 0.01, USD.

    Examples
    --------
    Hull (10th ed., Example 19.1 ... 19.6 setting) S = 49, K = 50, r = 5 %, σ = 20 %,
    T = 0.3846, no dividend: call delta 0.522, gamma 0.066, vega 0.121 per point.

    >>> import numpy as np
    >>> t = 0.3846
    >>> g = black_greeks(49.0, 49.0 * np.exp(0.05 * t), 50.0, t, 0.05, 0.20, True)
    >>> [round(float(g[k][0]), 3) for k in ("delta", "gamma", "vega")]
    [0.522, 0.066, 0.121]
    """
    spot_, forward_, strike_, tte, rate_, vol, call = _as_float_arrays(
        spot, forward, strike, tte_years, rate, volatility, is_call
    )
    valid = (spot_ > 0) & (forward_ > 0) & (strike_ > 0) & (tte > 0) & (vol > 0)
    valid &= np.isfinite(rate_)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sqrt_t = np.sqrt(np.where(valid, tte, np.nan))
        total_vol = vol * sqrt_t
        d1, d2 = _d1_d2(forward_, strike_, total_vol)
        discount = np.exp(-rate_ * tte)
        carry = discount * forward_ / spot_  # e^{−qT}
        dividend_yield = rate_ - np.log(forward_ / spot_) / tte
        pdf_d1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
        is_call_ = call > 0
        sign = np.where(is_call_, 1.0, -1.0)
        n_d1 = ndtr(sign * d1)  # N(d1) for a call, N(−d1) for a put
        n_d2 = ndtr(sign * d2)
        delta = sign * carry * n_d1
        gamma = carry * pdf_d1 / (spot_ * total_vol)
        vega = spot_ * carry * pdf_d1 * sqrt_t
        theta = (
            -spot_ * carry * pdf_d1 * vol / (2.0 * sqrt_t)
            - sign * rate_ * strike_ * discount * n_d2
            + sign * dividend_yield * spot_ * carry * n_d1
        )
        rho = sign * strike_ * tte * discount * n_d2
    nan = np.nan
    return {
        "delta": np.where(valid, delta, nan),
        "gamma": np.where(valid, gamma, nan),
        "vega": np.where(valid, vega * VOL_POINT, nan),
        "theta": np.where(valid, theta / DAYS_PER_YEAR, nan),
        "rho": np.where(valid, rho * RATE_POINT, nan),
    }


#: Rows per block of :func:`black_call_put`: the ~40 temporaries of a block (64 KiB each) stay
#: in the core's L2 cache instead of streaming 40 full-length arrays through memory.
_CALL_PUT_BLOCK_ROWS: Final = 1 << 13


def black_call_put(
    spot: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    tte_years: ArrayLike,
    rate: ArrayLike,
    volatility: ArrayLike,
) -> dict[str, NDArray[np.float64]]:
    """Black-76 prices and BSM greeks of the call AND the put of each row, in one pass.

    The fusion of :func:`black_price` and :func:`black_greeks` for both option types at the same
    strike, expiry and volatility (a modeled chain lists both at every strike, and a smile gives
    both the same volatility): ln(F/K), d1, d2, φ(d1), the discount e^{−rT}, the carry e^{−qT}
    and the implied q are computed once per row instead of four times, and the rows are processed
    in cache-sized blocks. Formulas and sources: :func:`black_price` (Black 1976; Hull ch. 18.8)
    and :func:`black_greeks` (Hull ch. 19, Table 19.6).

    Every value is bit-for-bit the one :func:`black_price` / :func:`black_greeks` return with
    ``is_call=True`` (row 0) and ``is_call=False`` (row 1): the same floating-point operations in
    the same order, the ±1 sign of those functions entering only through multiplications and
    negations, which are exact in IEEE arithmetic (tests/modeled_chain/test_generate.py checks
    it on random and edge-case inputs).

    Parameters
    ----------
    spot
        Underlying price at the quote, USD per share, > 0 (greeks only: prices do not need it).
    forward, strike
        Forward to settlement and strike, USD per share, > 0.
    tte_years
        Time to settlement in years (ACT/365), > 0.
    rate
        Continuously compounded risk-free rate, decimal fraction per year.
    volatility
        Black volatility, decimal fraction per √year, > 0.

    Returns
    -------
    dict of str to numpy.ndarray
        With n the broadcast size of the inputs: ``price``, ``delta``, ``theta`` and ``rho`` of
        shape ``(2, n)``, row 0 the call and row 1 the put (so ``.reshape(-1)`` lists the calls
        then the puts without a copy), and ``gamma`` and ``vega`` of shape ``(n,)`` (the same for
        both types). Units of :func:`black_price` (USD per share) and :func:`black_greeks`
        (vega per volatility point, theta per calendar day, rho per percentage point). NaN where
        those functions give NaN (an input out of its domain); nothing is raised.

    Examples
    --------
    Hull (10th ed., Example 15.6): S = 42, K = 40, r = 10 %, σ = 20 %, T = 0.5, no dividend.

    >>> import numpy as np
    >>> out = black_call_put(42.0, 42 * np.exp(0.10 * 0.5), 40.0, 0.5, 0.10, 0.20)
    >>> out["price"][:, 0].round(2).tolist()  # call, put
    [4.76, 0.81]
    """
    spot_, forward_, strike_, tte, rate_, vol = _as_float_arrays(
        spot, forward, strike, tte_years, rate, volatility
    )
    n = spot_.shape[0]
    price, delta, theta, rho = (np.empty((2, n)) for _ in range(4))
    gamma, vega = np.empty(n), np.empty(n)
    nan = np.nan
    for lo in range(0, n, _CALL_PUT_BLOCK_ROWS):
        sl = slice(lo, min(lo + _CALL_PUT_BLOCK_ROWS, n))
        s, f, k, t, r, v = spot_[sl], forward_[sl], strike_[sl], tte[sl], rate_[sl], vol[sl]
        valid_price = (f > 0) & (k > 0) & (t > 0) & (v > 0) & np.isfinite(r)
        valid = valid_price & (s > 0)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # black_price's σ√T (where valid) equals black_greeks' σ·sqrt_t on the valid rows
            sqrt_t = np.sqrt(np.where(valid_price, t, nan))
            total_vol = v * sqrt_t
            d1, d2 = _d1_d2(f, k, total_vol)
            discount = np.exp(-r * t)
            n_d1_call, n_d2_call = ndtr(d1), ndtr(d2)
            n_d1_put, n_d2_put = ndtr(-d1), ndtr(-d2)
            price[0, sl] = np.where(valid_price, discount * (f * n_d1_call - k * n_d2_call), nan)
            price[1, sl] = np.where(valid_price, -discount * (f * n_d1_put - k * n_d2_put), nan)
            carry = discount * f / s  # e^{−qT}
            dividend_yield = r - np.log(f / s) / t
            pdf_d1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
            delta[0, sl] = np.where(valid, carry * n_d1_call, nan)
            delta[1, sl] = np.where(valid, -carry * n_d1_put, nan)
            gamma[sl] = np.where(valid, carry * pdf_d1 / (s * total_vol), nan)
            vega[sl] = np.where(valid, s * carry * pdf_d1 * sqrt_t * VOL_POINT, nan)
            decay = -s * carry * pdf_d1 * v / (2.0 * sqrt_t)
            rate_strike = r * k
            carry_yield = dividend_yield * s
            theta[0, sl] = np.where(
                valid,
                (decay - rate_strike * discount * n_d2_call + carry_yield * carry * n_d1_call)
                / DAYS_PER_YEAR,
                nan,
            )
            theta[1, sl] = np.where(
                valid,
                (decay - -rate_strike * discount * n_d2_put + -carry_yield * carry * n_d1_put)
                / DAYS_PER_YEAR,
                nan,
            )
            strike_time = k * t
            rho[0, sl] = np.where(valid, strike_time * discount * n_d2_call * RATE_POINT, nan)
            rho[1, sl] = np.where(valid, -strike_time * discount * n_d2_put * RATE_POINT, nan)
    return {
        "price": price,
        "delta": delta,
        "gamma": gamma,
        "vega": vega,
        "theta": theta,
        "rho": rho,
    }
