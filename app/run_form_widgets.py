"""The Backtest page's New run form: its widgets and their state (Streamlit).

The strategy picker fills the form with *that strategy's* defaults
(:func:`app.run_form.strategy_form`: its own engine config, or a preset from its legs); the legs
are editable (type, side, ratio, expiry, strike rule and value, up to four), so are the market
(chain source, underlying, roots, universe, dates) and every entry, sizing, execution and exit
setting. Fields that do not apply to the chosen strategy, signal, sizing or fill are hidden; an
empty optional field means off and reaches the config as ``null``. :func:`draw_form` draws it
and returns the values and the base mapping they are laid over, which
:func:`app.run_form.build_config` validates; the page runs and saves the result.

The form is not an ``st.form``: hiding what does not apply needs a rerun per change. Its state
is a :class:`app.run_form.FormValues` in the session (:data:`FORM_KEY`) plus the base mapping
the values are laid over (:data:`BASE_KEY`); each widget is seeded from them when it (re)appears
(:func:`_ensure`) and keeps its value across pages (``persist_state="session"``), so a field
hidden and shown again, or the whole form after a visit to another page, shows what it held;
a strategy change, a reset or a clone (:func:`seed`) re-seeds every widget at once (callbacks).
Every widget key starts with ``bt_``.

Reads the published warehouse only through :mod:`app.queries` and :mod:`app.run_form` (cached
per file version, as the pages do).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, get_args

import polars as pl
import streamlit as st

from app import queries, run_form
from app.page import Published
from engine.config import (
    REGIMES,
    ChainSource,
    ConfigError,
    FillModel,
    Schedule,
    SignalKind,
    SizingMode,
)
from engine.strategies import STRIKE_RULES, LegSpec

FORM_KEY = "bt_form"  # run_form.FormValues: the form's values, hidden fields included
LEGS_KEY = "bt_legs_all"  # MAX_LEGS LegSpecs: legs beyond the count keep their values
BASE_KEY = "bt_base"  # the mapping the form's values are laid over
SOURCE_KEY = "bt_source"  # where the base came from (shown under the form)
FORM_NOTICE_KEY = "bt_form_notice"  # a clone's message, shown once above the form
DRAWN_KEY = "bt_drawn"  # the form's widget keys drawn on the previous rerun
MAX_LEGS = 4

# Labels of the engine's choices (engine/config.py); the options themselves come from the
# engine's types, so a choice it adds shows up here (under its own name until labelled).
_LABELS = {
    "daily": "Daily",
    "weekly": "Weekly (on a weekday)",
    "monthly_expiration": "Monthly (after each 3rd-Friday expiration)",
    "monthly_expiration_day": "Monthly (on each 3rd-Friday expiration)",
    "none": "None: every scheduled day",
    "prob_up_at_least": "p_up at least the threshold",
    "prob_up_at_most": "p_up at most the threshold",
    "regime_in": "IV-regime model: probability of the chosen regimes at least the threshold",
    "selector": "Strategy selector picks this strategy",
    "top_k": "Top k contracts by model score (single leg)",
    "fixed": "Fixed lots",
    "premium_fraction": "Fraction of equity (premium)",
    "risk_fraction": "Capital at risk (fraction of equity)",
    "mid": "Mid",
    "touch": "Touch (ask to buy, bid to sell)",
    "mid_slippage": "Mid ± slippage bps",
    "spread_fraction": "Mid ± fraction of the half spread",
    "real": "Real market quotes",
    "modeled": "MODELED quotes (model prices)",
}
RULE_LABELS = {
    "delta": "delta: target |Δ|",
    "moneyness": "moneyness: S/K",
    "strike_offset_pct": "ATM + % of spot",
    "strike_at_or_above_pct": "first strike ≥ spot·(1+%)",
    "strike_at_or_below_pct": "last strike ≤ spot·(1+%)",
    "width_pct": "% of spot from leg",
    "same_strike_as": "same strike as leg",
}
#: The value a strike rule starts at when a leg switches to it (engine/strategies.yaml header).
RULE_DEFAULTS: dict[str, float | None] = {
    "delta": 0.30,
    "moneyness": 1.0,
    "strike_offset_pct": 0.0,
    "strike_at_or_above_pct": 0.0,
    "strike_at_or_below_pct": -5.0,
    "width_pct": -2.0,
    "same_strike_as": None,
}
_RELATIVE_RULES = ("width_pct", "same_strike_as")
_NEW_LEG = LegSpec("put", "long", 1, "front", "width_pct", -2.0, 1)


def _choices(kind: object) -> dict[str, str]:
    return {value: _LABELS.get(value, value) for value in get_args(kind)}


SCHEDULES = _choices(Schedule)
SIGNALS = _choices(SignalKind)
SIZING = _choices(SizingMode)
FILLS = _choices(FillModel)
CHAIN_SOURCES = _choices(ChainSource)

# Results are cached per (database path, file version), as the pages do: a publish os.replace()s
# the file, which changes its inode and mtime and so invalidates the cache.


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_choices(db: str, db_version: str, underlying: str) -> queries.BacktestChoices:
    return queries.backtest_choices(db, underlying)


@st.cache_data(show_spinner="Reading what the chain holds", max_entries=8)
def _cached_coverage(db: str, db_version: str, chain_source: str) -> pl.DataFrame:
    return run_form.chain_coverage(db, chain_source)


# ---- the form's state ---------------------------------------------------------------------------

_FIELDS = tuple(f.name for f in dataclasses.fields(run_form.FormValues) if f.name != "legs")
_LEG_PARTS = ("type", "side", "ratio", "expiry", "rule", "value", "of")


def _key(field: str) -> str:
    return f"bt_{field}"


def _leg_key(i: int, part: str) -> str:
    return f"bt_leg{i}_{part}"


def _widget_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _leg_state(leg: LegSpec) -> dict[str, Any]:
    rule = leg.rule or "delta"
    return {
        "type": leg.leg_type,
        "side": leg.side,
        "ratio": leg.ratio,
        "expiry": leg.expiry,
        "rule": rule,
        "value": None if rule == "same_strike_as" else float(leg.value),
        "of": leg.of,
    }


def seed(values: run_form.FormValues, base: dict[str, Any], source: str) -> None:
    """Put ``values`` into every widget of the form, ``base`` under them and ``source`` (where
    they came from, shown under the form); for callbacks (a strategy picked, a reset, a clone)
    and first visits only."""
    legs = list(values.legs[:MAX_LEGS])
    legs += [_NEW_LEG] * (MAX_LEGS - len(legs))
    st.session_state[FORM_KEY] = values
    st.session_state[LEGS_KEY] = legs
    st.session_state[BASE_KEY] = base
    st.session_state[SOURCE_KEY] = source
    for field in _FIELDS:
        st.session_state[_key(field)] = _widget_value(getattr(values, field))
    st.session_state["bt_n_legs"] = max(1, min(len(values.legs), MAX_LEGS))
    for i, leg in enumerate(legs, start=1):
        for part, value in _leg_state(leg).items():
            st.session_state[_leg_key(i, part)] = value


def _ensure(key: str, value: Any, drawn: set[str]) -> None:
    """Set a widget's value through the session state just before it is drawn, and add ``key``
    to ``drawn`` (the keys drawn on this rerun, which :func:`draw_form` keeps for the next).

    A widget left undrawn loses its state (Streamlit drops it), while a value once set through
    the session state outlives it: a hidden field shown again would come back empty, or with a
    value seeded long ago. So a widget not drawn on the previous rerun is set from
    :data:`FORM_KEY` / :data:`LEGS_KEY` (``value``: what it showed when it was hidden), and one
    that was drawn gets its own current value written back, so what outlives it (another page
    visited, then this one again) is always its latest value. (``drawn`` is the rerun's own
    set, never module state: this module is imported once per process and shared by every
    session, unlike a page script, which runs afresh on each rerun.)
    """
    drawn_before = st.session_state.get(DRAWN_KEY, frozenset())
    if key in st.session_state and key in drawn_before:
        st.session_state[key] = st.session_state[key]
    else:
        st.session_state[key] = _widget_value(value)
    drawn.add(key)


def _on_strategy() -> None:
    strategy = st.session_state[_key("strategy")]
    try:
        values, base, source = run_form.strategy_form(strategy)
    except ConfigError as exc:
        st.session_state[FORM_NOTICE_KEY] = ("error", f"The defaults of {strategy}: {exc}")
        return
    seed(values, base, source)


def _on_reset() -> None:
    _on_strategy()


def _set(field: str, value: Any) -> None:
    """Callback helper: change a field in its widget and in the form's state."""
    st.session_state[_key(field)] = _widget_value(value)
    st.session_state[FORM_KEY] = dataclasses.replace(st.session_state[FORM_KEY], **{field: value})


