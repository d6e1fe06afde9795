"""Variance-swap levels of an SSVI smile, and the ATM term structure implied by the VIX family.

The VIX is not an at-the-money implied volatility: it is the square root of the fair variance of a
30-day variance swap, replicated by a strip of out-of-the-money options (the log contract;
Demeterfi, K., Derman, E., Kamal, M. & Zou, J. (1999), "More than you ever wanted to know about
volatility swaps", Goldman Sachs Quantitative Strategies Research Notes, eq. 26–28; Cboe, *VIX
White Paper* (2019), "The VIX Index Calculation: Step-by-Step", the generalised formula
σ² = (2/T) Σ ΔK_i/K_i² e^{RT} Q(K_i) − (1/T)(F/K₀ − 1)²). In the continuum limit, with
undiscounted OTM prices normalised by the forward, p(k) = P(K)/F for K < F and C(K)/F for K ≥ F,
K = F e^k:

    σ²_VS · T = 2 ∫ P(K)/K² dK + 2 ∫ C(K)/K² dK = 2 ∫ p(k) e^{−k} dk.                    (VS)

On a skewed smile the OTM puts are rich, so σ_VS exceeds the ATM vol (by 1–3 vol points for SPX):
reading the VIX as the ATM vol would put the whole surface too high. Here the SSVI smile
(:mod:`.ssvi`) is integrated numerically; since w depends on (k, θ) only, the variance-swap total
variance σ²_VS T is a function V(θ) of θ and the parameters alone, strictly increasing in θ,
which :func:`atm_total_variance_from_variance_swap` inverts.

Term structure from the Cboe indices
------------------------------------
Each index is a constant-maturity variance-swap level (Cboe VIX White Paper; Cboe index pages
for VIX9D, VIX3M, VIX6M; each applies the VIX algorithm to the two SPX expiries bracketing its
target and interpolates total variance linearly in time to the target):

======  ================  ====================================================================
index   target (days)     history
======  ================  ====================================================================
VIX9D   9                 from 2011-01-04 (Cboe VIX9D page)
VIX     30                from 1990 (the 2003 method, back-calculated)
VIX3M   93                from 2007-12 (formerly VXV)
VIX6M   184               from 2008-01 (formerly VXMT; the 6-month target is 184 days, as in
                          published replications of the Cboe methodology)
======  ================  ====================================================================

:func:`atm_term_structure` solves θ at these nodes, enforces calendar no-arbitrage, and
:func:`interpolate_theta` reads θ at any time to expiry.

Units: vols and variances are decimal (0.15, 0.0225), times in years ACT/365 (index tenors are
calendar days / 365, as in the VIX White Paper's minute count / 525,600).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from warehouse.modeled_chain.ssvi import SSVIParams, total_variance

#: Target tenors of VIX9D, VIX, VIX3M, VIX6M in calendar days (see the module docstring).
INDEX_TENOR_DAYS: Final[tuple[int, ...]] = (9, 30, 93, 184)
#: The same in years (ACT/365), shape (4,).
NODE_TTE_YEARS: Final[NDArray[np.float64]] = np.asarray(INDEX_TENOR_DAYS, dtype=np.float64) / 365.0
#: Index of the 30-day (VIX) node: the anchor of the calendar-arbitrage repair.
ANCHOR_NODE: Final = 1

#: The integration range ends where the OTM option is this many standard deviations out of the
#: money (|d₂| on the put side, |d₁| on the call side): the integrand left out is < N(−9) ≈ 1e-19.
_TAIL_STDEVS: Final = 9.0
#: Farthest log-moneyness integrated (|k|); reached only by implausibly wide smiles.
_K_MAX: Final = 30.0
#: Simpson intervals on each side of k = 0 (the integrand has a kink there), even.
_N_INTERVALS: Final = 256
#: Grid k = k_end · u^p on u ∈ [0, 1]: p > 1 puts more points near the money.
_GRID_POWER: Final = 2.0
#: Rows of the (n, 257) integrand grids evaluated at a time (performance only).
_BLOCK_ROWS: Final = 64


def _broadcast_params(params: SSVIParams, shape: tuple[int, ...]) -> SSVIParams:
    """Parameters as float arrays of ``shape`` (checked to broadcast)."""

    def grow(value: float | NDArray[np.float64]) -> NDArray[np.float64]:
        try:
            return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
        except ValueError as exc:
            raise ValueError(
                f"SSVI parameter of shape {np.shape(value)} does not broadcast to rows {shape}"
            ) from exc

    return SSVIParams(rho=grow(params.rho), eta=grow(params.eta), gamma=grow(params.gamma))


def _column(params: SSVIParams) -> SSVIParams:
    """Parameters of shape (n,) as (n, 1), to broadcast over a (n, m) grid (validated already)."""
    out = object.__new__(SSVIParams)
    for name in ("rho", "eta", "gamma"):
        object.__setattr__(out, name, np.asarray(getattr(params, name))[:, None])
    return out


def _stacked(first: SSVIParams, second: SSVIParams) -> SSVIParams:
    """Column parameters of two row sets, one after the other (validated already)."""
    out = object.__new__(SSVIParams)
    for name in ("rho", "eta", "gamma"):
        object.__setattr__(out, name, np.concatenate([getattr(first, name), getattr(second, name)]))
    return out


def _row_block(params: SSVIParams, rows: slice) -> SSVIParams:
    """Column parameters of a block of rows (a view; validated already)."""
    out = object.__new__(SSVIParams)
    for name in ("rho", "eta", "gamma"):
        object.__setattr__(out, name, getattr(params, name)[rows])
    return out


def _d(k: NDArray[np.float64], w: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    s = np.sqrt(w)
    d1 = -k / s + 0.5 * s
    return d1, d1 - s


def _integration_ends(
    theta: NDArray[np.float64], params: SSVIParams
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-row ends k_lo < 0 < k_hi with d₂(k_lo) = +9 and d₁(k_hi) = −9, by bisection.

    d₁ and d₂ decrease in k on an arbitrage-free smile (Fukasawa, M. (2012), "The normalizing
    transformation of the implied volatility smile", *Mathematical Finance* 22(4), 753–762), so
    bisection brackets each end; the ends are capped at |k| = 30.
    """
    n = theta.shape[0]
    # both ends at once (one bisection, half the numpy calls): rows [0, n) search the put
    # end (k < 0), rows [n, 2n) the call end (k > 0); each row's iterates are unchanged
    col = _column(params)
    both = _stacked(col, col)
    th = np.concatenate([theta, theta])[:, None]
    put_end = (np.arange(2 * n) < n)[:, None]
    lo = np.zeros((2 * n, 1))
    hi = np.concatenate([np.full(n, -_K_MAX), np.full(n, _K_MAX)])[:, None]
    for _ in range(24):  # the end only needs to sit near 9 sd: 30 / 2^24 ≈ 2e-6 in k
        mid = 0.5 * (lo + hi)
        d1, d2 = _d(mid, total_variance(mid, th, both))
        inside = np.where(put_end, d2 < _TAIL_STDEVS, d1 > -_TAIL_STDEVS)
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    return hi[:n, 0], hi[n:, 0]


