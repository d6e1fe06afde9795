"""loaders.yfinance_source, offline: the `responses` library plays Yahoo from hand-built fixtures.

tests/conftest.py sets YF_DISABLE_CURL_CFFI=1 before yfinance is imported, so yfinance talks
through `requests`, which `responses` intercepts (curl_cffi would bypass it). Every Yahoo host
yfinance touches is registered: fc.yahoo.com (cookie), the crumb URL, guce.yahoo.com (its other
cookie strategy, tried after an HTTP error) and query2 (chart, options, quoteSummary). An
unexpected URL fails the test. Fixture values: tests/loaders/fixtures/yfinance/README.md.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
import responses
import yfinance  # conftest.py has set YF_DISABLE_CURL_CFFI=1 by now

from loaders import schemas
from loaders import yfinance_source as ys

pytestmark = pytest.mark.filterwarnings(
    # yfinance 1.7 still calls pandas methods with inplace=True (pandas 3.1 deprecates it).
    "ignore::pandas.errors.Pandas4Warning"
)

FIXTURES = Path(__file__).parent / "fixtures" / "yfinance"
REPO = Path(__file__).resolve().parents[2]

# Expiration epochs as Yahoo lists them (00:00 UTC of the expiration day).
EXP_0129, EXP_0219, EXP_0319 = 1611878400, 1613692800, 1616112000
# 2021-01-09 03:30 UTC is 2021-01-08 22:30 in New York: the UTC date is a day later.
SNAPSHOT_AT = datetime(2021, 1, 9, 3, 30, tzinfo=UTC)

Reply = tuple[int, str]
Handler = Callable[[requests.PreparedRequest], Reply]


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def serve(name: str, status: int = 200) -> Handler:
    body = fixture_text(name)
    return lambda request: (status, body)


def body(text: str, status: int = 200) -> Handler:
    return lambda request: (status, text)


def raise_(exc: Exception) -> Handler:
    def handler(request: requests.PreparedRequest) -> Reply:
        raise exc

    return handler


def options_by_date(listing: str | dict, dated: dict[int, str]) -> Handler:
    """Serve ``listing`` without ``?date=`` and ``dated[epoch]`` (a fixture name) with it."""
    listing_text = listing if isinstance(listing, str) else json.dumps(listing)
    if not listing_text.lstrip().startswith("{"):
        listing_text = fixture_text(listing_text)

    def handler(request: requests.PreparedRequest) -> Reply:
        when = request.params.get("date")  # type: ignore[attr-defined]
        if when is None:
            return 200, listing_text
        return 200, fixture_text(dated[int(when)])

    return handler


SPY_OPTIONS = options_by_date(
    "options_SPY.json",
    {EXP_0129: "options_SPY_2021-01-29.json", EXP_0219: "options_SPY_2021-02-19.json"},
)


class FakeYahoo:
    """Yahoo's hosts for one test: per-symbol handlers for chart and options, and a log of hits."""

    QUERY2 = re.compile(r"https://query2\.finance\.yahoo\.com/(v\d+/finance/[a-zA-Z]+)/([^/?]+)")

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.chart: dict[str, Handler] = {}
        self.options: dict[str, Handler] = {}
        self.hits: list[tuple[str, str, dict[str, str]]] = []
        rsps.get("https://fc.yahoo.com/", status=404, body="")
        rsps.get("https://query1.finance.yahoo.com/v1/test/getcrumb", body="fake-crumb")
        rsps.get("https://guce.yahoo.com/consent", body="<html><body>no form</body></html>")
        rsps.add_callback(
            responses.GET, re.compile(r"https://query2\.finance\.yahoo\.com/.*"), self._route
        )

    def _route(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        match = self.QUERY2.match(request.url or "")
        assert match, f"unexpected URL {request.url}"
        endpoint, symbol = match.groups()
        params = dict(request.params)  # type: ignore[attr-defined]
        self.hits.append((endpoint, symbol, params))
        if endpoint == "v8/finance/chart":
            status, text = self.chart[symbol](request)
        elif endpoint == "v7/finance/options":
            status, text = self.options[symbol](request)
        elif endpoint == "v10/finance/quoteSummary":
            # yfinance's timezone fallback for a symbol whose chart has no timezone.
            status, text = (
                404,
                json.dumps({"quoteSummary": {"result": None, "error": {"code": "Not Found"}}}),
            )
        else:
            raise AssertionError(f"unexpected Yahoo endpoint {request.url}")
        return status, {"Content-Type": "application/json"}, text

    def count(self, endpoint: str, symbol: str) -> int:
        return sum(1 for e, s, _ in self.hits if e == endpoint and s == symbol)


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYahoo]:
    """A fresh fake Yahoo, with yfinance's process-wide state reset around the test.

    yfinance keeps a singleton session with its crumb and cookie strategy (toggled by an HTTP
    error), an in-process LRU cache of past-range chart responses, and on-disk timezone and
    cookie caches: all would leak between tests (and the disk caches into the home directory).
    """
    from yfinance import cache
    from yfinance.data import YfData

    monkeypatch.setattr(cache._TzCacheManager, "_tz_cache", cache._TzCacheDummy())
    monkeypatch.setattr(cache._CookieCacheManager, "_Cookie_cache", cache._CookieCacheDummy())
    data = YfData()
    monkeypatch.setattr(data, "_crumb", None)
    monkeypatch.setattr(data, "_cookie", None)
    monkeypatch.setattr(data, "_cookie_strategy", "basic")
    monkeypatch.setattr(ys, "DEFAULT_THROTTLE", ys.Throttle(0.0))  # never a real sleep
    YfData.cache_get.cache_clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeYahoo(rsps)
    YfData.cache_get.cache_clear()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def retry(slept: list[float]) -> ys.RetryPolicy:
    return ys.RetryPolicy(
        max_attempts=3, base_delay_s=1.0, max_delay_s=1.5, seed=3, sleep=slept.append
    )


