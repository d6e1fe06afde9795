"""Bid and ask of modeled option quotes: a half-spread model fitted on the real chain, on the
exchange's tick grid.

The generator prices a model mid (Black-76 on the SSVI surface); this module turns it into a
bid and an ask the way the real chain quotes them:

1. **Half-spread model.** ``log(half_spread)`` is a linear function of the option's own
   observables, fitted by least absolute deviations (median regression: Koenker, R. & Bassett,
   G. (1978), "Regression quantiles", *Econometrica* 46(1), 33–50; solved by iteratively
   reweighted least squares, Schlossmacher, E. J. (1973), *JASA* 68(344), 857–859) on the real
   two-sided, non-crossed, non-stale quotes that have a solved implied volatility. The
   variables are the ones a market maker prices the spread from (price level, distance from
   the money in standard deviations, tenor, vega):

   ============  =========================================================================
   ``log_mid``   ln(mid), mid in USD per share
   ``z``         \\|ln(K/F)\\| / (σ √T): distance from the money in standard deviations
   ``log_tte``   ln(tte_years)
   ``log_vega``  ln(vega), vega in USD per share per volatility point (0.01), the unit of
                 ``marts.fct_option_features``
   ``side``      sign(ln(K/F)): +1 strike above the forward, −1 below (ITM/OTM is not known
                 without the option type; the side is)
   ============  =========================================================================

   Form ``"hinge"`` (the default; chosen by measurement, see *Accuracy*) adds to the log-linear
   terms piecewise-linear hinges max(x − c, 0) at fixed knots in ``log_mid``, ``log_tte`` and
   ``z`` (a linear spline: Hastie, Tibshirani & Friedman, *The Elements of Statistical
   Learning*, 2nd ed., §5.2), the pairwise products of ``log_mid``, ``log_tte`` and ``z``,
   ``side`` and ``side·z``: 33 coefficients. Form ``"loglinear"`` is the plain
   ``b0 + b1·log_mid + b2·z + b3·log_tte + b4·log_vega``. Every variable is clipped to the
   range seen in the fit before it enters a term, so a quote outside the real chain's range
   (a 2008 deep in-the-money LEAPS) gets the spread of the nearest fitted shape instead of a
   polynomial extrapolation.

2. **Price level.** ``price_scaling="homogeneous"`` treats quotes as homogeneous of degree one
   in the underlying's price (option prices are: Merton, R. C. (1973), "Theory of rational
   option pricing", *Bell J. Econ.* 4(1), Theorem 6): a quote on an underlying at S is priced
   as the fitted one at S_ref = ``price_reference`` with mid and vega scaled by λ = S_ref / S,
   and its half-spread scaled back by 1/λ. ``"none"`` uses mid and vega as they are. The
   ``index`` model uses ``"none"`` (the 2019 chain spans S = 2,740–3,012, too narrow to tell,
   and the 2011 chain at S = 1,271 had wider, not narrower, spreads); the ``etf_equity`` model,
   whose shape is the index model's, uses ``"homogeneous"`` (:func:`fit_spread_model`).

3. **Tick grid.** The quoted half-spread is the model's minus ``rounding_offset_ticks`` ticks
   (0.5: rounding the bid down and the ask up widens a spread by one tick on average when the
   mid is continuous, and by 0 to 2 ticks when it sits on the real grid; half a tick on each
   side centres that), then ``bid = mid − h`` rounded DOWN and ``ask = mid + h`` rounded UP to
   the tick of the price each sits on (:func:`tick_size`), bid never below 0, spread never below
   one tick, and a mid below one tick quoted 0 / one tick, as the real chain quotes its far
   out-of-the-money wings (0.00 / 0.05 on SPX).

Tick rules (:func:`tick_size`), by option root and quote date
------------------------------------------------------------
- **SPX, SPXW, SPXPM** (not in any penny program): $0.05 below $3.00, $0.10 at or above.
  Cboe Rule 6.42 *Minimum Increments for Bids and Offers* (rulebook before 2019-10-07) and
  Cboe Rule 5.4(a) (rulebook from 2019-10-07). Checked on the real 2019 chain: every SPX and
  SPXW bid and ask sits on that grid.
- **Classes outside a penny program** (every equity class before it joined): the same
  $0.05 / $0.10 (Penny Pilot filings, e.g. NYSE Arca Rule 6.72; 72 FR 48717, 2007-08-24).
- **Penny Pilot** (began 2007-01-26): $0.01 below $3.00 and $0.05 at or above, except QQQ
  (QQQQ until 2011) at $0.01 for every price from its start, and IWM and SPY at $0.01 for
  every price from 2010-02-01 (Cboe notice: "beginning on February 1, 2010, the minimum
  increment for all option series in IWM and SPY will be $.01"). Roll-out of the first classes
  (exchange schedule, January 2007): WFMI 2007-01-26, GE and MSFT 2007-02-02, IWM and the
  other seven 2007-02-09; expansions added 22 classes on 2007-09-28 and 28 on 2008-03-28
  (Phlx, "Implementation of Phase II of the Penny Pilot Program", 73 FR 18028, 2008-04-02).
  AAPL and SPY are dated 2008-03-28 here; see ``PENNY_PROGRAM_ENTRY``.
- **Penny Interval Program** (replaced the pilot on 2020-07-01; OLPP Amendment No. 5,
  84 FR 68960, 2019-12-17; Cboe Rule 5.4): same increments, and IWM, QQQ and SPY stay at $0.01
  for every price (MIAX notice of 2020-06-30). AAPL, SPY, QQQ and IWM are in it.

Accuracy (measured on the real SPX chain, 2019-04-25..2019-07-22, 653,694 usable quotes)
------------------------------------------------------------------------------------------
Fit on the first 28 quote dates (326,359 quotes), measured on the last 28 (327,335) with the
real mid as the model mid (:func:`evaluate_spread_model`). Errors in ticks of the row's mid;
half-spread error = |modeled − real spread| / 2; "jittered" moves each mid uniformly within
±½ tick (seed 7), as a continuous model mid sits off the grid:

=========================  ============  ============  ============  ==============
form, sample               median |err|  mean |err|    exact spread  spread ±1 tick
                           (half, ticks) (half, ticks) share         (jittered mid)
=========================  ============  ============  ============  ==============
loglinear, in-sample       1.0           4.75          0.330         0.432
loglinear, out-of-sample   1.0           4.07          0.308         0.413
hinge, in-sample           1.0           3.79          0.413         0.507
hinge, out-of-sample       1.0           3.45          0.411         0.505
=========================  ============  ============  ============  ==============

Median signed error 0 in every row. With the real mid a modeled spread has the parity of the
real one (both straddle the same grid point or half-point), so it is exact or at least two
ticks off and the median |error| sits on the 1-tick lattice point. The mean is carried by
deep in-the-money and long-dated quotes whose real spreads run to $5–$20. Out of the 2019
window the fit is a guess: on the 5 real SPX days of 2011 (iVolatility end-of-day, 7,443
usable quotes) real half-spreads are a median 2.87× the 2019 model's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, Literal, get_args

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from warehouse.modeled_chain import MODEL_VERSION

UnderlyingClass = Literal["index", "etf_equity"]
SpreadForm = Literal["hinge", "loglinear"]
PriceScaling = Literal["none", "homogeneous"]

#: Prices at or above this level (USD per share) quote on the coarser tick.
TICK_BREAK_USD: Final = 3.0

#: Tick schedules, by code: (tick below $3, tick at or above $3), USD.
_SCHEDULE_NICKEL_DIME: Final = 0
_SCHEDULE_PENNY_NICKEL: Final = 1
_SCHEDULE_PENNY_ALL: Final = 2
_SCHEDULE_TICKS: Final = np.array([[0.05, 0.10], [0.01, 0.05], [0.01, 0.01]])

#: Option roots of cash-settled index classes that are in no penny program (Cboe Rule 6.42 /
#: 5.4(a)): $0.05 below $3, $0.10 otherwise, on every date.
INDEX_ROOTS: Final[frozenset[str]] = frozenset({"SPX", "SPXW", "SPXPM", "SPXQ"})

#: Penny-program classes: root -> (date it joined the Penny Pilot, date from which every price
#: quotes in $0.01 or None). Sources in the module docstring. The per-class entry dates of AAPL
#: and SPY (the 2008-03-28 expansion) could not be confirmed from the filings' class lists; the
#: phase dates themselves are the filings'. QQQQ's own day in the January 2007 roll-out was not
#: found; the pilot's first day is used. Before the entry date a class quotes $0.05/$0.10.
PENNY_PROGRAM_ENTRY: Final[Mapping[str, tuple[dt.date, dt.date | None]]] = {
    "QQQ": (dt.date(2007, 1, 26), dt.date(2007, 1, 26)),
    "QQQQ": (dt.date(2007, 1, 26), dt.date(2007, 1, 26)),
    "IWM": (dt.date(2007, 2, 9), dt.date(2010, 2, 1)),
    "SPY": (dt.date(2008, 3, 28), dt.date(2010, 2, 1)),
    "AAPL": (dt.date(2008, 3, 28), None),
}

_KNOWN_ROOTS: Final = ("SPX", "SPXW", "SPXPM", "SPXQ", "AAPL", "SPY", "QQQ", "QQQQ", "IWM")

#: Tick rules before this date are not encoded (the earliest modeled chain is 2007).
EARLIEST_RULE_DATE: Final = dt.date(2007, 1, 1)

#: Knots of the hinge form (ln USD, ln years, standard deviations).
HINGE_KNOTS_LOG_MID: Final = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
HINGE_KNOTS_LOG_TTE: Final = (-5.0, -4.0, -3.0, -2.0, -1.0, 0.0)
HINGE_KNOTS_Z: Final = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)

#: Clipped variables, in the order of ``clip_lower`` / ``clip_upper``.
CLIPPED_VARIABLES: Final = ("log_mid", "z", "log_tte", "log_vega")

#: Columns :func:`fit_spread_model` needs (those of ``marts.fct_option_features``).
REQUIRED_COLUMNS: Final = (
    "quote_date",
    "option_root",
    "bid",
    "ask",
    "mid",
    "log_moneyness",
    "tte_years",
    "vega",
    "underlying_price",
    "implied_volatility",
)

DEFAULT_ROUNDING_OFFSET_TICKS: Final = 0.5
_MIN_ROWS_PER_COEFFICIENT: Final = 20
_LAD_MAX_ITER: Final = 100
_LAD_RTOL: Final = 1e-6
_LAD_RESIDUAL_FLOOR: Final = 1e-2  # |residual| floor of the IRLS weights (ln units)
_CHUNK_ROWS: Final = 1 << 16  # rows per block in quote_bid_ask (keeps temporaries in cache)
_GRID_EPS: Final = 1e-9  # in ticks: a price within 1e-9 tick of a grid point is on it


# --------------------------------------------------------------------------------------------
# Tick sizes
# --------------------------------------------------------------------------------------------


def _as_dates(quote_date: Any) -> NDArray[np.datetime64]:
    if isinstance(quote_date, pl.Series):
        quote_date = quote_date.to_numpy()
    if isinstance(quote_date, dt.datetime):
        raise ValueError(f"quote_date must be a date, got the datetime {quote_date!r}")
    dates = np.asarray(quote_date)
    if dates.dtype == object or dates.dtype.kind in "US":
        dates = dates.astype("datetime64[D]")
    elif dates.dtype.kind != "M":
        raise ValueError(f"quote_date must be dates, got dtype {dates.dtype}")
    dates = dates.astype("datetime64[D]")
    if np.isnat(dates).any():
        raise ValueError("quote_date holds a missing date (NaT)")
    return dates


def _schedule_codes(option_root: Any, quote_date: Any, n: int) -> NDArray[np.int8]:
    """Tick-schedule code per row (0: $0.05/$0.10, 1: $0.01/$0.05, 2: $0.01 at every price).

    Returns an array of shape ``(n,)`` or, when both root and date are scalars, of shape ``(1,)``
    (broadcast by the caller).
    """
    dates = _as_dates(quote_date)
    if dates.ndim > 1 or (dates.ndim == 1 and dates.shape[0] not in (1, n)):
        raise ValueError(f"quote_date must be a date or have {n} rows, got shape {dates.shape}")
    earliest = np.datetime64(EARLIEST_RULE_DATE, "D")
    if (dates < earliest).any():
        bad = dates[dates < earliest].min()
        raise ValueError(
            f"quote_date {bad} is before {EARLIEST_RULE_DATE}: tick rules before 2007 are not "
            "encoded"
        )
    dates = dates.reshape(-1)

    if isinstance(option_root, str):
        return _codes_for_root(option_root, dates)
    if isinstance(option_root, pl.Series):
        roots_pl = option_root.cast(pl.String)
        if roots_pl.len() not in (1, n):
            raise ValueError(f"option_root must be a string or have {n} rows, got {roots_pl.len()}")
        if roots_pl.null_count():
            raise ValueError("option_root holds a missing value")
        if roots_pl.len() == 1:
            return _codes_for_root(roots_pl[0], dates)
        full_dates = np.broadcast_to(dates, (n,))
        out = np.empty(n, dtype=np.int8)
        for root in roots_pl.unique().sort().to_list():
            mask = (roots_pl == root).to_numpy()
            if root in INDEX_ROOTS:  # date-independent: skip gathering the dates
                out[mask] = _SCHEDULE_NICKEL_DIME
            else:
                out[mask] = _codes_for_root(root, full_dates[mask])
        return out
    arr = np.asarray(option_root)
    if arr.ndim == 0:
        return _codes_for_root(str(arr), dates)
    if arr.ndim > 1 or arr.shape[0] not in (1, n):
        raise ValueError(f"option_root must be a string or have {n} rows, got shape {arr.shape}")
    if arr.shape[0] == 1:
        return _codes_for_root(str(arr[0]), dates)
    # Compare with each known root (a numpy string comparison is ~20x cheaper than
    # np.unique on millions of rows); stop once every row has matched.
    full_dates = np.broadcast_to(dates, (n,))
    out = np.empty(n, dtype=np.int8)
    count = 0
    for root in _KNOWN_ROOTS:
        mask = arr == root
        hits = int(np.count_nonzero(mask))
        if hits:
            if root in INDEX_ROOTS:  # date-independent: skip gathering the dates
                out[mask] = _SCHEDULE_NICKEL_DIME
            else:
                out[mask] = _codes_for_root(root, full_dates[mask])
            count += hits
            if count == n:
                return out
    unknown = arr[~np.isin(arr, np.array(_KNOWN_ROOTS, dtype=object))][0]
    return _codes_for_root(str(unknown), full_dates[:1])  # raises: names the unknown root


def _codes_for_root(root: str, dates: NDArray[np.datetime64]) -> NDArray[np.int8]:
    """Tick-schedule codes of one root on ``dates`` (Cboe Rule 6.42/5.4; Penny program)."""
    if root in INDEX_ROOTS:
        return np.zeros(dates.shape, dtype=np.int8)
    if root not in PENNY_PROGRAM_ENTRY:
        raise ValueError(
            f"option_root {root!r} has no tick rule here; known roots: {list(_KNOWN_ROOTS)}"
        )
    entry, all_penny = PENNY_PROGRAM_ENTRY[root]
    code = (dates >= np.datetime64(entry, "D")).astype(np.int8)
    if all_penny is not None:
        code += (dates >= np.datetime64(all_penny, "D")).astype(np.int8)
    return code


def _as_price_array(name: str, x: ArrayLike, max_ndim: int = 1) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim > max_ndim:
        raise ValueError(f"{name} must be {max_ndim}-D at most, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise ValueError(
            f"{name} must be finite and >= 0, got {arr.reshape(-1)[bad.reshape(-1)][0]!r}"
        )
    return arr


def tick_size(price: ArrayLike, *, option_root: Any, quote_date: Any) -> NDArray[np.float64]:
    """Minimum quoting increment of an option series at a price, by root and date.

    Parameters
    ----------
    price
        Option price, USD per share, shape ``(n,)`` (or a scalar); finite and >= 0.
    option_root
        The series' option root: one string for every row or ``(n,)`` strings (numpy array,
        list or ``pl.Series``). Index roots ``SPX``, ``SPXW``, ``SPXPM``; penny-program roots
        ``AAPL``, ``SPY``, ``QQQ`` (``QQQQ``), ``IWM``, upper-case as in the warehouse.
    quote_date
        One date for every row or ``(n,)`` dates (``datetime.date``, ``datetime64``, ISO
        strings or a polars Date series).

    Returns
    -------
    numpy.ndarray
        Tick in USD per share, shape of ``price`` (0.01, 0.05 or 0.10). Rules and sources in
        the module docstring: SPX/SPXW $0.05 below $3.00 and $0.10 at or above (Cboe Rule
        6.42 / 5.4(a)); penny classes $0.01 below $3.00 and $0.05 at or above from their entry
        date, QQQ (from 2007-01-26) and IWM/SPY (from 2010-02-01) $0.01 at every price.

    Raises
    ------
    ValueError
        A negative or non-finite price, an unknown root (named), a date before 2007-01-01,
        or a root/date array whose length is not ``n``.

    Examples
    --------
    >>> import datetime as dt
    >>> tick_size([2.95, 3.00, 3.05], option_root="SPX", quote_date=dt.date(2019, 6, 3)).tolist()
    [0.05, 0.1, 0.1]
    >>> tick_size([2.95, 3.05], option_root="AAPL", quote_date=dt.date(2019, 6, 3)).tolist()
    [0.01, 0.05]
    """
    p = _as_price_array("price", price)
    flat = p.reshape(-1)
    codes = _schedule_codes(option_root, quote_date, flat.shape[0])  # (1,) or (n,)
    out = np.where(
        flat < TICK_BREAK_USD, _SCHEDULE_TICKS[:, 0][codes], _SCHEDULE_TICKS[:, 1][codes]
    )
    return out.reshape(p.shape)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def _terms(
    form: str,
    knots_log_mid: Sequence[float],
    knots_log_tte: Sequence[float],
    knots_z: Sequence[float],
) -> list[tuple[str, ...]]:
    """Design terms of a form: ('const',), ('lin', v), ('hinge', v, c) or ('prod', v, w)."""
    terms: list[tuple[str, ...]] = [("const",)] + [
        ("lin", v) for v in ("log_mid", "z", "log_tte", "log_vega")
    ]
    if form == "loglinear":
        return terms
    terms += [("hinge", "log_mid", repr(float(c))) for c in knots_log_mid]
    terms += [("hinge", "log_tte", repr(float(c))) for c in knots_log_tte]
    terms += [("hinge", "z", repr(float(c))) for c in knots_z]
    terms += [
        ("prod", "log_mid", "log_tte"),
        ("prod", "log_mid", "z"),
        ("prod", "log_tte", "z"),
        ("lin", "side"),
        ("prod", "side", "z"),
    ]
    return terms


def _term_name(term: tuple[str, ...]) -> str:
    kind = term[0]
    if kind == "const":
        return "const"
    if kind == "lin":
        return term[1]
    if kind == "hinge":
        return f"max({term[1]} - {term[2]}, 0)"
    return f"{term[1]}*{term[2]}"


def _term_value(
    term: tuple[str, ...], v: Mapping[str, NDArray[np.float64]]
) -> NDArray[np.float64] | float:
    kind = term[0]
    if kind == "const":
        return 1.0
    if kind == "lin":
        return v[term[1]]
    if kind == "hinge":
        return np.maximum(v[term[1]] - float(term[2]), 0.0)
    return v[term[1]] * v[term[2]]


@dataclass(frozen=True)
class SpreadModel:
    """A fitted half-spread model and the data it was fitted on.

    Attributes
    ----------
    underlying_class
        ``"index"`` (SPX, SPXW) or ``"etf_equity"`` (AAPL, SPY, QQQ, IWM).
    form
        ``"hinge"`` or ``"loglinear"`` (module docstring).
    coefficients
        One per design term, in the order of :meth:`term_names`; ln USD.
    knots_log_mid, knots_log_tte, knots_z
        Hinge knots (empty for ``"loglinear"``).
    clip_lower, clip_upper
        Range of ``log_mid``, ``z``, ``log_tte``, ``log_vega`` in the fit data; inputs are
        clipped to it.
    price_scaling
        ``"none"`` or ``"homogeneous"`` (quotes rescaled to ``price_reference``).
    price_reference
        Median underlying price of the fit rows (USD), the S_ref of homogeneous scaling.
    level_offset
        Added to the linear predictor (ln units): 0 for a direct fit; the fitted level of a
        class whose shape comes from another class's model.
    rounding_offset_ticks
        Ticks taken off the half-spread before the outward rounding (0.5, module docstring).
    n_rows
        Quotes the fit used (after the usable-quote filter); for a model whose shape comes from
        another, the rows that fitted ``level_offset``.
    quote_date_min, quote_date_max
        ISO dates of the first and last fit quote.
    option_roots
        Comma-separated roots of the fit rows.
    shape_source
        ``"own"``, or a description of the model whose coefficients this one reuses.
    residual_mad
        Median |ln real − ln modeled| half-spread on the fit rows (before rounding).
    model_version
        :data:`warehouse.modeled_chain.MODEL_VERSION` at fit time.

    Raises
    ------
    ValueError
        On construction, any field out of its domain (named).
    """

    underlying_class: str
    form: str
    coefficients: tuple[float, ...]
    knots_log_mid: tuple[float, ...]
    knots_log_tte: tuple[float, ...]
    knots_z: tuple[float, ...]
    clip_lower: tuple[float, ...]
    clip_upper: tuple[float, ...]
    price_scaling: str
    price_reference: float
    level_offset: float
    rounding_offset_ticks: float
    n_rows: int
    quote_date_min: str
    quote_date_max: str
    option_roots: str
    shape_source: str
    residual_mad: float
    model_version: str

    def __post_init__(self) -> None:
        if self.underlying_class not in get_args(UnderlyingClass):
            raise ValueError(
                f"underlying_class must be one of {get_args(UnderlyingClass)}, "
                f"got {self.underlying_class!r}"
            )
        if self.form not in get_args(SpreadForm):
            raise ValueError(f"form must be one of {get_args(SpreadForm)}, got {self.form!r}")
        if self.price_scaling not in get_args(PriceScaling):
            raise ValueError(
                f"price_scaling must be one of {get_args(PriceScaling)}, got {self.price_scaling!r}"
            )
        for name in (
            "coefficients",
            "knots_log_mid",
            "knots_log_tte",
            "knots_z",
            "clip_lower",
            "clip_upper",
        ):
            values = getattr(self, name)
            if not all(isinstance(x, float) and math.isfinite(x) for x in values):
                raise ValueError(f"{name} must be finite floats, got {values!r}")
        n_terms = len(self._terms())
        if len(self.coefficients) != n_terms:
            raise ValueError(
                f"form {self.form!r} has {n_terms} terms, got {len(self.coefficients)} coefficients"
            )
        if self.form == "loglinear" and (self.knots_log_mid or self.knots_log_tte or self.knots_z):
            raise ValueError("form 'loglinear' takes no knots")
        if len(self.clip_lower) != len(CLIPPED_VARIABLES) or len(self.clip_upper) != len(
            CLIPPED_VARIABLES
        ):
            raise ValueError(f"clip_lower/clip_upper must hold {len(CLIPPED_VARIABLES)} values")
        for v, lo, hi in zip(CLIPPED_VARIABLES, self.clip_lower, self.clip_upper, strict=True):
            if lo > hi:
                raise ValueError(f"clip range of {v} is empty: [{lo}, {hi}]")
        for name in ("price_reference", "level_offset", "rounding_offset_ticks", "residual_mad"):
            value = getattr(self, name)
            if not isinstance(value, float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite float, got {value!r}")
        if self.price_reference <= 0:
            raise ValueError(f"price_reference must be > 0, got {self.price_reference!r}")
        if not 0.0 <= self.rounding_offset_ticks <= 1.0:
            raise ValueError(
                f"rounding_offset_ticks must be in [0, 1], got {self.rounding_offset_ticks!r}"
            )
        if not isinstance(self.n_rows, int) or isinstance(self.n_rows, bool) or self.n_rows <= 0:
            raise ValueError(f"n_rows must be a positive int, got {self.n_rows!r}")
        first = dt.date.fromisoformat(self.quote_date_min)
        last = dt.date.fromisoformat(self.quote_date_max)
        if first > last:
            raise ValueError(f"quote_date_min {first} is after quote_date_max {last}")

    def _terms(self) -> list[tuple[str, ...]]:
        return _terms(self.form, self.knots_log_mid, self.knots_log_tte, self.knots_z)

    def term_names(self) -> list[str]:
        """Names of the design terms, in the order of ``coefficients``."""
        return [_term_name(t) for t in self._terms()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (strings, floats, one int, lists of floats) for a warehouse table."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpreadModel:
        """Inverse of :meth:`to_dict`; rejects unknown and missing keys (named)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(names - set(data))
        if unknown:
            raise ValueError(f"unknown SpreadModel keys: {unknown}")
        if missing:
            raise ValueError(f"missing SpreadModel keys: {missing}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data[f.name]
            if isinstance(value, list | tuple):
                value = tuple(float(x) for x in value)
            elif f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif f.type == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            kwargs[f.name] = value
        return cls(**kwargs)

    def half_spread(
        self,
        mid: ArrayLike,
        *,
        log_moneyness: ArrayLike,
        tte_years: ArrayLike,
        vega: ArrayLike,
        underlying_price: ArrayLike,
        implied_volatility: ArrayLike,
    ) -> NDArray[np.float64]:
        """The model's half-spread before the tick grid, USD per share, shape ``(n,)``.

        Inputs as in :func:`quote_bid_ask` (validated there; here only broadcast).
        """
        mid_a = np.asarray(mid, dtype=np.float64).reshape(-1)
        n = mid_a.shape[0]
        b = {
            k: np.broadcast_to(np.asarray(x, dtype=np.float64).reshape(-1), (n,))
            for k, x in (
                ("k", log_moneyness),
                ("t", tte_years),
                ("vega", vega),
                ("s", underlying_price),
                ("iv", implied_volatility),
            )
        }
        out = np.empty(n)
        terms = self._terms()
        for lo in range(0, n, _CHUNK_ROWS):
            sl = slice(lo, min(lo + _CHUNK_ROWS, n))
            out[sl] = self._half_spread_block(
                terms, mid_a[sl], b["k"][sl], b["t"][sl], b["vega"][sl], b["s"][sl], b["iv"][sl]
            )
        return out

    def _half_spread_block(self, terms, mid, k, t, vega, s, iv) -> NDArray[np.float64]:
        """Half-spreads of a block: ``mid`` shape ``(nb,)``, or ``(m, nb)`` for m mids of the
        same contracts (the call and the put of a strike), the other inputs ``(nb,)``.

        A term that does not involve ``log_mid`` is evaluated once per contract and added to
        every mid's linear predictor; each element still accumulates the same terms in the
        same order, so the result is the same as evaluating each mid on its own.
        """
        if self.price_scaling == "homogeneous":
            lam = self.price_reference / s
        else:
            lam = np.ones_like(k)  # x · 1.0 and x / 1.0 are exact
        tiny = 1e-300
        raw = {
            "log_mid": np.log(np.maximum(mid * lam, tiny)),
            "z": np.abs(k) / np.maximum(iv * np.sqrt(t), 1e-12),
            "log_tte": np.log(np.maximum(t, tiny)),
            "log_vega": np.log(np.maximum(vega * lam, tiny)),
        }
        v = {
            name: np.clip(raw[name], lo, hi)
            for name, lo, hi in zip(
                CLIPPED_VARIABLES, self.clip_lower, self.clip_upper, strict=True
            )
        }
        v["side"] = np.sign(k)
        eta = np.full(mid.shape, self.level_offset)
        for coef, term in zip(self.coefficients, terms, strict=True):
            eta += coef * _term_value(term, v)
        return np.exp(eta) / lam


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------


def usable_quotes(real: pl.DataFrame) -> pl.DataFrame:
    """The real quotes a spread model is fitted and measured on.

    Two-sided (bid > 0), not crossed or locked (ask > bid), not stale (``is_stale_quote``
    false, when the column is there), with a solved implied volatility
    (``iv_solve_status = 'ok'`` when the column is there, ``implied_volatility`` > 0), vega > 0,
    tte_years > 0, mid > 0 and underlying_price > 0.

    Parameters
    ----------
    real
        One row per contract per quote_date, with :data:`REQUIRED_COLUMNS`.

    Raises
    ------
    ValueError
        A required column is missing (named).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in real.columns]
    if missing:
        raise ValueError(f"real is missing columns {missing}")
    conditions = [
        pl.col("bid") > 0,
        pl.col("ask") > pl.col("bid"),
        pl.col("mid") > 0,
        pl.col("implied_volatility") > 0,
        pl.col("vega") > 0,
        pl.col("tte_years") > 0,
        pl.col("underlying_price") > 0,
        pl.col("log_moneyness").is_finite(),
    ]
    if "is_stale_quote" in real.columns:
        conditions.append(~pl.col("is_stale_quote").fill_null(True))
    if "iv_solve_status" in real.columns:
        conditions.append(pl.col("iv_solve_status") == "ok")
    return real.filter(*conditions)


def _canonical_order(q: pl.DataFrame) -> pl.DataFrame:
    """Sort rows so that a fit does not depend on the input's row order."""
    keys = [
        c
        for c in ("quote_date", "option_root", "expiration", "strike", "option_type")
        if c in q.columns
    ]
    keys += [
        "bid",
        "ask",
        "mid",
        "log_moneyness",
        "tte_years",
        "vega",
        "underlying_price",
        "implied_volatility",
    ]
    return q.sort(keys)


def _lad(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least absolute deviations by IRLS (Schlossmacher 1973), minimum-norm in null directions.

    Weights 1 / max(|residual|, 0.01) (ln units: 1 % of the spread, far below the tick
    quantisation of real spreads); stops when the mean absolute residual improves by less than
    1e-6 relatively (about 20 iterations on the SPX chain). BLAS runs on one thread: the Gram
    products then sum in a fixed order (the same coefficients on any machine), and a
    multi-threaded BLAS on a busy 2-core host was measured 40x slower than one thread.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        beta = np.linalg.lstsq(x.T @ x, x.T @ y, rcond=None)[0]
        previous = np.inf
        for _ in range(_LAD_MAX_ITER):
            resid = np.abs(y - x @ beta)
            objective = float(resid.mean())
            if previous - objective < _LAD_RTOL * objective:
                break
            previous = objective
            sw = np.sqrt(1.0 / np.maximum(resid, _LAD_RESIDUAL_FLOOR))
            xs = x * sw[:, None]
            beta = np.linalg.lstsq(xs.T @ xs, xs.T @ (y * sw), rcond=None)[0]
    return beta


def fit_spread_model(
    real: pl.DataFrame,
    *,
    underlying_class: str,
    form: str = "hinge",
    price_scaling: str | None = None,
    base_model: SpreadModel | None = None,
) -> SpreadModel:
    """Fit a half-spread model on real quotes.

    Parameters
    ----------
    real
        Real quotes, one row per contract per quote_date, with the columns of
        ``marts.fct_option_features`` listed in :data:`REQUIRED_COLUMNS` (``is_stale_quote``
        and ``iv_solve_status`` are used when present). Only :func:`usable_quotes` rows count.
        The row order does not matter (rows are sorted on their key first).
    underlying_class
        ``"index"`` or ``"etf_equity"``; stored on the model.
    form
        ``"hinge"`` (default) or ``"loglinear"``; ignored with ``base_model``.
    price_scaling
        ``"none"`` or ``"homogeneous"`` (module docstring). Default: ``"none"`` for a direct
        fit (measured: on the 5 real SPX days of 2011, at an index level of 1,271 instead of
        2,900, the 2019 model's half-spreads are a median 9 ticks too narrow unscaled and 10
        scaled: spreads did not shrink with the index level), ``"homogeneous"`` with
        ``base_model`` (a $150 stock is not priced like a $2,900 index).
    base_model
        When given, the new model reuses this model's coefficients, clip ranges and price
        reference (its *shape*) and fits only ``level_offset``, the median log ratio of the
        real half-spreads to the base shape's on ``real`` (the LAD fit of an intercept).
        This is how the ``etf_equity`` class is built: the only equity/ETF bid/ask held is the
        real SPY 2021 top-20 (5,022 usable quotes: 20 near-the-money 20–120-day contracts a
        day, |ln K/F| < 0.075, mids $0.03–$31), which fixes the level of penny-class spreads
        but says nothing of the wings or of long tenors; the SPX shape, rescaled to the
        underlying's price, supplies those. Measured (SPX shape from the first 28 SPX days,
        level from the first 126 SPY days, scored on the last 126): median |error| 0 ticks,
        exact spread 0.60, ±1 tick with a jittered mid 0.77; the level is ln 0.35 (SPY
        spreads are 0.35× SPX's at the same scaled price); the rescaled SPX model without it
        is 2 ticks too wide (exact 0.03). A hinge fit on SPY alone scores 0.69 / 0.80 on the
        same split but, clipped to the top-20's narrow range, would quote a whole AAPL chain
        (LEAPS, wings) with the spread of the nearest near-the-money SPY contract.

    Returns
    -------
    SpreadModel

    Raises
    ------
    ValueError
        Missing columns, an unknown class/form/scaling, or too few usable rows (fewer than 20
        per coefficient; 20 for a level-only fit).
    """
    if underlying_class not in get_args(UnderlyingClass):
        raise ValueError(
            f"underlying_class must be one of {get_args(UnderlyingClass)}, got {underlying_class!r}"
        )
    if form not in get_args(SpreadForm):
        raise ValueError(f"form must be one of {get_args(SpreadForm)}, got {form!r}")
    if price_scaling is None:
        price_scaling = "none" if base_model is None else "homogeneous"
    if price_scaling not in get_args(PriceScaling):
        raise ValueError(
            f"price_scaling must be one of {get_args(PriceScaling)}, got {price_scaling!r}"
        )
    q = _canonical_order(usable_quotes(real))
    y = np.log(((q["ask"] - q["bid"]) / 2).to_numpy())
    dates = q["quote_date"]
    common = {
        "underlying_class": underlying_class,
        "n_rows": q.height,
        "option_roots": ",".join(sorted(q["option_root"].unique().to_list())) if q.height else "",
        "model_version": MODEL_VERSION,
        "rounding_offset_ticks": DEFAULT_ROUNDING_OFFSET_TICKS,
    }
    args = {
        "log_moneyness": q["log_moneyness"].to_numpy(),
        "tte_years": q["tte_years"].to_numpy(),
        "vega": q["vega"].to_numpy(),
        "underlying_price": q["underlying_price"].to_numpy(),
        "implied_volatility": q["implied_volatility"].to_numpy(),
    }

    if base_model is not None:
        if q.height < _MIN_ROWS_PER_COEFFICIENT:
            raise ValueError(
                f"only {q.height} usable quotes; a level fit needs {_MIN_ROWS_PER_COEFFICIENT}"
            )
        shape = replace(base_model, price_scaling=price_scaling, level_offset=0.0)
        base_log = np.log(shape.half_spread(q["mid"].to_numpy(), **args))
        resid = y - base_log
        level = float(np.median(resid))
        src = (
            f"{base_model.underlying_class} model ({base_model.form}, {base_model.option_roots},"
            f" {base_model.quote_date_min}..{base_model.quote_date_max},"
            f" n_rows={base_model.n_rows})"
        )
        return SpreadModel(
            form=base_model.form,
            coefficients=base_model.coefficients,
            knots_log_mid=base_model.knots_log_mid,
            knots_log_tte=base_model.knots_log_tte,
            knots_z=base_model.knots_z,
            clip_lower=base_model.clip_lower,
            clip_upper=base_model.clip_upper,
            price_scaling=price_scaling,
            price_reference=base_model.price_reference,
            level_offset=level,
            quote_date_min=str(dates.min()),
            quote_date_max=str(dates.max()),
            shape_source=src,
            residual_mad=float(np.median(np.abs(resid - level))),
            **common,
        )

    knots = (
        (HINGE_KNOTS_LOG_MID, HINGE_KNOTS_LOG_TTE, HINGE_KNOTS_Z)
        if form == "hinge"
        else ((), (), ())
    )
    terms = _terms(form, *knots)
    if q.height < _MIN_ROWS_PER_COEFFICIENT * len(terms):
        raise ValueError(
            f"only {q.height} usable quotes; form {form!r} needs "
            f"{_MIN_ROWS_PER_COEFFICIENT * len(terms)}"
        )
    s = args["underlying_price"]
    price_reference = float(np.median(s))
    lam = price_reference / s if price_scaling == "homogeneous" else np.ones_like(s)
    t = args["tte_years"]
    raw = {
        "log_mid": np.log(q["mid"].to_numpy() * lam),
        "z": np.abs(args["log_moneyness"]) / (args["implied_volatility"] * np.sqrt(t)),
        "log_tte": np.log(t),
        "log_vega": np.log(args["vega"] * lam),
    }
    v = dict(raw)
    v["side"] = np.sign(args["log_moneyness"])
    x = np.column_stack([np.broadcast_to(_term_value(term, v), (q.height,)) for term in terms])
    beta = _lad(x, y)
    return SpreadModel(
        form=form,
        coefficients=tuple(float(c) for c in beta),
        knots_log_mid=tuple(float(c) for c in knots[0]),
        knots_log_tte=tuple(float(c) for c in knots[1]),
        knots_z=tuple(float(c) for c in knots[2]),
        clip_lower=tuple(float(raw[name].min()) for name in CLIPPED_VARIABLES),
        clip_upper=tuple(float(raw[name].max()) for name in CLIPPED_VARIABLES),
        price_scaling=price_scaling,
        price_reference=price_reference,
        level_offset=0.0,
        quote_date_min=str(dates.min()),
        quote_date_max=str(dates.max()),
        shape_source="own",
        residual_mad=float(np.median(np.abs(y - x @ beta))),
        **common,
    )


# --------------------------------------------------------------------------------------------
# Quoting
# --------------------------------------------------------------------------------------------


def _checked(
    name: str, x: ArrayLike, n: int, *, positive: bool = False, nonnegative: bool = False
) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, n)):
        raise ValueError(f"{name} must be a scalar or have {n} rows, got shape {arr.shape}")
    flat = arr.reshape(-1)
    bad = ~np.isfinite(flat)
    if positive:
        bad |= flat <= 0
    elif nonnegative:
        bad |= flat < 0
    if bad.any():
        rule = "> 0" if positive else ">= 0" if nonnegative else "finite"
        raise ValueError(f"{name} must be finite and {rule}, got {flat[bad][0]!r}")
    return np.broadcast_to(flat, (n,))