def _on_rule(i: int) -> None:
    """A leg switched strike rule: start its value at the rule's default (a width goes up for
    a call, down for a put) and point a relative rule at the leg before."""
    rule = st.session_state[_leg_key(i, "rule")]
    value = RULE_DEFAULTS.get(rule)
    if rule == "width_pct" and st.session_state.get(_leg_key(i, "type")) == "call":
        value = 2.0
    legs = list(st.session_state[LEGS_KEY])
    of = legs[i - 1].of
    if rule in _RELATIVE_RULES and of is None:
        of = max(1, i - 1)
    legs[i - 1] = dataclasses.replace(
        legs[i - 1], rule=rule, value=0.0 if value is None else value, of=of
    )
    st.session_state[LEGS_KEY] = legs
    st.session_state[_leg_key(i, "value")] = value
    st.session_state[_leg_key(i, "of")] = of


def _on_chain_source() -> None:
    if st.session_state[_key("chain_source")] == "modeled":
        # a modeled quote has no open interest: only the wide universe holds modeled quotes
        _set("universe", "wide")


class _Form:
    """Draws the widgets of one rerun and collects their values (hidden ones from the state)."""

    def __init__(self, values: run_form.FormValues) -> None:
        self.values = values
        self.changes: dict[str, Any] = {}
        self.drawn: set[str] = set()  # the widget keys drawn on this rerun (see _ensure)

    def widget(self, field: str, draw: Any, *args: Any, **kwargs: Any) -> Any:
        _ensure(_key(field), getattr(self.values, field), self.drawn)
        value = draw(*args, key=_key(field), persist_state="session", **kwargs)
        self.changes[field] = tuple(value) if isinstance(value, list) else value
        return value

    def number(self, field: str, label: str, *, step: float | int, **kwargs: Any) -> Any:
        if isinstance(step, int):
            kwargs.setdefault("format", "%d")
        return self.widget(field, st.number_input, label, value=None, step=step, **kwargs)

    def select(self, field: str, label: str, options: dict[str, str], **kwargs: Any) -> Any:
        current = getattr(self.values, field)
        if current not in options and current is not None:
            options = {**options, current: str(current)}
        return self.widget(
            field, st.selectbox, label, list(options), format_func=options.__getitem__, **kwargs
        )

    def result(self, legs: tuple[LegSpec, ...]) -> run_form.FormValues:
        return dataclasses.replace(self.values, legs=legs, **self.changes)