def _simpson_weights(n_intervals: int) -> NDArray[np.float64]:
    w = np.ones(n_intervals + 1)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w / 3.0


def variance_swap_total_variance(theta: ArrayLike, params: SSVIParams) -> NDArray[np.float64]:
    """Fair variance-swap total variance V = σ²_VS · T of SSVI slices, by the log-contract strip.

    Evaluates eq. (VS) of the module docstring, 2 ∫ p(k) e^{−k} dk, with the OTM normalised
    undiscounted Black prices of the slice w(k, θ): for k < 0 the put, p e^{−k} = N(−d₂) −
    e^{−k} N(−d₁); for k > 0 the call, p e^{−k} = e^{−k} N(d₁) − N(d₂); d₁,₂ = −k/√w ± √w/2
    (Demeterfi et al. 1999; Cboe VIX White Paper). Composite Simpson on 257 points each side of
    k = 0 (the integrand has a kink there), on a per-row range that reaches 9 standard deviations
    out of the money on each side (:func:`_integration_ends`): a fixed grid in u ∈ [0, 1] mapped
    affinely to [k_lo, 0] and [0, k_hi]. On a flat smile (η → 0) V = θ to ~1e-10 relative.

    The discrete VIX formula's −(F/K₀ − 1)² term and its strike truncation are not modelled:
    this is the continuum value the index estimates.

    Parameters
    ----------
    theta
        At-the-money total variance(s), shape ``(n,)`` (or scalar), > 0.
    params
        Surface parameters, scalars or arrays of shape ``(n,)`` (one set per row).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``: V = σ²_VS T (decimal variance × years). V(θ) is independent of T
        (w depends on k and θ only). NaN where θ is NaN or ≤ 0.
    """
    theta_ = np.atleast_1d(np.asarray(theta, dtype=np.float64)).reshape(-1)
    n = theta_.shape[0]
    out = np.full(n, np.nan)
    ok = np.isfinite(theta_) & (theta_ > 0)
    if not ok.any():
        return out
    rows = _broadcast_params(params, (n,)).take(ok)
    th = theta_[ok]
    k_lo, k_hi = _integration_ends(th, rows)
    u = np.linspace(0.0, 1.0, _N_INTERVALS + 1)[None, :]
    # k = k_end u^p: points cluster near the money, where the integrand lives;
    # dk = p k_end u^(p-1) du
    jacobian = _GRID_POWER * u ** (_GRID_POWER - 1.0)
    u_power = u**_GRID_POWER
    weights = _simpson_weights(_N_INTERVALS) / _N_INTERVALS
    col = _column(rows)
    th_col = th[:, None]
    m = th.shape[0]
    # integrand × jacobian on each side's grid, filled a block of rows at a time (the dozen
    # temporaries of a block stay in cache; values are the same as on the whole array)
    put = np.empty((m, _N_INTERVALS + 1))
    call = np.empty((m, _N_INTERVALS + 1))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for start in range(0, m, _BLOCK_ROWS):
            block = slice(start, start + _BLOCK_ROWS)
            params_block = _row_block(col, block)
            th_block = th_col[block]
            # put side, k in [k_lo, 0] (|k| <= 30 so e^{-k} cannot overflow)
            k = k_lo[block, None] * u_power
            d1, d2 = _d(k, total_variance(k, th_block, params_block))
            put[block] = np.where(k < 0, ndtr(-d2) - np.exp(-k) * ndtr(-d1), 0.0) * jacobian
            # call side, k in [0, k_hi]
            k = k_hi[block, None] * u_power
            d1, d2 = _d(k, total_variance(k, th_block, params_block))
            call[block] = np.where(k > 0, np.exp(-k) * ndtr(d1) - ndtr(d2), 0.0) * jacobian
    # One matrix-vector product over all rows, as before the blocking: OpenBLAS's summation
    # order depends on a row's place in the batch, so splitting it would move the last bits.
    put_integral = (put @ weights) * (-k_lo)
    call_integral = (call @ weights) * k_hi
    out[ok] = 2.0 * (put_integral + call_integral)
    return out


