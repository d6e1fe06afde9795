"""Forecasts page: the underlying-level predictions and the strategy selector's signals by date.

Choose an underlying, a direction model and a regime model (current runs) and a date range: the
latest forecast as tiles, P(up) against the decision threshold, the regime probabilities,
walk-forward and pending dates told apart, and the selector's decisions with their reasons.
Reads through :mod:`app.queries.forecasts` only.

Three rules keep the page honest:

- One direction call. The strategy selector calls UP at ``p_up >= 0.5``
  (``models_sql/models/forecasts/fct_strategy_signals.sql``), whatever the run's tuned decision
  threshold; the model's own label (``predicted_label``) uses that threshold. The tiles show the
  call the selector trades, and when the two disagree (P(up) between 50 % and the threshold) a
  warning says so, instead of a "DOWN" tile beside an "UP" selector at the same probability.
- "Pending", not "live": the latest predictions are those whose outcome lies after the data's
  last session (:attr:`app.queries.forecasts.ForecastWindow.last_session`); the page names that
  session and never compares it with today's date.
- Skill first: when the model the selector trades on (or the one chosen) has an out-of-sample
  AUC at or below 0.5, or a 95 % interval reaching 0.5 (:func:`app.queries.forecasts.lacks_skill`),
  a warning stands above the tiles and the signals.

Deep links (:mod:`app.links`): the view lives in the URL's query parameters, read when the page
opens and written back as the selection changes, e.g.
``forecasts?underlying=SPX&direction_model=logit_direction_5d&start=2020-01-02&end=2020-12-31``.

=================== ===================================================================
``underlying``      underlying of the current runs (default the first)
``direction_model`` ``model_name`` of a current direction run (default xgb_direction_5d)
``regime_model``    ``model_name`` of a current regime run (default xgb_iv_regime_5d)
``start``, ``end``  ISO as-of dates of the window, within the runs' dates (default the last
                    365 days)
=================== ===================================================================

A value the warehouse does not offer is ignored with a note on the page. Another underlying
starts from its own default window.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from app import links
from app.charts import forecasts as charts
from app.formatting import fmt_pct
from app.page import BUILD_HINT, Published, run_page
from app.queries import forecasts as queries

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = dict(queries.REQUIRED)

#: The selector's models (dbt vars selector_direction_model / selector_regime_model defaults).
DEFAULT_MODELS = {
    queries.DIRECTION_FAMILY: "xgb_direction_5d",
    queries.REGIME_FAMILY: "xgb_iv_regime_5d",
}
DEFAULT_RANGE_DAYS = 365
#: The selector calls UP at p_up >= 0.5, whatever the run's threshold (fct_strategy_signals.sql).
SELECTOR_CUT = queries.SELECTOR_CUT
#: Display of the warehouse's prediction kinds in the signals table.
KIND_NAMES = {"walk_forward": "walk-forward", "live": "pending"}

# Widget keys (session state) and the query parameters (app.links) they are shared through.
UNDERLYING_KEY = "forecasts_underlying"
MODEL_KEYS = {
    queries.DIRECTION_FAMILY: "forecasts_direction_model",
    queries.REGIME_FAMILY: "forecasts_regime_model",
}
MODEL_PARAMS = {queries.DIRECTION_FAMILY: "direction_model", queries.REGIME_FAMILY: "regime_model"}
RANGE_KEY = "forecasts_dates"
RANGE_OF_KEY = "forecasts_dates_of"  # not a widget: the underlying the window was picked for
#: Query parameters of a link to this page (a name not written in a run is removed).
LINK_PARAMS = ("underlying", *MODEL_PARAMS.values(), "start", "end")


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_forecast_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.forecast_runs(db)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_skill(db: str, db_version: str, run_ids: tuple[str, ...]) -> pl.DataFrame:
    return queries.model_skill(db, list(run_ids))


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_window(
    db: str,
    db_version: str,
    underlying: str,
    direction_run_id: str | None,
    regime_run_id: str | None,
    start: dt.date,
    end: dt.date,
) -> queries.ForecastWindow:
    return queries.forecast_window(db, underlying, direction_run_id, regime_run_id, start, end)


def _seed_model(runs: pl.DataFrame, family: str) -> None:
    """Put the link's (or the default) model of ``family`` in its selector's state; called
    before the selectors' columns, so that a note on an ignored value stands above them."""
    names = runs.filter(pl.col("family") == family).get_column("model_name").to_list()
    if not names:
        return
    default = DEFAULT_MODELS[family] if DEFAULT_MODELS[family] in names else names[0]
    links.keep_choice(MODEL_KEYS[family], names, default)
    links.seed_value(
        MODEL_KEYS[family],
        MODEL_PARAMS[family],
        default,
        valid=names.__contains__,
        what=f"current {family} model of this underlying",
    )


