"""Attribution page: a strategy's P&L and win rate by the forecast in force at entry, and each
model's hit rate and lift by decile of its score.

Reads through :mod:`app.queries.attribution` (and :func:`app.queries.run_chains`, the option
chain each backtest traded) only. A backtest of a handful of trades is said to be one on the
page: its splits by decile and regime are anecdotes, not evidence. A backtest on the modeled
chain carries a "Modeled chain" badge: its P&L is model prices, not market fills. A backtest
whose trades have no P(up) decile (ungated, or gated on a regime model) gets a sentence saying
why instead of two empty decile charts (:func:`app.queries.attribution.no_decile_reason`).

Deep links (:mod:`app.links`): both choices live in the URL's query parameters, read when the
page opens and written back when they change, e.g.
``attribution?run=long_straddle-638dddea112f&model=logit_direction_5d``: ``run`` is a backtest
run id, ``model`` the model of the decile report by name (written while one run has that name)
or by run id. A value naming no run on offer is ignored with a note on the page.
"""

from __future__ import annotations

import duckdb
import polars as pl
import streamlit as st

import app.queries as backtest_queries
from app import links
from app.charts import attribution as charts
from app.formatting import fmt_int, fmt_pct
from app.page import BUILD_HINT, Published, run_page
from app.queries import attribution as queries

#: "schema.table" -> columns this page reads (checked before the body runs).
REQUIRED: dict[str, tuple[str, ...]] = dict(queries.REQUIRED)

DEFAULT_MODEL = "xgb_direction_5d"
# Widget keys (session state) of the two selectors, shared as ``?run=`` and ``?model=``.
RUN_KEY = "attribution_run"
MODEL_KEY = "attribution_model"


def resolve_model(text: str, runs: pl.DataFrame) -> str:
    """The decile run a link's ``model`` value names: a run id, or a ``model_name`` that one
    run of ``runs`` (``run_id``, ``model_name``) has.

    Raises
    ------
    ValueError
        When ``text`` is neither.
    """
    if text in set(runs.get_column("run_id")):
        return text
    named = runs.filter(pl.col("model_name") == text)
    if named.height != 1:
        raise ValueError(f"no decile report of model or run {text!r}")
    return named.item(0, "run_id")


