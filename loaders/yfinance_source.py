"""Live yfinance feed: daily bars, corporate actions and option-chain snapshots as polars frames.

This module only *fetches*: it returns :class:`FetchResult` frames in the canonical column names of
:mod:`loaders.schemas` (without ``load_id``) and never writes a file; another module lands them.

- :func:`fetch_bars` returns ``equity_bars`` (one row per symbol per exchange-local date) and
  ``corporate_actions`` (one row per symbol per ex-date per action) from
  ``Ticker.history(interval="1d", auto_adjust=False, actions=True)``. Prices are *not*
  dividend-adjusted (option intrinsic values need the traded price); ``adj_close`` is Yahoo's
  split- and dividend-adjusted close. Caveat: Yahoo back-adjusts OHLC and volume for **splits**
  even with ``auto_adjust=False`` (AAPL's 2020-08-28 close arrives as 124.81, not 499.23), as of
  the day of the fetch; rows still carry ``is_adjusted = False`` in the dividend sense.
- :func:`snapshot_option_chains` is a **snapshot accumulator**. Yahoo serves only the *current*
  option chain and no option history at all, so history builds up one snapshot per run: each run
  returns every listed expiration of every symbol, stamped with ``quoted_at`` (the snapshot
  instant, UTC) and ``quote_date`` (its New York date). It returns only the columns Yahoo knows;
  :func:`loaders.vendor.complete_option_quotes` adds the OCC symbol and contract terms.

Errors
------
Every failure is one :class:`YFinanceError` kind, detected as yfinance 1.7 surfaces it:

=============  ==================================================================================
kind           detected from
=============  ==================================================================================
rate_limited   ``yfinance.exceptions.YFRateLimitError`` (HTTP 429, raised after yfinance's own
               second try with its other cookie strategy), or an ``HTTPError`` with status 429.
network        ``OSError`` and its subclasses: ``requests.exceptions.ConnectionError`` / ``Timeout``
               (``requests`` backend), ``curl_cffi`` ``RequestException``/``DNSError`` (default
               backend), ``socket.gaierror``, a test network guard's ``OSError``; an
               ``HTTPError`` with status other than 404/429; ``YFDataException`` ("Yahoo is down").
no_data        ``YFTickerMissingError`` and subclasses (``YFPricesMissingError``,
               ``YFTzMissingError``: "possibly delisted"), an HTTP 404, an empty history frame,
               a symbol with no expirations, an expiration whose chain is empty (``calls=None``).
bad_schema     a body that is not JSON, a response missing a field yfinance or this module needs
               (``KeyError``/``IndexError``/``TypeError`` inside yfinance), a value that does not
               parse (``ValueError``), or a required value (contract symbol, strike) that is null.
=============  ==================================================================================

By default yfinance *logs and swallows* most errors: ``history()`` then returns an empty frame,
and after a network error it first raises from its ``info`` fallback (twice per process) and
afterwards reports "possibly delisted; no timezone found", so a DNS outage would look like a
delisted symbol. Each call is therefore made with ``yf.config.debug.hide_exceptions = False``
(yfinance's documented switch), set under a lock and restored afterwards. Other exception types
propagate: they are bugs, not data problems.

Retries and throttling
----------------------
Only ``rate_limited`` is retried (:class:`RetryPolicy`: capped exponential backoff with full
jitter); ``network``, ``no_data`` and ``bad_schema`` are recorded at once. Every yfinance call
(one ``history``, one expiration listing, one ``option_chain``) first waits on a
:class:`Throttle`; the module-level :data:`DEFAULT_THROTTLE` is shared by every call in the
process. One yfinance call may itself issue several HTTP requests (the fc.yahoo.com cookie, the
crumb, a timezone lookup on a ticker's first ``history``, and yfinance's one retry after an HTTP
error), which the throttle cannot see.

yfinance is imported lazily, inside the functions, so importing this module is cheap and the
``YF_DISABLE_CURL_CFFI`` environment variable (read once, when yfinance is first imported:
set => plain ``requests`` instead of ``curl_cffi``) keeps its meaning for the caller.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

import polars as pl

from loaders import schemas

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BARS_SCHEMA",
    "CORPORATE_ACTIONS_SCHEMA",
    "DEFAULT_RETRY",
    "DEFAULT_THROTTLE",
    "EXCHANGE_TZ",
    "OPTION_SNAPSHOT_SCHEMA",
    "ErrorKind",
    "FetchResult",
    "RetryPolicy",
    "SymbolFailure",
    "Throttle",
    "YFinanceError",
    "fetch_bars",
    "snapshot_option_chains",
]

log = logging.getLogger(__name__)

ErrorKind = Literal["rate_limited", "network", "no_data", "bad_schema"]
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)

#: Listing exchange of every symbol this feed serves (US equities, ETFs and their options).
EXCHANGE_TZ = "America/New_York"
SOURCE = "yfinance"

#: ``equity_bars`` as returned: :data:`loaders.schemas.BARS` without ``load_id``.
BARS_SCHEMA: dict[str, pl.DataType] = {k: v for k, v in schemas.BARS.items() if k != "load_id"}
#: ``corporate_actions`` as returned: :data:`loaders.schemas.CORPORATE_ACTIONS` without ``load_id``.
CORPORATE_ACTIONS_SCHEMA: dict[str, pl.DataType] = {
    k: v for k, v in schemas.CORPORATE_ACTIONS.items() if k != "load_id"
}
#: ``option_quotes`` as returned: the columns of :data:`loaders.schemas.OPTION_QUOTES` that Yahoo
#: delivers, in that schema's order (the OCC symbol and contract terms are added downstream).
OPTION_SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    k: schemas.OPTION_QUOTES[k]
    for k in (
        "underlying_symbol",
        "underlying_price",
        "vendor_symbol",
        "option_type",
        "expiration",
        "quote_date",
        "quoted_at",
        "strike",
        "last",
        "bid",
        "ask",
        "volume",
        "open_interest",
        "implied_volatility",
        "source",
        "source_file",
        "source_line",
    )
}

#: Columns of ``Ticker.history(..., actions=True)`` this module reads.
_HISTORY_COLUMNS = (
    "Open",
    "High",
    "Low",
    "Close",
    "Adj Close",
    "Volume",
    "Dividends",
    "Stock Splits",
)
#: Columns of ``Ticker.option_chain(...).calls/.puts`` this module reads.
_CHAIN_COLUMNS = (
    "contractSymbol",
    "strike",
    "lastPrice",
    "bid",
    "ask",
    "volume",
    "openInterest",
    "impliedVolatility",
)

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]
Progress = Callable[[int, int, str], None]


# --------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------


class YFinanceError(Exception):
    """One failed yfinance call, classified.

    Attributes
    ----------
    kind
        ``"rate_limited"`` | ``"network"`` | ``"no_data"`` | ``"bad_schema"`` (module docstring).
    symbol
        Ticker symbol the call was for.
    expiration
        Option expiration the call was for; ``None`` for bars and for the expiration listing.
    detail
        What went wrong, with the underlying exception's type and text.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`ERROR_KINDS`.
    """

    def __init__(
        self, kind: ErrorKind, symbol: str, detail: str, *, expiration: date | None = None
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"kind must be one of {ERROR_KINDS}, got {kind!r}")
        self.kind: ErrorKind = kind
        self.symbol = symbol
        self.expiration = expiration
        self.detail = detail
        where = symbol if expiration is None else f"{symbol} expiration {expiration.isoformat()}"
        super().__init__(f"yfinance {kind} for {where}: {detail}")


@dataclass(frozen=True)
class SymbolFailure:
    """A symbol (or one expiration of it) that yielded no rows; the other symbols went on.

    Attributes
    ----------
    symbol
        Ticker symbol.
    kind
        Error kind (see :class:`YFinanceError`).
    message
        The error's message: names the symbol, the kind and the cause.
    expiration
        The option expiration that failed; ``None`` for bars and for a failed listing.
    """

    symbol: str
    kind: ErrorKind
    message: str
    expiration: date | None = None

    @classmethod
    def from_error(cls, error: YFinanceError) -> SymbolFailure:
        return cls(error.symbol, error.kind, str(error), error.expiration)


@dataclass(frozen=True)
class FetchResult:
    """What one fetch returned.

    Attributes
    ----------
    frames
        Entity name -> frame, always present (possibly empty) and always in the entity's schema:
        ``equity_bars`` and ``corporate_actions`` (:func:`fetch_bars`), ``option_quotes``
        (:func:`snapshot_option_chains`).
    failures
        One entry per symbol, or per (symbol, expiration), that yielded no rows.
    requests
        yfinance calls made, retries included (one call may issue several HTTP requests).
    """

    frames: dict[str, pl.DataFrame]
    failures: list[SymbolFailure]
    requests: int


# --------------------------------------------------------------------------------------------
# Retry and throttle
# --------------------------------------------------------------------------------------------


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry of rate-limited calls: capped exponential backoff with full jitter.

    Before retry ``n`` (1 = the first retry) the wait is drawn uniformly from
    ``[0, min(max_delay_s, base_delay_s * 2 ** (n - 1))]`` seconds: "Full Jitter" of
    M. Brooker, *Exponential Backoff And Jitter*, AWS Architecture Blog, 2015
    (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). Only
    ``rate_limited`` errors are retried; the other kinds would fail the same way again.

    Attributes
    ----------
    max_attempts
        Calls per request in all, the first included (1 = never retry); >= 1.
    base_delay_s
        Upper bound of the first wait, seconds; > 0.
    max_delay_s
        Cap on any wait's upper bound, seconds; >= ``base_delay_s``.
    seed
        Seed of the jitter RNG (one ``random.Random(seed)`` per fetch call); ``None`` = fresh
        entropy.
    sleep
        Called with each wait in seconds (inject a recorder in tests).

    Raises
    ------
    ValueError
        On construction, naming the first field out of range.

    Examples
    --------
    >>> import random
    >>> policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=4.0, seed=7)
    >>> [policy.backoff_bound_s(n) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 4.0]
    >>> 0.0 <= policy.backoff_s(3, random.Random(7)) <= 4.0
    True
    """

    max_attempts: int = 4
    base_delay_s: float = 2.0
    max_delay_s: float = 60.0
    seed: int | None = None
    sleep: Sleep = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an int >= 1, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if _check_number("base_delay_s", self.base_delay_s) <= 0:
            raise ValueError(f"base_delay_s must be > 0 seconds, got {self.base_delay_s!r}")
        if _check_number("max_delay_s", self.max_delay_s) < self.base_delay_s:
            raise ValueError(
                f"max_delay_s must be >= base_delay_s ({self.base_delay_s!r}), "
                f"got {self.max_delay_s!r}"
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError(f"seed must be an int or None, got {self.seed!r}")
        if not callable(self.sleep):
            raise ValueError(f"sleep must be callable, got {self.sleep!r}")

    def backoff_bound_s(self, retry: int) -> float:
        """Upper bound in seconds of the wait before retry ``retry`` (1-based)."""
        if retry < 1:
            raise ValueError(f"retry must be >= 1, got {retry!r}")
        # min() before the power would overflow for large retry counts.
        exponent = min(retry - 1, 1024)
        return min(self.max_delay_s, self.base_delay_s * 2.0**exponent)

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """Wait in seconds before retry ``retry`` (1-based): uniform in ``[0, bound]``."""
        return rng.uniform(0.0, self.backoff_bound_s(retry))


class Throttle:
    """Minimum interval between calls to Yahoo, shared by every thread that holds it.

    :meth:`wait` sleeps until at least ``min_interval_s`` has passed since the previous call
    was let through, then lets this one through. Thread-safe: the lock is held while sleeping,
    so concurrent callers go through one at a time, spaced. Yahoo publishes no limit; the
    default spacing of :data:`DEFAULT_THROTTLE` is a conservative guess.

    Parameters
    ----------
    min_interval_s
        Seconds between two calls; >= 0 (0 disables spacing).
    clock
        Monotonic clock in seconds (default ``time.monotonic``).
    sleep
        Sleep function in seconds (default ``time.sleep``).

    Raises
    ------
    ValueError
        If ``min_interval_s`` is negative or not a finite number.

    Examples
    --------
    >>> now = [100.0]
    >>> slept = []
    >>> throttle = Throttle(2.0, clock=lambda: now[0], sleep=slept.append)
    >>> throttle.wait(), throttle.wait()
    (0.0, 2.0)
    >>> slept
    [2.0]
    """

    def __init__(
        self,
        min_interval_s: float = 0.5,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if _check_number("min_interval_s", min_interval_s) < 0:
            raise ValueError(f"min_interval_s must be >= 0 seconds, got {min_interval_s!r}")
        self.min_interval_s = float(min_interval_s)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last_at: float | None = None

    def wait(self) -> float:
        """Block until the next call may go; return the seconds slept (0.0 if none)."""
        with self._lock:
            now = self._clock()
            delay = 0.0
            if self._last_at is not None:
                delay = max(0.0, self._last_at + self.min_interval_s - now)
            if delay > 0:
                self._sleep(delay)
            # A fake clock does not advance while "sleeping": count the sleep ourselves.
            self._last_at = max(self._clock(), now + delay)
            return delay

    def __repr__(self) -> str:
        return f"Throttle(min_interval_s={self.min_interval_s!r})"


#: Process-wide throttle used when a fetch gets ``throttle=None``.
DEFAULT_THROTTLE = Throttle(min_interval_s=0.5)
#: Retry policy used when a fetch gets ``retry=None``.
DEFAULT_RETRY = RetryPolicy()


# --------------------------------------------------------------------------------------------
# yfinance plumbing
# --------------------------------------------------------------------------------------------

# Serialises our toggling of yfinance's process-global ``hide_exceptions`` switch.
_YF_CONFIG_LOCK = threading.RLock()


def _yfinance() -> ModuleType:
    """Import yfinance on first use (slow import; reads ``YF_DISABLE_CURL_CFFI`` once)."""
    import yfinance

    return yfinance


@contextmanager
def _yfinance_raising(yf: ModuleType) -> Iterator[None]:
    """Make yfinance raise instead of logging and returning an empty frame, then restore."""
    with _YF_CONFIG_LOCK:
        previous = yf.config.debug.hide_exceptions
        yf.config.debug.hide_exceptions = False
        try:
            yield
        finally:
            yf.config.debug.hide_exceptions = previous


def _classify(exc: BaseException) -> ErrorKind | None:
    """Error kind of an exception raised by a yfinance call; ``None`` = not a data error (a bug).

    The order matters: ``requests``' ``JSONDecodeError`` is both a ``ValueError`` and an
    ``OSError`` (via ``RequestException``), and an ``HTTPError`` is an ``OSError`` too.
    """
    from yfinance import exceptions as yfe

    if isinstance(exc, yfe.YFRateLimitError):
        return "rate_limited"
    if isinstance(exc, yfe.YFTickerMissingError):
        return "no_data"
    if isinstance(exc, yfe.YFDataException):
        return "network"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, OSError) and isinstance(status, int):
        return {429: "rate_limited", 404: "no_data"}.get(status, "network")
    if isinstance(exc, ValueError):
        return "bad_schema"
    if isinstance(exc, OSError):
        return "network"
    if isinstance(exc, KeyError | IndexError | TypeError):
        return "bad_schema"
    return None


@dataclass
class _Run:
    """Mutable state of one public fetch call (not shared between calls)."""

    yf: ModuleType
    throttle: Throttle
    retry: RetryPolicy
    rng: random.Random
    requests: int = 0
    failures: list[SymbolFailure] = field(default_factory=list)

    def call(
        self, symbol: str, what: str, fn: Callable[[], T], *, expiration: date | None = None
    ) -> T:
        """Run one yfinance call throttled, retrying rate limits; raise a YFinanceError.

        Raises
        ------
        YFinanceError
            The classified failure (``rate_limited`` once ``max_attempts`` are spent).
        Exception
            Anything :func:`_classify` does not recognise, unchanged.
        """
        attempt = 0
        while True:
            attempt += 1
            self.throttle.wait()
            self.requests += 1
            try:
                with _yfinance_raising(self.yf):
                    return fn()
            except Exception as exc:
                kind = _classify(exc)
                if kind is None:
                    raise
                detail = f"{what}: {type(exc).__name__}: {exc}"
                if kind != "rate_limited" or attempt >= self.retry.max_attempts:
                    if kind == "rate_limited":
                        detail += f" (gave up after {attempt} attempts)"
                    raise YFinanceError(kind, symbol, detail, expiration=expiration) from exc
                wait_s = self.retry.backoff_s(attempt, self.rng)
                log.info("%s: rate limited (%s); retry %d in %.2f s", symbol, what, attempt, wait_s)
                self.retry.sleep(wait_s)

    def fail(self, error: YFinanceError) -> None:
        log.warning("%s", error)
        self.failures.append(SymbolFailure.from_error(error))


def _start_run(throttle: Throttle | None, retry: RetryPolicy | None) -> _Run:
    policy = DEFAULT_RETRY if retry is None else retry
    return _Run(
        yf=_yfinance(),
        throttle=DEFAULT_THROTTLE if throttle is None else throttle,
        retry=policy,
        rng=random.Random(policy.seed),
    )


def _normalise_symbols(symbols: Sequence[str]) -> list[str]:
    if isinstance(symbols, str):
        raise TypeError(f"symbols must be a sequence of tickers, not one string: {symbols!r}")
    out: list[str] = []
    for symbol in symbols:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"every symbol must be a non-empty string, got {symbol!r}")
        out.append(symbol.strip().upper())
    duplicates = sorted({s for s in out if out.count(s) > 1})
    if duplicates:
        raise ValueError(f"symbols must be unique, got duplicates {duplicates!r}")
    return out