def variance_swap_variance(
    tte_years: ArrayLike, theta: ArrayLike, params: SSVIParams
) -> NDArray[np.float64]:
    """Annualised fair variance-swap variance σ²_VS = V(θ) / T of SSVI slices.

    Parameters
    ----------
    tte_years
        Time to expiry in years (ACT/365), > 0, shape ``(n,)`` or scalar.
    theta, params
        As in :func:`variance_swap_total_variance`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, decimal variance per year (the VIX is 100 √ of it). NaN where T ≤ 0.
    """
    theta_, tte = np.broadcast_arrays(
        np.asarray(theta, dtype=np.float64), np.asarray(tte_years, dtype=np.float64)
    )
    total = variance_swap_total_variance(theta_.reshape(-1), params)
    tte_flat = tte.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tte_flat > 0, total / tte_flat, np.nan)


def atm_total_variance_from_variance_swap(
    vs_variance: ArrayLike,
    tte_years: ArrayLike,
    params: SSVIParams,
    *,
    rel_tol: float = 1e-12,
    max_iter: int = 60,
) -> NDArray[np.float64]:
    """θ such that the SSVI slice's variance-swap variance equals ``vs_variance``, per row.

    Solves V(θ) = σ²_VS · T (:func:`variance_swap_total_variance`) with V strictly increasing in
    θ (Gatheral & Jacquier 2014, Theorem 4.1: w increases with θ at every k, so every OTM price
    does). The iteration θ ← θ · target / V(θ) (fast: V/θ varies slowly with θ) runs inside a
    bracket tightened at each step, falling back to geometric bisection when it leaves the bracket;
    all rows at once.

    Parameters
    ----------
    vs_variance
        Annualised variance-swap variance, decimal (VIX² / 10⁴, e.g. 0.15² for VIX = 15),
        shape ``(n,)`` or scalar; NaN gives NaN.
    tte_years
        Tenor of the variance swap in years, > 0, broadcastable with ``vs_variance``.
    params
        Surface parameters, scalars or arrays of shape ``(n,)``.
    rel_tol, max_iter
        Stop when |V(θ) − target| ≤ rel_tol · target, after at most ``max_iter`` iterations.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``: θ = σ_ATM² T, decimal variance × years; NaN where the input is NaN.

    Raises
    ------
    ValueError
        If a finite ``vs_variance`` is ≤ 0 or a ``tte_years`` ≤ 0 (the message names it), or a
        row does not converge.
    """
    vs, tte = np.broadcast_arrays(
        np.atleast_1d(np.asarray(vs_variance, dtype=np.float64)),
        np.atleast_1d(np.asarray(tte_years, dtype=np.float64)),
    )
    vs, tte = vs.reshape(-1), tte.reshape(-1)
    n = vs.shape[0]
    rows = _broadcast_params(params, (n,))
    bad = np.isfinite(vs) & (vs <= 0)
    if bad.any():
        raise ValueError(f"vs_variance must be > 0, got {float(vs[bad][0])!r}")
    bad = np.isfinite(vs) & ~(tte > 0)
    if bad.any():
        raise ValueError(f"tte_years must be > 0, got {float(tte[bad][0])!r}")
    out = np.full(n, np.nan)
    idx = np.flatnonzero(np.isfinite(vs))
    target = vs[idx] * tte[idx]
    theta = target.copy()  # V(θ) ≥ θ on a skewed smile: start at or above the root's ratio 1
    lo = np.zeros_like(theta)
    hi = np.full_like(theta, np.inf)
    sub = rows.take(idx)
    for _ in range(max_iter):
        if idx.size == 0:
            break
        value = variance_swap_total_variance(theta, sub)
        done = np.abs(value - target) <= rel_tol * target
        out[idx[done]] = theta[done]
        under = value < target
        lo = np.where(under, np.maximum(lo, theta), lo)
        hi = np.where(under, hi, np.minimum(hi, theta))
        step = theta * target / value
        inside = (step > lo) & (step < hi)
        fallback = np.where(np.isfinite(hi), np.sqrt(np.maximum(lo, 1e-300) * hi), 2.0 * theta)
        theta = np.where(inside, step, fallback)
        keep = ~done
        idx, theta, target, lo, hi = idx[keep], theta[keep], target[keep], lo[keep], hi[keep]
        sub = sub.take(keep)
    if idx.size:
        raise ValueError(
            f"theta did not converge for vs_variance={float(vs[idx[0]])!r}, "
            f"tte_years={float(tte[idx[0]])!r}"
        )
    return out


