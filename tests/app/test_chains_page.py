"""The chains page: chart builders on SYNTHETIC frames, queries and the page on the real warehouse.

Tests marked ``slow`` read the real published warehouse (fixture ``real_published``; set
``OPTIONS_TEST_WAREHOUSE`` to reuse a built one); the chart tests need no warehouse.
"""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
import json
from pathlib import Path

import altair as alt
import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app.charts import chains as charts
from app.queries import chains as queries
from tests.app.conftest import APP, PAGE_TIMEOUT_S, open_app_page

slow = pytest.mark.slow

# ---- chart builders, SYNTHETIC frames ----------------------------------------------------------

# SYNTHETIC smile: two expiries, an OTM put below and an OTM call above the forward of 100.
SMILE = pl.DataFrame(
    {
        "expiry_label": ["2024-02-16 PM (30d)"] * 2 + ["2024-01-19 PM (2d)"] * 2,
        "dte": [30, 30, 2, 2],
        "option_type": ["put", "call"] * 2,
        "strike": [90.0, 110.0, 95.0, 105.0],
        "strike_to_forward": [0.9, 1.1, 0.95, 1.05],
        "log_moneyness": [-0.10536, 0.09531, -0.05129, 0.04879],
        "implied_volatility": [0.25, 0.18, 0.40, 0.30],
    }
)

# SYNTHETIC term structure: an AM and a PM expiry; the PM one lacks the 25-delta wings.
TERM = pl.DataFrame(
    {
        "expiration": [dt.date(2024, 2, 16), dt.date(2024, 3, 15)],
        "settlement_type": ["AM", "PM"],
        "dte": [30, 58],
        "atm_iv": [0.15, 0.16],
        "risk_reversal_25d": [-0.04, None],
        "butterfly_25d": [0.005, None],
    }
)

# SYNTHETIC surface: 2 dte buckets x 2 moneyness buckets, one empty (NULL mean, 0 options).
SURFACE = pl.DataFrame(
    {
        "dte_bucket": ["8-14d", "8-14d", "1-7d", "1-7d"],
        "dte_min": [8, 8, 1, 1],
        "moneyness_low": [0.95, 1.0, 0.95, 1.0],
        "moneyness_high": [1.0, 1.05, 1.0, 1.05],
        "mean_iv": [0.2, 0.15, None, 0.3],
        "n_options": [3, 2, 0, 1],
    }
)

# SYNTHETIC greeks: a call and a put at one strike (equal gamma, deltas 0.5 and -0.5).
GREEKS = pl.DataFrame(
    {
        "option_type": ["call", "put"],
        "strike": [100.0, 100.0],
        "delta": [0.5, -0.5],
        "gamma": [0.04, 0.04],
        "vega": [0.11, 0.11],
        "theta": [-0.02, -0.015],
    }
)


def test_doctests() -> None:
    assert doctest.testmod(queries).failed == 0
    assert doctest.testmod(charts).failed == 0


def test_page_link_helpers_doctests(warehouse_dir: Path) -> None:
    """The page's pure link helpers (expiry tokens, flags); imported with an empty warehouse
    directory, the module's ``run_page`` only notes that nothing is published."""
    page = importlib.import_module("app.app_pages.chains")

    assert doctest.testmod(page).failed == 0
    assert page.parse_flag("TRUE") is True and page.parse_flag("0") is False
    with pytest.raises(ValueError, match="'yes'"):
        page.parse_flag("yes")
    # SYNTHETIC tokens: an AM monthly and a PM weekly on one date make a bare date ambiguous
    tokens = ["2019-07-19-AM", "2019-07-19-PM", "2019-07-26-PM"]
    assert page.resolve_expiry("2019-07-26", tokens) == "2019-07-26-PM"
    for bad in ("2019-07-19", "2019-07-20", "2019-07-19-XX", ""):
        with pytest.raises(ValueError, match="no single expiry"):
            page.resolve_expiry(bad, tokens)


def _values(chart: alt.Chart) -> list[dict]:
    spec = chart.to_dict()
    return spec["datasets"][spec["data"]["name"]]


