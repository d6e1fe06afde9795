"""Exchange listing rules: which expirations and which strikes were listed on a day, by era.

A modeled chain must hold the contracts a trader could have traded that day, no more and no
fewer: the weeklies Cboe had listed (a few weeks ahead, on the weekdays that existed then), the
standard third-Friday months of the class's cycle, the end-of-month/end-of-quarter series, and
the strikes on the grid the exchange used for that tenor and that distance from the money.

:func:`listed_expirations` gives the expirations (one row per quote_date, expiration and option
root); :func:`listed_strikes` gives the strikes of each. Both are vectorised (polars/numpy, no
Python loop over rows or days) and deterministic.

Conventions
-----------
``expiration`` is the expiry's last trading session (the warehouse convention): a standard
monthly of the pre-February-2015 convention, which OCC dated on the Saturday after the third
Friday, is stored as that Friday; a Friday that is an exchange holiday (Good Friday) becomes the
Thursday before (OCC, "Characteristics and Risks of Standardized Options", expiration date;
Cboe Weeklys page: "if the listing or expiration dates fall on a holiday the ... expiration date
would typically be the day prior to the holiday"), as do Wednesday weeklies (MIAX listing alert
of 2016-09-06: "if the Wednesday coincides with an Exchange holiday, the expiration date will be
on the preceding Tuesday"); a Monday weekly on a holiday expires the next session (Cboe blog of
2016-08-11 on SPX Monday Weeklys; Cboe release of 2018-02 on SPY Monday Weeklys). The AM-settled
SPX monthly is stored on its settlement Friday, as in the real chains. ``dte`` is calendar days
from quote_date to expiration.

Sources of the expiration rules (dates are listing or expiry dates; where no primary date was
found the date used is stated with the reason)
------------------------------------------------------------------------------------------------
SPX (Cboe):

- Standard monthly, AM-settled, root ``SPX``: third Friday. Months listed: "three near-term
  months followed by three additional months from the March quarterly cycle" (Cboe SPX
  specification, as quoted by MarketsWiki "CBOE Options on S&P 500 Index") plus December LEAPS
  (Cboe spec: "up to ten SPX LEAPS expiration months ... 12 to 60 months"). The real chains
  show more serial months than that text: the iVolatility chain of 2011-01-03..07 lists four
  (Jan-Apr), the Cboe chain of 2019-04-25..07-22 six, quarterly months out to 14 months, June
  and December out to 23, December out to 35 and the next January. We use 3 serial months
  before 2011, 4 from 2011-01-01 (first real chain), 6 from 2015-01-01 (no primary date found;
  a date between the two real chains, after the Cboe spec became "up to twelve near-term
  months").
- SPX Weeklys (Fridays): launched 2005-10-28, one week ahead, AM-settled (Cboe release of
  2005-09-09, "Weeklys ... SPX Weeklys will be European-style exercise with A.M. settlement";
  none on the third Friday). The last AM-settled Weekly expired 2010-12-03; PM-settled
  End-of-Week series, root ``SPXW``, from 2010-12-02 (Cboe RG10-112, quoted on Cboe's Weeklys
  contract specifications page). We give the AM-settled Weeklys the root ``SPX`` (their terms
  are the SPX root's in ``loaders/contract_specs.yaml``; the OSI root Cboe used for them was not
  found). Five consecutive expiration weeks from 2012-05-31 (Cboe Options Hub, 2012-06-08; its
  list of 2012-06-08 .. 07-13 is reproduced by a 36-day window from the Thursday listing day).
  Six expirations "not counting the current expiration" from January 2014 (Cboe RG14-010; day
  not found, 2014-01-01 used), counted over Fridays that are neither a third Friday nor an
  end-of-month/quarter expiry (this count reproduces every SPXW Friday of the 2019 chain).
- SPX Wednesday Weeklys: launched Tuesday 2016-02-23, first expiries 2016-03-02 and 03-09,
  listed on Tuesdays (Cboe blog 2016-02-22); "at least four consecutive weeks" from RG16-102
  (2016-05-24), five Wednesdays ahead in Cboe's table of 2016-08-17 (blog) and in the 2019 chain
  until 2019-05-21, six from 2019-05-28: we use five from 2016-05-24 and six from 2019-05-28.
- SPX Monday Weeklys: launched 2016-08-15, first expiries 2016-08-22 and 08-29, listed on
  Fridays (Cboe release 2016-07-12); three Mondays ahead in Cboe's table of 2016-08-17 (blog).
  Five from 2017-01-01 (date assumed, as for Wednesdays) and six from 2019-05-28 (2019 chain).
- SPX Tuesday Weeklys listed from Monday 2022-04-18, Thursday Weeklys from Wednesday 2022-05-11
  (Cboe, Traders Magazine 2022-04); two expirations each (Cboe later "added expirations to
  align Tuesday and Thursday with Monday and Wednesday", FinanceFeeds 2023; two is our reading
  of the 2022 state, no primary count found).
- SPX Quarterlys (end of quarter, PM-settled): launched July 2006 (Cboe Quarterlys page) under
  root ``SPXQ``, moved to root ``SPXW`` effective 2014-07-03 (Cboe Options Hub 2014-05-29).
  Quarter-ends within eleven months of the front standard month (four ahead; a new one
  appears after a quarter month's third Friday), as in the 2011 and 2019 chains (the 2011
  iVolatility file labels these series ``SPXPM``; Cboe's symbol was ``SPXQ``, Cboe Options Hub
  2013-01-22).
- SPX End-of-Month options, root ``SPXW``, from 2014-07-07 (Cboe EOM page and release of
  2014-05-29): "up to twelve consecutive EOM contract months"; the 2019 chain lists the current
  and the next five month-ends (and the quarter-ends above), which we follow.
- PM-settled third-Friday SPX: ``SPXPM`` on C2 from 2011-10-04 (CBOE Holdings release
  2011-09-13), moved to Cboe 2013-02-19 (RG13-012), converted to ``SPXW`` effective 2017-05-01
  (Cboe SPXPM page, RG17-002). Months listed: the SPX cycle within twelve months for SPXPM; the
  next six months for SPXW (2019 chain).

Equities and ETFs (AAPL; SPY, QQQ, IWM):

- Standard monthly, PM-settled, American: third Friday (OCC equity options specifications;
  before 2015-02-15 the OCC expiration was the Saturday after). Months: the two near-term
  months plus two from the class's quarterly cycle, with January LEAPS up to 39 months (Cboe
  equity specification and Rule 5.8, recalled, not retrieved here). The SPY 2021 chain quotes
  monthlies up to three months past the front month, so we list four serial months; ETF cycle
  March/June/September/December, AAPL's January/April/July/October.
- Friday Weeklys: SPY, QQQ, IWM listed from 2010-06-04 (Cboe release 2010-06-03), AAPL from
  2010-06-25 (Cboe weekly list, quoted 2010-07-29), one week ahead and never on a third Friday;
  five consecutive weeks from 2012-11-15 (Reuters 2012-11-15: new expirations Nov 23 .. Dec 14
  from the 15th, a 29-day window). The SPY 2021 chain and the Polygon 2023 bars (SPY, QQQ, AAPL
  expirations trading 6-7 weeks ahead) show six Fridays beyond the current week, the SPXW count;
  the date this began was not found, we use 2016-09-07 (the Short Term Option Series expansion
  that brought SPY Wednesdays).
- SPY Wednesday Weeklys from 2016-09-07, listed on Tuesdays, up to five expirations, a holiday
  Wednesday expiring the Tuesday before (MIAX listing alert 2016-09-06); SPY Monday Weeklys
  listed from 2018-02-16, up to five (Cboe, Traders Magazine 2018-02). The 2021 chain shows six
  of each; we use six from 2019-05-28, the date the SPX counts grew (assumed alike).
- SPY Tuesday/Thursday expirations: November 2022 (Cboe EDGX Short Term Option Series filing,
  87 FR 70880, 2022-11-21); listing date used 2022-11-14, two expirations each (no primary count
  found). QQQ and IWM Monday/Wednesday/Tuesday/Thursday expirations are not modelled.
- Quarterly Option Series on ETFs (last business day of March/June/September/December):
  the next four quarter-ends and the fourth quarter of the next calendar year (Cboe Rule
  5.5(e), recalled; the last-business-day expiry is from the Cboe Quarterlys page and OCC's
  quarterly options specification). First listing date
  not found; 2007-01-01 used (Cboe launched Quarterlys in 2006 and listed them "for a period of
  one year" at first).

Strike rules are documented on :func:`listed_strikes`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

#: Underlyings with listing rules, and the ETFs among them (ETF rules: $1 strikes, QOS).
SUPPORTED_UNDERLYINGS: tuple[str, ...] = ("SPX", "SPY", "QQQ", "IWM", "AAPL")
_ETFS = frozenset({"SPY", "QQQ", "IWM"})

#: Output columns of :func:`listed_expirations`.
EXPIRATION_SCHEMA: dict[str, pl.DataType] = {
    "quote_date": pl.Date(),
    "expiration": pl.Date(),
    "option_root": pl.String(),
    "expiry_type": pl.String(),
    "settlement_type": pl.String(),
    "exercise_style": pl.String(),
    "dte": pl.Int32(),
}

#: Input columns :func:`listed_strikes` needs.
STRIKE_INPUT_COLUMNS: tuple[str, ...] = (
    "underlying_symbol",
    "quote_date",
    "expiration",
    "option_root",
    "expiry_type",
    "underlying_price",
    "strike_min",
    "strike_max",
)

_SEED_PATH = Path(__file__).resolve().parents[2] / "models_sql" / "seeds" / "nyse_sessions.csv"
_EPOCH = dt.date(1970, 1, 1)
_FAR = 10**6  # "no limit" for counts and windows

# Priority when two programs give the same (expiration, option_root): a third-Friday monthly
# beats an end-of-month/quarter series, which beats a weekly (the exchange lists one series).
_PRIORITY = {"monthly": 0, "quarterly": 1, "end_of_month": 1, "weekly": 2}


def _day(value: dt.date) -> int:
    return (value - _EPOCH).days


def _date(day: int | np.integer) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


# --------------------------------------------------------------------------------------------
# Rule tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CycleEra:
    """Standard (third-Friday) months listed, as month offsets k from the front month.

    A month is listed when k < ``serial``, or its month is in ``cycle_months`` and k <=
    ``cycle_max_k``, or June/December and k <= ``semiannual_max_k``, or December and k <=
    ``december_max_k``, or January and k <= ``january_max_k`` (-1 disables a clause).
    """

    start: dt.date
    serial: int
    cycle_months: tuple[int, ...]
    cycle_max_k: int
    semiannual_max_k: int
    december_max_k: int
    january_max_k: int


_MARCH_CYCLE = (3, 6, 9, 12)
_JANUARY_CYCLE = (1, 4, 7, 10)

_SPX_CYCLE = (
    _CycleEra(dt.date(1990, 1, 1), 3, _MARCH_CYCLE, 11, 23, 35, 11),
    _CycleEra(dt.date(2011, 1, 1), 4, _MARCH_CYCLE, 11, 23, 35, 11),
    _CycleEra(dt.date(2015, 1, 1), 6, _MARCH_CYCLE, 14, 23, 35, 11),
)
# SPXPM: the SPX cycle within twelve months.
_SPXPM_CYCLE = tuple(
    _CycleEra(e.start, e.serial, e.cycle_months, 11, 11, 11, 11) for e in _SPX_CYCLE
)
_SPXW_MONTHLY_CYCLE = (_CycleEra(dt.date(2017, 5, 1), 6, (), -1, -1, -1, -1),)
_ETF_CYCLE = (_CycleEra(dt.date(1990, 1, 1), 4, _MARCH_CYCLE, 11, -1, 23, 35),)
_EQUITY_CYCLE = (_CycleEra(dt.date(1990, 1, 1), 4, _JANUARY_CYCLE, 8, -1, -1, 35),)


@dataclass(frozen=True)
class _WeeklyRule:
    """A weekly program: expiries on one weekday, listed on ``listing_weekday``.

    On a quote date q the listing day L is the last ``listing_weekday`` on or before q (or the
    next one, when it is a holiday and its listing happens on q, the session before). The
    *current* expiry is the first expiry weekday after L. An expiry with nominal date N > L is
    listed when it is eligible (no program in ``exclude`` expires that day), it is the current
    one or among the first ``count`` eligible expiries after the current one, and
    N - L <= ``window`` days. ``eras``: (from listing day, count, window), the last era whose
    start is on or before L applies; the program starts on quote date ``first_listing`` with
    expiries from ``first_expiry``.
    """

    name: str
    root: str
    weekday: int  # 0 = Monday .. 4 = Friday
    listing_weekday: int
    roll_forward: bool  # a holiday moves the expiry to the next session (else the previous)
    first_listing: dt.date
    first_expiry: dt.date
    eras: tuple[tuple[dt.date, int, int], ...]
    exclude: tuple[str, ...]  # 'monthly', 'quarter_end', 'month_end'


_MON, _TUE, _WED, _THU, _FRI = range(5)
_D = dt.date


def _weekly(
    name: str,
    root: str,
    weekday: int,
    first: tuple[dt.date, dt.date],
    eras: tuple[tuple[dt.date, int, int], ...],
    exclude: tuple[str, ...],
) -> _WeeklyRule:
    """A weekly rule listed the session before its weekday (Mondays: the Friday before)."""
    listing_weekday = _FRI if weekday == _MON else weekday - 1
    return _WeeklyRule(
        name=name,
        root=root,
        weekday=weekday,
        listing_weekday=listing_weekday,
        roll_forward=weekday == _MON,
        first_listing=first[0],
        first_expiry=first[1],
        eras=eras,
        exclude=exclude,
    )


_SPX_EXCLUDE_FRIDAY = ("monthly", "quarter_end", "month_end")
_SPX_EXCLUDE = ("monthly", "month_end")
_SPX_WEEKLIES = (
    _weekly(
        "spx_friday",
        "SPXW",
        _FRI,
        (_D(2005, 10, 28), _D(2005, 11, 4)),
        (
            (_D(2005, 10, 27), _FAR, 8),  # one week ahead (Cboe 2005)
            (_D(2012, 5, 31), _FAR, 36),  # five consecutive expiration weeks (Cboe 2012)
            (_D(2014, 1, 1), 6, _FAR),  # six, not counting the current (RG14-010)
        ),
        _SPX_EXCLUDE_FRIDAY,
    ),
    _weekly(
        "spx_wednesday",
        "SPXW",
        _WED,
        (_D(2016, 2, 23), _D(2016, 3, 2)),
        ((_D(2016, 2, 23), _FAR, 15), (_D(2016, 5, 24), _FAR, 29), (_D(2019, 5, 28), _FAR, 36)),
        _SPX_EXCLUDE,
    ),
    _weekly(
        "spx_monday",
        "SPXW",
        _MON,
        (_D(2016, 8, 15), _D(2016, 8, 22)),
        ((_D(2016, 8, 12), _FAR, 17), (_D(2017, 1, 1), _FAR, 31), (_D(2019, 5, 28), _FAR, 38)),
        _SPX_EXCLUDE,
    ),
    _weekly(
        "spx_tuesday",
        "SPXW",
        _TUE,
        (_D(2022, 4, 18), _D(2022, 4, 19)),
        ((_D(2022, 4, 18), _FAR, 8),),
        _SPX_EXCLUDE,
    ),
    _weekly(
        "spx_thursday",
        "SPXW",
        _THU,
        (_D(2022, 5, 11), _D(2022, 5, 12)),
        ((_D(2022, 5, 11), _FAR, 8),),
        _SPX_EXCLUDE,
    ),
)
_STOCK_FRIDAY_ERAS = (
    (_D(2010, 6, 3), _FAR, 8),  # one week ahead (Cboe 2010)
    (_D(2012, 11, 15), _FAR, 29),  # five consecutive weeks (Reuters 2012-11-15)
    (_D(2016, 9, 7), 6, _FAR),  # six beyond the current (SPY 2021, Polygon 2023; date assumed)
)
_ETF_EXCLUDE = ("monthly", "quarter_end")


def _etf_weeklies(root: str) -> tuple[_WeeklyRule, ...]:
    friday = _weekly(
        "etf_friday",
        root,
        _FRI,
        (_D(2010, 6, 4), _D(2010, 6, 11)),
        _STOCK_FRIDAY_ERAS,
        _ETF_EXCLUDE,
    )
    if root != "SPY":
        return (friday,)
    return (
        friday,
        _weekly(
            "spy_wednesday",
            root,
            _WED,
            (_D(2016, 9, 7), _D(2016, 9, 14)),
            ((_D(2016, 9, 7), _FAR, 29), (_D(2019, 5, 28), _FAR, 36)),
            _ETF_EXCLUDE,
        ),
        _weekly(
            "spy_monday",
            root,
            _MON,
            (_D(2018, 2, 16), _D(2018, 2, 20)),
            ((_D(2018, 2, 16), _FAR, 31), (_D(2019, 5, 28), _FAR, 38)),
            _ETF_EXCLUDE,
        ),
        _weekly(
            "spy_tuesday",
            root,
            _TUE,
            (_D(2022, 11, 14), _D(2022, 11, 15)),
            ((_D(2022, 11, 14), _FAR, 8),),
            _ETF_EXCLUDE,
        ),
        _weekly(
            "spy_thursday",
            root,
            _THU,
            (_D(2022, 11, 14), _D(2022, 11, 17)),
            ((_D(2022, 11, 14), _FAR, 8),),
            _ETF_EXCLUDE,
        ),
    )


_AAPL_WEEKLIES = (
    _weekly(
        "equity_friday",
        "AAPL",
        _FRI,
        (_D(2010, 6, 25), _D(2010, 7, 2)),
        _STOCK_FRIDAY_ERAS,
        ("monthly",),
    ),
)

# SPX end-of-quarter (SPXQ, then SPXW) and end-of-month (SPXW) programs.
_SPXQ_START = dt.date(2006, 7, 3)
_SPXQ_TO_SPXW = dt.date(2014, 7, 3)
_SPX_EOM_START = dt.date(2014, 7, 7)
_ETF_QOS_START = dt.date(2007, 1, 1)
_SPX_AM_WEEKLY_LAST = dt.date(2010, 12, 3)
_SPXPM_FIRST, _SPXPM_LAST = dt.date(2011, 10, 4), dt.date(2017, 4, 30)
_SPXW_MONTHLY_FIRST = dt.date(2017, 5, 1)


# --------------------------------------------------------------------------------------------
# Calendar helpers (dates as int days since 1970-01-01, numpy-vectorised)
# --------------------------------------------------------------------------------------------


@cache
def _seed_sessions() -> np.ndarray:
    if _SEED_PATH.exists():
        seed = pl.read_csv(_SEED_PATH, columns=["session_date"], try_parse_dates=True)
        return np.sort(seed["session_date"].cast(pl.Int32).to_numpy().astype(np.int64))
    return np.empty(0, dtype=np.int64)


def _calendar_days(calendar_sessions: pl.Series | None, first: int, last: int) -> np.ndarray:
    """Sorted session days covering [first, last]; the seed, else loaders.calendar."""
    if calendar_sessions is not None:
        if not isinstance(calendar_sessions, pl.Series):
            kind = type(calendar_sessions).__name__
            raise ValueError(f"calendar_sessions must be a polars Series of Date, got {kind}")
        if calendar_sessions.dtype != pl.Date:
            raise ValueError(
                f"calendar_sessions must be a Series of Date, got {calendar_sessions.dtype}"
            )
        days = np.unique(calendar_sessions.drop_nulls().cast(pl.Int32).to_numpy().astype(np.int64))
        if days.size == 0 or days[0] > first or days[-1] < last:
            got = f"{_date(days[0])}..{_date(days[-1])}" if days.size else "an empty calendar"
            raise ValueError(
                f"calendar_sessions must cover {_date(first)}..{_date(last)}, got {got}"
            )
        return days
    days = _seed_sessions()
    if days.size and days[0] <= first and days[-1] >= last:
        return days
    from loaders.calendar import sessions_covering  # the seed's own source (exchange_calendars)

    covering = sessions_covering(_date(first), _date(last))
    return np.array([_day(d) for d in covering], dtype=np.int64)


def _last_session_on_or_before(days: np.ndarray, cal: np.ndarray) -> np.ndarray:
    return cal[np.searchsorted(cal, days, side="right") - 1]


def _next_session_on_or_after(days: np.ndarray, cal: np.ndarray) -> np.ndarray:
    return cal[np.searchsorted(cal, days, side="left")]


def _weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of int days."""
    d64 = days.astype("datetime64[D]")
    years = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    return years, months, dom