def _options(values: list[str], current: str | None) -> dict[str, str]:
    out = {v: v for v in values}
    if current is not None and current not in out:
        out[current] = current
    return out


# ---- the form -----------------------------------------------------------------------------------


def _legs_editor(form: _Form) -> tuple[LegSpec, ...]:
    """The legs: a row of widgets per leg, up to :data:`MAX_LEGS`."""
    stored: list[LegSpec] = st.session_state[LEGS_KEY]
    _ensure("bt_n_legs", len(st.session_state[FORM_KEY].legs), form.drawn)
    n_legs = st.selectbox(
        "Number of legs",
        list(range(1, MAX_LEGS + 1)),
        key="bt_n_legs",
        width=160,
        persist_state="session",
    )
    # Value gets the room of its step buttons and clear button (~90 px) plus "-10.00": at 1440 px
    # (and 1280 px) a target delta 0.20 or a moneyness 1.05 shows whole; the selects need less.
    widths = [0.8, 0.8, 0.75, 0.85, 1.65, 1.55, 0.8]
    header = st.columns(widths)
    titles = ("Type", "Side", "Ratio", "Expiry", "Strike rule", "Value", "Of leg")
    for column, title in zip(header, titles, strict=True):
        column.markdown(f"**{title}**")
    legs: list[LegSpec] = []
    for i in range(1, MAX_LEGS + 1):
        leg = stored[i - 1]
        if i > n_legs:
            legs.append(leg)
            continue
        state = _leg_state(leg)
        cols = st.columns(widths, vertical_alignment="center")

        def draw(part: str, widget: Any, label: str, *args: Any, **kwargs: Any) -> Any:
            _ensure(_leg_key(i, part), state[part], form.drawn)  # noqa: B023 - called at once
            return widget(
                f"Leg {i} {label}",  # noqa: B023
                *args,
                key=_leg_key(i, part),  # noqa: B023
                label_visibility="collapsed",
                persist_state="session",
                **kwargs,
            )

        leg_type = draw("type", cols[0].selectbox, "type", ["call", "put", "stock"])
        side = draw("side", cols[1].selectbox, "side", ["long", "short"])
        ratio = draw(
            "ratio",
            cols[2].number_input,
            "ratio",
            value=None,
            step=1,
            help="Units per lot: option contracts, or shares (100 = one option's multiplier)",
        )
        if leg_type == "stock":
            cols[3].caption("the underlying")
            legs.append(dataclasses.replace(leg, leg_type="stock", side=side, ratio=ratio))
            continue
        expiry = draw("expiry", cols[3].selectbox, "expiry", ["front", "back"])
        rule = draw(
            "rule",
            cols[4].selectbox,
            "strike rule",
            list(STRIKE_RULES),
            format_func=RULE_LABELS.get,
            on_change=_on_rule,
            args=(i,),
        )
        value = leg.value
        if rule != "same_strike_as":
            value = draw(
                "value",
                cols[5].number_input,
                "value",
                value=None,
                step=0.01,
                format="%.2f",
                help="delta: |Δ| in (0, 1); moneyness: S/K; the others: % of spot",
            )
        of = leg.of
        if rule in _RELATIVE_RULES:
            of = draw(
                "of",
                cols[6].number_input,
                "of leg",
                value=None,
                step=1,
                help="An earlier leg's number",
            )
        legs.append(LegSpec(leg_type, side, ratio, expiry, rule, value, of))
    st.session_state[LEGS_KEY] = legs
    return tuple(legs[:n_legs])


