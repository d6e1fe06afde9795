"""Backtest page: the saved runs of the warehouse, and new runs from a form over the catalogue.

Two tabs:

- **Saved runs**: pick a run of ``backtest.runs``; the option chain it traded (a run on the
  modeled chain carries a "Modeled chain" badge and says its quotes are model prices), its
  metrics, equity and drawdown, rolling Sharpe, greeks exposure, trades, legs and configuration.
- **New run**: a form that builds a config from the strategy catalogue (defaults: the default
  config ``engine/configs/long_straddle_spx.yaml``), runs the engine on the published warehouse
  (read-only, :mod:`app.backtest_runner`) with a step-by-step status, shows the same views, and
  can save the run (build database under the pipeline lock, then publish) so other pages see it.

Reads the published warehouse through :mod:`app.queries` only; a missing warehouse or missing
``backtest`` tables is explained on the page by :func:`app.page.run_page`.
"""

from __future__ import annotations

from typing import get_args

import polars as pl
import streamlit as st

from app import backtest_runner as runner
from app import charts, queries
from app.db import missing_columns
from app.formatting import fmt_usd, metric_tiles, table_config
from app.page import BUILD_HINT, Published, run_page
from engine.config import ConfigError, FillModel, Schedule, SignalKind, SizingMode
from engine.io import MissingTableError
from engine.strategies import StrategySpec, load_catalogue
from warehouse.paths import WarehousePaths

OUTCOME_KEY = "backtest_outcome"  # the last new run (runner.RunOutcome), until replaced
NOTICE_KEY = "backtest_save_notice"  # a save's success message, shown once after the rerun
PENDING_KEY = "backtest_select_next"  # run id the saved-runs picker selects on the next run
RUN_PICKER_KEY = "saved_run"

# Labels of the engine's choices (engine/config.py); the options themselves come from the
# engine's types, so a choice it adds shows up here (under its own name until labelled).
_LABELS = {
    "daily": "Daily",
    "weekly": "Weekly (on a weekday)",
    "monthly_expiration": "Monthly (after each 3rd-Friday expiration)",
    "none": "None: every scheduled day",
    "prob_up_at_least": "p_up at least the threshold",
    "prob_up_at_most": "p_up at most the threshold",
    "regime_in": "IV-regime model: probability of the listed regimes at least the threshold",
    "selector": "Strategy selector picks this strategy",
    "top_k": "Top k contracts by model score (single leg)",
    "fixed": "Fixed lots",
    "premium_fraction": "Fraction of equity (premium)",
    "risk_fraction": "Capital at risk (fraction of equity)",
    "mid": "Mid",
    "touch": "Touch (ask to buy, bid to sell)",
    "mid_slippage": "Mid ± slippage bps",
    "spread_fraction": "Mid ± fraction of the half spread",
}


def _choices(kind: object) -> dict[str, str]:
    return {value: _LABELS.get(value, value) for value in get_args(kind)}


SCHEDULES = _choices(Schedule)
# regime_in needs entry.regimes, a list the form does not edit: a YAML config sets it
SIGNALS = {k: v for k, v in _choices(SignalKind).items() if k != "regime_in"}
SIZING = _choices(SizingMode)
FILLS = _choices(FillModel)

