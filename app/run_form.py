"""The New run form's half of a backtest from the app: defaults, form values -> config -> YAML.

No Streamlit here, so every rule is testable on its own (the page, :mod:`app.app_pages.backtest`,
draws the widgets; :mod:`app.backtest_runner` runs and saves what this module builds):

1. **Defaults of the chosen strategy** (:func:`strategy_form`): the strategy's own engine config
   where the repository has one (``engine/configs/<strategy>_spx.yaml``), else a preset built
   from its legs (:func:`preset_mapping`: credit or debit exits; a covered strategy's capital and
   monthly schedule). Never another strategy's config: a bull put spread no longer inherits the
   long straddle's 5-session hold and p_up gate (issue 19).
2. :class:`FormValues` holds what the Backtest page's form edits, legs included;
   :func:`build_config` lays them over the base mapping and validates the whole through
   :meth:`engine.config.BacktestConfig.from_mapping`, so a bad value (a leg's delta of 1.5, a
   cleared DTE) raises the engine's own :class:`~engine.config.ConfigError` naming the key and
   the value. An empty optional field is ``None`` and reaches the config as ``null`` (off).
3. :func:`resolved_mapping` / :func:`config_yaml` turn any config (a form's, or a saved run's
   ``config_json``: :func:`config_from_json`) back into a YAML mapping with every key, which
   :meth:`~engine.config.BacktestConfig.from_mapping` reads to the same run id: the page shows
   it, downloads it, and clones a saved run from it.
4. **What the form offers** (:func:`chain_coverage`): the underlyings and option roots of the
   chosen chain source, with their dates.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import NormalDist
from typing import Any

import duckdb
import polars as pl
import yaml

from app.db import frame as db_frame
from app.db import reader
from engine.config import (
    DEFAULT_CONFIG_PATH,
    BacktestConfig,
    ConfigError,
    leg_mapping,
    read_mapping,
)
from engine.strategies import LegSpec, StrategyError, StrategySpec, load_catalogue

#: Where the strategy-specific engine configs live: ``<strategy>_spx.yaml`` is a strategy's
#: default in the form when it exists (long_straddle, iron_condor).
CONFIGS_DIR = DEFAULT_CONFIG_PATH.parent

#: The strategy the form opens on (its config is the engine's default one).
DEFAULT_STRATEGY = "long_straddle"

#: The part of every preset that does not depend on the strategy: the default config's market
#: (SPX PM-settled weeklies of the real 2019 chain) and execution (``long_straddle_spx.yaml``),
#: a weekly entry 20-45 days out, no forecast gate, one lot.
PRESET_COMMON: dict[str, Any] = {
    "underlying_symbol": "SPX",
    "option_roots": ["SPXW"],
    "universe": "default",
    "chain_source": "real",
    "start_date": "2019-04-25",
    "initial_capital_usd": 100_000.0,
    "entry": {
        "schedule": "weekly",
        "weekday": 1,
        "target_dte": 30,
        "min_dte": 20,
        "max_dte": 45,
        "signal": "none",
        "max_open_positions": 10,
    },
    "sizing": {"mode": "fixed", "contracts": 1},
    "execution": {
        "fill": "mid_slippage",
        "slippage_bps": 50.0,
        "commission_per_contract_usd": 0.65,
        "max_spread_pct": 10.0,
        "multiplier": 100,
    },
}

#: Exits of a preset by the kind of the strategy (:func:`strategy_kind`), percentages of the
#: entry premium as :class:`engine.config.ExitConfig` defines them. ``credit``: the repository's
#: own premium-selling run (``engine/configs/iron_condor_spx.yaml``: half the credit kept, twice
#: the credit lost, or 7 days to expiry). ``debit``: a debit that doubles or halves, or 7 days
#: to expiry. ``covered``: held to the option's expiration (the Cboe BuyWrite and PutWrite
#: rules, BXM and PUT).
PRESET_EXITS: dict[str, dict[str, Any]] = {
    "credit": {"take_profit_pct": 50.0, "stop_loss_pct": 200.0, "exit_dte": 7},
    "debit": {"take_profit_pct": 100.0, "stop_loss_pct": 50.0, "exit_dte": 7},
    "covered": {},
}

#: A covered strategy (a stock leg, or cash set aside for a short put's strike): one lot of SPX
#: ties up about $290,000 in 2019, more than the $100,000 of the other presets (every entry would
#: be sized to zero: issue 19's covered call with 0 trades), so it gets $1,000,000 and one
#: position at a time on standard monthly expirations, written the session after each one
#: expires (the Cboe BXM / PUT monthly roll, a session later).
PRESET_COVERED: dict[str, Any] = {
    "initial_capital_usd": 1_000_000.0,
    "entry": {
        "schedule": "monthly_expiration",
        "expiry_type": "monthly",
        "max_open_positions": 1,
    },
}

#: Assumptions of :func:`estimated_net_premium` (only used to tell credits from debits).
PREMIUM_VOL, PREMIUM_FRONT_DAYS, PREMIUM_BACK_DAYS = 0.20, 30, 60


# --- the strategy's defaults ---------------------------------------------------------------------


@cache
def _catalogue() -> dict[str, StrategySpec]:
    return load_catalogue()


def catalogue() -> dict[str, StrategySpec]:
    """The strategy catalogue (``engine/strategies.yaml``), read once per process."""
    return dict(_catalogue())


def _bs_price(is_call: bool, spot: float, strike: float, vol: float, years: float) -> float:
    # Black-Scholes with zero rates and dividends (Hull, Options, Futures, and Other
    # Derivatives, 11th ed., ch. 15, eq. 15.20-15.21)
    if strike <= 0:
        return spot if is_call else 0.0
    n = NormalDist()
    root = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * root * root) / root
    d2 = d1 - root
    if is_call:
        return spot * n.cdf(d1) - strike * n.cdf(d2)
    return strike * n.cdf(-d2) - spot * n.cdf(-d1)


def estimated_net_premium(
    spec: StrategySpec,
    *,
    vol: float = PREMIUM_VOL,
    front_days: int = PREMIUM_FRONT_DAYS,
    back_days: int = PREMIUM_BACK_DAYS,
) -> float:
    """Net option premium of one lot per unit of spot, + debit / - credit, stock legs aside.

    A rough price, only to tell a credit strategy from a debit one for its default exits: spot
    1, a flat volatility ``vol`` (decimal), ``front_days`` / ``back_days`` calendar days to the
    front / back expiration, zero rates. Each leg's strike follows its rule as the engine reads
    it (:mod:`engine.strategies`): ``delta`` inverts the Black-Scholes delta ``N(d1)`` (calls)
    or ``N(d1) - 1`` (puts) (Hull, 11th ed., ch. 19.4); ``moneyness`` m is ``K = S / m``;
    ``strike_offset_pct`` and the ``strike_at_or_*_pct`` rules ``K = S (1 + x / 100)``;
    ``width_pct`` ``K = K_of + S x / 100``; ``same_strike_as`` ``K = K_of``. Prices are
    Black-Scholes (Hull, ch. 15).

    >>> round(estimated_net_premium(catalogue()["bull_put_spread"]), 4)  # a credit
    -0.0052
    >>> estimated_net_premium(catalogue()["long_straddle"]) > 0  # a debit
    True
    """
    n = NormalDist()
    strikes: list[float] = []
    total = 0.0
    for leg in spec.legs:
        years = (back_days if leg.expiry == "back" else front_days) / 365.0
        root = vol * math.sqrt(years)
        if leg.leg_type == "stock":
            strikes.append(1.0)
            continue
        value, is_call = float(leg.value), leg.leg_type == "call"
        if leg.rule == "delta":
            d1 = n.inv_cdf(value if is_call else 1.0 - value)
            strike = math.exp(-d1 * root + 0.5 * root * root)
        elif leg.rule == "moneyness":
            strike = 1.0 / value
        elif leg.rule == "width_pct":
            strike = strikes[(leg.of or 1) - 1] + value / 100.0
        elif leg.rule == "same_strike_as":
            strike = strikes[(leg.of or 1) - 1]
        else:  # strike_offset_pct, strike_at_or_above_pct, strike_at_or_below_pct
            strike = 1.0 + value / 100.0
        strikes.append(strike)
        total += leg.sign * leg.ratio * _bs_price(is_call, 1.0, strike, vol, years)
    return total


def strategy_kind(spec: StrategySpec) -> str:
    """``covered`` (a leg on the underlying, or cash-secured), else ``credit`` or ``debit`` by
    the sign of :func:`estimated_net_premium`: the key of :data:`PRESET_EXITS`.

    >>> [strategy_kind(catalogue()[s]) for s in ("iron_condor", "long_call_butterfly", "collar")]
    ['credit', 'debit', 'covered']
    """
    if spec.cash_secured or any(leg.leg_type == "stock" for leg in spec.legs):
        return "covered"
    return "credit" if estimated_net_premium(spec) < 0 else "debit"


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **copy.deepcopy(dict(value))}
        else:
            out[key] = copy.deepcopy(value)
    return out


def preset_mapping(strategy: str) -> dict[str, Any]:
    """The preset config mapping of a catalogue strategy: :data:`PRESET_COMMON`, the exits of
    its kind (:data:`PRESET_EXITS`) and, when covered, :data:`PRESET_COVERED`.

    Raises
    ------
    ConfigError
        When ``strategy`` is not in the catalogue (naming it and the known ones).
    """
    known = _catalogue()
    if strategy not in known:
        raise ConfigError(f"unknown strategy {strategy!r}; known: {sorted(known)}")
    kind = strategy_kind(known[strategy])
    raw = _merged(PRESET_COMMON, {"strategy": strategy, "exits": PRESET_EXITS[kind]})
    return _merged(raw, PRESET_COVERED) if kind == "covered" else raw


def strategy_config_path(strategy: str) -> Path | None:
    """The strategy's own engine config (``engine/configs/<strategy>_spx.yaml``), if any."""
    path = CONFIGS_DIR / f"{strategy}_spx.yaml"
    return path if path.is_file() else None