def _market(form: _Form, published: Published) -> None:
    values = form.values
    c1, c2, c3, c4 = st.columns([1.3, 1, 1.4, 1.2])
    with c1:
        chain_source = form.select(
            "chain_source", "Chain source", CHAIN_SOURCES, on_change=_on_chain_source
        )
        if chain_source == "modeled":
            st.badge("Modeled chain", icon=":material/science:", color="orange")
    coverage = _cached_coverage(*published.key, chain_source or "real")
    underlyings = sorted(set(coverage["underlying_symbol"].to_list()))
    with c2:
        underlying = form.select(
            "underlying_symbol",
            "Underlying",
            _options(underlyings, values.underlying_symbol),
            on_change=_on_underlying,
            args=(published,),
        )
    roots = coverage.filter(pl.col("underlying_symbol") == underlying).sort(
        "n_quotes", descending=True
    )
    with c3:
        form.widget(
            "option_roots",
            st.multiselect,
            "Option roots (in order of preference)",
            list(
                _options(roots["option_root"].to_list(), None) | {r: r for r in values.option_roots}
            ),
            help="When two roots list the same expiration, the first one is traded.",
        )
    choices = _cached_choices(*published.key, underlying or "SPX")
    with c4:
        form.select(
            "universe",
            "Universe (entry contracts)",
            _options(list(choices.universes), values.universe),
            help="`default` is marts.fct_option_quotes_universe; others are "
            "marts.fct_option_universe_<name>. Modeled quotes have no open interest: only a "
            "universe without a liquidity floor (`wide`) holds them.",
        )
    d1, d2, d3, d4 = st.columns([1.2, 1.2, 1.2, 2.0])
    bounds = {
        "min_value": dt.date(1990, 1, 1),
        "max_value": dt.date(2100, 12, 31),
        "format": "YYYY-MM-DD",
    }
    with d1:
        form.widget(
            "start_date",
            st.date_input,
            "Start date",
            value=None,
            help="Empty: the chain's first",
            **bounds,
        )
    with d2:
        form.widget(
            "end_date",
            st.date_input,
            "End date",
            value=None,
            help="Empty: the chain's last",
            **bounds,
        )
    with d3:
        form.number("initial_capital_usd", "Initial capital (USD)", step=10_000.0, format="%.0f")
    with d4:
        if roots.height:
            spans = "; ".join(
                f"{r['option_root']} {r['first_date']} → {r['last_date']} ({r['n_quotes']:,})"
                for r in roots.iter_rows(named=True)
            )
            st.caption(f"{underlying} on the {chain_source} chain: {spans} quotes.")
    return None


