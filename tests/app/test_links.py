"""app.links: deep links over ``st.query_params``, round-tripped through a SYNTHETIC one-widget
app (AppTest): read with defaults and validators (bad values noted on the page), seed the
widget once, write the selection back."""

from __future__ import annotations

import datetime as dt
import doctest
from collections.abc import Callable

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


def _run(app: Callable[[], None] = _app, /, **params: str | list[str]) -> AppTest:
    """Run the SYNTHETIC page ``app`` once with ``params`` in the URL; no exception."""
    at = AppTest.from_function(app, default_timeout=30)
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


# ---- keeping a single choice, seeding a date window (SYNTHETIC pages) ---------------------------


def _choice_app() -> None:
    """A SYNTHETIC page: one run picked among those in session state ``offer`` (default a, b, c;
    a test changes it as a publish would), the first one the default, the pick in ``?run=``."""
    import streamlit as st

    from app import links

    offer = st.session_state.get("offer", ["a", "b", "c"])
    links.keep_choice("pick", offer, offer[0])
    links.seed_value("pick", "run", offer[0], valid=offer.__contains__, what="run")
    st.selectbox("Run", offer, key="pick")


def test_keep_choice_resets_a_pick_no_longer_offered_synthetic() -> None:
    at = _run(_choice_app)
    at.selectbox(key="pick").select("c").run()
    assert at.selectbox(key="pick").value == "c"

    at.session_state["offer"] = ["b", "c", "d"]  # "c" still offered: kept
    at.run()
    assert at.selectbox(key="pick").value == "c"

    at.session_state["offer"] = ["a", "b"]  # "c" gone: the default, the first offered
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="pick").value == "a"
    assert not _notes(at)


def test_keep_choice_leaves_a_widget_without_state_to_the_link_synthetic() -> None:
    """No state yet (the page's first run): nothing is set, so the URL's value still seeds it."""
    at = _run(_choice_app, run="b")
    assert at.selectbox(key="pick").value == "b"
    assert not _notes(at)


FIRST, LAST = dt.date(2019, 4, 25), dt.date(2019, 7, 22)
DEFAULT_WINDOW = (dt.date(2019, 6, 3), dt.date(2019, 6, 14))


def _window_app() -> None:
    """A SYNTHETIC page: a date window of the underlying in session state ``owner`` (default
    SPX) within 2019-04-25..2019-07-22, default 2019-06-03..06-14, its ends in the URL."""
    import datetime as dt

    import streamlit as st

    from app import links

    owner = st.session_state.get("owner", "SPX")
    first, last = dt.date(2019, 4, 25), dt.date(2019, 7, 22)
    default = (dt.date(2019, 6, 3), dt.date(2019, 6, 14))
    links.seed_date_range("window", "window_of", owner, first, last, default, what=f"{owner} date")
    picked = st.date_input("Dates", min_value=first, max_value=last, key="window")
    st.write(f"picked={links.whole_range(picked)}")


def _window(at: AppTest) -> tuple[dt.date, ...]:
    return tuple(at.date_input(key="window").value)


def test_seed_date_range_defaults_and_reads_a_link_synthetic() -> None:
    assert _window(_run(_window_app)) == DEFAULT_WINDOW

    at = _run(_window_app, start="2019-05-01", end="2019-05-31")
    assert _window(at) == (dt.date(2019, 5, 1), dt.date(2019, 5, 31))
    assert "picked=(datetime.date(2019, 5, 1), datetime.date(2019, 5, 31))" in at.markdown[0].value
    assert not _notes(at)


@pytest.mark.parametrize(
    ("params", "window", "named"),
    [
        # a start before the first date: noted, the default start kept
        (
            {"start": "2019-01-02", "end": "2019-06-28"},
            (DEFAULT_WINDOW[0], dt.date(2019, 6, 28)),
            "not a valid SPX date from 2019-04-25 to 2019-07-22",
        ),
        # an end before the start: noted, the whole default
        ({"start": "2019-07-01", "end": "2019-05-01"}, DEFAULT_WINDOW, "before `start` 2019-07-01"),
    ],
)
def test_seed_date_range_notes_a_bad_link_synthetic(
    params: dict[str, str], window: tuple[dt.date, dt.date], named: str
) -> None:
    at = _run(_window_app, **params)
    assert _window(at) == window
    (note,) = _notes(at)
    assert named in note


def test_seed_date_range_keeps_a_pick_until_the_owner_changes_synthetic() -> None:
    at = _run(_window_app, start="2019-05-01", end="2019-05-31")
    at.date_input(key="window").set_value((dt.date(2019, 7, 1), dt.date(2019, 7, 22))).run()
    at.run()  # a rerun keeps the pick, the URL is not read again
    assert _window(at) == (dt.date(2019, 7, 1), dt.date(2019, 7, 22))

    at.session_state["owner"] = "SPY"  # another underlying starts from its own default
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert _window(at) == DEFAULT_WINDOW


def test_whole_range_synthetic() -> None:
    assert links.whole_range([FIRST, LAST]) == (FIRST, LAST)
    for half in ((FIRST,), (), None, FIRST):
        assert links.whole_range(half) is None