# Results are cached per (database path, file version): a publish os.replace()s the file, which
# changes its inode and mtime and so invalidates the cache. Connections themselves are never cached.


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_runs(db: str, db_version: str) -> pl.DataFrame:
    return queries.list_runs(db)


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_run_detail(db: str, db_version: str, run_id: str) -> queries.RunDetail:
    return queries.run_detail(db, run_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_chains(db: str, db_version: str) -> pl.DataFrame:
    return queries.run_chains(db)


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_choices(db: str, db_version: str, underlying: str) -> queries.BacktestChoices:
    return queries.backtest_choices(db, underlying)


# ---- one run, saved or new ----------------------------------------------------------------------


def _run_label(run: dict[str, object]) -> str:
    """Selector label of one row of :func:`app.queries.list_runs` (with its ``chain_source``
    and ``chain_model_version`` from :func:`app.queries.run_chains`)."""
    return (
        f"{run['run_id']} · {run['strategy']} · {run['underlying_symbol']} · "
        f"{run['forecast_model']} {run['model_version']} · "
        f"{queries.chain_label(run.get('chain_source'), run.get('chain_model_version'))}"
    )


def _show_chain(chain_source: str | None, chain_model_version: str | None) -> None:
    """Which option chain the run traded; a modeled one is flagged with a badge."""
    if chain_source == "modeled":
        st.badge(
            f"Modeled chain · {chain_model_version or 'model unknown'}",
            icon=":material/science:",
            color="orange",
        )
    st.caption(queries.chain_caption(chain_source, chain_model_version))


def _show_metrics(metrics: pl.DataFrame) -> None:
    if metrics.is_empty():
        st.warning("This run has no row in `backtest.metrics`. " + BUILD_HINT)
        return
    row = metrics.row(0, named=True)
    tiles = metric_tiles(row)
    per_row = 4  # seven tiles on one row truncate their values beside the sidebar
    for start in range(0, len(tiles), per_row):
        row_tiles = tiles[start : start + per_row]
        for column, (label, value) in zip(st.columns(per_row), row_tiles, strict=False):
            column.metric(label, value, border=True)
    st.caption(
        f"{row['first_date']} → {row['last_date']} · "
        f"average trade P&L {fmt_usd(row['avg_trade_pnl_usd'])}"
    )


def _show_equity(equity: pl.DataFrame) -> None:
    if equity.is_empty():
        st.warning("This run has no rows in `backtest.equity_daily`.")
        return
    st.altair_chart(charts.equity_chart(equity), width="stretch")
    st.altair_chart(charts.drawdown_chart(equity), width="stretch")


def _show_rolling_sharpe(equity: pl.DataFrame) -> None:
    window = runner.rolling_window(equity.height)
    if window is None:
        shortest = min(runner.ROLLING_WINDOWS)
        st.info(
            f"Rolling Sharpe needs at least {2 * shortest} trading days "
            f"(a {shortest}-day window, twice); this run has {equity.height}."
        )
        return
    sharpe = runner.rolling_sharpe(equity, window)
    st.altair_chart(charts.rolling_sharpe_chart(sharpe, window), width="stretch")
    st.caption(
        f"Sharpe ratio of the last {window} trading days' returns, annualised with √252 "
        f"(risk-free rate 0), the engine's formula on a moving window; the window is the "
        f"longest of {', '.join(map(str, runner.ROLLING_WINDOWS))} days that fits twice in "
        f"the run's {equity.height} days."
    )


def _show_greeks(equity: pl.DataFrame) -> None:
    if equity.is_empty():
        return
    st.markdown("**Greeks exposure** (open positions, USD)")
    columns = st.columns(2)
    for i, greek in enumerate(charts.GREEKS):
        columns[i % 2].altair_chart(charts.greek_chart(equity, greek), width="stretch")
    st.caption(
        "Sums over the open positions at each day's close: delta as USD of underlying, gamma "
        "as the change of dollar delta for a 1 % move, vega per volatility point, theta per "
        "calendar day."
    )


def _show_trades(trades: pl.DataFrame) -> None:
    st.subheader(f"Trades ({trades.height})")
    if trades.is_empty():
        st.info("This run made no trades.")
        return
    st.dataframe(
        trades,
        hide_index=True,
        column_config={
            **table_config(trades),
            "signal_value": st.column_config.NumberColumn("signal_value", format="%.3f"),
            "trade_return": st.column_config.NumberColumn("trade_return", format="percent"),
            "pnl_usd": st.column_config.NumberColumn("pnl_usd", format="dollar"),
            "commission_usd": st.column_config.NumberColumn("commission_usd", format="dollar"),
        },
    )


def _show_legs(legs: pl.DataFrame) -> None:
    if legs.is_empty():
        return
    st.subheader(f"Legs ({legs.height})")
    st.dataframe(
        legs,
        hide_index=True,
        column_config=table_config(legs),
    )


def _show_run(
    detail: queries.RunDetail, chain_source: str | None, chain_model_version: str | None
) -> None:
    _show_chain(chain_source, chain_model_version)
    _show_metrics(detail.metrics)
    _show_equity(detail.equity)
    if not detail.equity.is_empty():
        _show_rolling_sharpe(detail.equity)
        _show_greeks(detail.equity)
    _show_trades(detail.trades)
    _show_legs(detail.legs)
    if detail.config_json:
        with st.expander("Run configuration"):
            st.code(detail.config_json, language="json")


# ---- saved runs ---------------------------------------------------------------------------------


def _saved_runs(published: Published, runs: pl.DataFrame) -> None:
    if runs.is_empty():
        st.info(f"The warehouse has no backtest runs. {BUILD_HINT}")
        return
    runs = runs.join(_cached_chains(*published.key), on="run_id", how="left")
    labels = {run["run_id"]: _run_label(run) for run in runs.iter_rows(named=True)}
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending in labels:
        st.session_state[RUN_PICKER_KEY] = pending
    run_id = st.selectbox(
        "Run", options=list(labels), index=0, format_func=labels.__getitem__, key=RUN_PICKER_KEY
    )
    detail = _cached_run_detail(*published.key, run_id)
    _show_run(detail, detail.chain_source, detail.chain_model_version)


# ---- new run ------------------------------------------------------------------------------------


def _legs_table(spec: StrategySpec) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "leg": list(range(1, len(spec.legs) + 1)),
            "side": [leg.side for leg in spec.legs],
            "ratio": [leg.ratio for leg in spec.legs],
            "type": [leg.leg_type for leg in spec.legs],
            "expiry": [leg.expiry for leg in spec.legs],
            "strike rule": [leg.rule or "" for leg in spec.legs],
            "target": [None if leg.rule is None else leg.value for leg in spec.legs],
            "of leg": [leg.of for leg in spec.legs],
        },
        schema_overrides={"target": pl.Float64, "of leg": pl.Int64},
    )