def _on_underlying(published: Published) -> None:
    underlying = st.session_state[_key("underlying_symbol")]
    source = st.session_state.get(_key("chain_source"), "real")
    coverage = _cached_coverage(*published.key, source)
    roots = (
        coverage.filter(pl.col("underlying_symbol") == underlying)
        .sort("n_quotes", descending=True)["option_root"]
        .to_list()
    )
    _set("option_roots", tuple(roots))


def _entries(form: _Form, models: list[str], has_back: bool) -> None:
    st.markdown("**Entries**")
    schedule = form.select("schedule", "Schedule", SCHEDULES)
    if schedule == "weekly":
        form.number("weekday", "Weekday (1 = Monday … 5 = Friday)", step=1)
    form.number("target_dte", "Target DTE (calendar days)", step=1)
    form.number("min_dte", "Min DTE", step=1)
    form.number("max_dte", "Max DTE", step=1)
    if has_back:
        st.caption("Back expiration (legs with expiry back):")
        form.number("back_target_dte", "Back target DTE", step=1)
        form.number("back_min_dte", "Back min DTE", step=1)
        form.number("back_max_dte", "Back max DTE", step=1)
    form.number("max_open_positions", "Max open positions", step=1)
    signal = form.select("signal", "Signal", SIGNALS)
    if signal in run_form.MODEL_SIGNALS:
        if form.values.forecast_model is None and models:
            form.values = dataclasses.replace(form.values, forecast_model=models[0])
        form.select(
            "forecast_model",
            "Forecast model",
            _options(models, form.values.forecast_model),
            help="Recorded only, for the selector (it reads forecasts.fct_strategy_signals)"
            if signal == "selector"
            else "A current model of ml.model_registry",
        )
    if signal in run_form.THRESHOLD_SIGNALS:
        form.number("threshold", "Threshold (probability, 0 to 1)", step=0.05, format="%.2f")
    if signal == "regime_in":
        form.widget("regimes", st.multiselect, "Regimes", list(REGIMES))
    if signal == "top_k":
        form.number("k", "k contracts per day", step=1)
    return signal


def _sizing(form: _Form) -> None:
    st.markdown("**Sizing**")
    mode = form.select("sizing_mode", "Sizing", SIZING)
    if mode == "fixed":
        form.number("contracts", "Lots per entry", step=1)
    else:
        form.number("fraction", "Equity fraction (decimal, 0.02 = 2 %)", step=0.01, format="%.4f")


def _execution(form: _Form) -> None:
    st.markdown("**Execution**")
    fill = form.select("fill", "Fill model", FILLS)
    if fill == "mid_slippage":
        form.number("slippage_bps", "Slippage (bps of mid)", step=5.0)
    if fill == "spread_fraction":
        form.number("spread_fraction", "Fraction of the half spread (0 to 1)", step=0.1)
    form.number(
        "commission_per_contract_usd", "Commission per contract (USD)", step=0.05, format="%.2f"
    )
    form.number("max_spread_pct", "Max bid-ask spread at entry (% of mid)", step=1.0)


