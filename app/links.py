"""Deep links: a page's selection in the URL's query parameters, so a link reopens it.

A link such as ``…/compare?runs=bxm-432d1583d6e2&runs=put-03b97b663b32&baselines=hold:SPX``
opens the Compare page with those runs and that baseline chosen, and the address bar follows the
selection as it changes, so copying it shares the view. Parameters are plain strings; a list is
the parameter repeated (``?runs=a&runs=b``), as ``st.query_params`` and browsers write it.

API (pages call these before and after their widgets; nothing here touches DuckDB)
----------------------------------------------------------------------------------
:func:`read_value` ``(name, default, *, parse=str, valid=None, what="value") -> T``
    The last value of parameter ``name`` parsed with ``parse``, or ``default`` when it is
    absent, empty, fails to parse (``ValueError``/``TypeError``) or fails ``valid``. A value
    that is ignored puts a visible note on the page (:func:`note_ignored`).
:func:`read_list` ``(name, default, *, parse=str, allowed=None, valid=None, what="value",
max_values=50) -> list[T]``
    Every value of ``name`` (repeated parameter), parsed, deduplicated in order; values not in
    ``allowed`` (when given) or failing ``valid`` are dropped with one note naming them.
    ``default`` when the parameter is absent, or when every value was dropped; ``[]`` for an
    explicit empty value (``?runs=``), which clears the selection.
:func:`seed_widget` ``(key, value) -> bool``
    Put ``value`` in ``st.session_state[key]`` when the widget has no state yet (the page's
    first run in this browser session): call it before creating the widget with ``key=key``
    and **no** ``default``/``value`` argument. Later reruns keep what the user picked.
:func:`seed_list` ``(key, name, default, **read_list_kwargs) -> None`` and
:func:`seed_value` ``(key, name, default, **read_value_kwargs) -> None``
    :func:`seed_widget` with :func:`read_list` / :func:`read_value` of parameter ``name``, read
    only when the widget has no state yet: the URL is read once per page visit, so a value
    ignored there is noted once, and a later rerun (the user's own changes, a value
    removed after a delete) never re-reads a stale parameter.
:func:`keep_only` ``(key, allowed) -> None``
    Drop from a list-valued widget state the values no longer offered (a deleted run, a
    republished warehouse), before the widget is created.
:func:`keep_choice` ``(key, options, default) -> None``
    The same for a single-valued widget (selectbox, radio): its state becomes ``default``
    when its value is no longer among ``options`` (another underlying or date, a new publish).
:func:`seed_date_range` ``(key, owner_key, owner, first, last, default, *, what) -> None``
    Seed a date-range widget: the link's ``start``/``end`` on the page's first run, ``default``
    when the window was picked for another ``owner`` (an underlying) or no longer fits
    ``[first, last]``; :func:`whole_range` ``(picked) -> (start, end) | None`` reads the widget's
    value (``None`` while only one end is picked).
:func:`write` ``(params, *, defaults=None) -> None``
    Write the current selection back to the URL: ``None`` (or a value equal to
    ``defaults[name]``) removes the parameter; lists and tuples become repeated parameters
    (an empty one ``?name=``, which :func:`read_list` reads back as ``[]``); other values
    ``str(value)`` (dates: ISO). Only changed parameters are touched; parameters of other
    names are left alone.
:func:`url` ``(page, params) -> str``
    A relative link to another page with parameters, e.g. ``url("compare", {"runs": ids})``
    -> ``"compare?runs=a&runs=b"`` (the page's URL path is its file name without ``.py``), for
    ``st.markdown(f"[open in Compare]({links.url(...)})")``.
:func:`parse_date` ``(text) -> datetime.date``
    ISO ``YYYY-MM-DD`` parser for ``read_value``/``read_list`` (``ValueError`` otherwise).

Example (the Compare page)::

    options = runs["run_id"].to_list()
    picked = links.read_list("runs", options[:5], allowed=options, what="saved run")
    links.keep_only("compare_runs", options)
    links.seed_widget("compare_runs", picked)
    chosen = st.multiselect("Runs", options, key="compare_runs")
    links.write({"runs": chosen})

Why not Streamlit's own ``bind="query-params"`` (1.67): it drops a bad value silently (a reader
of a stale link would not know a run was deleted), names the parameter after the widget key,
and a bound parameter can no longer be set through ``st.query_params``; these helpers say what
they ignored and keep short, stable parameter names.

Every function reads or writes ``st.query_params`` and ``st.session_state`` of the current
script run only; values are never evaluated, only compared, parsed and echoed in bounded
excerpts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import streamlit as st

from warehouse.safe_yaml import excerpt

T = TypeVar("T")

#: Icon of the note an ignored parameter puts on the page.
NOTE_ICON = ":material/link_off:"


def parse_date(text: str) -> dt.date:
    """An ISO calendar date (``YYYY-MM-DD``).

    >>> parse_date("2019-06-21")
    datetime.date(2019, 6, 21)

    Raises
    ------
    ValueError
        Anything else, e.g. ``"21/06/2019"`` or ``"2019-02-30"``.
    """
    if not isinstance(text, str) or len(text) != 10:
        raise ValueError(f"expected a date YYYY-MM-DD, got {excerpt(text)}")
    return dt.date.fromisoformat(text)


def note_ignored(name: str, values: Sequence[str], reason: str) -> None:
    """Say on the page that the link's ``name`` values were ignored, and why."""
    shown = ", ".join(excerpt(v) for v in values[:5]) + (" …" if len(values) > 5 else "")
    st.warning(
        f"The link's `{name}` parameter had {shown}: {reason}, so it was ignored.",
        icon=NOTE_ICON,
    )