@pytest.mark.parametrize("x", ["log_moneyness", "strike_to_forward"])
def test_smile_chart_plots_iv_against_the_chosen_moneyness(x: str) -> None:
    chart = charts.smile_chart(SMILE, x)

    spec = chart.to_dict()
    assert spec["encoding"]["x"] == {
        "field": x,
        "type": "quantitative",
        "title": charts.MONEYNESS_AXES[x],
        "scale": {"zero": False},
        "axis": {"format": ".2~f"},
    }
    assert spec["encoding"]["y"]["field"] == "implied_volatility"
    # one decimal at most: 19.5%, never 19.5466539897%
    assert spec["encoding"]["y"]["axis"]["format"] == charts.IV_AXIS_FORMAT == ".1~%"
    # ten distinct hues, not Streamlit's default pairs of near-identical blues and reds
    assert spec["encoding"]["color"]["scale"] == {"scheme": "category10"}
    # The legend lists expiries by days to expiry, not alphabetically.
    assert spec["encoding"]["color"]["sort"] == ["2024-01-19 PM (2d)", "2024-02-16 PM (30d)"]
    tooltips = {t["field"]: t.get("format") for t in spec["encoding"]["tooltip"]}
    assert tooltips["implied_volatility"] == ".1%"
    assert tooltips["strike"] == charts.STRIKE_FORMAT == ",.2~f"
    assert all(isinstance(row["implied_volatility"], float) for row in _values(chart))


def test_smile_chart_refuses_an_unknown_axis_and_names_a_missing_column() -> None:
    with pytest.raises(ValueError, match="'moneyness'"):
        charts.smile_chart(SMILE, "moneyness")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="implied_volatility"):
        charts.smile_chart(SMILE.drop("implied_volatility"))


def test_term_structure_chart_tells_am_from_pm_by_colour_and_shape() -> None:
    spec = charts.term_structure_chart(TERM).to_dict()

    assert spec["encoding"]["x"]["field"] == "dte"
    assert spec["encoding"]["y"]["field"] == "atm_iv"
    assert spec["encoding"]["y"]["axis"]["format"] == charts.IV_AXIS_FORMAT
    colour, shape = spec["encoding"]["color"], spec["encoding"]["shape"]
    assert colour["field"] == shape["field"] == "settlement_type"
    # the legend's two entries differ in colour and in shape (it used to be two black dots)
    assert colour["scale"]["domain"] == shape["scale"]["domain"] == ["AM", "PM"]
    assert len(set(colour["scale"]["range"])) == 2
    assert shape["scale"]["range"] == ["square", "circle"]
    with pytest.raises(ValueError, match="atm_iv"):
        charts.term_structure_chart(TERM.drop("atm_iv"))


def test_skew_term_chart_long_format_drops_missing_wings() -> None:
    chart = charts.skew_term_chart(TERM)

    rows = _values(chart)
    # 2 expiries x 2 measures, less the PM expiry's two NULLs.
    assert sorted((row["metric"], row["value"]) for row in rows) == [
        ("25-delta butterfly", 0.005),
        ("25-delta risk reversal", -0.04),
    ]
    encoding = chart.to_dict()["encoding"]
    assert encoding["y"]["axis"]["format"] == charts.IV_AXIS_FORMAT
    # the settlement legend draws line samples, dashed for AM and solid for PM, not two dots
    dash = encoding["strokeDash"]
    assert dash["legend"]["symbolType"] == "stroke"
    assert dash["scale"]["domain"] == ["AM", "PM"]
    assert dash["scale"]["range"][0] != dash["scale"]["range"][1]
    # and the two measures get two clearly different colours
    assert len(set(encoding["color"]["scale"]["range"])) == 2
    with pytest.raises(ValueError, match="butterfly_25d"):
        charts.skew_term_chart(TERM.drop("butterfly_25d"))


def test_surface_heatmap_draws_filled_buckets_shortest_expiry_first() -> None:
    chart = charts.surface_heatmap(SURFACE)

    spec = chart.to_dict()
    assert spec["mark"]["type"] == "rect"
    assert spec["encoding"]["x"]["field"] == "moneyness_low"
    assert spec["encoding"]["x2"]["field"] == "moneyness_high"
    # ticks on the bucket edges, domain from the first to the last edge: every tick is a
    # cell border (Vega's own ticks, 0.70, 0.74, 0.78, ..., fell inside the cells)
    assert spec["encoding"]["x"]["axis"]["values"] == [0.95, 1.0, 1.05]
    assert spec["encoding"]["x"]["scale"]["domain"] == [0.95, 1.05]
    assert spec["encoding"]["y"]["sort"] == ["1-7d", "8-14d"]
    assert spec["encoding"]["color"]["legend"]["format"] == charts.IV_AXIS_FORMAT
    # The empty bucket is not drawn: 4 buckets, 3 rectangles.
    assert len(_values(chart)) == 3
    with pytest.raises(ValueError, match="mean_iv"):
        charts.surface_heatmap(SURFACE.drop("mean_iv"))


