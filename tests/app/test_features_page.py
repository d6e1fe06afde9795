"""The features page: chart builders on SYNTHETIC frames, queries and the page on the real warehouse.

Tests marked ``slow`` read the real published warehouse (fixture ``real_published``; set
``OPTIONS_TEST_WAREHOUSE`` to reuse a built one); the others need no warehouse.
"""

from __future__ import annotations

import datetime as dt
import doctest
import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import features as charts
from app.queries import features as queries
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

slow = pytest.mark.slow

# ---- pure helpers and chart builders, SYNTHETIC frames -----------------------------------------

D1, D2, D3, D4 = (dt.date(2024, 1, day) for day in (2, 3, 4, 5))

# SYNTHETIC daily series: vix (decimal) and an RSI (points); one NULL RSI.
SERIES = pl.DataFrame(
    {
        "trade_date": [D1, D2, D3, D4],
        "iv_regime": ["LOW", "LOW", "HIGH", "HIGH"],
        "vix": [0.12, 0.13, 0.30, 0.28],
        "rsi_14d_points": [55.0, None, 30.0, 35.0],
    }
)

# SYNTHETIC regime spans of SERIES: LOW from D1 to D3 (where HIGH starts), HIGH from D3 to D4.
REGIMES = pl.DataFrame(
    {
        "iv_regime": ["LOW", "HIGH"],
        "start_date": [D1, D3],
        "end_date": [D3, D4],
        "n_days": [2, 2],
    }
)


def test_check_features_names_the_unknown_column() -> None:
    assert queries.check_features(["vix"], ["vix", "rsi_14d_points"]) == ("vix",)
    with pytest.raises(ValueError, match=r"\['not_a_column'\]"):
        queries.check_features(["vix", "not_a_column"], ["vix"])
    with pytest.raises(ValueError, match="at least one"):
        queries.check_features([], ["vix"])


@pytest.mark.parametrize(
    ("column", "unit"),
    [
        ("realized_vol_21d", "percent"),
        ("vix_rank_252d", "percent"),
        ("rate_10y_change_5d", "percent"),
        ("rsi_14d_points", "number"),
        ("realized_vol_ratio_5d_21d", "number"),
        ("vix_zscore_60d", "number"),
        ("atr_14d_usd", "usd"),
        ("calendar_days_to_monthly_expiration", "integer"),
        ("day_of_week_iso", "integer"),
        ("vix", "index_points"),
        ("vix_3m", "index_points"),
        ("vvix", "index_points"),
        ("vix_change_5d", "index_points"),
        ("vix_term_slope", "index_points"),
        ("vix_percentile_252d", "percent"),
        ("skew_points", "number"),
    ],
)
def test_feature_unit(column: str, unit: str) -> None:
    assert queries.feature_unit(column) == unit


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0
    assert doctest.testmod(charts).failed == 0


def test_vix_is_drawn_in_index_points() -> None:
    """VIX showed as "80%": the Cboe indices are stored as decimals, quoted in points."""
    spec = charts.feature_chart(SERIES, REGIMES, "vix", queries.feature_unit("vix")).to_dict()
    line = spec["layer"][1]
    # SYNTHETIC vix 0.12, 0.13, 0.30, 0.28 -> 12, 13, 30, 28 index points
    rows = spec["datasets"][line["data"]["name"]]
    assert [row["vix"] for row in rows] == pytest.approx([12.0, 13.0, 30.0, 28.0])
    assert line["encoding"]["y"]["title"] == "vix (index points)"
    assert "%" not in line["encoding"]["y"]["axis"]["format"]
    assert charts.axis_title("realized_vol_21d", "percent") == "realized_vol_21d (%)"