def _exits(form: _Form, signal: str) -> None:
    st.markdown("**Exits** (empty = off)")
    form.number(
        "take_profit_pct",
        "Take-profit (% of debit, or of credit)",
        step=5.0,
        placeholder="off",
        help="Empty = off; 0 closes at the first mark at or above the entry.",
    )
    form.number(
        "stop_loss_pct",
        "Stop-loss (% of debit, or of credit)",
        step=5.0,
        placeholder="off",
        help="Empty = off.",
    )
    form.number(
        "holding_days",
        "Hold N sessions",
        step=1,
        placeholder="off: to expiry",
        help="Empty = hold to expiry (or another rule); at least 1.",
    )
    form.number(
        "exit_dte",
        "Exit at DTE (calendar days)",
        step=1,
        placeholder="off",
        help="Empty = off; 0 closes on the expiration day's quotes.",
    )
    if signal in run_form.EXIT_SIGNALS:
        form.widget("exit_on_signal", st.checkbox, "Exit when the p_up signal no longer holds")


def draw_form(published: Published) -> tuple[run_form.FormValues, dict[str, Any]]:
    """Draw the form; return its values and the base mapping they are laid over.

    Raises
    ------
    engine.config.ConfigError
        When the default strategy's own defaults are invalid (named).
    """
    if FORM_KEY not in st.session_state:
        values, base, source = run_form.strategy_form(run_form.DEFAULT_STRATEGY)
        seed(values, base, source)
    notice = st.session_state.pop(FORM_NOTICE_KEY, None)
    if notice:
        (st.error if notice[0] == "error" else st.info)(notice[1])
    values: run_form.FormValues = st.session_state[FORM_KEY]
    base: dict[str, Any] = st.session_state[BASE_KEY]
    form = _Form(values)
    catalogue = run_form.catalogue()
    names = {name: name for name in catalogue}
    top = st.columns([2, 3, 1], vertical_alignment="bottom")
    with top[0]:
        strategy = form.select(
            "strategy",
            "Strategy",
            names,
            on_change=_on_strategy,
            help="Picking one fills the whole form with that strategy's own defaults.",
        )
    with top[1]:
        spec = catalogue.get(strategy)
        st.caption(
            (spec.description + (" Cash-secured." if spec.cash_secured else ""))
            if spec
            else f"{strategy}: legs from a cloned run (not a catalogue strategy)."
        )
    top[2].button(
        "Reset",
        key="bt_reset",
        on_click=_on_reset,
        disabled=spec is None,
        icon=":material/restart_alt:",
        help="Back to the chosen strategy's own defaults, legs included.",
    )
    st.markdown("**Legs**")
    legs = _legs_editor(form)
    st.caption(
        "Strike rules: delta |Δ| in (0, 1) (puts too: 0.20 is delta −0.20); moneyness S/K; "
        "ATM + % of spot; the first strike at or above / last at or below spot·(1 + %/100) "
        "(Cboe BXM / CLL rules); % of spot from an earlier leg's strike; or that leg's strike. "
        "A 20-delta bull put spread: leg 1 short put delta 0.20, leg 2 long put −2 % of spot "
        "from leg 1."
    )
    st.markdown("**Market**")
    _market(form, published)
    choices = _cached_choices(*published.key, form.changes.get("underlying_symbol") or "SPX")
    models = list(choices.models)
    has_back = any(leg.leg_type != "stock" and leg.expiry == "back" for leg in legs)
    entries, sizing, execution, exits = st.columns(4, gap="medium")
    with entries:
        signal = _entries(form, models, has_back)
    with sizing:
        _sizing(form)
    with execution:
        _execution(form)
    with exits:
        _exits(form, signal)
    values = form.result(legs)
    st.session_state[FORM_KEY] = values
    st.session_state[DRAWN_KEY] = frozenset(form.drawn)
    extra = run_form.settings_outside_form(base)
    st.caption(
        f"Defaults from {st.session_state[SOURCE_KEY]}."
        + (
            " Also set there, not shown in this form: " + ", ".join(f"`{s}`" for s in extra) + "."
            if extra
            else " Every other key is the engine's default (engine/config.py)."
        )
    )
    return values, base