def _parsed(
    raw: str, parse: Callable[[str], T], valid: Callable[[T], bool] | None
) -> tuple[bool, T | None]:
    try:
        value = parse(raw)
    except (ValueError, TypeError):
        return False, None
    if valid is not None and not valid(value):
        return False, None
    return True, value


def read_value(
    name: str,
    default: T,
    *,
    parse: Callable[[str], T] = str,  # type: ignore[assignment]
    valid: Callable[[T], bool] | None = None,
    what: str = "value",
) -> T:
    """The parsed last value of query parameter ``name``, else ``default`` (see module doc).

    Parameters
    ----------
    name
        Query parameter name.
    default
        Returned when the parameter is absent, empty or ignored.
    parse
        ``str -> T``; raises ``ValueError``/``TypeError`` on a bad value.
    valid
        Extra check of the parsed value; ``False`` ignores it.
    what
        What a value is, for the note (``"run id"``, ``"date"``).
    """
    raw = st.query_params.get_all(name)
    if not raw or raw[-1] == "":
        return default
    ok, value = _parsed(raw[-1], parse, valid)
    if not ok:
        note_ignored(name, [raw[-1]], f"not a valid {what}")
        return default
    return value  # type: ignore[return-value]


def read_list(
    name: str,
    default: Sequence[T],
    *,
    parse: Callable[[str], T] = str,  # type: ignore[assignment]
    allowed: Collection[T] | None = None,
    valid: Callable[[T], bool] | None = None,
    what: str = "value",
    max_values: int = 50,
) -> list[T]:
    """The parsed values of repeated query parameter ``name`` (see module doc).

    Parameters
    ----------
    allowed
        The values a page offers (e.g. the saved run ids); others are dropped with a note.
    max_values
        Values beyond this many are dropped with a note (a link is not a bulk query).
    """
    raw = st.query_params.get_all(name)
    if not raw:
        return list(default)
    raw = [v for v in raw if v != ""]
    if not raw:
        return []
    kept: list[T] = []
    bad: list[str] = []
    for text in raw[:max_values]:
        ok, value = _parsed(text, parse, valid)
        if ok and (allowed is None or value in allowed):
            if value not in kept:
                kept.append(value)  # type: ignore[arg-type]
        else:
            bad.append(text)
    if bad:
        reason = f"not a {what} on offer" if allowed is not None else f"not a valid {what}"
        note_ignored(name, bad, reason)
    if len(raw) > max_values:
        note_ignored(name, raw[max_values:], f"more than {max_values} values")
    return kept if kept else list(default)


def seed_widget(key: str, value: Any) -> bool:
    """Set ``st.session_state[key] = value`` unless the widget already has state; ``True`` when
    it was set. Create the widget after this with ``key=key`` and no default."""
    if key in st.session_state:
        return False
    st.session_state[key] = value
    return True


def seed_list(key: str, name: str, default: Sequence[Any], **kwargs: Any) -> None:
    """Seed list-valued widget ``key`` from query parameter ``name`` (:func:`read_list` with
    ``kwargs``) when the widget has no state yet; otherwise do nothing (the URL is not read)."""
    if key not in st.session_state:
        st.session_state[key] = read_list(name, default, **kwargs)


def seed_value(key: str, name: str, default: Any, **kwargs: Any) -> None:
    """Seed widget ``key`` from query parameter ``name`` (:func:`read_value` with ``kwargs``)
    when the widget has no state yet; otherwise do nothing (the URL is not read)."""
    if key not in st.session_state:
        st.session_state[key] = read_value(name, default, **kwargs)