def test_bucket_edges_round_away_floating_point_noise() -> None:
    # SYNTHETIC: 0.7 + 3 x 0.05 is 0.8500000000000001 in binary floating point
    surface = pl.DataFrame(
        {"moneyness_low": [0.8, 0.8500000000000001], "moneyness_high": [0.85, 0.9]}
    )
    assert charts.bucket_edges(surface) == [0.8, 0.85, 0.9]
    assert charts.bucket_edges(surface.clear()) == []
    with pytest.raises(ValueError, match="moneyness_high"):
        charts.bucket_edges(surface.drop("moneyness_high"))


@pytest.mark.parametrize("greek", list(charts.GREEKS))
def test_greek_chart(greek: str) -> None:
    spec = charts.greek_chart(GREEKS, greek).to_dict()

    assert spec["encoding"]["x"]["field"] == "strike"
    assert spec["encoding"]["y"]["field"] == greek
    assert spec["encoding"]["color"]["scale"]["domain"] == ["call", "put"]
    # the legend shows line samples (colour and dash), not dots
    assert spec["encoding"]["color"]["legend"]["symbolType"] == "stroke"


def test_greek_chart_of_one_strike_shows_a_point_and_a_short_strike() -> None:
    """SYNTHETIC: SPY's 2022-01-31 expiry on 2021-12-31 is one call at 485: a line of one point
    drew nothing, and Vega labelled the lone tick ``485.000000``."""
    one = pl.DataFrame(
        {"option_type": ["call"], "strike": [485.0], "delta": [0.33], "gamma": [0.02],
         "vega": [0.4], "theta": [-0.1]}
    )  # fmt: skip
    spec = charts.greek_chart(one, "delta").to_dict()

    assert spec["mark"]["point"]  # the lone contract is drawn as a point
    assert spec["encoding"]["x"]["axis"]["format"] == ",.2~f"  # 485, 485.5, 2,985


def test_greeks_expiry_skips_sparse_expiries() -> None:
    # SYNTHETIC expiries of a sparse chain (SPY 2021-12-31): 14, 4 and 1 contracts.
    expiries = pl.DataFrame(
        {"dte": [21, 28, 31], "n_solved": [14, 4, 1], "n_solved_with_bid": [14, 4, 0]}
    )
    # 31 days is nearest to 30 but has 1 contract; 21 days is the nearest with >= 5
    assert queries.greeks_expiry(expiries, 30) == 0
    # none dense: the one with the most contracts (bids counted unless zero bids are kept)
    assert queries.greeks_expiry(expiries.slice(1), 30) == 0
    assert queries.greeks_expiry(expiries.clear(), 30) is None
    # a dense chain: the nearest to the target, ties to the earlier expiry
    dense = pl.DataFrame({"dte": [25, 35], "n_solved": [50, 50], "n_solved_with_bid": [50, 50]})
    assert queries.greeks_expiry(dense, 30) == 0
    with pytest.raises(ValueError, match="-1"):
        queries.greeks_expiry(expiries, -1)


def test_greek_chart_refuses_an_unknown_greek_and_names_a_missing_column() -> None:
    with pytest.raises(ValueError, match="'rho'"):
        charts.greek_chart(GREEKS, "rho")
    with pytest.raises(ValueError, match="gamma"):
        charts.greek_chart(GREEKS.drop("gamma"), "gamma")


# ---- queries on the real warehouse -------------------------------------------------------------


@pytest.fixture
def spx_latest(real_published: Path) -> tuple[Path, dt.date]:
    return real_published, queries.quote_dates(real_published, "SPX")[0]


@slow
def test_quote_dates_latest_first(real_published: Path) -> None:
    dates = queries.quote_dates(real_published, "SPX")

    assert dates == sorted(dates, reverse=True)
    assert len(dates) == len(set(dates)) > 1
    assert queries.quote_dates(real_published, "NO-SUCH-SYMBOL") == []