def _pick_run(
    runs: pl.DataFrame, family: str, label: str, column, shared: dict[str, object]
) -> dict | None:
    """A run selector over the runs of one family (seeded by :func:`_seed_model`); ``None``
    (and a note) when there are none."""
    candidates = runs.filter(pl.col("family") == family)
    if candidates.is_empty():
        column.info(f"No current `{family}` run for this underlying.")
        return None
    names = candidates.get_column("model_name").to_list()
    name = column.selectbox(label, options=names, key=MODEL_KEYS[family])
    shared[MODEL_PARAMS[family]] = name
    return candidates.row(names.index(name), named=True)


def _pick_window(underlying: str, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    """The as-of window: the link's ``start``/``end`` on the page's first run, the last
    :data:`DEFAULT_RANGE_DAYS` days for a new underlying; ``None`` while half picked."""
    default = (max(first, last - dt.timedelta(days=DEFAULT_RANGE_DAYS)), last)
    links.seed_date_range(
        RANGE_KEY, RANGE_OF_KEY, underlying, first, last, default, what="as-of date"
    )
    dates = st.date_input(
        "As-of dates", min_value=first, max_value=last, format="YYYY-MM-DD", key=RANGE_KEY
    )
    return links.whole_range(dates)


def _latest_heading(latest_date: dt.date, last_session: dt.date | None) -> str:
    if last_session is None or latest_date == last_session:
        return f"Latest forecast: {latest_date:%Y-%m-%d}, the last session in the data"
    return (
        f"Latest forecast: {latest_date:%Y-%m-%d} (the data's last session is "
        f"{last_session:%Y-%m-%d})"
    )


def _show_latest(window: queries.ForecastWindow, run: dict | None) -> None:
    if window.latest_direction.is_empty() and window.latest_regime.is_empty():
        st.subheader("Latest forecast")
        st.info(
            "No pending predictions for these runs (pending: the latest as-of dates, whose "
            "outcome lies after the last session in the data)."
        )
        return
    latest = window.latest_direction if window.latest_direction.height else window.latest_regime
    st.subheader(_latest_heading(latest.item(0, "as_of_date"), window.last_session))
    # (label, value, note under the tile, relative width): the strategy name needs room
    tiles: list[tuple[str, str, str | None, float]] = []
    direction = (
        window.latest_direction.row(0, named=True) if window.latest_direction.height else None
    )
    if direction is not None:
        model = run["model_name"] if run else "the chosen model"
        tiles.append(("P(up)", fmt_pct(direction["p_up"], 1), f"`{model}`", 1.0))
        tiles.append(
            (
                "Direction call",
                queries.direction_call(direction["p_up"]),
                f"P(up) against the selector's {fmt_pct(SELECTOR_CUT, 0)} cut",
                1.2,
            )
        )
    if window.latest_regime.height:
        row = window.latest_regime.row(0, named=True)
        note = f"probability {fmt_pct(row['regime_probability'], 1)}"
        tiles.append(("Regime in 5 days", row["regime"], note, 1.2))
    signal = window.latest_signal.row(0, named=True) if window.latest_signal.height else None
    if signal is not None:
        note = (
            f"size {signal['size_tier']}, for {signal['as_of_date']:%Y-%m-%d}; trades "
            f"{signal['direction_forecast']} on `{signal['direction_model_name']}`'s P(up) "
            f"{fmt_pct(signal['p_up'], 1)}"
        )
        tiles.append(("Selector", signal["strategy"], note, 2.4))
    columns = st.columns([width for *_, width in tiles])
    for column, (label, value, note, _) in zip(columns, tiles, strict=True):
        column.metric(label, value, border=True)
        if note:
            column.caption(note)
    if signal is not None:
        st.caption(f"Selector reason: {signal['reason']}")
    if direction is not None and run is not None:
        _explain_threshold(direction, run)
    if signal is not None and run is not None and signal["direction_run_id"] != run["run_id"]:
        st.info(
            f"The selector trades on `{signal['direction_model_name']}` (P(up) "
            f"{fmt_pct(signal['p_up'], 1)}: {signal['direction_forecast']}), not on "
            f"`{run['model_name']}` chosen above.",
            icon=":material/info:",
        )
    if window.last_session is not None:
        st.caption(
            f"Pending forecasts are the latest as-of dates, whose "
            f"{run['horizon_days'] if run else 5}-session outcome lies after "
            f"{window.last_session:%Y-%m-%d}, the last session in the data: they are as old as "
            "the data, not forecasts for today."
        )


def _explain_threshold(direction: dict, run: dict) -> None:
    """Warn when the model's own label (tuned threshold) and the traded call disagree."""
    threshold = run["decision_threshold"]
    own = direction["predicted_label"]
    traded = queries.direction_call(direction["p_up"])
    if threshold is None or own is None or own == traded:
        return
    low, high = sorted((SELECTOR_CUT, threshold))
    st.warning(
        f"At its tuned decision threshold ({fmt_pct(threshold, 1)}) `{run['model_name']}` labels "
        f"this date {own}; the strategy selector ignores that threshold and calls {traded} at "
        f"its symmetric {fmt_pct(SELECTOR_CUT, 0)} cut, on the same P(up) "
        f"{fmt_pct(direction['p_up'], 1)}. The two calls disagree whenever P(up) lies between "
        f"{fmt_pct(low, 1)} and {fmt_pct(high, 1)}; the tiles show the call that is traded.",
        icon=":material/call_split:",
    )


def _show_direction(window: queries.ForecastWindow, run: dict | None) -> None:
    st.subheader("Direction: P(up)")
    if run is None or window.direction.is_empty():
        st.info("No direction predictions in this date range.")
        return
    thresholds = {"decision threshold": run["decision_threshold"], "selector cut": SELECTOR_CUT}
    st.altair_chart(charts.p_up_chart(window.direction, thresholds), width="stretch")
    per = "per day" if window.bucket == "day" else "averaged per week (a long range)"
    st.caption(
        f"`{run['model_name']}`'s probability that the underlying is up 5 sessions later, {per}. "
        "Walk-forward (blue) dates are out-of-sample test predictions with a known outcome; "
        "pending (orange) dates are the latest ones, whose outcome falls after the last session "
        "in the data. The model's own label is UP above its tuned decision threshold "
        f"({fmt_pct(run['decision_threshold'], 1)}); the strategy selector trades UP at P(up) "
        f">= {fmt_pct(SELECTOR_CUT, 0)} and sizes by confidence."
    )


def _show_regime(window: queries.ForecastWindow, run: dict | None) -> None:
    st.subheader("Implied-vol regime")
    if run is None or window.regime.is_empty():
        st.info("No regime predictions in this date range.")
        return
    st.altair_chart(charts.regime_chart(window.regime), width="stretch")
    st.caption(
        f"`{run['model_name']}`'s probabilities that implied vol is in its LOW, NORMAL or HIGH "
        "regime (by IV rank) 5 sessions later; the bands add up to 100 %. Dates right of the "
        "dashed `pending` rule have no outcome in the data yet."
    )


def _show_signals(window: queries.ForecastWindow, selector_warning: str | None) -> None:
    """The selector's decisions; ``selector_warning`` (short) stands above them when set."""
    st.subheader(f"Strategy selector signals ({window.signals.height})")
    if window.signals.is_empty():
        st.info("The strategy selector made no decision in this date range.")
        return
    if selector_warning:
        st.warning(selector_warning, icon=":material/warning:")
    first = window.signals.row(0, named=True)
    table = window.signals.drop("direction_model_name", "regime_model_name").with_columns(
        pl.col("prediction_kind").replace(KIND_NAMES)
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "as_of_date": st.column_config.DateColumn("as_of_date", format="YYYY-MM-DD"),
            "p_up": st.column_config.NumberColumn("p_up", format="percent"),
            "direction_confidence": st.column_config.NumberColumn(
                "direction_confidence", format="percent"
            ),
            "regime_probability": st.column_config.NumberColumn(
                "regime_probability", format="percent"
            ),
            "reason": st.column_config.TextColumn("reason", width="large"),
        },
    )
    st.caption(
        f"One row per as-of date, newest first: the option strategy to open at that close, held "
        f"5 sessions. The selector always reads `{first['direction_model_name']}` and "
        f"`{first['regime_model_name']}`, whichever models are chosen above; `prediction_kind` "
        "is that of its direction forecast (`pending`: outcome after the data's end)."
    )


