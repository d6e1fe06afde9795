"""app.links: deep links over ``st.query_params``, round-tripped through a SYNTHETIC one-widget
app (AppTest): read with defaults and validators (bad values noted on the page), seed the
widget once, write the selection back."""

from __future__ import annotations

import datetime as dt
import doctest

import pytest
from streamlit.testing.v1 import AppTest

from app import links


def _app() -> None:
    """A SYNTHETIC page: runs a, b, c (default a) and an optional date, both in the URL."""
    import datetime as dt

    import streamlit as st

    from app import links

    links.keep_only("picked", ["a", "b", "c"])
    links.seed_list("picked", "runs", ["a"], allowed=["a", "b", "c"], what="run")
    chosen = st.multiselect("Runs", ["a", "b", "c"], key="picked")
    day = links.read_value(
        "day",
        None,
        parse=links.parse_date,
        valid=lambda d: d.year >= 2000,
        what="date from 2000 on",
    )
    st.write(f"day={day}")
    links.write({"runs": chosen, "day": day}, defaults={"day": dt.date(2019, 6, 21)})


def _run(**params: str | list[str]) -> AppTest:
    at = AppTest.from_function(_app, default_timeout=30)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def test_doctests() -> None:
    assert doctest.testmod(links).failed == 0


def test_no_parameters_give_the_defaults_and_write_them() -> None:
    at = _run()

    assert at.multiselect(key="picked").value == ["a"]
    assert not _notes(at)
    assert at.query_params == {"runs": "a"}  # a list of one collapses to str in AppTest


def test_a_link_selects_and_a_bad_value_is_noted_and_dropped() -> None:
    at = _run(runs=["c", "zz", "a", "c"])

    assert at.multiselect(key="picked").value == ["c", "a"]  # order kept, duplicate dropped
    (note,) = _notes(at)
    assert "`runs`" in note and "'zz'" in note and "not a run on offer" in note
    assert at.query_params["runs"] == ["c", "a"]  # the URL no longer holds the bad value


def test_only_bad_values_fall_back_to_the_default() -> None:
    at = _run(runs=["x' or '1'='1"])

    assert at.multiselect(key="picked").value == ["a"]
    assert "x' or '1'='1" in _notes(at)[0]


def test_an_empty_parameter_clears_the_selection_and_round_trips() -> None:
    at = _run(runs="")

    assert at.multiselect(key="picked").value == []
    assert at.query_params["runs"] == ""  # written back as ?runs=, read again as []


def test_the_widget_writes_its_value_back_and_the_url_is_read_once() -> None:
    at = _run(runs=["b"])

    at.multiselect(key="picked").set_value(["a", "c"]).run()

    assert at.query_params["runs"] == ["a", "c"]
    # a rerun keeps the user's choice: the URL is not read again (nothing to note)
    at.run()
    assert at.multiselect(key="picked").value == ["a", "c"]
    assert not _notes(at)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("21/06/2019", "not a valid date from 2000 on"), ("1999-12-31", "not a valid date")],
)
def test_a_bad_scalar_is_noted_and_the_default_used(raw: str, reason: str) -> None:
    at = _run(day=raw)

    assert "day=None" in at.markdown[0].value
    (note,) = _notes(at)
    assert "`day`" in note and raw in note and reason in note
    assert "day" not in at.query_params  # None: removed from the URL


def test_a_good_scalar_is_read_and_its_default_is_not_written() -> None:
    at = _run(day="2019-07-19")
    assert "day=2019-07-19" in at.markdown[0].value
    assert at.query_params["day"] == "2019-07-19"

    at = _run(day="2019-06-21")  # the default: the URL is kept clean
    assert "day=2019-06-21" in at.markdown[0].value
    assert "day" not in at.query_params


def test_parse_date_refuses_what_is_not_iso() -> None:
    assert links.parse_date("2019-06-21") == dt.date(2019, 6, 21)
    for bad in ("2019-6-21", "2019-02-30", "20190621", ""):
        with pytest.raises(ValueError):
            links.parse_date(bad)


def test_url_encodes_lists_dates_and_skips_none() -> None:
    url = links.url("compare", {"runs": ["a&b", "c"], "day": dt.date(2019, 6, 21), "x": None})
    assert url == "compare?runs=a%26b&runs=c&day=2019-06-21"
    assert links.url("chains", {}) == "chains"