def _as_date(name: str, value: date | str) -> date:
    if isinstance(value, datetime):
        raise TypeError(f"{name} must be a date (exchange-local day), not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}") from None
    raise TypeError(f"{name} must be a date or an ISO date string, got {value!r}")


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def _concat(frames: list[pl.DataFrame], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if frames else _empty(schema)


def _to_polars(
    symbol: str, what: str, pdf: pd.DataFrame, expiration: date | None = None
) -> pl.DataFrame:
    try:
        return pl.from_pandas(pdf, nan_to_null=True)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise YFinanceError(
            "bad_schema", symbol, f"{what}: values do not convert: {exc}", expiration=expiration
        ) from exc


def _cast_or_bad_schema(
    frame: pl.DataFrame,
    exprs: list[pl.Expr],
    symbol: str,
    what: str,
    expiration: date | None = None,
) -> pl.DataFrame:
    try:
        return frame.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise YFinanceError(
            "bad_schema", symbol, f"{what}: a value does not parse: {exc}", expiration=expiration
        ) from exc


# --------------------------------------------------------------------------------------------
# Bars and corporate actions
# --------------------------------------------------------------------------------------------


def _bars_from_history(
    symbol: str, history: pd.DataFrame, source_file: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``Ticker.history`` frame -> (equity_bars, corporate_actions) of one symbol.

    The index is tz-aware in the exchange's zone; its wall-clock date is the bar's date (taken
    without any conversion, so the process time zone cannot move a bar to another day).

    Raises
    ------
    YFinanceError
        ``no_data`` if the frame is empty; ``bad_schema`` if a column is missing, the index is not
        tz-aware datetimes, a date repeats or a value does not parse.
    """
    import pandas as pd

    what = "history"
    if history.empty:  # yfinance's own empty frame lacks the action columns: test this first
        raise YFinanceError("no_data", symbol, f"{what}: yfinance returned no bars")
    missing = [c for c in _HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise YFinanceError(
            "bad_schema",
            symbol,
            f"{what}: missing columns {missing!r} in {list(history.columns)!r}",
        )
    index = history.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise YFinanceError(
            "bad_schema", symbol, f"{what}: index must be tz-aware datetimes, got {index.dtype}"
        )
    local = history.loc[:, list(_HISTORY_COLUMNS)].reset_index(drop=True)
    local["bar_at_local"] = index.tz_localize(None)  # wall clock in the exchange's zone
    raw = _to_polars(symbol, what, local)
    bars = _cast_or_bad_schema(
        raw,
        [
            pl.lit(symbol, pl.String).alias("symbol"),
            pl.col("bar_at_local").cast(pl.Datetime("us")).dt.date().alias("date"),
            pl.col("Open").cast(pl.Float64).alias("open"),
            pl.col("High").cast(pl.Float64).alias("high"),
            pl.col("Low").cast(pl.Float64).alias("low"),
            pl.col("Close").cast(pl.Float64).alias("close"),
            pl.col("Adj Close").cast(pl.Float64).alias("adj_close"),
            pl.col("Volume").cast(pl.Int64).alias("volume"),
            pl.lit(False).alias("is_adjusted"),
            pl.lit(SOURCE, pl.String).alias("source"),
            pl.lit(source_file, pl.String).alias("source_file"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("source_line"),
            pl.col("Dividends").cast(pl.Float64).alias("dividend"),
            pl.col("Stock Splits").cast(pl.Float64).alias("split"),
        ],
        symbol,
        what,
    )
    repeated = bars.filter(pl.col("date").is_duplicated())["date"].unique().sort()
    if len(repeated):
        raise YFinanceError(
            "bad_schema", symbol, f"{what}: dates repeat: {[d.isoformat() for d in repeated]}"
        )
    actions = (
        bars.unpivot(
            on=["dividend", "split"],
            index=["symbol", "date", "source", "source_file", "source_line"],
            variable_name="action_type",
            value_name="value",
        )
        .filter(pl.col("value").is_not_null() & (pl.col("value") != 0))
        .rename({"date": "ex_date"})
        .sort("ex_date", "action_type")
        .select(list(CORPORATE_ACTIONS_SCHEMA))
    )
    return bars.select(list(BARS_SCHEMA)), actions


def fetch_bars(
    symbols: Sequence[str],
    start: date | str,
    end: date | str,
    *,
    throttle: Throttle | None = None,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    """Fetch raw daily bars and corporate actions per symbol from Yahoo (via yfinance).

    One ``Ticker(symbol).history(start, end, interval="1d", auto_adjust=False, actions=True)``
    per symbol. A symbol that fails is recorded in ``failures`` and the others go on.

    Parameters
    ----------
    symbols
        Yahoo tickers of US-listed equities/ETFs (``"SPY"``); upper-cased; must be unique.
    start, end
        First day (inclusive) and day after the last (exclusive), exchange-local dates, as
        ``date`` or ``"YYYY-MM-DD"``. ``end`` must be after ``start``.
    throttle
        Spacing between calls; default :data:`DEFAULT_THROTTLE` (process-wide).
    retry
        Retry of rate-limited calls; default :data:`DEFAULT_RETRY`.
    progress
        Called after each symbol as ``progress(done, total, symbol)``.

    Returns
    -------
    FetchResult
        ``frames["equity_bars"]``: one row per symbol per exchange-local trading date, in
        :data:`BARS_SCHEMA` (``schemas.BARS`` without ``load_id``). Prices in the listing
        currency, not dividend-adjusted (Yahoo does back-adjust splits, see the module
        docstring); ``adj_close`` split- and dividend-adjusted; ``volume`` in shares;
        ``is_adjusted`` false; ``source_file`` ``yfinance://SPY/history?start=…&end=…``;
        ``source_line`` the 1-based row of that symbol's response, in date order.
        ``frames["corporate_actions"]``: one row per symbol per ex-date per action, in
        :data:`CORPORATE_ACTIONS_SCHEMA`: ``dividend`` (cash per share) or ``split`` (new shares
        per old share: 4.0 for 4-for-1), with the lineage of the bar row that carried it.

    Raises
    ------
    TypeError, ValueError
        For bad arguments (a single string as ``symbols``, duplicates, ``end <= start``).
        The four error kinds never raise: they are ``failures``. An exception of any other
        kind from inside yfinance propagates (a bug, not a data problem).

    Examples
    --------
    >>> result = fetch_bars(["SPY"], "2020-03-16", "2020-03-21")  # doctest: +SKIP
    >>> result.frames["corporate_actions"].select("ex_date", "action_type", "value").rows()
    ... # doctest: +SKIP
    [(datetime.date(2020, 3, 20), 'dividend', 1.406025)]
    """
    tickers = _normalise_symbols(symbols)
    start_d, end_d = _as_date("start", start), _as_date("end", end)
    if end_d <= start_d:
        raise ValueError(
            f"end must be after start ({start_d.isoformat()}), got {end_d.isoformat()}"
        )
    run = _start_run(throttle, retry)
    bars: list[pl.DataFrame] = []
    actions: list[pl.DataFrame] = []
    for done, symbol in enumerate(tickers, start=1):
        source_file = (
            f"yfinance://{symbol}/history?start={start_d.isoformat()}&end={end_d.isoformat()}"
        )

        def history(symbol: str = symbol) -> pd.DataFrame:
            return run.yf.Ticker(symbol).history(
                start=start_d.isoformat(),
                end=end_d.isoformat(),
                interval="1d",
                auto_adjust=False,
                actions=True,
            )

        try:
            frame = run.call(symbol, "history", history)
            symbol_bars, symbol_actions = _bars_from_history(symbol, frame, source_file)
        except YFinanceError as error:
            run.fail(error)
        else:
            bars.append(symbol_bars)
            actions.append(symbol_actions)
        if progress is not None:
            progress(done, len(tickers), symbol)
    return FetchResult(
        frames={
            "equity_bars": _concat(bars, BARS_SCHEMA),
            "corporate_actions": _concat(actions, CORPORATE_ACTIONS_SCHEMA),
        },
        failures=run.failures,
        requests=run.requests,
    )


# --------------------------------------------------------------------------------------------
# Option-chain snapshots
# --------------------------------------------------------------------------------------------


def _underlying_price(symbol: str, underlying: Any, expiration: date) -> float | None:
    price = underlying.get("regularMarketPrice") if isinstance(underlying, dict) else None
    if price is None:
        return None
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise YFinanceError(
            "bad_schema",
            symbol,
            f"option_chain: underlying regularMarketPrice is not a number: {price!r}",
            expiration=expiration,
        )
    return float(price)


def _chain_frame(
    symbol: str, expiration: date, chain: Any, quoted_at: datetime, quote_date: date
) -> pl.DataFrame:
    """One ``option_chain(expiration)`` result -> its rows (calls, then puts).

    Raises
    ------
    YFinanceError
        ``no_data`` if the chain has no contracts (yfinance gives ``calls=None`` or empty
        frames); ``bad_schema`` if a column is missing, a value does not parse, or a contract
        symbol or strike is null.
    """
    import pandas as pd

    what = "option_chain"
    sides = [
        (side, frame)
        for side, frame in (("call", chain.calls), ("put", chain.puts))
        if frame is not None and len(frame)
    ]
    if not sides:
        raise YFinanceError(
            "no_data", symbol, f"{what}: the chain has no contracts", expiration=expiration
        )
    for side, frame in sides:
        # yfinance reindexes to its own column list (an absent field becomes NaN, caught by the
        # null check below); this guards against that list changing.
        missing = [c for c in _CHAIN_COLUMNS if c not in frame.columns]
        if missing:
            raise YFinanceError(
                "bad_schema",
                symbol,
                f"{what}: {side}s lack columns {missing!r}",
                expiration=expiration,
            )
    stacked = pd.concat(
        [frame.loc[:, list(_CHAIN_COLUMNS)].assign(option_type=side) for side, frame in sides],
        ignore_index=True,
    )
    raw = _to_polars(symbol, what, stacked, expiration)
    price = _underlying_price(symbol, chain.underlying, expiration)

    def count(column: str) -> pl.Expr:
        # Yahoo omits volume/openInterest for some contracts: NaN -> null, then integer.
        return pl.col(column).cast(pl.Float64).fill_nan(None).cast(pl.Int64)

    rows = _cast_or_bad_schema(
        raw,
        [
            pl.lit(symbol, pl.String).alias("underlying_symbol"),
            pl.lit(price, pl.Float64).alias("underlying_price"),
            pl.col("contractSymbol").cast(pl.String).alias("vendor_symbol"),
            pl.col("option_type").cast(pl.String),
            pl.lit(expiration, pl.Date).alias("expiration"),
            pl.lit(quote_date, pl.Date).alias("quote_date"),
            pl.lit(quoted_at).cast(pl.Datetime("us", "UTC")).alias("quoted_at"),
            pl.col("strike").cast(pl.Float64),
            pl.col("lastPrice").cast(pl.Float64).alias("last"),
            pl.col("bid").cast(pl.Float64),
            pl.col("ask").cast(pl.Float64),
            count("volume").alias("volume"),
            count("openInterest").alias("open_interest"),
            pl.col("impliedVolatility").cast(pl.Float64).alias("implied_volatility"),
            pl.lit(SOURCE, pl.String).alias("source"),
            pl.lit(f"yfinance://{symbol}/options/{expiration.isoformat()}", pl.String).alias(
                "source_file"
            ),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("source_line"),
        ],
        symbol,
        what,
        expiration,
    )
    unusable = rows.filter(pl.col("vendor_symbol").is_null() | pl.col("strike").is_null())
    if len(unusable):
        raise YFinanceError(
            "bad_schema",
            symbol,
            f"{what}: {len(unusable)} contract(s) without contractSymbol or strike, first at "
            f"source_line {unusable['source_line'][0]}",
            expiration=expiration,
        )
    return rows


def snapshot_option_chains(
    symbols: Sequence[str],
    *,
    snapshot_at: datetime | None = None,
    throttle: Throttle | None = None,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    """Snapshot the current option chain (every listed expiration) of each symbol.

    Per symbol: one call lists the expirations (``Ticker.options``), then one
    ``Ticker.option_chain(expiration)`` per expiration. A symbol whose listing fails, or an
    expiration whose chain fails or is empty, is recorded in ``failures`` (with its expiration)
    and the rest go on. Yahoo keeps no option history: call this once per day (after the close)
    and append the results to accumulate one.

    Parameters
    ----------
    symbols
        Yahoo tickers of optionable US underlyings; upper-cased; must be unique.
    snapshot_at
        Instant of the snapshot, tz-aware (converted to UTC); default now. Stamps every row:
        ``quoted_at`` = this instant, ``quote_date`` = its date in New York.
    throttle
        Spacing between calls; default :data:`DEFAULT_THROTTLE` (process-wide).
    retry
        Retry of rate-limited calls; default :data:`DEFAULT_RETRY`.
    progress
        Called after each symbol as ``progress(done, total, symbol)``.

    Returns
    -------
    FetchResult
        ``frames["option_quotes"]``: one row per contract per snapshot, in
        :data:`OPTION_SNAPSHOT_SCHEMA` (the Yahoo-supplied columns of ``schemas.OPTION_QUOTES``):
        prices in USD per share, ``implied_volatility`` a decimal fraction as Yahoo gives it,
        ``volume``/``open_interest`` contracts (null where Yahoo omits them), ``underlying_price``
        the chain response's ``regularMarketPrice`` (null if absent), ``source_file``
        ``yfinance://SPY/options/2021-01-29``, ``source_line`` the 1-based row within that
        expiration's calls then puts.

    Raises
    ------
    TypeError, ValueError
        For bad arguments (naive ``snapshot_at``, a single string as ``symbols``, duplicates).
        The four error kinds never raise: they are ``failures``.
    """
    tickers = _normalise_symbols(symbols)
    if snapshot_at is None:
        snapshot_at = datetime.now(UTC)
    if not isinstance(snapshot_at, datetime):
        raise TypeError(f"snapshot_at must be a datetime, got {snapshot_at!r}")
    if snapshot_at.tzinfo is None or snapshot_at.utcoffset() is None:
        raise ValueError(f"snapshot_at must be tz-aware (UTC), got naive {snapshot_at!r}")
    quoted_at = snapshot_at.astimezone(UTC)
    quote_date = quoted_at.astimezone(ZoneInfo(EXCHANGE_TZ)).date()

    run = _start_run(throttle, retry)
    chains: list[pl.DataFrame] = []
    for done, symbol in enumerate(tickers, start=1):
        ticker = run.yf.Ticker(symbol)
        try:
            listed = run.call(symbol, "options", lambda ticker=ticker: tuple(ticker.options))
            if not listed:
                raise YFinanceError("no_data", symbol, "options: Yahoo lists no expirations")
            expirations = [_as_date("expiration", text) for text in listed]
        except (YFinanceError, TypeError, ValueError) as error:
            if not isinstance(error, YFinanceError):
                error = YFinanceError("bad_schema", symbol, f"options: {error}")
            run.fail(error)
            expirations = []
        for expiration in expirations:
            try:
                chain = run.call(
                    symbol,
                    "option_chain",
                    partial(ticker.option_chain, expiration.isoformat()),
                    expiration=expiration,
                )
                chains.append(_chain_frame(symbol, expiration, chain, quoted_at, quote_date))
            except YFinanceError as error:
                run.fail(error)
        if progress is not None:
            progress(done, len(tickers), symbol)
    return FetchResult(
        frames={"option_quotes": _concat(chains, OPTION_SNAPSHOT_SCHEMA)},
        failures=run.failures,
        requests=run.requests,
    )