def _skill_warnings(
    db: str, db_version: str, window: queries.ForecastWindow, direction_run: dict | None
) -> str | None:
    """Warn above the tiles about models without skill; return the selector's warning."""
    signal = window.latest_signal.row(0, named=True) if window.latest_signal.height else {}
    selector_direction = signal.get("direction_run_id")
    selector_regime = signal.get("regime_run_id")
    chosen = direction_run["run_id"] if direction_run else None
    run_ids = tuple(sorted({r for r in (selector_direction, selector_regime, chosen) if r}))
    if not run_ids:
        return None
    skill = {
        row["run_id"]: row for row in _cached_skill(db, db_version, run_ids).iter_rows(named=True)
    }
    roles = [
        (selector_direction, "The strategy selector trades on"),
        (selector_regime, "The strategy selector picks its strategy by the regime of"),
    ]
    if chosen not in (selector_direction, selector_regime):
        roles.append((chosen, "The chosen direction model is"))
    selector_warning = None
    for run_id, role in roles:
        text = queries.skill_warning(skill[run_id], role) if run_id in skill else None
        if text:
            st.warning(text, icon=":material/warning:")
            if run_id in (selector_direction, selector_regime):
                selector_warning = selector_warning or text
    return selector_warning


def body(published: Published) -> None:
    """Draw the page from the published warehouse; the selection goes to the URL (see the
    module docstring)."""
    shared: dict[str, object] = dict.fromkeys(LINK_PARAMS)
    try:
        _draw(published, shared)
    finally:
        links.write(shared)