def _index(options: list[str], value: object) -> int:
    return options.index(value) if value in options else 0


def _form(published: Published, defaults: runner.FormValues) -> runner.FormValues | None:
    """Draw the strategy picker and the form; the values when submitted, else ``None``."""
    catalogue = load_catalogue()
    names = list(catalogue)
    strategy = st.selectbox(
        "Strategy", names, index=_index(names, defaults.strategy), key="bt_strategy"
    )
    spec = catalogue[strategy]
    st.caption(spec.description + (" Cash-secured." if spec.cash_secured else ""))
    st.dataframe(_legs_table(spec), hide_index=True, width="content")

    base = runner.default_mapping()
    underlying = str(base.get("underlying_symbol", "SPX"))
    choices = _cached_choices(*published.key, underlying)
    models = list(choices.models) or [defaults.forecast_model or "xgb_direction_5d"]
    universes = list(choices.universes)

    with st.form("new_run_form"):
        entries, sizing, execution, exits = st.columns(4, gap="medium")
        with entries:
            st.markdown("**Entries**")
            schedule = st.selectbox(
                "Schedule",
                list(SCHEDULES),
                index=_index(list(SCHEDULES), defaults.schedule),
                format_func=SCHEDULES.__getitem__,
                key="bt_schedule",
            )
            weekday = st.number_input(
                "Weekday of the weekly schedule (1 = Monday)",
                value=defaults.weekday,
                step=1,
                key="bt_weekday",
            )
            target_dte = st.number_input(
                "Target DTE (calendar days)", value=defaults.target_dte, step=1, key="bt_target_dte"
            )
            min_dte = st.number_input("Min DTE", value=defaults.min_dte, step=1, key="bt_min_dte")
            max_dte = st.number_input("Max DTE", value=defaults.max_dte, step=1, key="bt_max_dte")
            universe = st.selectbox(
                "Universe (entry contracts)",
                universes,
                index=_index(universes, defaults.universe),
                key="bt_universe",
                help="`default` is marts.fct_option_quotes_universe; others are "
                "marts.fct_option_universe_<name>.",
            )
            max_open = st.number_input(
                "Max open positions",
                value=defaults.max_open_positions,
                step=1,
                key="bt_max_open_positions",
            )
            signal = st.selectbox(
                "Signal",
                list(SIGNALS),
                index=_index(list(SIGNALS), defaults.signal),
                format_func=SIGNALS.__getitem__,
                key="bt_signal",
            )
            model = st.selectbox(
                "Forecast model (p_up or score signals)",
                models,
                index=_index(models, defaults.forecast_model),
                key="bt_forecast_model",
            )
            threshold = st.number_input(
                "p_up threshold (probability, 0 to 1)",
                value=defaults.threshold,
                step=0.05,
                format="%.2f",
                key="bt_threshold",
            )
        with sizing:
            st.markdown("**Sizing**")
            mode = st.selectbox(
                "Sizing",
                list(SIZING),
                index=_index(list(SIZING), defaults.sizing_mode),
                format_func=SIZING.__getitem__,
                key="bt_sizing_mode",
            )
            contracts = st.number_input(
                "Lots per entry (fixed)", value=defaults.contracts, step=1, key="bt_contracts"
            )
            fraction = st.number_input(
                "Equity fraction (decimal, 0.02 = 2 %)",
                value=defaults.fraction,
                step=0.01,
                format="%.4f",
                key="bt_fraction",
            )
            capital = st.number_input(
                "Initial capital (USD)",
                value=float(defaults.initial_capital_usd),
                step=10_000.0,
                format="%.0f",
                key="bt_initial_capital_usd",
            )
        with execution:
            st.markdown("**Execution**")
            fill = st.selectbox(
                "Fill model",
                list(FILLS),
                index=_index(list(FILLS), defaults.fill),
                format_func=FILLS.__getitem__,
                key="bt_fill",
            )
            slippage = st.number_input(
                "Slippage (bps of mid)",
                value=float(defaults.slippage_bps),
                step=5.0,
                key="bt_slippage_bps",
            )
            spread_fraction = st.number_input(
                "Fraction of the half spread (0 to 1)",
                value=float(defaults.spread_fraction),
                step=0.1,
                key="bt_spread_fraction",
            )
            commission = st.number_input(
                "Commission per contract (USD)",
                value=float(defaults.commission_per_contract_usd),
                step=0.05,
                format="%.2f",
                key="bt_commission_per_contract_usd",
            )
            max_spread = st.number_input(
                "Max bid-ask spread at entry (% of mid)",
                value=float(defaults.max_spread_pct),
                step=1.0,
                key="bt_max_spread_pct",
            )
        with exits:
            st.markdown("**Exits** (empty = off)")
            take_profit = st.number_input(
                "Take-profit (% of debit, or of credit)",
                value=defaults.take_profit_pct,
                step=5.0,
                placeholder="off",
                key="bt_take_profit_pct",
            )
            stop_loss = st.number_input(
                "Stop-loss (% of debit, or of credit)",
                value=defaults.stop_loss_pct,
                step=5.0,
                placeholder="off",
                key="bt_stop_loss_pct",
            )
            holding_days = st.number_input(
                "Hold N sessions",
                value=defaults.holding_days,
                step=1,
                placeholder="to expiry",
                key="bt_holding_days",
            )
            exit_dte = st.number_input(
                "Exit at DTE (calendar days)",
                value=defaults.exit_dte,
                step=1,
                placeholder="off",
                key="bt_exit_dte",
            )
            exit_on_signal = st.checkbox(
                "Exit when the p_up signal no longer holds",
                value=defaults.exit_on_signal,
                key="bt_exit_on_signal",
            )
        st.caption(
            f"Underlying {underlying}, option roots {base.get('option_roots')} and the keys not "
            "shown here come from the default config `engine/configs/long_straddle_spx.yaml`."
        )
        submitted = st.form_submit_button(
            "Run backtest", type="primary", icon=":material/play_arrow:", key="bt_submit"
        )
    if not submitted:
        return None
    return runner.FormValues(
        strategy=strategy,
        schedule=schedule,
        weekday=weekday,
        target_dte=target_dte,
        min_dte=min_dte,
        max_dte=max_dte,
        universe=universe,
        max_open_positions=max_open,
        signal=signal,
        forecast_model=model,
        threshold=threshold,
        sizing_mode=mode,
        contracts=contracts,
        fraction=fraction,
        initial_capital_usd=capital,
        fill=fill,
        slippage_bps=slippage,
        spread_fraction=spread_fraction,
        commission_per_contract_usd=commission,
        max_spread_pct=max_spread,
        take_profit_pct=take_profit,
        stop_loss_pct=stop_loss,
        holding_days=holding_days,
        exit_dte=exit_dte,
        exit_on_signal=exit_on_signal,
    )