def test_date_axis_has_no_time_of_day() -> None:
    # SYNTHETIC: four days give daily ticks labelled as dates (Vega put "12 PM" between them)
    axis = charts.date_axis(SERIES["trade_date"]).to_dict()
    assert axis["tickCount"] == {"interval": "day", "step": 1}
    assert axis["format"] == "%Y-%m-%d"
    # 40 days: a tick every ceil(39 / 8) = 5 days
    month = pl.Series([dt.date(2024, 1, 1), dt.date(2024, 2, 9)])
    assert charts.date_axis(month).to_dict()["tickCount"] == {"interval": "day", "step": 5}
    # years: Vega's month and year ticks, dates already
    years = pl.Series([dt.date(2019, 1, 1), dt.date(2022, 1, 1)])
    assert "tickCount" not in charts.date_axis(years).to_dict()
    assert "tickCount" in charts.date_axis(pl.Series([], dtype=pl.Date)).to_dict()


# SYNTHETIC option periods: one inside SERIES's dates (D2..D3), one long before them.
PERIODS = pl.DataFrame(
    {
        "source": ["cboe_eod_chain", "ivolatility_eod"],
        "first_quote_date": [D2, dt.date(2011, 1, 3)],
        "last_quote_date": [D3, dt.date(2011, 1, 7)],
        "n_quote_dates": [2, 5],
    }
)


def test_feature_chart_marks_the_option_periods_inside_its_dates() -> None:
    chart = charts.feature_chart(SERIES, REGIMES, "vix", "index_points", option_periods=PERIODS)
    spec = chart.to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "line", "rect"]
    strip = spec["layer"][2]
    rows = spec["datasets"][strip["data"]["name"]]
    assert [row["source"] for row in rows] == ["cboe_eod_chain"]  # 2011 is off the chart
    assert rows[0]["strip_end_date"].startswith("2024-01-05")  # D3 + 1 day: never zero width
    assert strip["encoding"]["x"]["field"] == "first_quote_date"
    assert len(charts.feature_chart(SERIES, REGIMES, "vix", "percent").to_dict()["layer"]) == 2


def test_default_window_covers_the_option_periods() -> None:
    first, last = dt.date(1990, 1, 2), dt.date(2022, 12, 28)
    periods = PERIODS.with_columns(
        pl.Series("first_quote_date", [dt.date(2019, 4, 25), dt.date(2011, 1, 3)]),
        pl.Series("last_quote_date", [dt.date(2019, 7, 22), dt.date(2011, 1, 7)]),
    )
    # 2011-01-03 - 31 days = 2010-12-03; 2019-07-22 + 31 days = 2019-08-22
    assert queries.default_window(first, last, periods) == (
        dt.date(2010, 12, 3),
        dt.date(2019, 8, 22),
    )
    # clipped to the feature dates
    assert queries.default_window(dt.date(2011, 1, 1), dt.date(2019, 7, 31), periods) == (
        dt.date(2011, 1, 1),
        dt.date(2019, 7, 31),
    )
    # no option period overlapping the features: the last 3 years
    assert queries.default_window(first, dt.date(2010, 12, 31), periods) == (
        dt.date(2008, 1, 1),
        dt.date(2010, 12, 31),
    )
    with pytest.raises(ValueError, match="2022-12-28 is after"):
        queries.default_window(last, first, periods)
    with pytest.raises(ValueError, match="-1"):
        queries.default_window(first, last, periods, pad_days=-1)


def test_feature_chart_layers_bands_under_the_line() -> None:
    chart = charts.feature_chart(SERIES, REGIMES, "vix", "percent")

    spec = chart.to_dict()
    bands, line = spec["layer"]
    assert bands["mark"]["type"] == "rect"
    assert bands["encoding"]["x"]["field"] == "start_date"
    assert bands["encoding"]["x2"]["field"] == "end_date"
    assert bands["encoding"]["color"]["field"] == "iv_regime"
    assert bands["encoding"]["color"]["scale"]["domain"] == ["LOW", "NORMAL", "HIGH"]
    assert bands["encoding"]["color"]["legend"]["title"] == "IV regime"
    assert line["mark"]["type"] == "line"
    assert line["encoding"]["x"] == {
        "field": "trade_date",
        "timeUnit": "yearmonthdate",
        "type": "temporal",
        "title": None,
        "axis": {
            "format": "%Y-%m-%d",
            "labelAngle": 0,
            "tickCount": {"interval": "day", "step": 1},
        },
    }
    # the bands share the line's date axis
    assert bands["encoding"]["x"]["axis"] == line["encoding"]["x"]["axis"]
    assert line["encoding"]["y"]["field"] == "vix"
    assert line["encoding"]["y"]["axis"]["format"] == "%"
    assert {t["field"]: t.get("format") for t in line["encoding"]["tooltip"]}["vix"] == ".2%"
    assert spec["title"] == "vix"
    line_rows = spec["datasets"][line["data"]["name"]]
    assert [row["vix"] for row in line_rows] == [0.12, 0.13, 0.30, 0.28]