def model_link_value(runs: pl.DataFrame, run_id: str) -> str:
    """The ``model`` parameter for ``run_id``: its model's name when no other run has it."""
    name = runs.filter(pl.col("run_id") == run_id).item(0, "model_name")
    return name if runs.filter(pl.col("model_name") == name).height == 1 else run_id


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_backtests(db: str, db_version: str) -> pl.DataFrame:
    return queries.backtest_runs(db)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_attribution_chains(db: str, db_version: str) -> pl.DataFrame:
    try:
        return backtest_queries.run_chains(db)
    except duckdb.CatalogException:  # no backtest.runs: nothing to label
        return pl.DataFrame(
            schema={
                "run_id": pl.String,
                "chain_source": pl.String,
                "chain_model_version": pl.String,
            }
        )


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_attribution(
    db: str, db_version: str, backtest_run_id: str
) -> queries.StrategyAttribution:
    return queries.strategy_attribution(db, backtest_run_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_decile_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.decile_runs(db)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_deciles(db: str, db_version: str, run_id: str) -> pl.DataFrame:
    return queries.forecast_deciles(db, run_id)


def _show_backtest(db: str, db_version: str) -> None:
    st.header("Strategy P&L by forecast")
    backtests = _cached_backtests(db, db_version)
    if backtests.is_empty():
        st.info(f"No backtest trades attributed to forecasts yet. {BUILD_HINT}")
        links.write({"run": None})
        return
    backtests = backtests.join(
        _cached_attribution_chains(db, db_version).rename({"run_id": "backtest_run_id"}),
        on="backtest_run_id",
        how="left",
    )
    labels = {
        row["backtest_run_id"]: f"{row['backtest_run_id']} · {row['strategy']} · "
        + (f"gated on {row['forecast_model']}" if row["forecast_model"] else "ungated")
        + f" · {backtest_queries.chain_label(row['chain_source'], row['chain_model_version'])}"
        for row in backtests.iter_rows(named=True)
    }
    options = list(labels)
    links.keep_choice(RUN_KEY, options, options[0])
    links.seed_value(
        RUN_KEY, "run", options[0], valid=options.__contains__, what="backtest run on offer"
    )
    backtest_run_id = st.selectbox(
        "Backtest run",
        options=options,
        format_func=labels.__getitem__,
        key=RUN_KEY,
        help="The address bar keeps this choice (`?run=`): copy it to share the view.",
    )
    links.write({"run": backtest_run_id})
    run = backtests.row(list(labels).index(backtest_run_id), named=True)
    if run["chain_source"] == "modeled":
        st.badge(
            f"Modeled chain · {run['chain_model_version'] or 'model unknown'}",
            icon=":material/science:",
            color="orange",
        )
    st.caption(backtest_queries.chain_caption(run["chain_source"], run["chain_model_version"]))
    n_trades = run["n_trades"] or 0
    tiles = [
        ("Trades", fmt_int(n_trades)),
        ("Winning trades", fmt_int(run["n_winning_trades"])),
        ("Win rate", fmt_pct(run["n_winning_trades"] / n_trades if n_trades else None, 1)),
        ("Total P&L", charts.fmt_usd_compact(run["total_pnl_usd"])),
        ("Commissions", charts.fmt_usd_compact(run["total_commission_usd"])),
    ]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    if n_trades < queries.FEW_TRADES:
        st.info(
            f"Only {n_trades} trade(s) in this backtest: the splits below describe what "
            "happened to these trades and say nothing significant about the forecasts. Every "
            "bar is labelled with its number of trades (`n=`).",
            icon=":material/info:",
        )
    match = run["forecast_run_match"]
    if run["forecast_model"]:
        gate = (
            f"Entries conditioned on `{run['forecast_model']}` "
            f"(`{run['forecast_model_version']}`); trades attributed to forecast run "
            f"`{run['forecast_run_id'] or 'none'}` (match: {match}). "
        )
    else:
        gate = "Entries not conditioned on any forecast (ungated). "
    st.caption(
        gate + "The decile is that of P(up) on the entry date among all the run's predictions; "
        "the regime is the one the selector's regime model predicted for that date. P&L is net "
        "of commission (tiles rounded; exact figures in the tooltips and the table below); a "
        "win is a trade with P&L > 0."
    )
    detail = _cached_attribution(db, db_version, backtest_run_id)
    if detail.by_decile.is_empty():
        st.info("This backtest has no attributed trades.")
        return
    st.subheader("By forecast decile")
    unattributed = detail.by_decile.filter(pl.col("forecast_decile").is_null())
    with_decile = detail.by_decile.filter(pl.col("forecast_decile").is_not_null())
    reason = queries.no_decile_reason(
        run["forecast_model"], match, int(with_decile["n_trades"].sum())
    )
    if reason is not None:
        st.info(reason, icon=":material/info:")
    else:
        left, right = st.columns(2)
        left.altair_chart(
            charts.pnl_by_group_chart(detail.by_decile, "forecast_decile"), width="stretch"
        )
        right.altair_chart(
            charts.win_rate_by_group_chart(detail.by_decile, "forecast_decile"), width="stretch"
        )
        st.caption(
            "Decile 1 holds the lowest P(up) forecasts, 10 the highest; empty deciles had no "
            "entry."
            + (
                f" {unattributed.item(0, 'n_trades')} trade(s) had no forecast on their entry "
                "date and are not drawn."
                if unattributed.height
                else ""
            )
        )
    st.subheader("By predicted regime")
    left, right = st.columns(2)
    left.altair_chart(
        charts.pnl_by_group_chart(detail.by_regime, "predicted_regime"), width="stretch"
    )
    right.altair_chart(
        charts.win_rate_by_group_chart(detail.by_regime, "predicted_regime"), width="stretch"
    )
    with st.expander("Decile × regime cells"):
        st.dataframe(
            detail.cells,
            hide_index=True,
            column_config={
                "total_pnl_usd": st.column_config.NumberColumn(format="dollar"),
                "mean_pnl_usd": st.column_config.NumberColumn(format="dollar"),
                "win_rate": st.column_config.NumberColumn(format="percent"),
                "mean_trade_return": st.column_config.NumberColumn(format="percent"),
                "mean_forecast_p_up": st.column_config.NumberColumn(format="percent"),
            },
        )


def _show_model_deciles(db: str, db_version: str) -> None:
    st.header("Forecast hit rate and lift by decile")
    runs = _cached_decile_runs(db, db_version)
    if runs.is_empty():
        st.info(f"No model has a decile report yet. {BUILD_HINT}")
        links.write({"model": None})
        return
    labels = {
        row["run_id"]: f"{row['model_name']} · {row['underlying_symbol']} · {row['run_id']}"
        for row in runs.iter_rows(named=True)
    }
    run_ids = list(labels)
    names = runs.get_column("model_name").to_list()
    default = run_ids[names.index(DEFAULT_MODEL) if DEFAULT_MODEL in names else 0]
    links.keep_choice(MODEL_KEY, run_ids, default)
    links.seed_value(
        MODEL_KEY,
        "model",
        default,
        parse=lambda text: resolve_model(text, runs),
        what="model name or run id with a decile report",
    )
    run_id = st.selectbox(
        "Model",
        options=run_ids,
        format_func=labels.__getitem__,
        key=MODEL_KEY,
        help="The address bar keeps this choice (`?model=`).",
    )
    links.write({"model": model_link_value(runs, run_id)})
    deciles = _cached_deciles(db, db_version, run_id)
    if deciles.is_empty():
        st.info("This model has no rows in `forecasts.rpt_forecast_deciles`.")
        return
    run = runs.row(run_ids.index(run_id), named=True)
    top = deciles.filter(pl.col("decile") == deciles.get_column("decile").max()).row(0, named=True)
    tiles = [
        ("Baseline hit rate", fmt_pct(top["baseline_hit_rate"], 1)),
        ("Top-decile hit rate", fmt_pct(top["hit_rate"], 1)),
        ("Top-decile lift", "n/a" if top["lift"] is None else f"{top['lift']:.2f}x"),
        ("Scored predictions", fmt_int(deciles.get_column("n_predictions").sum())),
    ]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, border=True)
    left, right = st.columns(2)
    left.altair_chart(charts.decile_hit_rate_chart(deciles), width="stretch")
    right.altair_chart(charts.decile_lift_chart(deciles), width="stretch")
    score = {"binary": "P(up)", "regression": "forecast return", "multiclass": "P(HIGH regime)"}
    st.caption(
        f"Walk-forward (out-of-sample) predictions of `{run['model_name']}` with a realized "
        f"outcome, in ten equal groups by {score.get(run['task'], 'score')}. A model that ranks "
        "well has hit rates rising from decile 1 to 10 and a lift above 1 at the top; a flat "
        "profile around the dashed baseline means the score does not sort outcomes."
    )
    with st.expander("Decile table"):
        st.dataframe(
            deciles,
            hide_index=True,
            column_config={
                column: st.column_config.NumberColumn(format="percent")
                for column in (
                    "hit_rate",
                    "baseline_hit_rate",
                    "mean_realized_return",
                    "baseline_mean_realized_return",
                    "excess_realized_return",
                )
            },
        )


def body(published: Published) -> None:
    """Draw the page from the published warehouse."""
    db, db_version = published.key
    _show_backtest(db, db_version)
    _show_model_deciles(db, db_version)


run_page("Attribution", REQUIRED, body)