@slow
def test_smile_has_only_otm_solved_options_in_the_band(spx_latest: tuple[Path, dt.date]) -> None:
    snapshot = queries.chain_snapshot(spx_latest[0], "SPX", spx_latest[1])
    smile = snapshot.smile

    assert smile.height > 100
    assert smile.schema["implied_volatility"] == pl.Float64
    assert smile.schema["strike_to_forward"] == pl.Float64
    puts = smile.filter(pl.col("option_type") == "put")
    calls = smile.filter(pl.col("option_type") == "call")
    assert puts.height > 0 and calls.height > 0
    # OTM: puts below the forward, calls at or above it (ln K/F < 0 <= ln K/F).
    assert (puts["strike_to_forward"] < 1).all() and (puts["log_moneyness"] < 0).all()
    assert (calls["strike_to_forward"] >= 1).all() and (calls["log_moneyness"] >= -1e-12).all()
    assert (
        smile["strike_to_forward"]
        .is_between(queries.MIN_STRIKE_TO_FORWARD, queries.MAX_STRIKE_TO_FORWARD)
        .all()
    )
    assert (smile["implied_volatility"] > 0).all()
    assert (smile["dte"] >= 1).all()
    # One label per expiry, and every smile expiry is listed in the expiries.
    assert set(smile["expiry_label"]) <= set(snapshot.expiries["expiry_label"])
    assert snapshot.expiries["expiry_label"].is_unique().all()


@slow
def test_surface_grid_is_complete_and_counts_every_smile_point(
    spx_latest: tuple[Path, dt.date],
) -> None:
    snapshot = queries.chain_snapshot(spx_latest[0], "SPX", spx_latest[1])
    surface = snapshot.surface

    assert surface.height == len(queries.DTE_BUCKETS) * queries.N_MONEYNESS_BUCKETS
    assert surface.select("dte_bucket", "moneyness_low").is_duplicated().sum() == 0
    assert set(surface["dte_bucket"]) == {label for _, _, label in queries.DTE_BUCKETS}
    assert surface["moneyness_low"].min() == pytest.approx(queries.MIN_STRIKE_TO_FORWARD)
    assert surface["moneyness_high"].max() == pytest.approx(queries.MAX_STRIKE_TO_FORWARD)
    # Same filter as the smile: every OTM point lands in exactly one bucket.
    assert surface["n_options"].sum() == snapshot.smile.height
    assert (surface["mean_iv"].is_null() == (surface["n_options"] == 0)).all()
    assert surface.schema["mean_iv"] == pl.Float64


@slow
def test_summary_term_structure_and_greeks(spx_latest: tuple[Path, dt.date]) -> None:
    db, quote_date = spx_latest
    snapshot = queries.chain_snapshot(db, "SPX", quote_date)
    summary = snapshot.summary.row(0, named=True)

    assert summary["spot_price"] > 0
    assert 0 < summary["atm_iv_30d"] < 1
    assert summary["n_contracts"] >= summary["n_solved"] > 0
    assert snapshot.term.height > 0
    # a 0-DTE weekly quoted at 15:45 has 15 minutes left and an implied volatility
    assert (snapshot.term["dte"] >= 0).all()
    assert snapshot.term.schema["atm_iv"] == pl.Float64

    expiry = snapshot.expiries.row(0, named=True)
    greeks = queries.greeks_by_strike(
        db, "SPX", quote_date, expiry["expiration"], expiry["settlement_type"]
    )
    assert set(greeks["option_type"]) == {"call", "put"}
    assert all(greeks.schema[g] == pl.Float64 for g in ("delta", "gamma", "vega", "theta"))
    calls = greeks.filter(pl.col("option_type") == "call")
    puts = greeks.filter(pl.col("option_type") == "put")
    assert calls["delta"].is_between(0, 1.01).all()
    assert puts["delta"].is_between(-1, 0).all()