def test_feature_chart_units_nulls_and_legend() -> None:
    chart = charts.feature_chart(SERIES, REGIMES, "rsi_14d_points", "number", show_legend=False)

    spec = chart.to_dict()
    bands, line = spec["layer"]
    assert bands["encoding"]["color"]["legend"] is None
    assert line["encoding"]["y"]["axis"]["format"] == charts.UNIT_FORMATS["number"][0]
    # The NULL RSI of D2 is dropped, not drawn as 0.
    assert len(spec["datasets"][line["data"]["name"]]) == 3


def test_feature_chart_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="'kelvin'"):
        charts.feature_chart(SERIES, REGIMES, "vix", "kelvin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="skew_points"):
        charts.feature_chart(SERIES, REGIMES, "skew_points")
    with pytest.raises(ValueError, match="end_date"):
        charts.feature_chart(SERIES, REGIMES.drop("end_date"), "vix")


def test_feature_chart_without_regimes() -> None:
    chart = charts.feature_chart(SERIES, REGIMES.clear(), "vix", "percent")
    assert len(chart.to_dict()["layer"]) == 2


# ---- queries on the real warehouse -------------------------------------------------------------


@slow
def test_allowlist_is_the_numeric_columns(real_published: Path) -> None:
    allowed = queries.feature_columns(real_published)

    assert {"vix", "realized_vol_21d", "rsi_14d_points", "day_of_week_iso"} <= set(allowed)
    assert set(queries.DEFAULT_FEATURES) <= set(allowed)
    # Keys, text, booleans and dates are not features.
    for column in ("underlying_symbol", "trade_date", "iv_regime", "is_vix_contango"):
        assert column not in allowed
    assert "next_monthly_expiration_date" not in allowed


@slow
def test_feature_series_refuses_an_unknown_column(real_published: Path) -> None:
    with pytest.raises(ValueError, match="not_a_feature"):
        queries.feature_series(
            real_published, "SPX", ["vix", "not_a_feature"], dt.date(2020, 1, 1), D1
        )
    # A string that would break out of a quoted identifier is refused before any SQL runs.
    injection = 'vix" from marts.fct_underlying_features; --'
    with pytest.raises(ValueError, match="unknown feature"):
        queries.feature_series(real_published, "SPX", [injection], dt.date(2020, 1, 1), D1)


@slow
def test_feature_series_and_regime_spans(real_published: Path) -> None:
    start, end = dt.date(2019, 1, 1), dt.date(2021, 12, 31)
    data = queries.feature_series(real_published, "SPY", ["vix", "rsi_14d_points"], start, end)
    series, regimes = data.series, data.regimes

    assert series.columns == ["trade_date", "iv_regime", "vix", "rsi_14d_points"]
    assert series.schema["vix"] == pl.Float64 and series.schema["rsi_14d_points"] == pl.Float64
    assert series["trade_date"].is_sorted() and series["trade_date"].is_unique().all()
    assert series["trade_date"].min() >= start and series["trade_date"].max() <= end
    assert series["vix"].drop_nulls().is_between(0.05, 1.0).all()  # decimal, not points

    assert regimes.height > 1
    assert set(regimes["iv_regime"]) <= set(queries.IV_REGIMES)
    # The spans cover every day with a regime, once, and tile the axis: each ends where the next
    # starts; consecutive spans differ in regime.
    assert regimes["n_days"].sum() == series["iv_regime"].drop_nulls().len()
    assert (regimes["end_date"].head(-1) == regimes["start_date"].tail(-1)).all()
    assert (regimes["iv_regime"].head(-1) != regimes["iv_regime"].tail(-1)).all()
    assert regimes["start_date"].min() == series["trade_date"].min()
    assert regimes["end_date"].max() == series["trade_date"].max()


@slow
def test_option_periods_of_the_real_chains(real_published: Path) -> None:
    spx = queries.option_periods(real_published, "SPX")
    assert spx.select("source", "first_quote_date", "last_quote_date").rows() == [
        ("ivolatility_eod", dt.date(2011, 1, 3), dt.date(2011, 1, 7)),
        ("cboe_eod_chain", dt.date(2019, 4, 25), dt.date(2019, 7, 22)),
    ]
    assert spx["n_quote_dates"].to_list() == [5, 56]
    assert queries.option_periods(real_published, "QQQ").is_empty()


@slow
def test_feature_series_outside_the_data_is_empty(real_published: Path) -> None:
    data = queries.feature_series(
        real_published, "SPX", ["vix"], dt.date(1900, 1, 1), dt.date(1900, 12, 31)
    )
    assert data.series.is_empty() and data.regimes.is_empty()


# ---- the page, headless, on the real warehouse -------------------------------------------------


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def _line_fields(at: AppTest) -> list[str]:
    return [spec["layer"][1]["encoding"]["y"]["field"] for spec in _specs(at)]


@slow
def test_page_defaults(real_published: Path) -> None:
    at = open_app_page("features.py")

    assert not at.error, [e.value for e in at.error]
    assert at.selectbox[0].value == "SPX"
    symbols = queries.symbols(real_published)
    last = symbols.filter(pl.col("underlying_symbol") == "SPX")["last_trade_date"].item()
    start, end = at.date_input[0].value
    # the default range covers SPX's option chains (2011-01-03.. and ..2019-07-22), padded
    periods = queries.option_periods(real_published, "SPX")
    assert (start, end) == queries.default_window(
        symbols.filter(pl.col("underlying_symbol") == "SPX")["first_trade_date"].item(),
        last,
        periods,
    )
    assert start <= dt.date(2011, 1, 3) and end >= dt.date(2019, 7, 22)
    assert at.multiselect[0].value == list(queries.DEFAULT_FEATURES)
    assert _line_fields(at) == list(queries.DEFAULT_FEATURES)
    # Regime bands behind every line, with the legend.
    for spec in _specs(at):
        assert spec["layer"][0]["mark"]["type"] == "rect"
        assert spec["layer"][0]["encoding"]["color"]["field"] == "iv_regime"
        assert spec["layer"][0]["encoding"]["color"]["legend"]["title"] == "IV regime"
    assert "SPX" in at.caption[0].value
    assert "cboe_eod_chain 2019-04-25 to 2019-07-22" in at.caption[0].value
    # VIX in index points, with the unit in the axis title
    vix = next(spec for spec in _specs(at) if spec["layer"][1]["encoding"]["y"]["field"] == "vix")
    assert vix["layer"][1]["encoding"]["y"]["title"] == "vix (index points)"
    assert vix["layer"][2]["mark"]["type"] == "rect"  # the option-chain strip


@slow
def test_picking_features_changes_the_charts(real_published: Path) -> None:
    at = open_app_page("features.py")
    # SPX high/low features (ATR, Parkinson vols) stop before its closes do: pick years with both.
    at.date_input[0].set_value((dt.date(2016, 1, 4), dt.date(2018, 12, 31))).run()

    at.multiselect[0].set_value(["rsi_14d_points", "atr_14d_usd"]).run()
    assert not at.exception and not at.error
    assert _line_fields(at) == ["rsi_14d_points", "atr_14d_usd"]
    axis_formats = [spec["layer"][1]["encoding"]["y"]["axis"]["format"] for spec in _specs(at)]
    assert axis_formats == [charts.UNIT_FORMATS["number"][0], charts.UNIT_FORMATS["usd"][0]]

    at.multiselect[0].set_value([]).run()
    assert not at.exception and not at.error
    assert not at.get("vega_lite_chart")
    assert any("at least one feature" in info.value for info in at.info)


@slow
def test_changing_underlying_and_dates(real_published: Path) -> None:
    at = open_app_page("features.py")
    caption_before = at.caption[0].value

    at.selectbox[0].select("QQQ").run()
    assert not at.exception and not at.error
    assert at.caption[0].value.startswith("QQQ,")
    assert at.caption[0].value != caption_before

    at.date_input[0].set_value((dt.date(2020, 1, 2), dt.date(2020, 6, 30))).run()
    assert not at.exception and not at.error
    assert "from 2020-01-02 to 2020-06-30" in at.caption[0].value
    assert len(_specs(at)) == len(queries.DEFAULT_FEATURES)


# ---- deep links (app.links): the window and features in the URL, on the real warehouse ----------


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Features page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/features.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


@slow
def test_the_url_follows_the_selection(real_published: Path) -> None:
    at = open_app_page("features.py")
    start, end = at.date_input[0].value
    assert at.query_params == {
        "underlying": "SPX",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "features": list(queries.DEFAULT_FEATURES),
    }

    at.selectbox[0].select("QQQ").run()  # another underlying: its own default window
    qqq_start, qqq_end = at.date_input[0].value
    assert (qqq_start, qqq_end) != (start, end)
    assert at.query_params["underlying"] == "QQQ"
    assert at.query_params["start"] == qqq_start.isoformat()

    at.date_input[0].set_value((dt.date(2020, 1, 2), dt.date(2020, 6, 30))).run()
    at.multiselect[0].set_value(["vix"]).run()
    assert not at.exception and not _notes(at)
    assert at.query_params == {
        "underlying": "QQQ",
        "start": "2020-01-02",
        "end": "2020-06-30",
        "features": "vix",
    }

    at.date_input[0].set_value((dt.date(2020, 3, 2),)).run()  # half a window: URL unchanged
    assert any("both ends" in info.value for info in at.info)
    assert at.query_params["start"] == "2020-01-02" and at.query_params["end"] == "2020-06-30"


@slow
def test_a_link_reopens_its_window_and_features(real_published: Path) -> None:
    link = {
        "underlying": "QQQ",
        "start": "2020-01-02",
        "end": "2020-06-30",
        "features": ["rsi_14d_points", "vix"],
    }
    at = _linked_page(**link)

    assert not _notes(at) and not at.error
    assert at.selectbox[0].value == "QQQ"
    assert at.date_input[0].value == (dt.date(2020, 1, 2), dt.date(2020, 6, 30))
    assert _line_fields(at) == ["rsi_14d_points", "vix"]  # the link's order
    assert "QQQ, " in at.caption[0].value and "from 2020-01-02 to 2020-06-30" in at.caption[0].value
    assert at.query_params == link


@slow
def test_bad_link_values_are_noted_and_replaced_by_defaults(real_published: Path) -> None:
    at = _linked_page(underlying="NO-SUCH", start="1800-01-02", end="2020-13-01", features="nope")

    assert not at.error
    notes = _notes(at)
    for name, value in (
        ("underlying", "'NO-SUCH'"),
        ("start", "'1800-01-02'"),
        ("end", "'2020-13-01'"),
        ("features", "'nope'"),
    ):
        assert any(f"`{name}`" in note and value in note for note in notes), name
    assert at.selectbox[0].value == "SPX"
    assert at.multiselect[0].value == list(queries.DEFAULT_FEATURES)
    assert at.query_params["underlying"] == "SPX" and at.query_params["start"] != "1800-01-02"

    # two good dates the wrong way round: the window falls back to its default, noted
    at = _linked_page(start="2019-06-28", end="2019-01-02")
    (note,) = _notes(at)
    assert "`end`" in note and "before `start` 2019-06-28" in note
    assert at.date_input[0].value[0] < dt.date(2019, 1, 2)  # the default window, not the link's