def _run(published: Published, values: runner.FormValues) -> None:
    """Validate, run with a step-by-step status, and keep the outcome in the session."""
    st.session_state.pop(OUTCOME_KEY, None)
    try:
        cfg = runner.build_config(values)
    except ConfigError as exc:
        st.error(f"Invalid setting: {exc}", icon=":material/error:")
        return
    steps = len(runner.STEPS)
    failure: str | None = None
    with st.status(f"Backtesting {cfg.run_id}", expanded=True) as status:
        progress = st.progress(0.0)

        def report(step: str, message: str) -> None:
            n = runner.STEPS.index(step)
            progress.progress(n / steps, text=f"{step}: {message}")
            status.update(label=f"Step {n + 1} of {steps}: {message}")

        try:
            outcome = runner.run_on_published(cfg, published.path, progress=report)
        except (MissingTableError, ValueError) as exc:
            failure = str(exc)
            status.update(label="The backtest could not run", state="error", expanded=False)
        else:
            t = outcome.timings_s
            progress.progress(1.0, text="done")
            status.update(
                label=(
                    f"Ran {cfg.run_id} in {t['total']:.2f} s (load {t['load']:.2f} s, "
                    f"run {t['run']:.2f} s)"
                ),
                state="complete",
                expanded=False,
            )
            st.session_state[OUTCOME_KEY] = outcome
    if failure is not None:
        st.error(f"The backtest could not run: {failure}", icon=":material/error:")