def strategy_defaults(strategy: str) -> tuple[dict[str, Any], str]:
    """The base mapping the form starts from for ``strategy``, and where it came from.

    The strategy's own config file when the repository has one (:func:`strategy_config_path`),
    else :func:`preset_mapping`. Nothing comes from another strategy's config.

    Raises
    ------
    ConfigError
        An unknown strategy, or an unreadable config file (named).
    """
    path = strategy_config_path(strategy)
    if path is not None:
        return read_mapping(path), f"`engine/configs/{path.name}`"
    kind = strategy_kind(_catalogue()[strategy]) if strategy in _catalogue() else None
    raw = preset_mapping(strategy)
    return raw, f"the {kind} preset of `app/run_form.py`"


# --- form values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormValues:
    """What the Backtest page's form edits; every other key comes from the base mapping.

    Units follow the engine's key names (:mod:`engine.config`): ``*_dte`` calendar days,
    ``holding_days`` NYSE sessions, ``threshold`` and ``fraction`` decimal fractions,
    ``*_pct`` percent, ``*_bps`` basis points, ``*_usd`` dollars. ``None`` in an exit rule turns
    it off; ``None`` anywhere else is passed on for the engine to name ("must be an integer,
    got None"). ``legs`` are :class:`engine.strategies.LegSpec` as the form holds them (not yet
    validated: :func:`build_config` does it, through the engine).
    """

    strategy: str
    legs: tuple[LegSpec, ...]
    underlying_symbol: str
    option_roots: tuple[str, ...]
    chain_source: str
    universe: str
    start_date: dt.date | None
    end_date: dt.date | None
    initial_capital_usd: float | None
    schedule: str
    weekday: int | None
    target_dte: int | None
    min_dte: int | None
    max_dte: int | None
    back_target_dte: int | None
    back_min_dte: int | None
    back_max_dte: int | None
    max_open_positions: int | None
    signal: str
    forecast_model: str | None
    threshold: float | None
    k: int | None
    regimes: tuple[str, ...]
    sizing_mode: str
    contracts: int | None
    fraction: float | None
    fill: str
    slippage_bps: float | None
    spread_fraction: float | None
    commission_per_contract_usd: float | None
    max_spread_pct: float | None
    take_profit_pct: float | None
    stop_loss_pct: float | None
    holding_days: int | None
    exit_dte: int | None
    exit_on_signal: bool

    @classmethod
    def from_config(cls, cfg: BacktestConfig) -> FormValues:
        """The form values of an existing config (the inverse of :func:`build_config`)."""
        e, s, x, q = cfg.entry, cfg.sizing, cfg.execution, cfg.exits
        return cls(
            strategy=cfg.strategy.name,
            legs=cfg.strategy.legs,
            underlying_symbol=cfg.underlying_symbol,
            option_roots=cfg.option_roots,
            chain_source=cfg.chain_source,
            universe=cfg.universe,
            start_date=dt.date.fromisoformat(cfg.start_date) if cfg.start_date else None,
            end_date=dt.date.fromisoformat(cfg.end_date) if cfg.end_date else None,
            initial_capital_usd=cfg.initial_capital_usd,
            schedule=e.schedule,
            weekday=e.weekday,
            target_dte=e.target_dte,
            min_dte=e.min_dte,
            max_dte=e.max_dte,
            back_target_dte=e.back_target_dte,
            back_min_dte=e.back_min_dte,
            back_max_dte=e.back_max_dte,
            max_open_positions=e.max_open_positions,
            signal=e.signal,
            forecast_model=e.forecast_model,
            threshold=e.threshold,
            k=e.k,
            regimes=e.regimes,
            sizing_mode=s.mode,
            contracts=s.contracts,
            fraction=s.fraction,
            fill=x.fill,
            slippage_bps=x.slippage_bps,
            spread_fraction=x.spread_fraction,
            commission_per_contract_usd=x.commission_per_contract_usd,
            max_spread_pct=x.max_spread_pct,
            take_profit_pct=q.take_profit_pct,
            stop_loss_pct=q.stop_loss_pct,
            holding_days=q.holding_days,
            exit_dte=q.exit_dte,
            exit_on_signal=q.exit_on_signal,
        )


