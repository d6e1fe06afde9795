"""Typed, frozen, strict backtest configs, built from YAML (STYLE.md, 8).

A config names a strategy of the catalogue (``engine/strategies.yaml``) or gives its legs inline,
and four sections: ``entry``, ``sizing``, ``execution``, ``exits``. Unknown keys, wrong types and
out-of-range values raise :class:`ConfigError` naming the key, the file (when read from one:
``engine/configs/x.yaml: entry.target_dte must be in [0, 3650], got 999999999999``) and an
excerpt of the value of at most 80 characters (:func:`warehouse.safe_yaml.excerpt`). Every
number has a range. Units are in the key names (``_pct`` percent, ``_bps`` basis points,
``_usd`` dollars, ``dte`` calendar days, ``days`` trading days).

YAML is read by :func:`warehouse.safe_yaml.read_yaml`: anchors and aliases (the 516-byte alias
bomb that expands to 9**9 items) are refused before any value is built, naming file and line.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.strategies import StrategyError, StrategySpec, load_catalogue, parse_strategy
from warehouse.safe_yaml import YamlFileError, excerpt, excerpt_keys, read_yaml

DEFAULT_CONFIG_PATH = Path(__file__).with_name("configs") / "long_straddle_spx.yaml"

#: Largest calendar-day count of any ``*dte`` key: ten years, past the longest listed LEAPS.
MAX_DTE = 3650

Schedule = Literal["daily", "weekly", "monthly_expiration", "monthly_expiration_day"]
SignalKind = Literal[
    "none", "prob_up_at_least", "prob_up_at_most", "regime_in", "top_k", "selector"
]
#: The classes of the iv_regime models (``ml``: LOW / NORMAL / HIGH IV rank 5 days ahead).
REGIMES: tuple[str, ...] = ("LOW", "NORMAL", "HIGH")
ExpiryType = Literal["any", "monthly", "weekly"]
SizingMode = Literal["fixed", "premium_fraction", "risk_fraction"]
FillModel = Literal["mid", "touch", "mid_slippage", "spread_fraction"]
AmSettlement = Literal["soq_or_proxy", "soq_only"]
ChainSource = Literal["real", "modeled"]
StockExitPrice = Literal["settlement", "quote_time_spot"]
StockDividends = Literal["ex_dates", "trailing_yield"]
#: What idle cash earns (:mod:`engine.cash`): nothing, or the 1-month T-bill rate.
CashInterest = Literal["none", "tbill_1m"]
#: Whether a quote without a bid may open a leg (:func:`engine.entries.tradable`).
ZeroBid = Literal["skip", "trade"]
#: How a back leg's strike is chosen on each entry (:func:`engine.entries.hold_standing_strikes`).
BackStrike = Literal["rule", "standing"]


class ConfigError(ValueError):
    """A config value is invalid; the message names the key and the value."""


@dataclass(frozen=True)
class EntryConfig:
    """When positions open and on which contracts.

    Attributes
    ----------
    schedule
        ``daily`` (every trading day), ``weekly`` (the first trading day on or after each
        ``weekday``), ``monthly_expiration`` (the first trading day after each standard
        monthly expiration, the third Friday) or ``monthly_expiration_day`` (the expiration
        session itself, the third Friday or the session before it when that Friday is a
        holiday: the roll date of Cboe's BuyWrite indices, which write the next call after the
        expiring one settles on the SOQ; :func:`engine.entries.scheduled_days`).
    weekday
        ISO weekday of the weekly schedule (1 = Monday).
    target_dte, min_dte, max_dte
        Front expiration: the one nearest ``target_dte`` within ``[min_dte, max_dte]``
        (calendar days, each in ``[0, MAX_DTE]``).
    back_target_dte, back_min_dte, back_max_dte
        Back expiration of calendars and diagonals (after the front one; calendar days in
        ``[0, MAX_DTE]``). Without ``back_expiry_months`` the back window lies wholly after
        the front one (``max_dte < back_min_dte``).
    back_expiry_months
        Month numbers (1-12) the back expiration of a strategy with ``expiry: back`` legs must
        fall in; it must then also be a standard monthly expiration (``expiry_type``
        ``monthly``, the third Friday). Empty (default): any month and expiry type. With it set
        the back window may overlap the front one (``back_min_dte <= max_dte`` is allowed) and
        the back expiration is the one nearest ``back_target_dte`` on or after the front
        expiration, possibly the same one: ``[3, 6, 9, 12]`` holds a March-cycle quarterly
        option beside the monthly one, as the Cboe S&P 500 95-110 Collar Index (CLL) holds
        its quarterly put beside the monthly call (Cboe, "CBOE S&P 500 95-110 Collar Index
        (CLL)", 2008: "buying 5 % out-of-the-money SPX puts that expire in the March
        quarterly cycle"; :func:`engine.entries.expiration_combos`). Sorted when read from a
        mapping (:meth:`BacktestConfig.from_mapping`): the order of the months is not hashed.
    expiry_type
        ``any``, ``monthly`` (standard third-Friday) or ``weekly`` expirations only.
    signal
        ``none``; ``prob_up_at_least`` / ``prob_up_at_most`` (the day's ``p_up`` of
        ``forecast_model`` against ``threshold``); ``regime_in`` (an ``iv_regime`` model's
        probability that the regime 5 sessions ahead is one of ``regimes``, the sum of their
        class probabilities, at least ``threshold``); ``top_k`` (single-leg strategies: the ``k``
        contracts with the highest score of a contract model, e.g. ``xgb_option_return_5d``);
        ``selector`` (days when ``forecasts.fct_strategy_signals`` picks this strategy; its
        HALF size tier halves the lots).
    forecast_model, threshold, k
        Model of the signal, probability threshold in [0, 1], contracts per day for top_k.
    regimes
        The regimes of ``regime_in`` (a non-empty subset of :data:`REGIMES`); empty otherwise.
    signal_lag_sessions
        When a signal of ``as_of_date`` t may fill. ``None`` (default): at the first quotes taken
        after t's close (:func:`engine.sessions.signal_entry_sessions`; with the 15:45 ET
        snapshots of the embedded chain, the next session's). An integer ``n`` fills on the
        ``n``-th session after t, as stated (``0`` is look-ahead on 15:45 quotes).
    back_strike
        ``rule`` (default): every entry chooses each leg's strike by its rule. ``standing``: a
        back leg (``expiry: back``) whose expiration is the one the previous entry's same leg
        had keeps that entry's strike (the *standing* option: closed and bought again at the
        same quote, so at a mid fill without costs the same as holding it), unless the strike
        is above the entry's lowest short call strike, when the rule chooses again. This is
        the Cboe CLL's put: bought on the quarterly roll date and held to its quarterly
        expiration, "if the strike of the call is smaller than the strike of the standing
        put on a non-quarterly roll date, that put is sold and replaced by a new 5 % OTM put
        with the same quarterly expiration" (Cboe, "CBOE S&P 500 95-110 Collar Index (CLL)",
        2008); :func:`engine.entries.hold_standing_strikes`.
    max_open_positions
        Entries beyond this many open positions are skipped (``>= 1``).
    delta_tolerance, moneyness_tolerance, strike_tolerance_pct
        How far the matched contract may be from a leg's target: |delta|, S/K, and % of spot
        (strike rules ``strike_offset_pct``, ``width_pct``, ``same_strike_as``).
    """

    schedule: Schedule = "daily"
    weekday: int = 1
    target_dte: int = 30
    min_dte: int = 20
    max_dte: int = 45
    back_target_dte: int = 60
    back_min_dte: int = 46
    back_max_dte: int = 100
    back_expiry_months: tuple[int, ...] = ()
    back_strike: BackStrike = "rule"
    expiry_type: ExpiryType = "any"
    signal: SignalKind = "none"
    forecast_model: str | None = None
    threshold: float = 0.5
    k: int = 1
    regimes: tuple[str, ...] = ()
    signal_lag_sessions: int | None = None
    max_open_positions: int = 100
    delta_tolerance: float = 0.10
    moneyness_tolerance: float = 0.02
    strike_tolerance_pct: float = 0.5


@dataclass(frozen=True)
class SizingConfig:
    """How many lots each entry buys or sells.

    Attributes
    ----------
    mode
        ``fixed`` (``contracts`` lots), ``premium_fraction`` (``fraction`` of equity in net
        premium, debit or credit) or ``risk_fraction`` (``fraction`` of equity at risk: the
        maximum loss of a defined-risk structure, else its margin).
    contracts, fraction
        Lots for ``fixed``; equity fraction (0, 1] for the others. A lot is one unit of every
        leg's ratio.
    max_contracts_per_option
        Cap on lots × ratio of any one option leg.
    max_gross_notional_fraction
        Cap on the open positions' short option notional (Σ short contracts × strike ×
        multiplier; long wings reduce risk and do not count) as a multiple of equity.
    max_margin_fraction
        Cap on the open positions' margin (:mod:`engine.margin`, the Cboe strategy-based
        requirement) as a fraction of equity; an entry that would exceed it is cut down or
        skipped (``backtest.skipped_entries`` names the cap).
    """

    mode: SizingMode = "fixed"
    contracts: int = 1
    fraction: float = 0.02
    max_contracts_per_option: int = 1000
    max_gross_notional_fraction: float = 50.0
    max_margin_fraction: float = 1.0


@dataclass(frozen=True)
class ExecutionConfig:
    """Fills and costs.

    Attributes
    ----------
    fill
        ``mid``; ``touch`` (buy at the ask, sell at the bid); ``mid_slippage`` (mid ×
        (1 ± slippage_bps / 1e4), against the trader); ``spread_fraction`` (mid ±
        spread_fraction × half the bid-ask spread; 1 = touch).
    slippage_bps, spread_fraction
        Parameters of the fill model.
    commission_per_contract_usd
        Per option contract per leg, at entry and at a traded exit (not at expiry).
    fee_per_order_usd
        Per order (the entry, and a traded exit).
    max_spread_pct
        Legs whose bid-ask spread exceeds this % of mid at entry are not traded.
    multiplier
        USD per index point per contract.
    am_settlement
        AM-settled contracts (SPX monthlies) settle on the Special Opening Quotation.
        ``soq_or_proxy`` (default) settles them on the SOQ when a settlement-values file is loaded,
        else on the documented proxy of ``marts.fct_settlement_values`` (the index's open, or its
        previous close moved by the proxy ETF's opening gap), recorded in ``settlement_method``;
        ``soq_only`` refuses to enter an AM contract without an SOQ for its expiration.
    zero_bid
        ``skip`` (default): a quote whose bid is 0 opens no leg (a sell needs a bid).
        ``trade``: it may, whatever its spread (``(ask - 0) / mid`` measures nothing there; a
        modeled far wing's mid is its model value): a short leg is written for nothing (at the
        bid, 0,
        whatever the fill model: no one pays more), a long one bought at the fill model's
        price in ``[0, ask]``. The Cboe benchmark rules write the option their strike rule
        names, bid or not (CLL's 110 % call in a calm month); counted in
        ``backtest.runs.approximations``.
    stock_exit_price
        What a stock leg of a position that settles at expiration closes at: ``settlement``
        (default: the price its options settle against, the SOQ or the close) or
        ``quote_time_spot`` (the chain's spot at the expiration session's quote time, the
        moment an entry on that session buys the stock again: a roll on the expiration session
        then holds the stock without a gap, as the Cboe BuyWrite indices do;
        :func:`engine.exits.price_exits`).
    """

    fill: FillModel = "mid"
    slippage_bps: float = 0.0
    spread_fraction: float = 0.5
    commission_per_contract_usd: float = 0.0
    fee_per_order_usd: float = 0.0
    max_spread_pct: float = 100.0
    multiplier: int = 100
    am_settlement: AmSettlement = "soq_or_proxy"
    stock_exit_price: StockExitPrice = "settlement"
    zero_bid: ZeroBid = "skip"


@dataclass(frozen=True)
class ExitConfig:
    """When positions close (the first rule that fires; expiry settles whatever is left).

    Attributes
    ----------
    take_profit_pct, stop_loss_pct
        % of the entry debit (debits) or of the maximum profit, the credit (credits); e.g.
        50 and 200 for a credit spread. ``None`` disables.
    holding_days
        Trading days after entry; ``None`` holds to expiry.
    exit_dte
        Close when the front expiration is this many calendar days away or less.
    exit_on_signal
        Close when the entry signal no longer holds (prob_up signals only).
    """

    take_profit_pct: float | None = None
    stop_loss_pct: float | None = None
    holding_days: int | None = None
    exit_dte: int | None = None
    exit_on_signal: bool = False


#: Keys added after runs were written, ``(section or None, key) -> default``: hashed only when set
#: away from the default (:attr:`BacktestConfig.config_hash`).
HASHED_ONLY_AWAY_FROM_DEFAULT: dict[tuple[str | None, str], Any] = {
    (None, "chain_source"): "real",
    (None, "stock_dividends"): "ex_dates",
    ("execution", "stock_exit_price"): "settlement",
    ("entry", "regimes"): [],
    (None, "cash_interest"): "none",
    ("entry", "back_expiry_months"): [],
    ("execution", "zero_bid"): "skip",
    ("entry", "back_strike"): "rule",
}


@dataclass(frozen=True)
class BacktestConfig:
    """A whole backtest: strategy, data selection and the four sections.

    Attributes
    ----------
    strategy
        The strategy (catalogue entry or inline legs).
    underlying_symbol, option_roots
        What is traded; roots in order of preference when two list the same expiration.
    universe
        ``default`` (``marts.fct_option_quotes_universe``) or a named universe
        (``marts.fct_option_universe_<name>``) that entries are chosen from.
    chain_source
        Which option chain the run trades and marks on (``marts.fct_option_chain`` rows of
        that ``chain_source``, and the universe's rows of it): ``real`` (default, the market
        quotes of ``marts.fct_option_features``) or ``modeled`` (``marts.fct_option_quotes_
        modeled``: model prices, not market quotes; see :mod:`warehouse.modeled_chain`). A
        modeled quote has no open interest or volume, so only a universe whose
        ``min_open_interest`` and ``min_volume`` are 0 holds modeled quotes (macro
        ``option_universe``). Part of the config hash: a modeled run never shares a run id
        with a real one.
    stock_dividends
        What stock legs receive: ``ex_dates`` (default: ``marts.fct_dividends`` of the
        underlying on its ex-dates; none for an index, whose own dividends are not in the data)
        or ``trailing_yield`` (a total-return index: every session accrues the underlying's
        trailing 12-month dividend yield of ``marts.fct_modeled_chain_inputs`` on the
        previous close, SPY's yield for SPX, the yield the modeled chain is priced with;
        :func:`engine.dividends.yield_accruals`).
    cash_interest
        What the cash account earns: ``none`` (default: cash earns nothing) or ``tbill_1m``
        (the account, premiums and collateral included, accrues the 1-month Treasury bill rate
        of ``marts.fct_underlying_daily.rate_1m`` every session, ``rate_3m`` where it is NULL:
        the Treasury bills of the Cboe PutWrite, iron condor and iron butterfly indices;
        :mod:`engine.cash`). Negative cash (a debit balance) is charged the same rate.
    start_date, end_date
        Optional ISO dates bounding the run: its session calendar, entries and equity curve
        (default: the chain's first and last quoted session).
    max_gap_sessions
        Most consecutive NYSE sessions without quotes the run may span (vendor-missing days are
        stale days); a longer gap is refused with its dates (:mod:`engine.sessions`).
    initial_capital_usd
        Starting cash.
    leg_overrides
        Per leg number (1-based), a strike rule replacing the catalogue's, e.g.
        ``{1: {delta: 0.16}, 2: {width_pct: -5.0, of: 1}}``; validated like catalogue legs.

    Two YAML keys build :attr:`strategy` instead of a named catalogue entry: ``legs`` (inline
    legs, validated like the catalogue's) and, with them only, ``cash_secured`` (``true``: short
    puts reserve strike × multiplier in cash, as the catalogue's ``cash_secured_put`` does;
    :class:`engine.strategies.StrategySpec`). Both are part of the strategy, hence of the hash.
    """

    strategy: StrategySpec
    underlying_symbol: str = "SPX"
    option_roots: tuple[str, ...] = ("SPXW", "SPX")
    universe: str = "default"
    chain_source: ChainSource = "real"
    stock_dividends: StockDividends = "ex_dates"
    cash_interest: CashInterest = "none"
    start_date: str | None = None
    end_date: str | None = None
    max_gap_sessions: int = 5
    initial_capital_usd: float = 100_000.0
    entry: EntryConfig = field(default_factory=EntryConfig)
    sizing: SizingConfig = field(default_factory=SizingConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    exits: ExitConfig = field(default_factory=ExitConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the strategy as its name and legs), stable key order."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str, sort_keys=True))

    @property
    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (16 hex digits).

        The keys of :data:`HASHED_ONLY_AWAY_FROM_DEFAULT` (``chain_source``,
        ``stock_dividends``, ``execution.stock_exit_price``, ``entry.regimes``,
        ``cash_interest``, ``entry.back_expiry_months``, ``execution.zero_bid``,
        ``entry.back_strike``) are hashed only when they are not
        their default: a config that leaves them alone keeps the hash (and run id) it had
        before they existed (its ``config_json`` shows them all), so the runs already in
        ``backtest.*`` stay addressable, while a config that sets one (a modeled chain, a
        yield-accruing stock leg, a regime gate, interest on cash, quarterly back
        expirations) always hashes differently.
        """
        canonical = self.to_dict()
        for (section, key), default in HASHED_ONLY_AWAY_FROM_DEFAULT.items():
            holder = canonical if section is None else canonical[section]
            if holder[key] == default:
                del holder[key]
        text = json.dumps(canonical, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def run_id(self) -> str:
        """Deterministic run id: the strategy name and the config hash."""
        return f"{self.strategy.name}-{self.config_hash[:12]}"

    @classmethod
    def from_mapping(
        cls,
        raw: dict[str, Any],
        catalogue: dict[str, StrategySpec] | None = None,
        *,
        source: Path | str | None = None,
    ) -> BacktestConfig:
        """Build and validate a config from a mapping (parsed YAML).

        Parameters
        ----------
        raw
            The mapping, e.g. from :func:`read_mapping`.
        catalogue
            Strategies by name (default: :func:`engine.strategies.load_catalogue`).
        source
            Where ``raw`` came from (its file): every error message starts with it.

        Raises
        ------
        ConfigError
            Unknown keys, wrong types, out-of-range values, an unknown strategy (named, with
            the known ones), or an invalid inline strategy; the message names the key and
            ``source``, and quotes the value in at most 80 characters.
        """
        try:
            return cls._from_mapping(raw, catalogue)
        except ConfigError as exc:
            if source is None:
                raise
            raise ConfigError(f"{source}: {exc}") from exc

    @classmethod
    def _from_mapping(
        cls, raw: dict[str, Any], catalogue: dict[str, StrategySpec] | None
    ) -> BacktestConfig:
        if not isinstance(raw, dict):
            raise ConfigError(f"a config must be a mapping, got {type(raw).__name__}")
        raw = dict(raw)
        sections = {
            "entry": EntryConfig,
            "sizing": SizingConfig,
            "execution": ExecutionConfig,
            "exits": ExitConfig,
        }
        top = {f.name for f in dataclasses.fields(cls)} | {"legs", "leg_overrides", "cash_secured"}
        unknown = _unknown_keys(raw, top)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; allowed: {sorted(top)}")
        name = raw.pop("strategy", None)
        legs = raw.pop("legs", None)
        overrides = raw.pop("leg_overrides", None)
        cash_secured = raw.pop("cash_secured", None)
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(f"strategy must be a strategy name, got {excerpt(name)}")
        if cash_secured is not None and legs is None:
            raise ConfigError(
                "cash_secured goes with inline legs; a catalogue strategy sets its own "
                f"(e.g. cash_secured_put), got cash_secured {excerpt(cash_secured)} with "
                f"strategy {excerpt(name)}"
            )
        try:
            if legs is not None:
                inline = {"legs": legs}
                if cash_secured is not None:
                    inline["cash_secured"] = cash_secured
                strategy = parse_strategy(name or "custom", inline)
            else:
                known = catalogue if catalogue is not None else load_catalogue()
                if name not in known:
                    raise ConfigError(f"unknown strategy {excerpt(name)}; known: {sorted(known)}")
                strategy = known[name]
            if overrides is not None:
                strategy = override_legs(strategy, overrides)
        except StrategyError as exc:
            raise ConfigError(str(exc)) from exc
        values: dict[str, Any] = {"strategy": strategy}
        for key, section in sections.items():
            values[key] = _section(section, key, raw.pop(key, None) or {})
        if "option_roots" in raw:
            roots = raw.pop("option_roots")
            if (
                not isinstance(roots, list)
                or not roots
                or not all(isinstance(r, str) and r for r in roots)
            ):
                raise ConfigError(
                    f"option_roots must be a non-empty list of roots, got {excerpt(roots)}"
                )
            values["option_roots"] = tuple(roots)
        for key, value in raw.items():
            values[key] = _typed(cls, key, value)
        cfg = cls(**values)
        _check(cfg)
        return cfg


def override_legs(strategy: StrategySpec, overrides: Any) -> StrategySpec:
    """``strategy`` with the strike rule of some legs replaced (``leg_overrides``).

    Raises
    ------
    ConfigError
        Overrides that are not a mapping of existing option leg numbers to one strike rule.
    StrategyError
        An invalid rule or value (named, as for catalogue legs).
    """
    if not isinstance(overrides, dict) or not overrides:
        raise ConfigError(
            f"leg_overrides must map leg numbers to strike rules, got {excerpt(overrides)}"
        )
    legs = [leg_mapping(leg) for leg in strategy.legs]
    for no, rule in overrides.items():
        if not isinstance(no, int) or isinstance(no, bool) or not 1 <= no <= len(legs):
            raise ConfigError(
                f"leg_overrides: leg number must be 1..{len(legs)} of {excerpt(strategy.name)}, "
                f"got {excerpt(no)}"
            )
        if legs[no - 1]["type"] == "stock":
            raise ConfigError(f"leg_overrides: leg {no} of {excerpt(strategy.name)} is stock")
        if not isinstance(rule, dict):
            raise ConfigError(
                f"leg_overrides: leg {no} needs a strike rule mapping, got {excerpt(rule)}"
            )
        kept = {k: v for k, v in legs[no - 1].items() if k in ("type", "side", "ratio", "expiry")}
        legs[no - 1] = {**kept, **rule}
    raw = {"description": strategy.description, "legs": legs}
    if strategy.cash_secured:
        raw["cash_secured"] = True
    return parse_strategy(strategy.name, raw)


def leg_mapping(leg: Any) -> dict[str, Any]:
    """The catalogue mapping of a :class:`engine.strategies.LegSpec`."""
    out: dict[str, Any] = {"type": leg.leg_type, "side": leg.side, "ratio": leg.ratio}
    if leg.leg_type == "stock":
        return out
    out["expiry"] = leg.expiry
    if leg.rule == "same_strike_as":
        out["same_strike_as"] = leg.of
    elif leg.rule == "width_pct":
        out.update(width_pct=leg.value, of=leg.of)
    else:
        out[leg.rule] = leg.value
    return out


def _typed(cls: type, key: str, value: Any, where: str = "") -> Any:
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    hint = str(hints[key])
    name = f"{where}{key}"
    if value is None and "None" in hint:
        return None
    if hint.startswith("Literal") or hint in (
        "Schedule",
        "SignalKind",
        "ExpiryType",
        "SizingMode",
        "FillModel",
        "AmSettlement",
        "ChainSource",
        "StockExitPrice",
        "StockDividends",
        "CashInterest",
        "ZeroBid",
        "BackStrike",
    ):
        allowed = {
            "Schedule": Schedule,
            "SignalKind": SignalKind,
            "ExpiryType": ExpiryType,
            "SizingMode": SizingMode,
            "FillModel": FillModel,
            "AmSettlement": AmSettlement,
            "ChainSource": ChainSource,
            "StockExitPrice": StockExitPrice,
            "StockDividends": StockDividends,
            "CashInterest": CashInterest,
            "ZeroBid": ZeroBid,
            "BackStrike": BackStrike,
        }[hint].__args__
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {list(allowed)}, got {excerpt(value)}")
        return value
    if hint.startswith("tuple[str"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{name} must be a list of names, got {excerpt(value)}")
        return tuple(value)
    if hint.startswith("tuple[int"):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{name} must be a list of integers, got {excerpt(value)}")
        # a set of months: its order carries no meaning, so it does not reach the hash either
        return tuple(sorted(value))
    if hint.startswith("int"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name} must be an integer, got {excerpt(value)}")
        return value
    if hint.startswith("float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {excerpt(value)}")
        return float(value)
    if hint.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {excerpt(value)}")
        return value
    if hint.startswith("str"):
        if key in ("start_date", "end_date") and isinstance(value, datetime.date):
            if isinstance(value, datetime.datetime):
                raise ConfigError(f"{name} must be a date, got the date and time {excerpt(value)}")
            return value.isoformat()  # YAML reads an unquoted 2019-04-25 as a date
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {excerpt(value)}")
        return value
    raise ConfigError(f"{name} cannot be set")  # pragma: no cover - nested sections


def _unknown_keys(raw: dict[Any, Any], allowed: set[str]) -> str:
    """The keys of ``raw`` not in ``allowed`` as ``['a', 1]`` (a YAML key may be any value; see
    :func:`warehouse.safe_yaml.excerpt_keys`), or ``""`` when there are none."""
    unknown = [k for k in raw if not isinstance(k, str) or k not in allowed]
    return excerpt_keys(unknown) if unknown else ""


def _section(cls: type, key: str, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key} must be a mapping, got {excerpt(raw)}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = _unknown_keys(raw, allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {key}; allowed: {sorted(allowed)}")
    return cls(**{k: _typed(cls, k, v, f"{key}.") for k, v in raw.items()})


def _range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {excerpt(value)}")


def _check(cfg: BacktestConfig) -> None:
    e, s, x, q = cfg.entry, cfg.sizing, cfg.execution, cfg.exits
    for key in (
        "min_dte",
        "target_dte",
        "max_dte",
        "back_min_dte",
        "back_target_dte",
        "back_max_dte",
    ):
        _range(f"entry.{key}", getattr(e, key), 0, MAX_DTE)
    if not 0 <= e.min_dte <= e.target_dte <= e.max_dte:
        raise ConfigError(
            "entry needs 0 <= min_dte <= target_dte <= max_dte, got "
            f"{e.min_dte}, {e.target_dte}, {e.max_dte}"
        )
    if e.back_expiry_months:
        bad = [m for m in e.back_expiry_months if not 1 <= m <= 12]
        if bad or len(set(e.back_expiry_months)) != len(e.back_expiry_months):
            raise ConfigError(
                "entry.back_expiry_months must list distinct month numbers in [1, 12], got "
                f"{excerpt(list(e.back_expiry_months))}"
            )
        if not cfg.strategy.has_back_expiry:
            raise ConfigError(
                f"entry.back_expiry_months {excerpt(list(e.back_expiry_months))} needs a leg "
                f"with expiry: back; strategy {excerpt(cfg.strategy.name)} has none"
            )
        # the back window may overlap the front one: the back expiration is then chosen on or
        # after the front expiration (engine.entries.expiration_combos)
        if not e.back_min_dte <= e.back_target_dte <= e.back_max_dte:
            raise ConfigError(
                "entry.back_expiry_months needs back_min_dte <= back_target_dte <= "
                f"back_max_dte, got {e.back_min_dte}, {e.back_target_dte}, {e.back_max_dte}"
            )
    elif cfg.strategy.has_back_expiry and not (
        e.max_dte < e.back_min_dte <= e.back_target_dte <= e.back_max_dte
    ):
        raise ConfigError(
            "calendars need max_dte < back_min_dte <= back_target_dte <= back_max_dte, got "
            f"{e.max_dte}, {e.back_min_dte}, {e.back_target_dte}, {e.back_max_dte}"
        )
    if e.back_strike == "standing" and not cfg.strategy.has_back_expiry:
        raise ConfigError(
            "entry.back_strike 'standing' holds the strike of a leg with expiry: back; "
            f"strategy {excerpt(cfg.strategy.name)} has none"
        )
    _range("entry.weekday", e.weekday, 1, 5)
    _range("entry.threshold", e.threshold, 0.0, 1.0)
    _range("entry.k", e.k, 1, 1000)
    _range("entry.max_open_positions", e.max_open_positions, 1, 100_000)
    _range("entry.signal_lag_sessions", e.signal_lag_sessions, 0, 250)
    _range("max_gap_sessions", cfg.max_gap_sessions, 0, 100_000)
    _range("entry.delta_tolerance", e.delta_tolerance, 0.0, 1.0)
    _range("entry.moneyness_tolerance", e.moneyness_tolerance, 0.0, 1.0)
    _range("entry.strike_tolerance_pct", e.strike_tolerance_pct, 0.0, 50.0)
    if e.signal != "none" and not e.forecast_model:
        raise ConfigError(f"entry.signal {excerpt(e.signal)} needs entry.forecast_model")
    if e.signal == "regime_in":
        unknown = [r for r in e.regimes if r not in REGIMES]
        if not e.regimes or unknown or len(set(e.regimes)) != len(e.regimes):
            raise ConfigError(
                "entry.regimes must list distinct regimes of "
                f"{list(REGIMES)} for entry.signal 'regime_in', got {excerpt(list(e.regimes))}"
            )
    elif e.regimes:
        raise ConfigError(
            f"entry.regimes {excerpt(list(e.regimes))} needs entry.signal 'regime_in', "
            f"got {excerpt(e.signal)}"
        )
    if e.signal == "top_k" and len(cfg.strategy.legs) != 1:
        raise ConfigError("entry.signal 'top_k' picks contracts: it needs a single-leg strategy")
    _range("sizing.contracts", s.contracts, 1, 100_000)
    _range("sizing.fraction", s.fraction, 1e-6, 1.0)
    _range("sizing.max_contracts_per_option", s.max_contracts_per_option, 1, 1_000_000)
    _range("sizing.max_gross_notional_fraction", s.max_gross_notional_fraction, 0.0, 1000.0)
    _range("sizing.max_margin_fraction", s.max_margin_fraction, 0.0, 100.0)
    _range("execution.slippage_bps", x.slippage_bps, 0.0, 10_000.0)
    _range("execution.spread_fraction", x.spread_fraction, 0.0, 1.0)
    _range("execution.commission_per_contract_usd", x.commission_per_contract_usd, 0.0, 1000.0)
    _range("execution.fee_per_order_usd", x.fee_per_order_usd, 0.0, 10_000.0)
    _range("execution.max_spread_pct", x.max_spread_pct, 0.0, 1000.0)
    _range("execution.multiplier", x.multiplier, 1, 10_000)
    _range("exits.take_profit_pct", q.take_profit_pct, 0.0, 10_000.0)
    _range("exits.stop_loss_pct", q.stop_loss_pct, 0.0, 10_000.0)
    _range("exits.holding_days", q.holding_days, 1, 10_000)
    _range("exits.exit_dte", q.exit_dte, 0, MAX_DTE)
    if q.exit_on_signal and e.signal not in ("prob_up_at_least", "prob_up_at_most"):
        raise ConfigError("exits.exit_on_signal needs a prob_up entry.signal")
    _range("initial_capital_usd", cfg.initial_capital_usd, 1.0, 1e12)
    for name in ("start_date", "end_date"):
        value = getattr(cfg, name)
        if value is not None:
            try:
                datetime.date.fromisoformat(value)
            except ValueError as exc:
                raise ConfigError(f"{name} must be an ISO date, got {excerpt(value)}") from exc
    if not cfg.universe.replace("_", "").isalnum():
        raise ConfigError(f"universe must be letters, digits and '_', got {excerpt(cfg.universe)}")


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> BacktestConfig:
    """Read and validate a YAML config.

    Raises
    ------
    ConfigError
        Unreadable YAML (with the file and line) or any invalid value (with the file and the key).
    FileNotFoundError
        If ``path`` does not exist.
    """
    return BacktestConfig.from_mapping(read_mapping(path), source=path)


def read_mapping(path: Path | str = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    """The raw YAML mapping of a config file (not yet validated; an empty file gives ``{}``).

    Read by :func:`warehouse.safe_yaml.read_yaml`: safe tags only, at most 1 MB, and no anchors
    or aliases, refused before any value is built.

    Raises
    ------
    ConfigError
        Unreadable YAML, an anchor or alias, or a document that is not a mapping; the message
        starts with the file (and ``:line:column`` where the YAML is at fault).
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    try:
        raw = read_yaml(path)
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {type(raw).__name__}")
    return raw