@slow
def test_zero_bid_quotes_are_left_out_unless_asked_for(real_published: Path) -> None:
    """On 2019-07-22 the 7-day SPXW call wing "rose" to 35 % from quotes bid at 0.00."""
    day = dt.date(2019, 7, 22)
    default = queries.chain_snapshot(real_published, "SPX", day)
    everything = queries.chain_snapshot(real_published, "SPX", day, include_zero_bid=True)

    def wing_max(snapshot: queries.ChainSnapshot) -> float:
        wing = snapshot.smile.filter((pl.col("dte") == 7) & (pl.col("option_type") == "call"))
        return wing["implied_volatility"].max()

    assert (default.smile["bid"] > 0).all()
    assert (everything.smile["bid"] == 0).any()
    assert wing_max(everything) > 0.35 > 0.15 > wing_max(default)
    # the surface counts exactly the smile's points either way
    assert default.surface["n_options"].sum() == default.smile.height
    assert everything.surface["n_options"].sum() == everything.smile.height
    # what the page says it left out: the solved quotes bid at 0 (or without a bid)
    assert default.summary.item(0, "n_solved_zero_bid") > 0
    # the expiry list does not depend on the toggle
    assert default.expiries.equals(everything.expiries)
    expiry = default.expiries.row(0, named=True)
    greeks = queries.greeks_by_strike(
        real_published, "SPX", day, expiry["expiration"], expiry["settlement_type"]
    )
    assert (greeks["bid"] > 0).all()


@slow
def test_unknown_date_gives_empty_frames(real_published: Path) -> None:
    snapshot = queries.chain_snapshot(real_published, "SPX", dt.date(1999, 1, 4))

    assert snapshot.summary.row(0, named=True)["n_contracts"] == 0
    assert snapshot.smile.is_empty() and snapshot.term.is_empty()
    assert snapshot.surface["n_options"].sum() == 0


# ---- the page, headless, on the real warehouse -------------------------------------------------


def _charts(at: AppTest) -> list[tuple[dict, list[pl.DataFrame]]]:
    """Each chart's Vega-Lite spec and its datasets as Polars frames."""
    return [
        (
            json.loads(chart.proto.spec),
            [
                pl.from_arrow(pa.ipc.open_stream(d.data.data).read_all())
                for d in chart.proto.datasets
            ],
        )
        for chart in at.get("vega_lite_chart")
    ]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _tokens(expiries: pl.DataFrame) -> list[str]:
    """The page's URL form of each expiry (``YYYY-MM-DD-AM``), computed here independently."""
    return [
        f"{row['expiration']:%Y-%m-%d}-{row['settlement_type']}"
        for row in expiries.iter_rows(named=True)
    ]