def _floor_to_grid(x: NDArray[np.float64], tick: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.round(np.floor(x / tick + _GRID_EPS) * tick, 2)


def _ceil_to_grid(x: NDArray[np.float64], tick: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.round(np.ceil(x / tick - _GRID_EPS) * tick, 2)


def quote_bid_ask(
    mid: ArrayLike,
    *,
    log_moneyness: ArrayLike,
    tte_years: ArrayLike,
    vega: ArrayLike,
    underlying_price: ArrayLike,
    implied_volatility: ArrayLike,
    option_root: Any,
    quote_date: Any,
    model: SpreadModel,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bid and ask on the exchange's tick grid around model mids.

    Parameters
    ----------
    mid
        Model mid, USD per share, shape ``(n,)``, or ``(m, n)`` for m mids quoted at the same
        n contracts' other inputs (the call and the put of a strike: the shared terms of the
        spread model are then evaluated once); finite and >= 0.
    log_moneyness
        ln(K / F), shape ``(n,)`` or scalar; finite.
    tte_years
        Years to expiry (ACT/365), ``(n,)`` or scalar; finite and >= 0.
    vega
        USD per share per volatility point (0.01), ``(n,)`` or scalar; finite and >= 0.
    underlying_price
        USD, ``(n,)`` or scalar; > 0.
    implied_volatility
        Decimal per √year (0.20 = 20 %), ``(n,)`` or scalar; > 0.
    option_root, quote_date
        As in :func:`tick_size`.
    model
        A fitted :class:`SpreadModel`.

    Returns
    -------
    (bid, ask)
        USD per share, each of the shape of ``mid``, on the tick grid of the price each sits on:
        ``bid = floor(mid − h)``, ``ask = ceil(mid + h)`` with
        ``h = model half-spread − rounding_offset_ticks × tick(mid)`` (never below 0);
        ``bid >= 0``; ``ask − bid >= one tick``; a mid below one tick quotes ``0 / one tick``.
        Hence ``bid <= mid <= ask``. Deterministic and row-independent.

    Notes
    -----
    Vectorised in blocks of 65,536 rows. Measured on 10 M rows (2-core host under a load
    average of 8, so wall times are about twice the CPU times): scalar root and date
    6.0 M rows/s wall (12 M rows/s CPU); per-row ``pl.Series`` roots and dates 4.1 M (7.9 M);
    per-row numpy object roots 2.3 M (4.6 M). Pass a scalar root or a polars series.

    Raises
    ------
    ValueError
        A bad input (named with its first bad value), an unknown root, a date before 2007.

    Examples
    --------
    >>> import datetime as dt
    >>> m = SpreadModel(underlying_class="index", form="loglinear",
    ...     coefficients=(math.log(0.10), 0.0, 0.0, 0.0, 0.0), knots_log_mid=(),
    ...     knots_log_tte=(), knots_z=(), clip_lower=(-10.0,) * 4, clip_upper=(10.0,) * 4,
    ...     price_scaling="none", price_reference=2900.0, level_offset=0.0,
    ...     rounding_offset_ticks=0.0, n_rows=1, quote_date_min="2019-06-03",
    ...     quote_date_max="2019-06-03", option_roots="SPX", shape_source="own",
    ...     residual_mad=0.0, model_version="doc")
    >>> bid, ask = quote_bid_ask([1.02, 0.03], log_moneyness=0.0, tte_years=0.1, vega=1.0,
    ...     underlying_price=2900.0, implied_volatility=0.2, option_root="SPX",
    ...     quote_date=dt.date(2019, 6, 3), model=m)
    >>> bid.tolist(), ask.tolist()  # 1.02 ± 0.10 -> 0.90 / 1.15; 0.03 < one tick -> 0 / 0.05
    ([0.9, 0.0], [1.15, 0.05])
    """
    mid_in = _as_price_array("mid", mid, max_ndim=2)
    mid_a = mid_in if mid_in.ndim == 2 else mid_in.reshape(1, -1)  # (m, n)
    n = mid_a.shape[1]
    k = _checked("log_moneyness", log_moneyness, n)
    t = _checked("tte_years", tte_years, n, nonnegative=True)
    vg = _checked("vega", vega, n, nonnegative=True)
    s = _checked("underlying_price", underlying_price, n, positive=True)
    iv = _checked("implied_volatility", implied_volatility, n, positive=True)
    codes = _schedule_codes(option_root, quote_date, n)
    codes = np.broadcast_to(codes, (n,))
    tick_lo = _SCHEDULE_TICKS[:, 0]
    tick_hi = _SCHEDULE_TICKS[:, 1]

    bid = np.empty(mid_a.shape)
    ask = np.empty(mid_a.shape)
    off = model.rounding_offset_ticks
    terms = model._terms()
    chunk = max(_CHUNK_ROWS // mid_a.shape[0], 1)
    for lo in range(0, n, chunk):
        sl = slice(lo, min(lo + chunk, n))
        m = mid_a[:, sl]
        c = codes[sl]
        t_below, t_above = tick_lo[c], tick_hi[c]
        tick_mid = np.where(m < TICK_BREAK_USD, t_below, t_above)
        h = model._half_spread_block(terms, m, k[sl], t[sl], vg[sl], s[sl], iv[sl])
        h = np.maximum(h - off * tick_mid, 0.0)
        low = np.maximum(m - h, 0.0)
        high = m + h
        b = _floor_to_grid(low, np.where(low < TICK_BREAK_USD, t_below, t_above))
        a = _ceil_to_grid(high, np.where(high < TICK_BREAK_USD, t_below, t_above))
        # Never a locked quote: at least one tick (of the price the ask moves into).
        tick_b = np.where(b < TICK_BREAK_USD, t_below, t_above)
        a = np.where(a < b + tick_b - _GRID_EPS * tick_b, np.round(b + tick_b, 2), a)
        # A mid within 1e-9 tick below a grid point must not end up below the bid (or above
        # the ask): step out one tick so that bid <= mid <= ask holds exactly.
        b = np.where(
            b > m,
            np.maximum(np.round(b - np.where(b <= TICK_BREAK_USD, t_below, t_above), 2), 0.0),
            b,
        )
        a = np.where(a < m, np.round(a + np.where(a < TICK_BREAK_USD, t_below, t_above), 2), a)
        # Below one tick: the far wings' 0 / one-tick quote.
        wing = m < t_below
        b = np.where(wing, 0.0, b)
        a = np.where(wing, t_below, a)
        bid[:, sl] = b
        ask[:, sl] = a
    if mid_in.ndim < 2:
        return bid[0], ask[0]
    return bid, ask


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def evaluate_spread_model(
    real: pl.DataFrame, model: SpreadModel, *, mid_jitter_seed: int | None = None
) -> dict[str, float]:
    """Accuracy of a spread model on real quotes, quoting around the real mid.

    Parameters
    ----------
    real
        As in :func:`fit_spread_model`; only :func:`usable_quotes` rows count.
    model
        The model to measure.
    mid_jitter_seed
        When given, each mid moves by U(−½, ½) of its tick (numpy ``default_rng`` with this
        seed, rows in canonical order) before quoting, as a continuous model mid would sit off
        the grid. Without it a modeled spread has the real one's parity (module docstring).

    Returns
    -------
    dict
        ``n_rows``; ``median_abs_error_ticks`` and ``mean_abs_error_ticks``: |modeled − real|
        half-spread in ticks of the real mid; ``median_error_ticks`` (signed, modeled − real);
        ``share_exact``: modeled spread equal to the real one; ``share_within_one_tick``:
        |modeled − real| spread <= one tick. NaN everywhere when no row is usable.
    """
    q = _canonical_order(usable_quotes(real))
    if q.height == 0:
        nan = float("nan")
        return {
            "n_rows": 0.0,
            "median_abs_error_ticks": nan,
            "mean_abs_error_ticks": nan,
            "median_error_ticks": nan,
            "share_exact": nan,
            "share_within_one_tick": nan,
        }
    mid = q["mid"].to_numpy()
    roots = q["option_root"]
    dates = q["quote_date"]
    tick = tick_size(mid, option_root=roots, quote_date=dates)
    quoted_mid = mid
    if mid_jitter_seed is not None:
        rng = np.random.default_rng(mid_jitter_seed)
        quoted_mid = np.maximum(mid + rng.uniform(-0.5, 0.5, mid.shape[0]) * tick, 0.0)
    bid, ask = quote_bid_ask(
        quoted_mid,
        log_moneyness=q["log_moneyness"].to_numpy(),
        tte_years=q["tte_years"].to_numpy(),
        vega=q["vega"].to_numpy(),
        underlying_price=q["underlying_price"].to_numpy(),
        implied_volatility=q["implied_volatility"].to_numpy(),
        option_root=roots,
        quote_date=dates,
        model=model,
    )
    real_spread = (q["ask"] - q["bid"]).to_numpy()
    diff_ticks = ((ask - bid) - real_spread) / tick
    half_err = diff_ticks / 2
    return {
        "n_rows": float(q.height),
        "median_abs_error_ticks": float(np.median(np.abs(half_err))),
        "mean_abs_error_ticks": float(np.mean(np.abs(half_err))),
        "median_error_ticks": float(np.median(half_err)),
        "share_exact": float(np.mean(np.abs(diff_ticks) < 1e-6)),
        "share_within_one_tick": float(np.mean(np.abs(diff_ticks) <= 1 + 1e-6)),
    }
