"""Forecasts page: the underlying-level predictions and the strategy selector's signals by date.

Choose an underlying, a direction model and a regime model (current runs) and a date range: the
latest live forecast as tiles, P(up) against the decision threshold, the regime probabilities,
walk-forward and live dates told apart, and the selector's decisions with their reasons. Reads
through :mod:`app.queries.forecasts` only.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

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
SELECTOR_CUT = 0.5  # the selector calls UP at p_up >= 0.5, whatever the run's threshold


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.forecast_runs(db)


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


def _pick_run(runs: pl.DataFrame, family: str, label: str, column) -> dict | None:
    """A run selector over the runs of one family; ``None`` (and a note) when there are none."""
    candidates = runs.filter(pl.col("family") == family)
    if candidates.is_empty():
        column.info(f"No current `{family}` run for this underlying.")
        return None
    names = candidates.get_column("model_name").to_list()
    default = DEFAULT_MODELS[family]
    name = column.selectbox(
        label, options=names, index=names.index(default) if default in names else 0
    )
    return candidates.row(names.index(name), named=True)


def _show_latest(window: queries.ForecastWindow, threshold: float | None) -> None:
    if window.latest_direction.is_empty() and window.latest_regime.is_empty():
        st.subheader("Latest live forecast")
        st.info("No live predictions for these runs (live dates are those without an outcome yet).")
        return
    latest = window.latest_direction if window.latest_direction.height else window.latest_regime
    st.subheader(f"Latest live forecast: {latest.item(0, 'as_of_date')}")
    # (label, value, note under the tile, relative width): the strategy name needs room
    tiles: list[tuple[str, str, str | None, float]] = []
    if window.latest_direction.height:
        row = window.latest_direction.row(0, named=True)
        versus = f"threshold {fmt_pct(threshold, 1)}" if threshold is not None else None
        tiles.append(("P(up)", fmt_pct(row["p_up"], 1), versus, 1.0))
        tiles.append(("Model call", row["predicted_label"], "at the run's threshold", 1.0))
    if window.latest_regime.height:
        row = window.latest_regime.row(0, named=True)
        note = f"probability {fmt_pct(row['regime_probability'], 1)}"
        tiles.append(("Regime in 5 days", row["regime"], note, 1.2))
    if window.latest_signal.height:
        row = window.latest_signal.row(0, named=True)
        note = f"size {row['size_tier']}, for {row['as_of_date']}"
        tiles.append(("Selector", row["strategy"], note, 2.4))
    columns = st.columns([width for *_, width in tiles])
    for column, (label, value, note, _) in zip(columns, tiles, strict=True):
        column.metric(label, value, border=True)
        if note:
            column.caption(note)
    if window.latest_signal.height:
        st.caption(f"Selector reason: {window.latest_signal.item(0, 'reason')}")


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
        "Walk-forward (blue) dates are out-of-sample test predictions with a known outcome; live "
        "(orange) dates are the latest ones, outcome not yet known. The model calls UP above its "
        f"tuned decision threshold ({fmt_pct(run['decision_threshold'], 1)}); the strategy "
        f"selector uses a symmetric {fmt_pct(SELECTOR_CUT, 0)} cut and sizes by confidence."
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
        "dashed `live` rule have no outcome yet."
    )


def _show_signals(window: queries.ForecastWindow) -> None:
    st.subheader(f"Strategy selector signals ({window.signals.height})")
    if window.signals.is_empty():
        st.info("The strategy selector made no decision in this date range.")
        return
    first = window.signals.row(0, named=True)
    st.dataframe(
        window.signals.drop("direction_model_name", "regime_model_name"),
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
        "is that of its direction forecast."
    )


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    db, db_version = published.key
    runs = _cached_runs(db, db_version)
    if runs.is_empty():
        st.info(f"The warehouse has no current direction or regime model runs. {BUILD_HINT}")
        return
    underlyings = sorted(set(runs.get_column("underlying_symbol")))
    underlying = st.selectbox("Underlying", options=underlyings)
    runs = runs.filter(pl.col("underlying_symbol") == underlying)
    left, right = st.columns(2)
    direction_run = _pick_run(runs, queries.DIRECTION_FAMILY, "Direction model", left)
    regime_run = _pick_run(runs, queries.REGIME_FAMILY, "Regime model", right)
    chosen = [run for run in (direction_run, regime_run) if run is not None]
    if not chosen:
        return
    first = min(run["first_date"] for run in chosen)
    last = max(run["last_date"] for run in chosen)
    dates = st.date_input(
        "As-of dates",
        value=(max(first, last - dt.timedelta(days=DEFAULT_RANGE_DAYS)), last),
        min_value=first,
        max_value=last,
        key=f"forecasts-dates-{underlying}",
    )
    if not isinstance(dates, tuple | list) or len(dates) != 2:
        st.info("Choose the end of the date range.")
        return
    start, end = dates
    window = _cached_window(
        db,
        db_version,
        underlying,
        direction_run["run_id"] if direction_run else None,
        regime_run["run_id"] if regime_run else None,
        start,
        end,
    )
    _show_latest(window, direction_run["decision_threshold"] if direction_run else None)
    _show_direction(window, direction_run)
    _show_regime(window, regime_run)
    _show_signals(window)


run_page("Forecasts", REQUIRED, body)