def _draw(published: Published, shared: dict[str, object]) -> None:
    db, db_version = published.key
    runs = _cached_forecast_runs(db, db_version)
    if runs.is_empty():
        st.info(f"The warehouse has no current direction or regime model runs. {BUILD_HINT}")
        return
    underlyings = sorted(set(runs.get_column("underlying_symbol")))
    links.keep_choice(UNDERLYING_KEY, underlyings, underlyings[0])
    links.seed_value(
        UNDERLYING_KEY,
        "underlying",
        underlyings[0],
        valid=underlyings.__contains__,
        what="underlying with current model runs",
    )
    underlying = st.selectbox("Underlying", options=underlyings, key=UNDERLYING_KEY)
    shared["underlying"] = underlying
    runs = runs.filter(pl.col("underlying_symbol") == underlying)
    for family in MODEL_KEYS:
        _seed_model(runs, family)
    left, right = st.columns(2)
    direction_run = _pick_run(runs, queries.DIRECTION_FAMILY, "Direction model", left, shared)
    regime_run = _pick_run(runs, queries.REGIME_FAMILY, "Regime model", right, shared)
    chosen = [run for run in (direction_run, regime_run) if run is not None]
    if not chosen:
        return
    first = min(run["first_date"] for run in chosen)
    last = max(run["last_date"] for run in chosen)
    window = _pick_window(underlying, first, last)
    if window is None:
        del shared["start"], shared["end"]  # half a window: the URL keeps the last whole one
        st.info("Choose the end of the date range.")
        return
    start, end = window
    shared.update(start=start, end=end)
    window = _cached_window(
        db,
        db_version,
        underlying,
        direction_run["run_id"] if direction_run else None,
        regime_run["run_id"] if regime_run else None,
        start,
        end,
    )
    selector_warning = _skill_warnings(db, db_version, window, direction_run)
    _show_latest(window, direction_run)
    _show_direction(window, direction_run)
    _show_regime(window, regime_run)
    short = None
    if selector_warning:
        short = (
            "These signals come from a model without demonstrated out-of-sample skill (see "
            "the warning at the top of the page)."
        )
    _show_signals(window, short)


run_page("Forecasts", REQUIRED, body)