def _month_index(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _era_index(starts: Sequence[dt.date], days: np.ndarray) -> np.ndarray:
    """Index of the era in force on each day (-1 before the first)."""
    return np.searchsorted(np.array([_day(s) for s in starts]), days, side="right") - 1


# --------------------------------------------------------------------------------------------
# Candidate expiries
# --------------------------------------------------------------------------------------------


def _third_fridays(first: int, last: int, cal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(expiration, month index) of the standard monthlies with a nominal date in the span."""
    days = np.arange(first, last + 1, dtype=np.int64)
    _, _, dom = _civil(days)
    nominal = days[(_weekday(days) == 4) & (dom >= 15) & (dom <= 21)]
    # Before 2015-02-15 OCC dated them on the Saturday after; its last session is the same Friday
    # (or the Thursday before a Good Friday) as the third Friday's.
    return _last_session_on_or_before(nominal, cal), _month_index(nominal)


def _month_ends(first: int, last: int, cal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(expiration, month index): the last session of each month in the span."""
    months = np.arange(_month_index(np.array([first]))[0], _month_index(np.array([last]))[0] + 1)
    last_day = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
    return _last_session_on_or_before(last_day, cal), months


def _window_pairs(q: np.ndarray, expiry: np.ndarray, max_dte: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i into q, j into sorted ``expiry``) with 0 <= expiry[j] - q[i] <= max_dte."""
    lo = np.searchsorted(expiry, q, side="left")
    hi = np.searchsorted(expiry, q + max_dte, side="right")
    counts = np.maximum(hi - lo, 0)
    qi = np.repeat(np.arange(q.size), counts)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    ej = np.arange(counts.sum()) + starts
    return qi, ej


def _frame(
    q: np.ndarray, expiration: np.ndarray, root: str | np.ndarray, expiry_type: str | np.ndarray
) -> pl.DataFrame:
    n = q.size
    if isinstance(root, str):
        root = np.full(n, root, dtype=object)
    if isinstance(expiry_type, str):
        expiry_type = np.full(n, expiry_type, dtype=object)
    return pl.DataFrame(
        {
            "quote_date": q.astype(np.int32),
            "expiration": expiration.astype(np.int32),
            "option_root": root,
            "expiry_type": expiry_type,
        },
        schema={
            "quote_date": pl.Int32,
            "expiration": pl.Int32,
            "option_root": pl.String,
            "expiry_type": pl.String,
        },
    )


def _cycle_listed(
    eras: Sequence[_CycleEra], q: np.ndarray, k: np.ndarray, month: np.ndarray
) -> np.ndarray:
    era = _era_index([e.start for e in eras], q)
    out = np.zeros(q.size, dtype=bool)
    for i, e in enumerate(eras):  # a handful of eras, not rows
        sel = era == i
        if not sel.any():
            continue
        kk, mm = k[sel], month[sel]
        out[sel] = (
            (kk < e.serial)
            | (np.isin(mm, e.cycle_months) & (kk <= e.cycle_max_k))
            | (np.isin(mm, (6, 12)) & (kk <= e.semiannual_max_k))
            | ((mm == 12) & (kk <= e.december_max_k))
            | ((mm == 1) & (kk <= e.january_max_k))
        )
    return out


def _monthlies(
    symbol: str,
    q: np.ndarray,
    max_dte: int,
    cal: np.ndarray,
    span: tuple[int, int],
    primary_max_dte: int,
) -> pl.DataFrame:
    """Standard third-Friday monthlies: the primary root's (SPX, or the symbol's own) to
    ``primary_max_dte`` days, SPX's PM-settled roots (SPXPM, SPXW) to ``max_dte``."""
    expiry, month_idx = _third_fridays(*span, cal)
    order = np.argsort(expiry, kind="stable")
    expiry, month_idx = expiry[order], month_idx[order]
    month = month_idx % 12 + 1
    # Front month: the first standard expiry on or after the quote date.
    front = month_idx[np.searchsorted(expiry, q, side="left")]
    qi, ej = _window_pairs(q, expiry, max(max_dte, primary_max_dte))
    qq, ee, k, mm = q[qi], expiry[ej], month_idx[ej] - front[qi], month[ej]
    frames = []
    if symbol == "SPX":
        keep = _cycle_listed(_SPX_CYCLE, qq, k, mm) & (ee - qq <= primary_max_dte)
        frames.append(_frame(qq[keep], ee[keep], "SPX", "monthly"))
        short = ee - qq <= max_dte
        pm = (qq >= _day(_SPXPM_FIRST)) & (qq <= _day(_SPXPM_LAST))
        keep = short & pm & _cycle_listed(_SPXPM_CYCLE, qq, k, mm)
        frames.append(_frame(qq[keep], ee[keep], "SPXPM", "monthly"))
        keep = short & _cycle_listed(_SPXW_MONTHLY_CYCLE, qq, k, mm)
        frames.append(_frame(qq[keep], ee[keep], "SPXW", "monthly"))
    else:
        eras = _ETF_CYCLE if symbol in _ETFS else _EQUITY_CYCLE
        keep = _cycle_listed(eras, qq, k, mm) & (ee - qq <= primary_max_dte)
        frames.append(_frame(qq[keep], ee[keep], symbol, "monthly"))
    return pl.concat(frames)


def _month_end_series(
    symbol: str, q: np.ndarray, max_dte: int, cal: np.ndarray, span: tuple[int, int]
) -> pl.DataFrame:
    expiry, month_idx = _month_ends(*span, cal)
    qi, ej = _window_pairs(q, expiry, max_dte)
    qq, ee = q[qi], expiry[ej]
    k = month_idx[ej] - _month_index(qq)
    month = month_idx[ej] % 12 + 1
    is_quarter = month % 3 == 0
    if symbol == "SPX":
        # Quarter-ends: within eleven months of the front standard month (four quarter-ends
        # ahead; a new one appears after the third-Friday expiry of a quarter month, as in the
        # 2019 chain). Other month-ends: the current and the next five calendar months.
        third_friday, third_month = _third_fridays(*span, cal)
        order = np.argsort(third_friday, kind="stable")
        front = third_month[order][np.searchsorted(third_friday[order], qq, side="left")]
        quarter = is_quarter & (qq >= _day(_SPXQ_START)) & (month_idx[ej] - front <= 11)
        month_end = ~is_quarter & (qq >= _day(_SPX_EOM_START)) & (k <= 5)
        keep = quarter | month_end
        qq, ee, quarter = qq[keep], ee[keep], quarter[keep]
        root = np.where(qq < _day(_SPXQ_TO_SPXW), "SPXQ", "SPXW").astype(object)
        kind = np.where(quarter & (qq < _day(_SPX_EOM_START)), "quarterly", "end_of_month")
        return _frame(qq, ee, root, kind.astype(object))
    if symbol in _ETFS:
        years = _civil(qq)[0]
        next_q4 = (month == 12) & (month_idx[ej] // 12 + 1970 == years + 1)
        keep = is_quarter & (qq >= _day(_ETF_QOS_START)) & ((k <= 12) | next_q4)
        return _frame(qq[keep], ee[keep], symbol, "quarterly")
    return _frame(np.empty(0, np.int64), np.empty(0, np.int64), symbol, "quarterly")


def _excluded_days(symbol: str, kinds: tuple[str, ...], cal: np.ndarray, span) -> np.ndarray:
    """Expiry days of the programs in ``kinds`` (those dates get no weekly of the program)."""
    out = []
    if "monthly" in kinds:
        out.append(_third_fridays(*span, cal)[0])
    ends, month_idx = _month_ends(*span, cal)
    is_quarter = (month_idx % 12 + 1) % 3 == 0
    if "quarter_end" in kinds or "month_end" in kinds:
        start = _SPXQ_START if symbol == "SPX" else _ETF_QOS_START
        out.append(ends[is_quarter & (ends >= _day(start))])
    if "month_end" in kinds:
        out.append(ends[~is_quarter & (ends >= _day(_SPX_EOM_START))])
    return np.unique(np.concatenate(out)) if out else np.empty(0, np.int64)


def _weekly_series(
    symbol: str,
    rule: _WeeklyRule,
    q: np.ndarray,
    max_dte: int,
    cal: np.ndarray,
    span: tuple[int, int],
) -> pl.DataFrame:
    first, last = span
    days = np.arange(first, last + 1, dtype=np.int64)
    nominal = days[(_weekday(days) == rule.weekday) & (days >= _day(rule.first_expiry))]
    expiry = (
        _next_session_on_or_after(nominal, cal)
        if rule.roll_forward
        else _last_session_on_or_before(nominal, cal)
    )
    eligible = ~np.isin(expiry, _excluded_days(symbol, rule.exclude, cal, span))
    nominal, expiry = nominal[eligible], expiry[eligible]
    # Listing day L of each quote date: the last listing weekday on or before q, or the next
    # one when it is a holiday whose listing happens on q (its last session before).
    ahead = (rule.listing_weekday - _weekday(q)) % 7
    next_listing = q + ahead
    listing = np.where(
        _last_session_on_or_before(next_listing, cal) == q, next_listing, next_listing - 7
    )
    era = _era_index([e[0] for e in rule.eras], listing)
    count = np.array([e[1] for e in rule.eras])[np.maximum(era, 0)]
    window = np.array([e[2] for e in rule.eras])[np.maximum(era, 0)]
    # The current expiry is the first expiry weekday after L, eligible or not (a third Friday
    # counts as the current one: "not counting the current expiration", RG14-010); ``count``
    # eligible expiries after it are listed, and it too when eligible.
    current = listing + ((rule.weekday - rule.listing_weekday - 1) % 7 + 1)
    first_after = np.searchsorted(nominal, current, side="right")  # first nominal > current
    qi, ej = _window_pairs(q, expiry, max_dte)
    rank = ej - first_after[qi] + 1  # 0 for the current expiry
    keep = (
        (era[qi] >= 0)
        & (q[qi] >= _day(rule.first_listing))
        & (nominal[ej] > listing[qi])
        & (rank <= count[qi])
        & (nominal[ej] - listing[qi] <= window[qi])
    )
    qq, ee = q[qi][keep], expiry[ej][keep]
    if rule.name == "spx_friday":
        root = np.where(ee <= _day(_SPX_AM_WEEKLY_LAST), "SPX", "SPXW").astype(object)
        return _frame(qq, ee, root, "weekly")
    return _frame(qq, ee, rule.root, "weekly")


@cache
def _root_terms() -> dict[str, tuple[str, str]]:
    from loaders.contracts import load_specs  # contract terms by root, one source

    default, roots = load_specs()
    terms = {r: (t["settlement_type"], t["exercise_style"]) for r, t in roots.items()}
    terms[""] = (default["settlement_type"], default["exercise_style"])
    return terms


def primary_root(underlying_symbol: str) -> str:
    """The root of an underlying's standard third-Friday monthlies: ``SPX`` (AM-settled) for the
    index, the symbol itself for an ETF or a stock (``monthly_max_dte`` lists these further).

    Raises
    ------
    ValueError
        For an unsupported underlying, named.
    """
    return _check_symbol(underlying_symbol)


def _check_symbol(underlying_symbol: object) -> str:
    if not isinstance(underlying_symbol, str) or underlying_symbol not in SUPPORTED_UNDERLYINGS:
        raise ValueError(
            f"no listing rules for underlying_symbol {underlying_symbol!r}; "
            f"supported: {', '.join(SUPPORTED_UNDERLYINGS)}"
        )
    return underlying_symbol


def _quote_days(sessions: Sequence[dt.date] | pl.Series) -> np.ndarray:
    series = sessions if isinstance(sessions, pl.Series) else pl.Series(list(sessions))
    if series.len() == 0:
        return np.empty(0, dtype=np.int64)
    if series.dtype == pl.Datetime or series.dtype == pl.Object:
        raise ValueError(f"sessions must be dates, got dtype {series.dtype}")
    if series.dtype != pl.Date:
        bad = series.head(1).to_list()
        raise ValueError(f"sessions must be dates (polars Date), got {series.dtype}: {bad!r}")
    if series.null_count():
        raise ValueError(f"sessions contains {series.null_count()} null date(s)")
    return np.unique(series.cast(pl.Int32).to_numpy().astype(np.int64))


def listed_expirations(
    underlying_symbol: str,
    sessions: Sequence[dt.date] | pl.Series,
    *,
    max_dte: int,
    monthly_max_dte: int | None = None,
    calendar_sessions: pl.Series | None = None,
) -> pl.DataFrame:
    """The expirations listed and alive on each quote date, by the exchange rules of its era.

    Parameters
    ----------
    underlying_symbol
        ``'SPX'``, ``'SPY'``, ``'QQQ'``, ``'IWM'`` or ``'AAPL'``.
    sessions
        Quote dates (``datetime.date`` or a polars ``Date`` Series); duplicates are ignored.
        Each must be an NYSE session.
    max_dte
        Longest days to expiration kept (calendar days, >= 0).
    monthly_max_dte
        Longest days to expiration of the standard third-Friday monthlies of the primary root
        (``SPX``; an ETF's or stock's own symbol), calendar days ``>= max_dte``; ``None``
        (default): ``max_dte``. Every other series stops at ``max_dte``. A chain listed to 70
        days with monthlies to 100 holds the next March-cycle quarterly on each quarterly roll
        date (91-98 days: the put of the Cboe 95-110 Collar Index, CLL): SPX 2007-2022, 3,861
        more expirations than to 70 days (+6.9 %) where listing every series to 100 days adds
        9,562 (+17.2 %).
    calendar_sessions
        Every NYSE session (``Date``) covering the quote dates to monthly_max_dte + ~50 days
        beyond;
        defaults to ``models_sql/seeds/nyse_sessions.csv`` (written by
        :func:`loaders.calendar.write_sessions_csv`), falling back to
        :func:`loaders.calendar.sessions_covering` outside the seed.

    Returns
    -------
    polars.DataFrame
        One row per (quote_date, expiration, option_root) listed on quote_date with
        0 <= dte <= max_dte (the primary root's monthlies: <= monthly_max_dte), sorted by
        those columns; columns :data:`EXPIRATION_SCHEMA`:
        quote_date, expiration (the expiry's last trading session), option_root (``SPX``,
        ``SPXW``, ``SPXPM``, ``SPXQ``, or the ETF/stock symbol), expiry_type (``'monthly'``
        third-Friday cycle, ``'weekly'`` any other day incl. Monday-Thursday,
        ``'end_of_month'``, ``'quarterly'``), settlement_type (``'AM'``/``'PM'``) and
        exercise_style (``'european'``/``'american'``) from ``loaders/contract_specs.yaml`` by
        root, dte (Int32, calendar days).

    Raises
    ------
    ValueError
        For an unsupported underlying (named), a negative or non-integer ``max_dte``, a
        ``monthly_max_dte`` that is not an integer ``>= max_dte``, quote
        dates that are not dates or not sessions (the first few are named), or a calendar that
        does not cover the span.

    Notes
    -----
    The rules and their sources, era by era, are in this module's docstring. Measured on the
    real chains in ``warehouse/vendor`` (tests/modeled_chain/test_listing.py): the 1,198
    (quote_date, expiration, root) of the SPX chain 2019-04-25..07-22 with dte <= 60 are
    listed exactly (precision and recall 1.0); to 400 days recall 1.0, precision 0.991 (the
    December 2019 and January 2020 SPXW third Fridays appear ~a month early); the 77 of the
    2011-01-03..07 week exactly; every expiration of the SPY 2021 top-20 file (991) and of the
    Polygon 2023 SPY/QQQ/AAPL bars is listed on its date.

    Examples
    --------
    Good Friday 2019 (April 19) moves the April monthly to Thursday the 18th:

    >>> import datetime as dt
    >>> out = listed_expirations("SPX", [dt.date(2019, 4, 15)], max_dte=4)
    >>> for row in out.select("expiration", "option_root", "expiry_type", "dte").rows():
    ...     print(*row)
    2019-04-15 SPXW weekly 0
    2019-04-17 SPXW weekly 2
    2019-04-18 SPX monthly 3
    2019-04-18 SPXW monthly 3
    """
    symbol = _check_symbol(underlying_symbol)
    if isinstance(max_dte, bool) or not isinstance(max_dte, (int, np.integer)) or max_dte < 0:
        raise ValueError(f"max_dte must be an integer >= 0 calendar days, got {max_dte!r}")
    max_dte = int(max_dte)
    if monthly_max_dte is None:
        monthly_max_dte = max_dte
    if (
        isinstance(monthly_max_dte, bool)
        or not isinstance(monthly_max_dte, (int, np.integer))
        or monthly_max_dte < max_dte
    ):
        raise ValueError(
            f"monthly_max_dte must be an integer >= max_dte ({max_dte}) calendar days, "
            f"got {monthly_max_dte!r}"
        )
    monthly_max_dte = int(monthly_max_dte)
    q = _quote_days(sessions)
    if q.size == 0:
        return pl.DataFrame(schema=EXPIRATION_SCHEMA)
    # Span of nominal expiry dates: a week before the first quote date (listing days, held
    # Mondays) to monthly_max_dte + 40 days after the last (the front month of the last quote date).
    span = (int(q[0]) - 10, int(q[-1]) + monthly_max_dte + 40)
    cal = _calendar_days(calendar_sessions, span[0] - 10, span[1] + 7)
    not_sessions = q[~np.isin(q, cal)]
    if not_sessions.size:
        named = [str(_date(d)) for d in not_sessions[:5]]
        raise ValueError(f"quote dates must be NYSE sessions, got {len(not_sessions)}: {named}")

    if symbol == "SPX":
        rules = _SPX_WEEKLIES
    elif symbol in _ETFS:
        rules = _etf_weeklies(symbol)
    else:
        rules = _AAPL_WEEKLIES
    frames = [
        _monthlies(symbol, q, max_dte, cal, span, monthly_max_dte),
        _month_end_series(symbol, q, max_dte, cal, span),
        *(_weekly_series(symbol, rule, q, max_dte, cal, span) for rule in rules),
    ]
    terms = _root_terms()
    roots = pl.DataFrame(
        {
            "option_root": list(terms),
            "settlement_type": [t[0] for t in terms.values()],
            "exercise_style": [t[1] for t in terms.values()],
        }
    )
    default_settlement, default_exercise = terms[""]
    out = (
        pl.concat(frames)
        .with_columns(
            _priority=pl.col("expiry_type").replace_strict(_PRIORITY, return_dtype=pl.Int8)
        )
        .sort("quote_date", "expiration", "option_root", "_priority")
        .unique(["quote_date", "expiration", "option_root"], keep="first", maintain_order=True)
        .join(roots, on="option_root", how="left", maintain_order="left")
        .select(
            pl.col("quote_date").cast(pl.Date),
            pl.col("expiration").cast(pl.Date),
            "option_root",
            "expiry_type",
            pl.col("settlement_type").fill_null(default_settlement),
            pl.col("exercise_style").fill_null(default_exercise),
            (pl.col("expiration") - pl.col("quote_date")).cast(pl.Int32).alias("dte"),
        )
    )
    return out.cast(EXPIRATION_SCHEMA)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Strikes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Zone:
    """Strikes K with ``lo`` <= K/S - 1 < ``hi`` (outside any inner zone) are listed on the
    increment of their price tier: ``tiers`` = ((from_usd, increment_cents), ...) ascending."""

    lo: float
    hi: float
    tiers: tuple[tuple[float, int], ...]


def _points(lo: float, hi: float, increment_usd: float) -> _Zone:
    return _Zone(lo, hi, ((0.0, round(increment_usd * 100)),))


# Standard equity intervals by strike price (OCC equity options specifications: "$2.50
# increments for strikes below $25, $5 increments for those trading from $25 through $200, and
# $10 increments for strikes above $200").
_EQUITY_STANDARD = ((0.0, 250), (25.0, 500), (200.0, 1000))
# Short Term Option Series (Weeklys) intervals: "$0.50 or greater where the strike price is less
# than $100, $1 or greater where the strike price is between $100 and $150, ... $2.50 or greater
# where the strike price is above $150" (Cboe Rule 5.5 Interpretation .02, 2012 text, as we
# recall it; not retrieved here).
_EQUITY_SHORT_TERM = ((0.0, 50), (100.0, 100), (150.0, 250))

#: Strike grids: zones from the money outwards (moneyness bounds K/S - 1, increments).
_GRIDS: dict[str, tuple[_Zone, ...]] = {
    # SPX before 2014, from the iVolatility chain of 2011-01-03..07 (S ~ 1270): front months 5
    # points from -38 % to +9 %, 25/50 points beyond; months past ~100 days 25 points only;
    # the one-week Weeklys 5 points within ~ -6 %..+3 % (initially "no more than five strike
    # prices", Cboe 2005); SPXQ 25/50 points. Cboe SPX specification: "Five points. 25-point
    # intervals for far months."
    "spx_early_standard_near": (
        _points(-0.30, 0.08, 5),
        _points(-0.45, 0.15, 25),
        _points(-0.60, 0.25, 50),
        _points(-0.85, 0.60, 100),
    ),
    "spx_early_standard_mid": (
        _points(-0.10, 0.05, 5),
        _points(-0.50, 0.20, 25),
        _points(-0.65, 0.30, 50),
        _points(-0.85, 0.60, 100),
    ),
    "spx_early_standard_far": (
        _points(-0.50, 0.20, 25),
        _points(-0.65, 0.30, 50),
        _points(-0.85, 1.35, 100),
    ),
    "spx_early_weekly": (_points(-0.06, 0.03, 5), _points(-0.15, 0.08, 25)),
    "spx_early_quarterly": (_points(-0.30, 0.15, 25), _points(-0.60, 0.30, 50)),
    "spx_early_quarterly_far": (_points(-0.20, 0.01, 25), _points(-0.60, 0.30, 50)),
    # SPX from 2014, from the Cboe chain of 2019-04-25..07-22 (S ~ 2950). Cboe SPX specification:
    # "$5, $10, $25, $50, $100 ... Newly added and longer-term expirations have less
    # granularity ... Standard 3rd Friday AM and PM options always have the most granularity and
    # widest ranges."
    "spx_standard_near": (  # third Fridays up to 120 days
        _points(-0.30, 0.07, 5),
        _points(-0.50, 0.10, 25),
        _points(-0.65, 0.42, 100),
    ),
    "spx_standard_far": (_points(-0.55, 0.10, 25), _points(-0.65, 0.45, 100)),
    "spx_friday_near": (  # Friday weeklies to 75 days, month-ends to 58, quarter-ends to 181
        _points(-0.20, 0.06, 5),
        _points(-0.27, 0.08, 25),
        _points(-0.55, 0.30, 100),
    ),
    "spx_month_end_mid": (  # other month-ends to 190 days, Friday weeklies to 130
        _points(-0.15, 0.04, 10),
        _points(-0.29, 0.08, 25),
        _points(-0.55, 0.22, 100),
    ),
    "spx_month_end_far": (_points(-0.55, 0.08, 25), _points(-0.60, 0.40, 100)),
    "spx_midweek": (  # Monday-Thursday weeklies
        _points(-0.12, 0.05, 5),
        _points(-0.18, 0.08, 25),
        _points(-0.36, 0.18, 100),
    ),
    # ETFs: $1 strikes near the money ("many ETFs ... such as the QQQQ" have $1 strikes, Cboe
    # penny-pilot page 2011; the SPY 2021 chain quotes whole-dollar strikes), $5 beyond.
    "etf_near": (_points(-0.20, 0.12, 1), _points(-0.60, 0.40, 5)),
    "etf_far": (_points(-0.05, 0.05, 1), _points(-0.60, 0.40, 5)),
    # Equities: Short Term Option Series intervals near the money within 60 days (the class is in
    # the Weeklys program), the standard intervals elsewhere.
    "equity_near": (_Zone(-0.15, 0.15, _EQUITY_SHORT_TERM), _Zone(-0.50, 0.50, _EQUITY_STANDARD)),
    "equity_far": (_Zone(-0.50, 0.50, _EQUITY_STANDARD),),
}
_SPX_MODERN_STRIKES = dt.date(2014, 1, 1)
_EQUITY_SHORT_TERM_FROM = {"AAPL": dt.date(2010, 6, 25)}


def _check_grids() -> None:
    for name, zones in _GRIDS.items():
        for inner, outer in itertools.pairwise(zones):
            if not (outer.lo <= inner.lo < inner.hi <= outer.hi):
                raise ValueError(f"strike grid {name!r}: zones must be nested, got {zones}")


_check_grids()


@cache
def _segment_templates() -> pl.DataFrame:
    """One row per (grid, band, price tier): moneyness and price bounds (half-open) and the
    increment in cents, ordered by grid then ascending strike (so strikes come out sorted)."""
    rows = []
    for name, zones in _GRIDS.items():
        bands: list[tuple[float, float, tuple[tuple[float, int], ...]]] = []
        for j, zone in enumerate(zones):
            if j == 0:
                bands.append((zone.lo, zone.hi, zone.tiers))
            else:
                bands.append((zone.lo, zones[j - 1].lo, zone.tiers))
                bands.append((zones[j - 1].hi, zone.hi, zone.tiers))
        for m_lo, m_hi, tiers in bands:
            if m_hi <= m_lo:
                continue
            for t, (p_lo, inc) in enumerate(tiers):
                p_hi = tiers[t + 1][0] if t + 1 < len(tiers) else math.inf
                rows.append((name, m_lo, m_hi, p_lo, p_hi, inc))
    frame = pl.DataFrame(
        rows,
        schema={
            "_grid": pl.String,
            "_m_lo": pl.Float64,
            "_m_hi": pl.Float64,
            "_p_lo": pl.Float64,
            "_p_hi": pl.Float64,
            "_inc": pl.Int64,
        },
        orient="row",
    )
    return frame.sort("_grid", "_m_lo", "_p_lo", maintain_order=True)


def _grid_expr() -> pl.Expr:
    """Grid name of each expiry row, by underlying, era, class and days to expiration."""
    dte = (pl.col("expiration") - pl.col("quote_date")).dt.total_days()
    symbol, kind = pl.col("underlying_symbol"), pl.col("expiry_type")
    modern = pl.col("quote_date") >= _SPX_MODERN_STRIKES
    friday = pl.col("expiration").dt.weekday() == 5
    standard = kind == "monthly"
    month_end = kind.is_in(["end_of_month", "quarterly"])
    quarter_end = pl.col("expiration").dt.month() % 3 == 0
    spx_early = (
        pl.when(standard & (dte <= 60))
        .then(pl.lit("spx_early_standard_near"))
        .when(standard & (dte <= 90))
        .then(pl.lit("spx_early_standard_mid"))
        .when(standard)
        .then(pl.lit("spx_early_standard_far"))
        .when(month_end & (dte <= 120))
        .then(pl.lit("spx_early_quarterly"))
        .when(month_end)
        .then(pl.lit("spx_early_quarterly_far"))
        .otherwise(pl.lit("spx_early_weekly"))
    )
    spx_modern = (
        pl.when(standard & (dte <= 120))
        .then(pl.lit("spx_standard_near"))
        .when(standard)
        .then(pl.lit("spx_standard_far"))
        .when(month_end & quarter_end & (dte <= 181))
        .then(pl.lit("spx_friday_near"))
        .when(month_end & ~quarter_end & (dte <= 58))
        .then(pl.lit("spx_friday_near"))
        .when(month_end & ~quarter_end & (dte <= 190))
        .then(pl.lit("spx_month_end_mid"))
        .when(month_end)
        .then(pl.lit("spx_month_end_far"))
        .when(friday & (dte <= 75))
        .then(pl.lit("spx_friday_near"))
        .when(friday & (dte <= 130))
        .then(pl.lit("spx_month_end_mid"))
        .when(friday)
        .then(pl.lit("spx_month_end_far"))
        .otherwise(pl.lit("spx_midweek"))
    )
    short_term_from = symbol.replace_strict(
        _EQUITY_SHORT_TERM_FROM, default=None, return_dtype=pl.Date
    )
    return (
        pl.when(symbol == "SPX")
        .then(pl.when(modern).then(spx_modern).otherwise(spx_early))
        .when(symbol.is_in(list(_ETFS)))
        .then(pl.when(dte <= 180).then(pl.lit("etf_near")).otherwise(pl.lit("etf_far")))
        .when((dte <= 60) & (pl.col("quote_date") >= short_term_from))
        .then(pl.lit("equity_near"))
        .otherwise(pl.lit("equity_far"))
        .alias("_grid")
    )


def _check_strike_input(expiries: pl.DataFrame) -> None:
    if not isinstance(expiries, pl.DataFrame):
        raise ValueError(f"expiries must be a polars DataFrame, got {type(expiries).__name__}")
    missing = [c for c in STRIKE_INPUT_COLUMNS if c not in expiries.columns]
    if missing:
        raise ValueError(f"expiries is missing column(s) {missing}")
    if "strike" in expiries.columns:
        raise ValueError("expiries already has a 'strike' column")
    nulls = {c: n for c in STRIKE_INPUT_COLUMNS if (n := expiries[c].null_count())}
    if nulls:
        raise ValueError(f"expiries has nulls in {nulls}")
    symbols = set(expiries["underlying_symbol"].unique().to_list())
    bad_symbols = sorted(symbols - set(SUPPORTED_UNDERLYINGS))
    if bad_symbols:
        raise ValueError(
            f"no strike rules for underlying_symbol {bad_symbols}; supported: "
            f"{', '.join(SUPPORTED_UNDERLYINGS)}"
        )
    checks = expiries.select(
        bad_price=~(
            pl.col("underlying_price").cast(pl.Float64).is_finite()
            & (pl.col("underlying_price") > 0)
        ),
        bad_band=~(
            pl.col("strike_min").cast(pl.Float64).is_finite()
            & pl.col("strike_max").cast(pl.Float64).is_finite()
            & (pl.col("strike_min") <= pl.col("strike_max"))
        ),
        bad_dates=pl.col("expiration") < pl.col("quote_date"),
    )
    for column, what in (
        ("bad_price", "underlying_price must be finite and > 0"),
        ("bad_band", "strike_min and strike_max must be finite with strike_min <= strike_max"),
        ("bad_dates", "expiration must not be before quote_date"),
    ):
        if checks[column].any():
            first = expiries.filter(checks[column]).select(STRIKE_INPUT_COLUMNS)
            row = first.row(0, named=True)
            raise ValueError(f"{what}, got {checks[column].sum()} row(s), e.g. {row}")


def listed_strikes(expiries: pl.DataFrame) -> pl.DataFrame:
    """The listed strikes of each expiry within the requested band, on the era's strike grid.

    Parameters
    ----------
    expiries
        One row per (underlying_symbol, quote_date, expiration, option_root) with at least
        :data:`STRIKE_INPUT_COLUMNS`: underlying_symbol, quote_date (Date), expiration (Date),
        option_root, expiry_type (as :func:`listed_expirations` gives it), underlying_price
        (USD or index points, > 0), strike_min and strike_max (same unit; the band wanted,
        e.g. a few standard deviations around the forward). Other columns are carried along.

    Returns
    -------
    polars.DataFrame
        The input columns plus ``strike`` (Float64): one row per listed strike K with
        strike_min <= K <= strike_max, rows in input order and strikes ascending within a row.
        An expiry whose band holds no listed strike gives no row. Every strike is an exact
        integer multiple of its increment (built as integer cents times the multiple).

    Raises
    ------
    ValueError
        Missing columns, nulls, a non-positive or non-finite underlying_price, an inverted or
        non-finite band, an expiration before its quote_date, an existing ``strike`` column, or
        an unsupported underlying (the message names the values).

    Notes
    -----
    A strike is listed when it lies in one of the nested moneyness zones (K/S - 1) of its grid
    and is a multiple of that zone's increment (for equities, of the increment of its price
    tier); nothing is listed beyond the outermost zone (the exchange's widest strike). Grids by
    era and class (``_GRIDS``), with their sources:

    - SPX before 2014: the 2011 iVolatility chain (5 points near the money in front months, 25
      and 50 points away from it and for months past ~100 days, narrow 5-point Weeklys) and the
      Cboe SPX specification ("Five points. 25-point intervals for far months").
    - SPX from 2014: the Cboe 2019 chain: third Fridays 5 points from -30 % to +7 % up to 120
      days, Friday weeklies and month-ends 5 points from -20 % to +6 % up to 75 days and 10
      points at 76..130 days, Monday-Thursday weeklies 5 points from -12 % to +5 %; 25 points,
      then 100 points, beyond (Cboe SPX specification: "$5, $10, $25, $50, $100 ... longer-term
      expirations have less granularity"). 2014-01-01 is a date between the two real chains.
    - ETFs (SPY, QQQ, IWM): $1 from -20 % to +12 % up to 180 days (+-5 % beyond), $5 out to
      -60 %/+40 %.
    - Equities (AAPL): OCC standard intervals ($2.50 below $25, $5 to $200, $10 above) out to
      +-50 %; within +-15 % and 60 days, the Short Term Option Series intervals ($0.50 below
      $100, $1 to $150, $2.50 above) from the class's first Weeklys (2010-06-25).

    Examples
    --------
    >>> import datetime as dt
    >>> row = pl.DataFrame({
    ...     "underlying_symbol": ["SPX"], "quote_date": [dt.date(2019, 5, 1)],
    ...     "expiration": [dt.date(2019, 5, 17)], "option_root": ["SPX"],
    ...     "expiry_type": ["monthly"], "underlying_price": [2946.73],
    ...     "strike_min": [2930.0], "strike_max": [2960.0],
    ... })
    >>> listed_strikes(row)["strike"].to_list()
    [2930.0, 2935.0, 2940.0, 2945.0, 2950.0, 2955.0, 2960.0]
    """
    _check_strike_input(expiries)
    if expiries.is_empty():
        return expiries.with_columns(strike=pl.lit(None, pl.Float64)).clear()
    spot = pl.col("underlying_price").cast(pl.Float64) * 100.0  # cents
    inc = pl.col("_inc")
    # Half-open band [a, b) of the segment in cents, clipped to [strike_min, strike_max].
    a = pl.max_horizontal(spot * (1.0 + pl.col("_m_lo")), pl.col("_p_lo") * 100.0)
    b = pl.min_horizontal(spot * (1.0 + pl.col("_m_hi")), pl.col("_p_hi") * 100.0)
    k_lo = pl.max_horizontal(
        (a / inc).ceil(),
        (pl.col("strike_min").cast(pl.Float64) * 100.0 / inc - 1e-9).ceil(),
        pl.lit(1.0),
    )
    k_hi = pl.min_horizontal(
        (b / inc).ceil() - 1.0,
        (pl.col("strike_max").cast(pl.Float64) * 100.0 / inc + 1e-9).floor(),
    )
    # One row per (expiry, segment) with its range of integer multiples [k_lo, k_hi], expanded
    # with numpy (repeat + arange, in segment order: rows in input order, strikes ascending),
    # then the input columns gathered once by row number.
    segments = (
        expiries.select(STRIKE_INPUT_COLUMNS)
        .with_row_index("_row")
        .with_columns(_grid_expr())
        .join(_segment_templates(), on="_grid", how="inner", maintain_order="left_right")
        .select("_row", "_inc", _k_lo=k_lo.cast(pl.Int64), _k_hi=k_hi.cast(pl.Int64))
        .filter(pl.col("_k_hi") >= pl.col("_k_lo"))
    )
    k_first = segments["_k_lo"].to_numpy()
    count = segments["_k_hi"].to_numpy() - k_first + 1
    segment = np.repeat(np.arange(count.shape[0]), count)
    start = np.cumsum(count) - count
    multiple = np.arange(segment.shape[0], dtype=np.int64) + (k_first - start)[segment]
    strike = (multiple * segments["_inc"].to_numpy()[segment]).astype(np.float64) / 100.0
    row = segments["_row"].to_numpy()[segment]
    return expiries[row].with_columns(strike=pl.Series(strike))


def carry_listed_strikes(strikes: pl.DataFrame) -> pl.DataFrame:
    """Keep every strike listed from the day it is first listed until its expiration.

    The exchange adds strikes as the underlying moves and does not delist a strike that has open
    interest before it expires (Cboe Rule 5.5, "Series of Option Contracts Open for Trading":
    new series are added; series are delisted only when they have no open interest). A band
    drawn around each day's forward would drop yesterday's far strike the day the market moves
    away from it, and a position holding it could no longer be marked or closed. This returns,
    for every day an expiry is listed, the union of the strikes listed for it on that day and on
    every earlier day.

    Parameters
    ----------
    strikes
        Output of :func:`listed_strikes`: one row per (quote_date, expiration, option_root,
        strike) with the per-(quote_date, expiration, option_root) columns carried along.

    Returns
    -------
    polars.DataFrame
        The same columns; one row per (quote_date, expiration, option_root, strike) for every
        strike first listed on or before quote_date, the per-day columns taken from that day.
        Sorted by (quote_date, expiration, option_root, strike).

    Raises
    ------
    ValueError
        When a key column is missing (named).
    """
    key = ["quote_date", "expiration", "option_root"]
    missing = [c for c in (*key, "strike") if c not in strikes.columns]
    if missing:
        raise ValueError(f"carry_listed_strikes: missing column(s) {missing}")
    first_listed = strikes.group_by("expiration", "option_root", "strike").agg(
        pl.col("quote_date").min().alias("first_listed_date")
    )
    days = strikes.drop("strike").unique(key)
    return (
        days.join(first_listed, on=["expiration", "option_root"], how="inner")
        .filter(pl.col("first_listed_date") <= pl.col("quote_date"))
        .drop("first_listed_date")
        .select(strikes.columns)
        .sort(*key, "strike")
    )