def _as_days(value: ArrayLike) -> NDArray[np.float64]:
    return np.atleast_1d(np.asarray(value, dtype=np.float64)).reshape(-1)


def atm_term_structure(
    vix_9d: ArrayLike | None,
    vix: ArrayLike,
    vix_3m: ArrayLike | None,
    vix_6m: ArrayLike | None,
    params: SSVIParams,
    *,
    reference_shape: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """ATM total variance θ at the index tenors (9, 30, 93, 184 days), per day, arbitrage-free.

    Each index close is read as a variance-swap level (VIX = 100 σ_VS; here decimal, 0.15) and
    inverted through the day's SSVI smile: θ_i = V⁻¹(σ²_VS,i T_i)
    (:func:`atm_total_variance_from_variance_swap`).

    Calendar no-arbitrage (θ non-decreasing in T; Gatheral & Jacquier 2014, Theorem 4.1) is then
    enforced around the VIX node, the deepest and always-published one: nodes before it are capped
    at θ_30 (θ_9 ← min(θ_9, θ_30)), nodes after it are floored by the largest θ before them
    (running maximum). VIX9D > VIX (vol backwardation) is allowed and kept as long as total
    variance still grows (VIX9D² · 9 ≤ VIX² · 30, i.e. VIX9D ≤ 1.83 VIX); only beyond that is
    θ_9 cut to θ_30 (a flat total variance between 9 and 30 days). If VIX is missing the anchor is
    the first published node.

    Missing indices (NaN, or an argument of None) leave NaN nodes, which :func:`interpolate_theta`
    skips (VIX9D starts 2011-01-04, VIX3M 2007-12, VIX6M 2008-01). For an underlying with a
    30-day index only (VXAPL for AAPL): pass it as ``vix``, None for the others, and optionally
    ``reference_shape``: the ratio θ(T_i)/θ(30 d) of a reference surface on the same days (e.g.
    SPX's, computed by this function from the VIX family); missing nodes are then
    θ_30 × ratio, so the single stock borrows the index's term-structure shape and keeps its own
    30-day level. Without a reference, the missing nodes stay NaN and :func:`interpolate_theta`
    extends the 30-day node at a flat ATM vol.

    Parameters
    ----------
    vix_9d, vix, vix_3m, vix_6m
        Index closes as decimal vols, shape ``(n_days,)`` each (or None for an absent series);
        NaN where not published.
    params
        Surface parameters, scalars or arrays of shape ``(n_days,)`` (one set per day).
    reference_shape
        Optional, shape ``(n_days, 4)``: θ(T_i)/θ(30 d) of a reference surface, > 0.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_days, 4)``: θ at :data:`NODE_TTE_YEARS`, non-decreasing along each row over
        its finite entries; NaN where the node has no index (and no reference).

    Raises
    ------
    ValueError
        If ``vix`` is None, an index value is ≤ 0, or shapes disagree (the message names them).
    """
    if vix is None:
        raise ValueError("vix (the 30-day index) is required, got None")
    vix_ = np.atleast_1d(np.asarray(vix, dtype=np.float64)).reshape(-1)
    n = vix_.shape[0]
    columns = []
    for name, value in (("vix_9d", vix_9d), ("vix", vix_), ("vix_3m", vix_3m), ("vix_6m", vix_6m)):
        col = np.full(n, np.nan) if value is None else _as_days(value)
        if col.shape[0] != n:
            raise ValueError(f"{name} has {col.shape[0]} days, vix has {n}")
        bad = np.isfinite(col) & (col <= 0)
        if bad.any():
            raise ValueError(f"{name} must be > 0 (decimal vol), got {float(col[bad][0])!r}")
        columns.append(col)
    vols = np.stack(columns, axis=1)  # (n_days, 4)
    day_params = _broadcast_params(params, (n,))
    node_params = SSVIParams(
        rho=np.repeat(day_params.rho, 4),
        eta=np.repeat(day_params.eta, 4),
        gamma=np.repeat(day_params.gamma, 4),
    )
    tte = np.broadcast_to(NODE_TTE_YEARS, (n, 4)).reshape(-1)
    theta = atm_total_variance_from_variance_swap((vols**2).reshape(-1), tte, node_params)
    theta = theta.reshape(n, 4)
    if reference_shape is not None:
        ratio = np.asarray(reference_shape, dtype=np.float64)
        if ratio.shape != (n, 4):
            raise ValueError(f"reference_shape must have shape ({n}, 4), got {ratio.shape}")
        bad = np.isfinite(ratio) & (ratio <= 0)
        if bad.any():
            raise ValueError(f"reference_shape must be > 0, got {float(ratio[bad][0])!r}")
        borrowed = theta[:, [ANCHOR_NODE]] * ratio
        theta = np.where(np.isnan(theta), borrowed, theta)
    return enforce_calendar_monotone(theta)


def enforce_calendar_monotone(theta: ArrayLike, anchor: int = ANCHOR_NODE) -> NDArray[np.float64]:
    """Repair θ rows to be non-decreasing in T around an anchor (see :func:`atm_term_structure`).

    Parameters
    ----------
    theta
        Shape ``(n_days, n_nodes)``, nodes in increasing T; NaN = missing (kept NaN).
    anchor
        Column kept as is (the 30-day VIX node); where it is NaN the first finite node is used.

    Returns
    -------
    numpy.ndarray
        Same shape: nodes before the anchor capped by the smallest finite θ after them up to the
        anchor, nodes after it floored by the running maximum; non-decreasing over finite entries.
    """
    th = np.array(theta, dtype=np.float64, copy=True)
    n_days, n_nodes = th.shape
    first_finite = np.argmax(np.isfinite(th), axis=1)
    anchor_col = np.where(np.isfinite(th[:, anchor]), anchor, first_finite)
    # after the anchor (and the anchor itself): running max over finite values
    running = np.full(n_days, -np.inf)
    for j in range(n_nodes):
        after = (j >= anchor_col) & np.isfinite(th[:, j])
        running = np.where(after, np.maximum(running, th[:, j]), running)
        th[:, j] = np.where(after, running, th[:, j])
    # before the anchor, right to left: running min over finite values
    running = np.full(n_days, np.inf)
    for j in range(n_nodes - 1, -1, -1):
        at_or_before = (j <= anchor_col) & np.isfinite(th[:, j])
        running = np.where(at_or_before, np.minimum(running, th[:, j]), running)
        th[:, j] = np.where(at_or_before, running, th[:, j])
    return th


def interpolate_theta(
    nodes_tte_years: ArrayLike, nodes_theta: ArrayLike, tte_years: ArrayLike
) -> NDArray[np.float64]:
    """θ(T) from node values: linear in total variance between nodes, flat implied vol outside.

    Between the two nearest finite nodes T_a ≤ T ≤ T_b: θ = θ_a + (θ_b − θ_a)(T − T_a)/(T_b − T_a)
    (linear total variance in time, the interpolation the VIX itself uses between its two
    expiries; Cboe VIX White Paper, step 3). Before the first finite node or after the last,
    the node's ATM vol is held flat: θ = θ_node · T / T_node (increasing in T, so calendar
    monotonicity is preserved). Non-decreasing node values give a non-decreasing θ(T).

    Parameters
    ----------
    nodes_tte_years
        Node tenors in years, strictly increasing, shape ``(n_nodes,)``.
    nodes_theta
        θ at the nodes, shape ``(..., n_nodes)`` (e.g. ``(n_rows, 4)``, one row per quote);
        NaN = missing node (skipped).
    tte_years
        Query times in years, > 0, broadcastable with ``nodes_theta[..., 0]``.

    Returns
    -------
    numpy.ndarray
        θ at ``tte_years``, the broadcast shape; NaN where a row has no finite node or T ≤ 0.

    Raises
    ------
    ValueError
        If the node tenors are not strictly increasing and positive.

    Examples
    --------
    >>> import numpy as np
    >>> interpolate_theta([0.1, 0.2], np.array([[0.01, 0.03]]), np.array([0.15, 0.4]))
    array([0.02, 0.06])
    """
    nodes_t = np.asarray(nodes_tte_years, dtype=np.float64).reshape(-1)
    if not (np.all(np.diff(nodes_t) > 0) and nodes_t[0] > 0):
        raise ValueError(f"nodes_tte_years must be positive and increasing, got {nodes_t!r}")
    nodes = np.asarray(nodes_theta, dtype=np.float64)
    t = np.asarray(tte_years, dtype=np.float64)
    shape = np.broadcast_shapes(nodes.shape[:-1], t.shape)
    nodes = np.broadcast_to(nodes, (*shape, nodes_t.shape[0]))
    t = np.broadcast_to(t, shape)
    n_nodes = nodes_t.shape[0]
    # left: last finite node with T_j <= t; right: first finite node with T_j > t
    left_t = np.full(shape, np.nan)
    left_v = np.full(shape, np.nan)
    right_t = np.full(shape, np.nan)
    right_v = np.full(shape, np.nan)
    for j in range(n_nodes):
        finite = np.isfinite(nodes[..., j])
        is_left = finite & (nodes_t[j] <= t)
        left_t = np.where(is_left, nodes_t[j], left_t)
        left_v = np.where(is_left, nodes[..., j], left_v)
    for j in range(n_nodes - 1, -1, -1):
        finite = np.isfinite(nodes[..., j])
        is_right = finite & (nodes_t[j] > t)
        right_t = np.where(is_right, nodes_t[j], right_t)
        right_v = np.where(is_right, nodes[..., j], right_v)
    has_left = np.isfinite(left_v)
    has_right = np.isfinite(right_v)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = left_v + (right_v - left_v) * (t - left_t) / (right_t - left_t)
        flat_left = left_v * t / left_t
        flat_right = right_v * t / right_t
    out = np.where(has_left & has_right, between, np.where(has_left, flat_left, flat_right))
    return np.where(t > 0, out, np.nan)