#: Signals that read a forecast model (``selector`` only records it: the engine requires one).
MODEL_SIGNALS = ("prob_up_at_least", "prob_up_at_most", "regime_in", "top_k", "selector")
#: Signals whose entry test is ``threshold``.
THRESHOLD_SIGNALS = ("prob_up_at_least", "prob_up_at_most", "regime_in")
#: Signals ``exits.exit_on_signal`` works with.
EXIT_SIGNALS = ("prob_up_at_least", "prob_up_at_most")


def default_mapping(path: Path | str = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    """The default config as its raw YAML mapping; see :func:`engine.config.read_mapping` for
    what it raises."""
    return read_mapping(path)


def default_form_values(path: Path | str = DEFAULT_CONFIG_PATH) -> FormValues:
    """Form values of the default config (``engine/configs/long_straddle_spx.yaml``)."""
    return FormValues.from_config(BacktestConfig.from_mapping(default_mapping(path)))


def strategy_form(strategy: str) -> tuple[FormValues, dict[str, Any], str]:
    """The form of ``strategy`` with its own defaults: ``(values, base mapping, source)``
    (see :func:`strategy_defaults`).

    Raises
    ------
    ConfigError
        An unknown strategy or an invalid default (named).
    """
    base, source = strategy_defaults(strategy)
    return FormValues.from_config(BacktestConfig.from_mapping(base)), base, source


def _integral(value: Any) -> Any:
    # number inputs may hand back 5.0 for 5; a non-integral float is left for the engine to
    # reject by name ("exits.holding_days must be an integer, got 2.5")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _structure(legs: tuple[LegSpec, ...]) -> tuple[tuple[Any, ...], ...]:
    return tuple((leg.leg_type, leg.side, leg.ratio, leg.expiry) for leg in legs)


def _form_leg(leg: LegSpec) -> LegSpec:
    """A leg as the engine would hold it: stock legs carry no rule; ``same_strike_as`` no
    value; only the relative rules an ``of``; integral floats as ints."""
    ratio = _integral(leg.ratio)
    if leg.leg_type == "stock":
        return LegSpec("stock", leg.side, ratio)
    relative = leg.rule in ("width_pct", "same_strike_as")
    value = 0.0 if leg.rule == "same_strike_as" else leg.value
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return LegSpec(
        leg.leg_type,
        leg.side,
        ratio,
        leg.expiry,
        leg.rule,
        value,
        _integral(leg.of) if relative else None,
    )


def _leg_yaml(leg: LegSpec) -> dict[str, Any]:
    """The catalogue mapping of a form leg; a leg without a rule gets none (the engine names
    it: "give exactly one strike rule")."""
    if leg.leg_type != "stock" and leg.rule is None:
        return {"type": leg.leg_type, "side": leg.side, "ratio": leg.ratio, "expiry": leg.expiry}
    return leg_mapping(leg)


def _rule_yaml(leg: LegSpec) -> dict[str, Any]:
    return {k: v for k, v in _leg_yaml(leg).items() if k not in ("type", "side", "ratio", "expiry")}


def strategy_mapping(
    name: str,
    legs: tuple[LegSpec, ...],
    *,
    description: str | None = None,
    cash_secured: bool = False,
) -> dict[str, Any]:
    """The config keys that give a strategy: ``strategy`` alone, with ``leg_overrides``, or with
    inline ``legs``.

    1. ``name`` is a catalogue strategy with the same ``description`` (``None``: any) and
       ``cash_secured``, and the legs have its structure (count, type, side, ratio, expiry):
       ``strategy: name`` plus ``leg_overrides`` for each leg whose strike rule differs (as
       ``engine/configs/iron_condor_spx.yaml`` does): the run keeps the catalogue's name.
    2. Otherwise inline ``legs`` (with ``cash_secured: true`` when set), named ``name``.

    >>> spec = catalogue()["bull_put_spread"]
    >>> twenty = (dataclasses.replace(spec.legs[0], value=0.2), spec.legs[1])
    >>> strategy_mapping("bull_put_spread", twenty)
    {'strategy': 'bull_put_spread', 'leg_overrides': {1: {'delta': 0.2}}}
    """
    legs = tuple(_form_leg(leg) for leg in legs)
    known = _catalogue().get(name)
    if (
        known is not None
        and (description is None or description == known.description)
        and cash_secured == known.cash_secured
        and _structure(legs) == _structure(known.legs)
    ):
        out: dict[str, Any] = {"strategy": name}
        changed = {
            no: _rule_yaml(leg)
            for no, (leg, cat) in enumerate(zip(legs, known.legs, strict=True), start=1)
            if leg != cat
        }
        if changed:
            out["leg_overrides"] = changed
        return out
    out = {"strategy": name, "legs": [_leg_yaml(leg) for leg in legs]}
    if cash_secured:
        out["cash_secured"] = True
    return out


_STRATEGY_KEYS = ("strategy", "legs", "leg_overrides", "cash_secured")


def _base_strategy(base: Mapping[str, Any]) -> StrategySpec | None:
    """The strategy the base mapping gives, or ``None`` when it gives none or an invalid one."""
    raw = {k: copy.deepcopy(base[k]) for k in _STRATEGY_KEYS if k in base}
    if "strategy" not in raw and "legs" not in raw:
        return None
    try:
        return BacktestConfig.from_mapping(raw).strategy
    except ConfigError:
        return None


def custom_name(template: str) -> str:
    """The name of a strategy whose legs no longer have ``template``'s structure: a catalogue
    name gets the prefix ``custom_`` (the run must not pass for the catalogue's), any other
    name (a clone's own) is kept.

    >>> custom_name("bull_put_spread"), custom_name("bxm")
    ('custom_bull_put_spread', 'bxm')
    """
    return f"custom_{template}" if template in _catalogue() else template


def config_mapping(values: FormValues, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The YAML-shaped mapping of ``values`` laid over ``base`` (default: the default config).

    Strategy keys (the base's own ones are replaced):

    - legs as the base's strategy has them (its defaults, a clone): the base's strategy keys,
      unchanged, so an untouched form keeps the base's run id;
    - else :func:`strategy_mapping` of ``values.strategy`` and the legs (a catalogue name with
      ``leg_overrides`` while the structure is the catalogue's), named :func:`custom_name` when
      the structure changed.

    Keys the form does not edit (``multiplier``, the tolerances, ``zero_bid``, ...) keep the
    base's values. Settings that do not apply are not sent: without a model signal no forecast
    model (it would be recorded as the run's without being used), without ``regime_in`` no
    regimes, without a prob_up signal no ``exit_on_signal``; ``back_*_dte`` only for legs on
    the back expiration. Everything else, hidden in the form or not, is sent as it is.
    """
    raw = copy.deepcopy(dict(base if base is not None else default_mapping()))
    v = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    legs = tuple(_form_leg(leg) for leg in values.legs)
    base_spec = _base_strategy(raw)
    kept = {k: raw[k] for k in _STRATEGY_KEYS if k in raw}
    for key in _STRATEGY_KEYS:
        raw.pop(key, None)
    if base_spec is not None and base_spec.name == values.strategy and legs == base_spec.legs:
        strategy = kept
    else:
        known = _catalogue().get(values.strategy)
        cash_secured = base_spec.cash_secured if base_spec is not None else False
        if known is not None:
            cash_secured = known.cash_secured
        same = known is not None and _structure(legs) == _structure(known.legs)
        name = values.strategy if same or known is None else custom_name(values.strategy)
        strategy = strategy_mapping(name, legs, cash_secured=cash_secured)
    raw = {**strategy, **raw}
    raw["underlying_symbol"] = values.underlying_symbol
    raw["option_roots"] = list(values.option_roots)
    raw["chain_source"] = values.chain_source
    raw["universe"] = values.universe
    for key in ("start_date", "end_date"):
        day = v[key]
        raw[key] = day.isoformat() if isinstance(day, dt.date) else day
    raw["initial_capital_usd"] = v["initial_capital_usd"]
    signal = v["signal"]
    entry = {
        **(raw.get("entry") or {}),
        "schedule": v["schedule"],
        "weekday": _integral(v["weekday"]),
        "target_dte": _integral(v["target_dte"]),
        "min_dte": _integral(v["min_dte"]),
        "max_dte": _integral(v["max_dte"]),
        "max_open_positions": _integral(v["max_open_positions"]),
        "signal": signal,
        "forecast_model": v["forecast_model"] if signal in MODEL_SIGNALS else None,
        "threshold": v["threshold"],
        "k": _integral(v["k"]),
        "regimes": list(v["regimes"]) if signal == "regime_in" else [],
    }
    if any(leg.expiry == "back" for leg in legs):
        entry.update(
            back_target_dte=_integral(v["back_target_dte"]),
            back_min_dte=_integral(v["back_min_dte"]),
            back_max_dte=_integral(v["back_max_dte"]),
        )
    raw["entry"] = entry
    raw["sizing"] = {
        **(raw.get("sizing") or {}),
        "mode": v["sizing_mode"],
        "contracts": _integral(v["contracts"]),
        "fraction": v["fraction"],
    }
    raw["execution"] = {
        **(raw.get("execution") or {}),
        "fill": v["fill"],
        "slippage_bps": v["slippage_bps"],
        "spread_fraction": v["spread_fraction"],
        "commission_per_contract_usd": v["commission_per_contract_usd"],
        "max_spread_pct": v["max_spread_pct"],
    }
    raw["exits"] = {
        **(raw.get("exits") or {}),
        "take_profit_pct": v["take_profit_pct"],
        "stop_loss_pct": v["stop_loss_pct"],
        "holding_days": _integral(v["holding_days"]),
        "exit_dte": _integral(v["exit_dte"]),
        "exit_on_signal": bool(v["exit_on_signal"]) and signal in EXIT_SIGNALS,
    }
    return raw


def build_config(
    values: FormValues,
    base: Mapping[str, Any] | None = None,
    catalogue: dict[str, StrategySpec] | None = None,
) -> BacktestConfig:
    """Validate ``values`` into a config (see :func:`config_mapping`).

    Raises
    ------
    ConfigError
        The engine's message naming the bad key and value, e.g.
        ``entry needs 0 <= min_dte <= target_dte <= max_dte, got 20, 50, 45`` or
        ``strategy 'bull_put_spread' leg 1: delta is the target |delta| in (0, 1), got 1.5``.
    """
    try:
        return BacktestConfig.from_mapping(config_mapping(values, base), catalogue)
    except StrategyError as exc:  # pragma: no cover - from_mapping already wraps these
        raise ConfigError(str(exc)) from exc


#: Config keys the form edits (``section.key`` or a top-level key); the others keep the base's.
FORM_KEYS: frozenset[str] = frozenset(
    {
        "strategy",
        "underlying_symbol",
        "option_roots",
        "chain_source",
        "universe",
        "start_date",
        "end_date",
        "initial_capital_usd",
        *(
            f"entry.{k}"
            for k in (
                "schedule",
                "weekday",
                "target_dte",
                "min_dte",
                "max_dte",
                "back_target_dte",
                "back_min_dte",
                "back_max_dte",
                "max_open_positions",
                "signal",
                "forecast_model",
                "threshold",
                "k",
                "regimes",
            )
        ),
        "sizing.mode",
        "sizing.contracts",
        "sizing.fraction",
        *(
            f"execution.{k}"
            for k in (
                "fill",
                "slippage_bps",
                "spread_fraction",
                "commission_per_contract_usd",
                "max_spread_pct",
            )
        ),
        *(
            f"exits.{k}"
            for k in (
                "take_profit_pct",
                "stop_loss_pct",
                "holding_days",
                "exit_dte",
                "exit_on_signal",
            )
        ),
    }
)


def settings_outside_form(base: Mapping[str, Any]) -> list[str]:
    """The settings of ``base`` the form does not show that differ from the engine's defaults,
    as ``key: value`` (``execution.zero_bid: trade``), sorted: what a run from the form also
    carries without the form saying so. ``[]`` when ``base`` is not a valid config.
    """
    try:
        cfg = BacktestConfig.from_mapping(copy.deepcopy(dict(base)))
    except ConfigError:
        return []
    default = BacktestConfig(strategy=cfg.strategy).to_dict()
    mine = cfg.to_dict()
    out = []
    for key, value in mine.items():
        if isinstance(value, dict) and key != "strategy":
            out += [
                f"{key}.{k}: {json.dumps(v)}"
                for k, v in value.items()
                if f"{key}.{k}" not in FORM_KEYS and v != default[key].get(k)
            ]
        elif key not in FORM_KEYS and value != default.get(key):
            out.append(f"{key}: {json.dumps(value)}")
    return sorted(out)


# --- the config as YAML ---------------------------------------------------------------------------


def _leg_of_dict(raw: Mapping[str, Any]) -> LegSpec:
    return LegSpec(
        raw["leg_type"],
        raw["side"],
        raw["ratio"],
        raw.get("expiry", "front"),
        raw.get("rule"),
        raw.get("value", 0.0),
        raw.get("of"),
    )


#: Top-level keys first in :func:`resolved_mapping` (what is traded, where, when), then the rest.
_TOP_ORDER = (
    "underlying_symbol",
    "option_roots",
    "chain_source",
    "universe",
    "start_date",
    "end_date",
    "initial_capital_usd",
)


def resolved_mapping(cfg: BacktestConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Every key of a config as a YAML mapping that builds the same config (same run id).

    Parameters
    ----------
    cfg
        A config, or its plain-data form (:meth:`engine.config.BacktestConfig.to_dict`, as
        ``backtest.runs.config_json`` stores it).

    Returns
    -------
    dict
        The strategy keys (:func:`strategy_mapping` of the config's strategy: the catalogue
        name, with ``leg_overrides`` where its strike rules differ, or inline ``legs``), then the
        top-level keys, then ``entry``, ``sizing``, ``execution``, ``exits`` with every key,
        defaults included.

    Raises
    ------
    KeyError
        A plain-data form without a ``strategy`` mapping of ``name``, ``description``, ``legs``.
    """
    data = cfg.to_dict() if isinstance(cfg, BacktestConfig) else copy.deepcopy(dict(cfg))
    strategy = data.pop("strategy")
    legs = tuple(_leg_of_dict(leg) for leg in strategy["legs"])
    out = strategy_mapping(
        strategy["name"],
        legs,
        description=strategy.get("description", ""),
        cash_secured=bool(strategy.get("cash_secured", False)),
    )
    sections = ("entry", "sizing", "execution", "exits")
    first = [k for k in _TOP_ORDER if k in data]
    for key in [*first, *sorted(k for k in data if k not in sections and k not in first)]:
        out[key] = data[key]
    for key in sections:
        if key in data:
            out[key] = dict(sorted(data[key].items()))
    return out


def config_from_json(config_json: str) -> BacktestConfig:
    """The config of a saved run, from ``backtest.runs.config_json``.

    Raises
    ------
    ConfigError
        Text that is not the JSON of a config, or a config the engine no longer accepts (its
        message names the key and value: a run written by an older engine).
    """
    try:
        data = json.loads(config_json)
        mapping = resolved_mapping(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"config_json is not a backtest config: {exc}") from exc
    return BacktestConfig.from_mapping(mapping)


def config_yaml(cfg: BacktestConfig | Mapping[str, Any], *, run_id: str | None = None) -> str:
    """The YAML text of :func:`resolved_mapping`, with a header saying how to run it.

    ``python -m engine run --config <file>`` reads it back to the same run id.
    """
    mapping = resolved_mapping(cfg)
    header = (
        f"# Backtest {run_id}: every key of the config it ran, defaults included.\n"
        if run_id
        else "# A backtest config: every key, defaults included.\n"
    )
    header += (
        "# Run it: python -m engine run --config <this file> (engine/config.py documents keys)\n"
    )
    body = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False, width=100)
    return header + body


# --- what the form offers -------------------------------------------------------------------------

_COVERAGE_SQL = """
select
    chain.underlying_symbol,
    chain.option_root,
    count(*) as n_quotes,
    min(chain.quote_date) as first_date,
    max(chain.quote_date) as last_date
from marts.fct_option_chain as chain
where chain.chain_source = ?
group by all
order by chain.underlying_symbol, chain.option_root
"""

_COVERAGE_SCHEMA = {
    "underlying_symbol": pl.String,
    "option_root": pl.String,
    "n_quotes": pl.Int64,
    "first_date": pl.Date,
    "last_date": pl.Date,
}


def chain_coverage(db: Path | str, chain_source: str) -> pl.DataFrame:
    """What the option chain of ``chain_source`` holds, for the form's underlying and roots.

    Returns
    -------
    polars.DataFrame
        One row per ``underlying_symbol`` and ``option_root`` of ``marts.fct_option_chain``
        where ``chain_source`` matches: ``n_quotes`` (int), ``first_date``, ``last_date``
        (dates). Empty when the warehouse has no chain view yet (the run then names what is
        missing, :class:`engine.io.MissingTableError`). About 0.1 s on the real chain and
        2.5 s on the modeled one (18 M rows): cache it.

    Raises
    ------
    FileNotFoundError
        When ``db`` does not exist.
    """
    try:
        with reader(db) as con:
            return db_frame(con, _COVERAGE_SQL, [chain_source]).cast(_COVERAGE_SCHEMA)
    except duckdb.CatalogException:
        return pl.DataFrame(schema=_COVERAGE_SCHEMA)