NO_THROTTLE = ys.Throttle(0.0)
BARS_COLUMNS = {k: v for k, v in schemas.BARS.items() if k != "load_id"}
ACTIONS_COLUMNS = {k: v for k, v in schemas.CORPORATE_ACTIONS.items() if k != "load_id"}
SNAPSHOT_COLUMNS = [
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
]


def fetch_spy_aapl(**kwargs: Any) -> ys.FetchResult:
    return ys.fetch_bars(["SPY", "AAPL"], date(2020, 3, 16), date(2020, 3, 21), **kwargs)


def serve_spy_aapl(yahoo: FakeYahoo) -> None:
    yahoo.chart["SPY"] = serve("chart_SPY_2020-03-16_2020-03-21.json")
    yahoo.chart["AAPL"] = serve("chart_AAPL_2020-08-27_2020-09-02.json")


# ---------------------------------------------------------------------------------------------
# Plumbing: yfinance really goes through `requests`, and is imported lazily
# ---------------------------------------------------------------------------------------------


def test_yfinance_uses_requests_so_responses_intercepts_it(yahoo: FakeYahoo) -> None:
    assert yfinance._http.HAS_CURL_CFFI is False  # YF_DISABLE_CURL_CFFI=1 was honoured
    assert yfinance._http.requests is requests
    yahoo.chart["SPY"] = serve("chart_SPY_2020-03-16_2020-03-21.json")
    ys.fetch_bars(["SPY"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE)
    assert yahoo.count("v8/finance/chart", "SPY") == 2  # timezone lookup + the history itself
    assert yfinance.config.debug.hide_exceptions is True  # our temporary switch was restored


def test_importing_the_module_does_not_import_yfinance() -> None:
    code = "import sys, loaders.yfinance_source; print('yfinance' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Bars and corporate actions
# ---------------------------------------------------------------------------------------------


def test_bars_are_raw_with_exchange_local_dates_and_bars_schema(yahoo: FakeYahoo) -> None:
    serve_spy_aapl(yahoo)
    result = ys.fetch_bars(["spy"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE)
    bars = result.frames["equity_bars"]

    assert result.failures == []
    assert result.requests == 1
    assert dict(bars.schema) == BARS_COLUMNS  # exactly schemas.BARS minus load_id
    # Yahoo stamps daily bars at the 09:30 New York open (13:30 UTC); yfinance re-stamps them at
    # local midnight (04:00 UTC). Taking the date in Los Angeles would move each back a day.
    assert bars["date"].to_list() == [date(2020, 3, d) for d in (16, 17, 18, 19, 20)]
    first, last = bars.row(0, named=True), bars.row(4, named=True)
    assert first == {
        "symbol": "SPY",
        "date": date(2020, 3, 16),
        "open": 241.18,
        "high": 256.90,
        "low": 237.36,
        "close": 239.85,
        "adj_close": 219.19114685058594,
        "volume": 297_240_000,
        "is_adjusted": False,
        "source": "yfinance",
        "source_file": "yfinance://SPY/history?start=2020-03-16&end=2020-03-21",
        "source_line": 1,
    }
    # Raw close stays the traded price; adj_close carries the dividend adjustment.
    assert (last["close"], last["adj_close"], last["source_line"]) == (
        228.80,
        210.32249450683594,
        5,
    )
    # The 1.406025 dividend (ex 2020-03-20) is the whole step in the adjustment ratio between
    # 03-19 and 03-20: (219.794/240.51) / (210.322/228.80) = 1 - 1.406025/240.51 = 0.9941539.
    ratio = bars.select(pl.col("adj_close") / pl.col("close"))["adj_close"]
    # (Yahoo's adjclose values are float32: agreement to ~1e-7.)
    assert ratio[3] / ratio[4] == pytest.approx(1 - 1.406025 / 240.51, abs=1e-6)
    assert ratio[0] == pytest.approx(ratio[3], abs=1e-6)  # no event between 03-16 and 03-19


def test_corporate_actions_dividend_and_split_rows(yahoo: FakeYahoo) -> None:
    serve_spy_aapl(yahoo)
    spy = ys.fetch_bars(["SPY"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE)
    aapl = ys.fetch_bars(["AAPL"], "2020-08-27", "2020-09-02", throttle=NO_THROTTLE)
    actions = pl.concat([r.frames["corporate_actions"] for r in (spy, aapl)])

    assert dict(actions.schema) == ACTIONS_COLUMNS
    assert actions.rows() == [
        (
            "SPY",
            date(2020, 3, 20),
            "dividend",
            1.406025,
            "yfinance",
            "yfinance://SPY/history?start=2020-03-16&end=2020-03-21",
            5,
        ),
        (
            "AAPL",
            date(2020, 8, 31),
            "split",
            4.0,  # 4-for-1: numerator 4 / denominator 1
            "yfinance",
            "yfinance://AAPL/history?start=2020-08-27&end=2020-09-02",
            3,
        ),
    ]
    # Yahoo back-adjusts splits even unadjusted: 2020-08-28 traded at 499.23, arrives as /4.
    aapl_bars = aapl.frames["equity_bars"]
    assert aapl_bars["close"].to_list() == [125.01, 124.8075, 129.04, 134.18]
    assert aapl_bars["volume"][1] == 44_109_029 * 4


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        (serve("chart_not_found.json", status=404), "no_data"),  # unknown / delisted symbol
        (serve("chart_SPY_no_bars.json"), "no_data"),  # no trading day in the range
    ],
)
def test_no_bars_is_no_data_and_other_symbols_continue(
    yahoo: FakeYahoo, chart: Handler, expected: str
) -> None:
    yahoo.chart["ZZZZ"] = chart
    yahoo.chart["SPY"] = serve("chart_SPY_2020-03-16_2020-03-21.json")
    progress: list[tuple[int, int, str]] = []
    result = ys.fetch_bars(
        ["ZZZZ", "SPY"],
        "2020-03-16",
        "2020-03-21",
        throttle=NO_THROTTLE,
        progress=lambda *a: progress.append(a),
    )
    [failure] = result.failures
    assert (failure.symbol, failure.kind, failure.expiration) == ("ZZZZ", expected, None)
    assert "ZZZZ" in failure.message and expected in failure.message
    assert result.frames["equity_bars"]["symbol"].unique().to_list() == ["SPY"]
    assert progress == [(1, 2, "ZZZZ"), (2, 2, "SPY")]


def test_malformed_chart_is_bad_schema(yahoo: FakeYahoo) -> None:
    chart = json.loads(fixture_text("chart_SPY_2020-03-16_2020-03-21.json"))
    del chart["chart"]["result"][0]["indicators"]["quote"][0]["close"]
    yahoo.chart["SPY"] = body(json.dumps(chart))
    yahoo.chart["AAPL"] = body("<html><body>Will be right back</body></html>")
    result = fetch_spy_aapl(throttle=NO_THROTTLE)
    assert [(f.symbol, f.kind) for f in result.failures] == [
        ("SPY", "bad_schema"),  # KeyError 'close' inside yfinance
        ("AAPL", "bad_schema"),  # not JSON
    ]
    assert "'close'" in result.failures[0].message
    assert result.frames["equity_bars"].is_empty()
    assert dict(result.frames["equity_bars"].schema) == BARS_COLUMNS  # empty, still typed


def test_unparseable_value_is_bad_schema(yahoo: FakeYahoo) -> None:
    chart = json.loads(fixture_text("chart_SPY_2020-03-16_2020-03-21.json"))
    chart["chart"]["result"][0]["indicators"]["quote"][0]["close"][2] = "240,00"
    yahoo.chart["SPY"] = body(json.dumps(chart))
    [failure] = ys.fetch_bars(["SPY"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE).failures
    assert failure.kind == "bad_schema" and "240,00" in failure.message


# ---------------------------------------------------------------------------------------------
# Rate limits, retries and network failures
# ---------------------------------------------------------------------------------------------


def test_rate_limit_is_retried_with_full_jitter_backoff_then_succeeds(
    yahoo: FakeYahoo, retry: ys.RetryPolicy, slept: list[float]
) -> None:
    ok = serve("chart_SPY_2020-03-16_2020-03-21.json")
    # HTTP 429 until our policy has slept twice, then the data (yfinance itself re-tries a 429
    # once with its other cookie strategy before raising YFRateLimitError).
    yahoo.chart["SPY"] = lambda r: ok(r) if len(slept) >= 2 else (429, "Too Many Requests")
    result = ys.fetch_bars(["SPY"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE, retry=retry)

    assert result.failures == []
    assert result.frames["equity_bars"].height == 5
    assert result.requests == 3  # two rate-limited attempts + the one that succeeded
    # Full jitter: wait n is uniform in [0, min(max_delay_s, base_delay_s * 2**(n-1))] =
    # [0, 1.0] then [0, min(1.5, 2.0)] = [0, 1.5], drawn from random.Random(seed).
    assert 0 <= slept[0] <= 1.0 and 0 <= slept[1] <= 1.5
    rng = random.Random(3)
    assert slept == [rng.uniform(0, 1.0), rng.uniform(0, 1.5)]


def test_rate_limit_exhausted_is_recorded_and_other_symbol_continues(
    yahoo: FakeYahoo, retry: ys.RetryPolicy, slept: list[float]
) -> None:
    yahoo.chart["AAPL"] = body("Too Many Requests", status=429)
    yahoo.chart["SPY"] = serve("chart_SPY_2020-03-16_2020-03-21.json")
    result = ys.fetch_bars(
        ["AAPL", "SPY"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE, retry=retry
    )
    [failure] = result.failures
    assert (failure.symbol, failure.kind) == ("AAPL", "rate_limited")
    assert "AAPL" in failure.message and "rate_limited" in failure.message
    assert "after 3 attempts" in failure.message
    assert len(slept) == 2 and all(0 <= s <= 1.5 for s in slept)  # max_attempts=3: 2 waits
    assert result.requests == 3 + 1
    assert result.frames["equity_bars"]["symbol"].unique().to_list() == ["SPY"]


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError(
            socket.gaierror(-3, "Temporary failure in name resolution")
        ),
        requests.exceptions.ReadTimeout("read timed out (timeout=10)"),
        OSError("tests may not reach the network: resolve 'query2.finance.yahoo.com'"),
    ],
    ids=["dns", "timeout", "network-guard"],
)
def test_network_failure_is_not_retried(
    yahoo: FakeYahoo, retry: ys.RetryPolicy, slept: list[float], error: Exception
) -> None:
    yahoo.chart["SPY"] = raise_(error)
    yahoo.chart["AAPL"] = serve("chart_AAPL_2020-08-27_2020-09-02.json")
    result = fetch_spy_aapl(throttle=NO_THROTTLE, retry=retry)
    [failure] = result.failures
    assert (failure.symbol, failure.kind) == ("SPY", "network")
    assert slept == [] and result.requests == 2  # one call per symbol, no retry
    assert yahoo.count("v8/finance/chart", "SPY") == 1
    assert result.frames["equity_bars"]["symbol"].unique().to_list() == ["AAPL"]


# ---------------------------------------------------------------------------------------------
# Option-chain snapshots
# ---------------------------------------------------------------------------------------------


def test_snapshot_of_two_expirations(yahoo: FakeYahoo) -> None:
    yahoo.options["SPY"] = SPY_OPTIONS
    result = ys.snapshot_option_chains(["SPY"], snapshot_at=SNAPSHOT_AT, throttle=NO_THROTTLE)
    quotes = result.frames["option_quotes"]

    assert result.failures == []
    assert result.requests == 3  # the listing + one chain per expiration
    assert quotes.columns == SNAPSHOT_COLUMNS
    assert dict(quotes.schema) == {c: schemas.OPTION_QUOTES[c] for c in SNAPSHOT_COLUMNS}
    # 2021-01-29: 5 calls + 6 puts; 2021-02-19: 3 calls + 3 puts.
    counts = quotes.group_by("expiration", "option_type").len().sort("expiration", "option_type")
    assert counts.rows() == [
        (date(2021, 1, 29), "call", 5),
        (date(2021, 1, 29), "put", 6),
        (date(2021, 2, 19), "call", 3),
        (date(2021, 2, 19), "put", 3),
    ]
    # The UTC date of the snapshot is 2021-01-09; in New York it is still 2021-01-08.
    assert quotes["quote_date"].unique().to_list() == [date(2021, 1, 8)]
    assert quotes["quoted_at"].unique().to_list() == [SNAPSHOT_AT]
    assert quotes["underlying_price"].unique().to_list() == [381.26]
    first = quotes.row(0, named=True)
    assert first == {
        "underlying_symbol": "SPY",
        "underlying_price": 381.26,
        "vendor_symbol": "SPY210129C00380000",
        "option_type": "call",
        "expiration": date(2021, 1, 29),
        "quote_date": date(2021, 1, 8),
        "quoted_at": SNAPSHOT_AT,
        "strike": 380.0,
        "last": 7.14,
        "bid": 7.01,
        "ask": 7.05,
        "volume": 12902,
        "open_interest": 13594,
        "implied_volatility": 0.17097,  # decimal fraction, as Yahoo gives it
        "source": "yfinance",
        "source_file": "yfinance://SPY/options/2021-01-29",
        "source_line": 1,
    }
    jan = quotes.filter(pl.col("expiration") == date(2021, 1, 29))
    assert jan["source_line"].to_list() == list(range(1, 12))  # calls first, then puts
    assert jan["option_type"].to_list() == ["call"] * 5 + ["put"] * 6
    # Yahoo omits `volume` for the 2021-02-19 355 put: null, not 0.
    feb_put = quotes.filter(pl.col("vendor_symbol") == "SPY210219P00355000").row(0, named=True)
    assert (feb_put["volume"], feb_put["open_interest"]) == (None, 36246)


def test_quote_date_is_new_york_date_of_snapshot(yahoo: FakeYahoo) -> None:
    yahoo.options["SPY"] = SPY_OPTIONS
    # 21:00 UTC = 16:00 New York (same day); 04:59 UTC = 23:59 New York (the day before);
    # 05:00 UTC on 2021-01-09 = 00:00 New York on 2021-01-09.
    cases = {
        datetime(2021, 1, 8, 21, 0, tzinfo=UTC): date(2021, 1, 8),
        datetime(2021, 1, 9, 4, 59, tzinfo=UTC): date(2021, 1, 8),
        datetime(2021, 1, 9, 5, 0, tzinfo=UTC): date(2021, 1, 9),
    }
    for snapshot_at, expected in cases.items():
        result = ys.snapshot_option_chains(["SPY"], snapshot_at=snapshot_at, throttle=NO_THROTTLE)
        assert result.frames["option_quotes"]["quote_date"].unique().to_list() == [expected]


def test_empty_chain_is_no_data_and_the_rest_continues(yahoo: FakeYahoo) -> None:
    listing = json.loads(fixture_text("options_SPY.json"))
    listing["optionChain"]["result"][0]["expirationDates"].append(EXP_0319)
    yahoo.options["SPY"] = options_by_date(
        listing,
        {
            EXP_0129: "options_SPY_2021-01-29.json",
            EXP_0219: "options_SPY_2021-02-19.json",
            EXP_0319: "options_SPY_empty_expiration.json",  # yfinance: calls=None
        },
    )
    yahoo.options["XYZ"] = body(json.dumps({"optionChain": {"result": [], "error": None}}))
    progress: list[tuple[int, int, str]] = []
    result = ys.snapshot_option_chains(
        ["XYZ", "SPY"],
        snapshot_at=SNAPSHOT_AT,
        throttle=NO_THROTTLE,
        progress=lambda *a: progress.append(a),
    )
    assert [(f.symbol, f.kind, f.expiration) for f in result.failures] == [
        ("XYZ", "no_data", None),  # no expirations listed
        ("SPY", "no_data", date(2021, 3, 19)),  # listed, but no contracts
    ]
    assert "2021-03-19" in result.failures[1].message
    quotes = result.frames["option_quotes"]
    assert quotes.height == 17
    assert quotes["expiration"].unique().sort().to_list() == [date(2021, 1, 29), date(2021, 2, 19)]
    assert progress == [(1, 2, "XYZ"), (2, 2, "SPY")]


def test_malformed_chain_is_bad_schema_for_that_expiration(yahoo: FakeYahoo) -> None:
    feb = json.loads(fixture_text("options_SPY_2021-02-19.json"))
    del feb["optionChain"]["result"][0]["options"][0]["puts"][1]["strike"]
    feb_text = json.dumps(feb)
    jan_text = fixture_text("options_SPY_2021-01-29.json")

    def handler(request: requests.PreparedRequest) -> Reply:
        when = request.params.get("date")  # type: ignore[attr-defined]
        return 200, {None: fixture_text("options_SPY.json"), str(EXP_0129): jan_text}.get(
            when, feb_text
        )

    yahoo.options["SPY"] = handler
    result = ys.snapshot_option_chains(["SPY"], snapshot_at=SNAPSHOT_AT, throttle=NO_THROTTLE)
    [failure] = result.failures
    assert (failure.kind, failure.expiration) == ("bad_schema", date(2021, 2, 19))
    assert "source_line 5" in failure.message  # 3 calls, then the 2nd put
    assert result.frames["option_quotes"].height == 11  # 2021-01-29 still landed


def test_snapshot_rate_limit_and_network_per_expiration(
    yahoo: FakeYahoo, retry: ys.RetryPolicy, slept: list[float]
) -> None:
    def handler(request: requests.PreparedRequest) -> Reply:
        when = request.params.get("date")  # type: ignore[attr-defined]
        if when == str(EXP_0129):
            return 429, "Too Many Requests"
        if when == str(EXP_0219):
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        return 200, fixture_text("options_SPY.json")

    yahoo.options["SPY"] = handler
    result = ys.snapshot_option_chains(
        ["SPY"], snapshot_at=SNAPSHOT_AT, throttle=NO_THROTTLE, retry=retry
    )
    assert [(f.kind, f.expiration) for f in result.failures] == [
        ("rate_limited", date(2021, 1, 29)),
        ("network", date(2021, 2, 19)),
    ]
    assert len(slept) == 2  # only the rate limit was retried
    assert result.requests == 1 + 3 + 1
    assert result.frames["option_quotes"].is_empty()


def test_snapshot_at_must_be_tz_aware() -> None:
    with pytest.raises(ValueError, match=r"tz-aware.*2021, 1, 8, 21"):
        ys.snapshot_option_chains(["SPY"], snapshot_at=datetime(2021, 1, 8, 21))


# ---------------------------------------------------------------------------------------------
# Throttle and retry policy
# ---------------------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it (thread-safe enough: the
    throttle holds its lock while calling it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_throttle_spaces_calls() -> None:
    clock = FakeClock()
    throttle = ys.Throttle(1.5, clock=clock, sleep=clock.sleep)
    assert throttle.wait() == 0.0  # first call goes at once
    clock.now += 0.2
    assert throttle.wait() == pytest.approx(1.3)  # 1.5 - 0.2 since the last call
    clock.now += 10.0
    assert throttle.wait() == 0.0  # long after: no wait
    assert throttle.wait() == 1.5
    assert clock.sleeps == pytest.approx([1.3, 1.5])


def test_throttle_is_shared_across_threads() -> None:
    clock = FakeClock()
    throttle = ys.Throttle(2.0, clock=clock, sleep=clock.sleep)
    released: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        throttle.wait()
        with lock:
            released.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    released.sort()
    assert [b - a for a, b in pairwise(released)] == [2.0] * 5


def test_every_call_goes_through_the_default_throttle(
    yahoo: FakeYahoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(ys, "DEFAULT_THROTTLE", ys.Throttle(0.75, clock=clock, sleep=clock.sleep))
    yahoo.options["SPY"] = SPY_OPTIONS
    result = ys.snapshot_option_chains(["SPY"], snapshot_at=SNAPSHOT_AT)  # throttle=None
    assert result.requests == 3
    assert clock.sleeps == [0.75, 0.75]  # listing, then each chain 0.75 s after the previous


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be >= 1, got 0"),
        ({"max_attempts": 2.5}, "max_attempts must be an int >= 1, got 2.5"),
        ({"base_delay_s": 0}, "base_delay_s must be > 0 seconds, got 0"),
        ({"base_delay_s": -1.0}, r"base_delay_s must be > 0 seconds, got -1.0"),
        ({"base_delay_s": float("nan")}, "base_delay_s must be a finite number, got nan"),
        ({"base_delay_s": 2.0, "max_delay_s": 1.0}, r"max_delay_s must be >= .*2.0.*got 1.0"),
        ({"seed": "7"}, "seed must be an int or None, got '7'"),
    ],
)
def test_retry_policy_rejects_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ys.RetryPolicy(**kwargs)


def test_throttle_rejects_negative_interval() -> None:
    with pytest.raises(ValueError, match=r"min_interval_s must be >= 0 seconds, got -0.1"):
        ys.Throttle(-0.1)


def test_backoff_bounds_double_then_cap() -> None:
    policy = ys.RetryPolicy(max_attempts=6, base_delay_s=0.5, max_delay_s=3.0)
    # 0.5 * 2**(n-1) = 0.5, 1, 2, 4 -> capped at 3.
    assert [policy.backoff_bound_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    rng = random.Random(0)
    assert all(0 <= policy.backoff_s(n, rng) <= policy.backoff_bound_s(n) for n in range(1, 200))


def test_error_names_symbol_and_kind() -> None:
    error = ys.YFinanceError("no_data", "SPY", "nothing", expiration=date(2021, 1, 29))
    assert str(error) == "yfinance no_data for SPY expiration 2021-01-29: nothing"
    with pytest.raises(ValueError, match="got 'teapot'"):
        ys.YFinanceError("teapot", "SPY", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: ys.fetch_bars("SPY", "2020-03-16", "2020-03-21"), TypeError, "'SPY'"),
        (lambda: ys.fetch_bars(["SPY", "spy"], "2020-03-16", "2020-03-21"), ValueError, "SPY"),
        (lambda: ys.fetch_bars(["SPY"], "2020-03-21", "2020-03-16"), ValueError, "2020-03-16"),
        (lambda: ys.fetch_bars(["SPY"], "16/03/2020", "2020-03-21"), ValueError, "16/03/2020"),
    ],
)
def test_bad_arguments_name_the_value(
    call: Callable[[], object], error: type, message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


# ---------------------------------------------------------------------------------------------
# Process time zone
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def process_tz() -> Iterator[Callable[[str], None]]:
    """Set the process time zone (TZ + time.tzset()); restored afterwards."""
    saved = os.environ.get("TZ")

    def set_tz(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_tz
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_results_identical_under_any_process_time_zone(
    yahoo: FakeYahoo, process_tz: Callable[[str], None]
) -> None:
    serve_spy_aapl(yahoo)
    yahoo.options["SPY"] = SPY_OPTIONS
    outputs = []
    for zone in ("Asia/Tokyo", "America/Los_Angeles"):
        process_tz(zone)
        assert time.tzname[0] in {"JST", "PST"}  # the zone really changed
        bars = ys.fetch_bars(["SPY"], "2020-03-16", "2020-03-21", throttle=NO_THROTTLE)
        aapl = ys.fetch_bars(["AAPL"], "2020-08-27", "2020-09-02", throttle=NO_THROTTLE)
        chain = ys.snapshot_option_chains(["SPY"], snapshot_at=SNAPSHOT_AT, throttle=NO_THROTTLE)
        outputs.append(
            [
                bars.frames["equity_bars"],
                bars.frames["corporate_actions"],
                aapl.frames["equity_bars"],
                aapl.frames["corporate_actions"],
                chain.frames["option_quotes"],
            ]
        )
    tokyo, los_angeles = outputs
    for a, b in zip(tokyo, los_angeles, strict=True):
        assert a.equals(b)
    assert tokyo[0]["date"][0] == date(2020, 3, 16)
    assert tokyo[4]["quote_date"][0] == date(2021, 1, 8)


# ---------------------------------------------------------------------------------------------
# Landing a live fetch: same validation, batches and manifest as vendor files
# ---------------------------------------------------------------------------------------------


def test_a_fetch_lands_as_batches_and_a_repeat_lands_nothing(
    yahoo: FakeYahoo, tmp_path: Path
) -> None:
    from loaders.landing import read_manifest
    from loaders.yfinance_land import land_yfinance

    yahoo.chart["SPY"] = serve("chart_SPY_2020-03-16_2020-03-21.json")
    yahoo.options["SPY"] = SPY_OPTIONS
    raw = tmp_path / "raw"

    def run() -> list[Any]:
        return land_yfinance(
            ["SPY"], raw, start=date(2020, 3, 16), end=date(2020, 3, 20), now=lambda: SNAPSHOT_AT
        )

    first = run()
    by_entity = {r.entity: r for r in first}
    assert set(by_entity) == {"equity_bars", "corporate_actions", "option_quotes"}
    assert by_entity["equity_bars"].rows_landed == 5
    quotes = pl.read_parquet(raw / "yfinance" / "option_quotes" / "*.parquet")
    assert (
        quotes.height
        == by_entity["option_quotes"].rows_in - by_entity["option_quotes"].rows_rejected
    )
    row = quotes.row(0, named=True)
    # Completed like a vendor file: OCC symbol, root and an ETF option's contract terms.
    assert row["contract_symbol"] == row["vendor_symbol"]
    assert (row["option_root"], row["exercise_style"], row["settlement_style"]) == (
        "SPY",
        "american",
        "physical",
    )
    assert row["quoted_at"] == SNAPSHOT_AT
    batches = read_manifest(raw).height
    second = run()
    assert sum(r.files_new for r in second) == 0
    assert read_manifest(raw).height == batches