def _save(outcome: runner.RunOutcome) -> None:
    try:
        with st.spinner(
            "Saving: writing to the build database, rebuilding the attribution models, "
            "then publishing"
        ):
            report = runner.save_run(outcome, WarehousePaths.from_env())
    except runner.WarehouseBusyError as exc:
        st.warning(str(exc), icon=":material/autorenew:")
    except runner.SaveError as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        t = report.timings_s
        st.session_state[NOTICE_KEY] = (
            f"Saved `{report.run_id}` and published the warehouse in {t['total']:.1f} s "
            f"(write {t['write']:.2f} s, attribution models {t.get('reports', 0.0):.1f} s, "
            f"publish {t['publish']:.1f} s). It is now in `backtest.runs`, the Saved runs tab, "
            "Compare, Attribution and the SQL page."
        )
        st.session_state[PENDING_KEY] = report.run_id
        st.rerun()


def _show_outcome(outcome: runner.RunOutcome, saved_ids: set[str]) -> None:
    run_id = outcome.result.run_id
    t = outcome.timings_s
    st.subheader(f"Result: {run_id}")
    st.caption(
        f"Computed in {t['total']:.2f} s on the published warehouse (not saved yet). "
        + (
            "A saved run has this run_id (same strategy and configuration): saving replaces it."
            if run_id in saved_ids
            else "Save it to see it in Saved runs, the SQL page and Compare."
        )
    )
    if st.button("Save run to the warehouse", key="bt_save", icon=":material/save:"):
        _save(outcome)
    runs = outcome.result.runs
    chain = runs.row(0, named=True) if runs.height else {}
    _show_run(
        runner.detail_of(outcome.result),
        chain.get("chain_source", outcome.config.chain_source),
        chain.get("chain_model_version"),
    )


def _new_run(published: Published, saved_ids: set[str]) -> None:
    try:
        defaults = runner.default_form_values()
    except ConfigError as exc:
        st.error(f"The default config is invalid: {exc}")
        return
    values = _form(published, defaults)
    if values is not None:
        _run(published, values)
    outcome = st.session_state.get(OUTCOME_KEY)
    if outcome is not None:
        _show_outcome(outcome, saved_ids)


#: What the Saved runs tab reads, checked there: a warehouse without any saved run can still
#: run its first one in the New run tab.
SAVED_RUNS_REQUIRED = {
    f"backtest.{table}": columns for table, columns in queries.EXPECTED_COLUMNS.items()
}


def body(published: Published) -> None:
    """Draw the page for the published warehouse."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    problems = missing_columns(published.path, SAVED_RUNS_REQUIRED)
    runs = _cached_runs(*published.key) if not problems else pl.DataFrame({"run_id": []})
    saved, new = st.tabs(["Saved runs", "New run"])
    with saved:
        if problems and all(
            len(lacking) == len(SAVED_RUNS_REQUIRED[name]) for name, lacking in problems.items()
        ):
            st.info(
                "No backtest has been saved in this warehouse yet: run one in the New run tab "
                "and save it, or run `make backtest`."
            )
        elif problems:
            details = "; ".join(f"`{name}` lacks {list(cols)}" for name, cols in problems.items())
            st.error(f"The backtest tables lack columns this page reads: {details}. {BUILD_HINT}")
        else:
            _saved_runs(published, runs)
    with new:
        # the engine names any input table it lacks when the form is run (MissingTableError)
        _new_run(published, set(runs["run_id"].to_list()))


run_page("Backtest", None, body)