def keep_only(key: str, allowed: Collection[Any]) -> None:
    """Drop the values of list-valued widget state ``key`` that are not in ``allowed``.

    Call before the widget is created (Streamlit refuses changes to a created widget's state).
    """
    current = st.session_state.get(key)
    if isinstance(current, list) and any(v not in allowed for v in current):
        st.session_state[key] = [v for v in current if v in allowed]


def keep_choice(key: str, options: Collection[Any], default: Any) -> None:
    """Reset single-valued widget state ``key`` to ``default`` when its value is not in ``options``
    (another underlying or date offers other values, a publish removed one).

    Call before the widget is created (Streamlit refuses changes to a created widget's state). A
    widget without state is left alone, so a later :func:`seed_value` still reads the URL.
    """
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = default


def seed_date_range(
    key: str,
    owner_key: str,
    owner: str,
    first: dt.date,
    last: dt.date,
    default: tuple[dt.date, dt.date],
    *,
    what: str,
    names: tuple[str, str] = ("start", "end"),
) -> None:
    """Put a ``(start, end)`` window in date-range widget state ``key`` before it is created.

    In order: a window picked for another ``owner`` (e.g. the underlying it was picked for), or
    one with a day outside ``[first, last]``, becomes ``default``; a widget with state keeps it
    (the user's pick); on the page's first run (no state) the link's ``names`` parameters are read
    (:func:`read_value` of ISO dates within ``[first, last]``; an ``end`` before ``start`` is
    noted and both ignored), ``default`` standing in for what is absent or ignored.

    Parameters
    ----------
    key
        Widget key of an ``st.date_input`` over a range.
    owner_key
        Session-state key (not a widget) that remembers which ``owner`` the window is for.
    owner
        What the window belongs to (an underlying symbol).
    first, last
        The dates the widget offers, inclusive.
    default
        The window for a new owner, or when the link gives none.
    what
        What a date is, for a note on an ignored value (``"SPX date"`` reads "not a valid SPX
        date from 2019-04-25 to 2019-07-22").
    names
        Query parameters of the two ends.
    """
    previous = st.session_state.get(owner_key)
    st.session_state[owner_key] = owner
    current = st.session_state.get(key)
    if current is not None:
        if previous != owner or any(not first <= day <= last for day in current):
            st.session_state[key] = default  # a new owner starts from its own window
        return
    read = {
        "parse": parse_date,
        "valid": lambda day: first <= day <= last,
        "what": f"{what} from {first} to {last}",
    }
    start = read_value(names[0], default[0], **read)
    end = read_value(names[1], default[1], **read)
    if start > end:
        note_ignored(names[1], [end.isoformat()], f"before `{names[0]}` {start}")
        start, end = default
    st.session_state[key] = (start, end)


def whole_range(picked: Any) -> tuple[dt.date, dt.date] | None:
    """Both ends of an ``st.date_input`` range value, or ``None`` while one end is picked.

    >>> whole_range((dt.date(2019, 6, 3), dt.date(2019, 6, 14)))
    (datetime.date(2019, 6, 3), datetime.date(2019, 6, 14))
    >>> whole_range((dt.date(2019, 6, 3),)) is None
    True
    """
    if not isinstance(picked, tuple | list) or len(picked) != 2:
        return None
    return picked[0], picked[1]


def _as_strings(value: Any) -> list[str]:
    values = value if isinstance(value, list | tuple) else [value]
    return [v.isoformat() if isinstance(v, dt.date) else str(v) for v in values]


def write(params: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None) -> None:
    """Write ``params`` to the URL's query parameters (see module doc)."""
    defaults = defaults or {}
    for name, value in params.items():
        if value is None or (name in defaults and value == defaults[name]):
            if name in st.query_params:
                del st.query_params[name]
            continue
        strings = _as_strings(value)
        if isinstance(value, list | tuple) and not strings:
            strings, value = [""], ""  # an explicit empty selection: ?name=
        if st.query_params.get_all(name) != strings:
            st.query_params[name] = strings if isinstance(value, list | tuple) else strings[0]


def url(page: str, params: Mapping[str, Any]) -> str:
    """A relative link to ``page`` (its URL path) with ``params`` as query parameters.

    >>> url("compare", {"runs": ["a-1", "b 2"], "baselines": None})
    'compare?runs=a-1&runs=b+2'
    """
    query = {name: _as_strings(value) for name, value in params.items() if value is not None}
    encoded = urlencode(query, doseq=True)
    return quote(page) + (f"?{encoded}" if encoded else "")