def _linked_page(**params: str | list[str]) -> AppTest:
    """The Chains page opened from a link with query parameters ``params``."""
    at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("app_pages/chains.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    """The notes of ignored link parameters (app.links)."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


@slow
def test_page_defaults_to_the_latest_spx_chain(real_published: Path) -> None:
    at = open_app_page("chains.py")

    assert not at.error, [e.value for e in at.error]
    latest = queries.quote_dates(real_published, "SPX")[0]
    assert at.selectbox[0].value == "SPX"
    assert at.selectbox[1].value == latest
    assert set(_metrics(at)) == {"Spot", "ATM IV 30d", "25-delta RR 30d", "Contracts"}
    assert f"SPX chain of {latest:%Y-%m-%d}" in at.caption[0].value
    titles = [spec.get("title") for spec, _ in _charts(at)]
    assert titles == [
        "Volatility smile (OTM options)",
        "ATM implied volatility by expiry",
        "25-delta skew by expiry",
        "IV surface (mean OTM IV)",
        "Delta",
        "Gamma",
        "Vega",
        "Theta",
    ]


@slow
def test_changing_the_date_and_underlying_changes_the_kpis(real_published: Path) -> None:
    at = open_app_page("chains.py")
    before = _metrics(at)
    dates = queries.quote_dates(real_published, "SPX")

    at.selectbox[1].select(dates[-1]).run()  # the earliest SPX date (2011, another source)
    assert not at.exception and not at.error
    assert _metrics(at)["Spot"] != before["Spot"]
    assert f"SPX chain of {dates[-1]:%Y-%m-%d}" in at.caption[0].value

    at.selectbox[0].select("SPY").run()
    assert not at.exception and not at.error
    spy_latest = queries.quote_dates(real_published, "SPY")[0]
    # A new underlying resets the date to its latest.
    assert at.selectbox[1].value == spy_latest
    assert f"SPY chain of {spy_latest:%Y-%m-%d}" in at.caption[0].value


@slow
def test_smile_controls_change_the_chart(real_published: Path) -> None:
    at = open_app_page("chains.py")
    smile_spec, smile_data = _charts(at)[0]
    assert smile_spec["encoding"]["x"]["field"] == "log_moneyness"
    picked = at.multiselect[0].value  # expiry tokens, shown by their labels
    label = at.multiselect[0].format_func
    assert set(smile_data[0]["expiry_label"]) == {label(token) for token in picked}

    at.radio[0].set_value("strike_to_forward").run()
    assert _charts(at)[0][0]["encoding"]["x"]["field"] == "strike_to_forward"

    at.multiselect[0].set_value(picked[:1]).run()
    assert set(_charts(at)[0][1][0]["expiry_label"]) == {label(picked[0])}

    at.multiselect[0].set_value([]).run()
    assert not at.exception and not at.error
    assert any("Pick at least one expiry" in info.value for info in at.info)
    assert "Volatility smile (OTM options)" not in [spec.get("title") for spec, _ in _charts(at)]


@slow
def test_zero_bid_toggle_round_trip(real_published: Path) -> None:
    at = open_app_page("chains.py")
    assert at.toggle[0].value is False
    smile_before = _charts(at)[0][1][0]
    assert any("bid at 0 (or without a bid) are left out" in c.value for c in at.caption)

    at.toggle[0].set_value(True).run()
    assert not at.exception and not at.error
    smile_after = _charts(at)[0][1][0]
    assert smile_after.height > smile_before.height
    assert any(c.value.startswith("Showing all") for c in at.caption)

    at.toggle[0].set_value(False).run()
    assert _charts(at)[0][1][0].height == smile_before.height


@slow
def test_spy_greeks_open_on_an_expiry_with_curves_and_list_a_sparse_one(
    real_published: Path,
) -> None:
    """SPY keeps its 20 most traded contracts a day: its 30-day expiry can hold one contract,
    which drew four empty greek charts with a ``485.000000`` tick."""
    at = open_app_page("chains.py")
    at.selectbox[0].select("SPY").run()
    assert not at.exception and not at.error
    snapshot = queries.chain_snapshot(real_published, "SPY", at.selectbox[1].value)
    counts = dict(
        zip(_tokens(snapshot.expiries), snapshot.expiries["n_solved_with_bid"], strict=True)
    )
    assert counts[at.selectbox[2].value] >= queries.MIN_CURVE_CONTRACTS
    greek_specs = [spec for spec, _ in _charts(at) if spec.get("title") in ("Delta", "Theta")]
    assert len(greek_specs) == 2
    assert all(spec["encoding"]["x"]["axis"]["format"] == ",.2~f" for spec in greek_specs)

    sparse = min(counts, key=counts.get)
    assert counts[sparse] < queries.MIN_CURVE_CONTRACTS
    at.selectbox[2].select(sparse).run()
    assert not at.exception and not at.error
    assert any("too few for curves" in info.value for info in at.info)
    titles = [spec.get("title") for spec, _ in _charts(at)]
    assert not set(titles) & {"Delta", "Gamma", "Vega", "Theta"}
    table = at.dataframe[-1].value
    assert len(table) == counts[sparse] and {"delta", "gamma", "vega", "theta"} <= set(table)


@slow
def test_greeks_follow_the_chosen_expiry(real_published: Path) -> None:
    at = open_app_page("chains.py")
    greeks_box = at.selectbox[2]
    first, last = greeks_box.options[0], greeks_box.options[-1]

    greeks_box.select(first).run()
    strikes_first = set(_charts(at)[4][1][0]["strike"])
    at.selectbox[2].select(last).run()
    assert not at.exception and not at.error
    assert set(_charts(at)[4][1][0]["strike"]) != strikes_first


# ---- deep links (app.links): the chain on screen in the URL, on the real warehouse --------------


@slow
def test_the_url_follows_the_selection(real_published: Path) -> None:
    at = open_app_page("chains.py")
    dates = queries.quote_dates(real_published, "SPX")
    snapshot = queries.chain_snapshot(real_published, "SPX", dates[0])
    tokens = _tokens(snapshot.expiries)

    # opened without a link: the defaults, written out (constant defaults left out)
    assert at.query_params == {
        "underlying": "SPX",
        "quote_date": dates[0].isoformat(),
        "smile": at.multiselect[0].value,
        "expiration": at.selectbox[2].value,
    }
    assert set(at.multiselect[0].value) <= set(tokens) and at.selectbox[2].value in tokens

    at.selectbox[1].select(dates[1]).run()
    at.toggle[0].set_value(True).run()
    at.radio[0].set_value("strike_to_forward").run()
    at.radio[1].set_value("put").run()
    assert not at.exception and not _notes(at)
    assert at.query_params["quote_date"] == dates[1].isoformat()
    assert at.query_params["zero_bid"] == "true"
    assert at.query_params["moneyness"] == "strike_to_forward"
    assert at.query_params["option_type"] == "put"
    greeks = next(data[0] for spec, data in _charts(at) if spec.get("title") == "Delta")
    assert set(greeks["option_type"]) == {"put"} and (greeks["delta"] < 0).all()

    at.multiselect[0].set_value([]).run()  # an emptied smile is shared as such
    assert at.query_params["smile"] == ""
    at.toggle[0].set_value(False).run()
    assert "zero_bid" not in at.query_params  # back at its default


@slow
def test_a_link_reopens_the_chain_it_names(real_published: Path) -> None:
    spy_dates = queries.quote_dates(real_published, "SPY")
    day = spy_dates[len(spy_dates) // 2]  # neither end: not a default
    expiries = queries.chain_snapshot(real_published, "SPY", day).expiries
    tokens = _tokens(expiries)
    smile = [tokens[-1], tokens[0]]
    link = {
        "underlying": "SPY",
        "quote_date": day.isoformat(),
        "zero_bid": "true",
        "smile": smile,
        "moneyness": "strike_to_forward",
        "expiration": tokens[1][:10],  # a bare date: SPY has one expiry a date
        "option_type": "call",
    }
    at = _linked_page(**link)

    assert not _notes(at) and not at.error
    assert at.selectbox[0].value == "SPY" and at.selectbox[1].value == day
    assert at.toggle[0].value is True
    assert at.multiselect[0].value == smile  # in the link's order
    assert at.radio[0].value == "strike_to_forward" and at.radio[1].value == "call"
    assert at.selectbox[2].value == tokens[1]
    assert f"SPY chain of {day:%Y-%m-%d}" in at.caption[0].value
    assert any(c.value.startswith("Showing all") for c in at.caption)  # bid = 0 kept
    # the URL keeps the link, the bare date spelled out as its token
    assert at.query_params == {**link, "expiration": tokens[1]}


@slow
def test_bad_link_values_are_noted_and_replaced_by_defaults(real_published: Path) -> None:
    latest = queries.quote_dates(real_published, "SPX")[0]
    at = _linked_page(
        underlying="NO-SUCH",
        quote_date="2019-02-30",
        zero_bid="maybe",
        smile=["2099-01-01-AM"],
        moneyness="strike",
        expiration="1999-01-01-PM",
        option_type="straddle",
    )

    assert not at.error
    notes = _notes(at)
    assert len(notes) == 7, notes
    for name, value in (
        ("underlying", "'NO-SUCH'"),
        ("quote_date", "'2019-02-30'"),
        ("zero_bid", "'maybe'"),
        ("smile", "'2099-01-01-AM'"),
        ("moneyness", "'strike'"),
        ("expiration", "'1999-01-01-PM'"),
        ("option_type", "'straddle'"),
    ):
        assert any(f"`{name}`" in note and value in note for note in notes), name
    assert at.selectbox[0].value == "SPX" and at.selectbox[1].value == latest
    assert at.toggle[0].value is False and at.radio[1].value == "both"
    assert at.query_params["underlying"] == "SPX"  # the URL no longer holds the bad values
    assert at.query_params["quote_date"] == latest.isoformat()
    assert not {"zero_bid", "moneyness", "option_type"} & set(at.query_params)

    at.toggle[0].set_value(True).run()  # the notes are said once, not on every rerun
    assert not _notes(at)


@slow
def test_another_underlying_keeps_the_date_only_when_it_has_a_chain(real_published: Path) -> None:
    spx = queries.quote_dates(real_published, "SPX")
    at = _linked_page(underlying="SPX", quote_date=spx[-1].isoformat())  # 2011, iVolatility
    assert at.selectbox[1].value == spx[-1]

    at.selectbox[0].select("SPY").run()  # SPY has no 2011 chain: its latest
    assert not at.exception and not _notes(at)
    assert at.selectbox[1].value == queries.quote_dates(real_published, "SPY")[0]
    assert at.query_params["quote_date"] == at.selectbox[1].value.isoformat()
