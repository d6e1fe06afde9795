"""The strategy catalogue (``engine/strategies.yaml``): declarative legs, loaded and checked.

A strategy is a list of :class:`LegSpec`; :func:`load_catalogue` validates every leg on load and
names the strategy, the leg and the bad value (an excerpt of at most 80 characters) on error.
The engine never special-cases a strategy by name: everything it does follows from the legs
(side, ratio, type, expiry, strike rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from warehouse.safe_yaml import YamlFileError, excerpt, excerpt_keys, read_yaml

CATALOGUE_PATH = Path(__file__).with_name("strategies.yaml")

LegType = Literal["call", "put", "stock"]
Side = Literal["long", "short"]
Expiry = Literal["front", "back"]
StrikeRule = Literal[
    "delta",
    "moneyness",
    "strike_offset_pct",
    "strike_at_or_above_pct",
    "strike_at_or_below_pct",
    "width_pct",
    "same_strike_as",
]
STRIKE_RULES: tuple[str, ...] = (
    "delta",
    "moneyness",
    "strike_offset_pct",
    "strike_at_or_above_pct",
    "strike_at_or_below_pct",
    "width_pct",
    "same_strike_as",
)
_LEG_KEYS = {"type", "side", "ratio", "expiry", "of", *STRIKE_RULES}
#: Most units of one leg per lot (stock legs: shares, 100 per covered option).
MAX_RATIO = 10_000
#: ``strike_offset_pct`` range (% of spot): strikes from 0.2 to 5 times spot, the ``moneyness``
#: range; also the range of ``strike_at_or_above_pct`` and ``strike_at_or_below_pct``.
STRIKE_OFFSET_PCT_RANGE = (-80.0, 400.0)
#: ``width_pct`` range (% of spot between two legs' strikes).
WIDTH_PCT_RANGE = (-100.0, 100.0)


class StrategyError(ValueError):
    """A strategy definition is invalid; the message names the strategy, leg and value."""


@dataclass(frozen=True)
class LegSpec:
    """One leg of a strategy.

    Attributes
    ----------
    leg_type
        ``call``, ``put`` or ``stock`` (the underlying).
    side
        ``long`` (bought) or ``short`` (sold).
    ratio
        Units per lot: contracts for options, shares for stock (100 = one option multiplier).
    expiry
        ``front`` (the entry's target expiration) or ``back`` (the later one of calendars).
    rule, value
        How the strike is chosen (see the catalogue's header) and its target: |delta|, S/K,
        % of spot, or (``same_strike_as``) 0. ``strike_at_or_above_pct`` /
        ``strike_at_or_below_pct``: the closest listed strike at or above / at or below
        spot × (1 + value / 100) (Cboe BXM: "equal to or greater than the index level"; Cboe
        CLL / PPUT: "if this strike is not listed, the closest strike below is selected";
        :func:`engine.entries.complete_combos`).
    of
        1-based index of the leg a ``width_pct``/``same_strike_as`` rule is relative to.
    """

    leg_type: LegType
    side: Side
    ratio: int
    expiry: Expiry = "front"
    rule: StrikeRule | None = None
    value: float = 0.0
    of: int | None = None

    @property
    def sign(self) -> int:
        """+1 long, -1 short."""
        return 1 if self.side == "long" else -1


@dataclass(frozen=True)
class StrategySpec:
    """A named strategy: its legs and how its capital is reserved.

    Attributes
    ----------
    name, description
        Catalogue key and one line of text.
    legs
        The legs, in dependency order (a leg refers only to earlier ones).
    cash_secured
        Short puts reserve strike × multiplier in cash (the cash-secured put).
    """

    name: str
    description: str
    legs: tuple[LegSpec, ...]
    cash_secured: bool = False

    @property
    def option_legs(self) -> tuple[int, ...]:
        """0-based indices of the option legs."""
        return tuple(i for i, leg in enumerate(self.legs) if leg.leg_type != "stock")

    @property
    def has_back_expiry(self) -> bool:
        return any(leg.expiry == "back" for leg in self.legs)


def parse_leg(strategy: str, index: int, raw: object, n_previous: int) -> LegSpec:
    """Validate one leg mapping of ``strategy`` (``index`` is 1-based).

    Raises
    ------
    StrategyError
        Naming the strategy, the leg and the bad key or value.
    """
    where = f"strategy {excerpt(strategy)} leg {index}"
    if not isinstance(raw, dict):
        raise StrategyError(f"{where} must be a mapping, got {excerpt(raw)}")
    unknown = [k for k in raw if not isinstance(k, str) or k not in _LEG_KEYS]
    if unknown:
        raise StrategyError(
            f"{where} has unknown key(s) {excerpt_keys(unknown)}; allowed: {sorted(_LEG_KEYS)}"
        )
    leg_type, side, ratio = raw.get("type"), raw.get("side"), raw.get("ratio", 1)
    if leg_type not in ("call", "put", "stock"):
        raise StrategyError(f"{where}: type must be call, put or stock, got {excerpt(leg_type)}")
    if side not in ("long", "short"):
        raise StrategyError(f"{where}: side must be long or short, got {excerpt(side)}")
    if not isinstance(ratio, int) or isinstance(ratio, bool) or not 1 <= ratio <= MAX_RATIO:
        raise StrategyError(
            f"{where}: ratio must be an integer in [1, {MAX_RATIO}], got {excerpt(ratio)}"
        )
    expiry = raw.get("expiry", "front")
    if expiry not in ("front", "back"):
        raise StrategyError(f"{where}: expiry must be front or back, got {excerpt(expiry)}")
    rules = [r for r in STRIKE_RULES if r in raw]
    if leg_type == "stock":
        if rules or "of" in raw or expiry != "front":
            raise StrategyError(f"{where}: a stock leg takes no strike rule, expiry or 'of'")
        return LegSpec("stock", side, ratio)
    if len(rules) != 1:
        raise StrategyError(
            f"{where}: give exactly one strike rule of {list(STRIKE_RULES)}, got {rules}"
        )
    rule = rules[0]
    value = raw[rule]
    of = raw.get("of")
    if rule in ("width_pct", "same_strike_as"):
        of = value if rule == "same_strike_as" else of
        if not isinstance(of, int) or not 1 <= of <= n_previous:
            raise StrategyError(
                f"{where}: {rule} must refer to an earlier leg (1..{n_previous}), got {excerpt(of)}"
            )
        value = 0.0 if rule == "same_strike_as" else value
    elif "of" in raw:
        raise StrategyError(f"{where}: 'of' only goes with width_pct, got it with {rule}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise StrategyError(f"{where}: {rule} must be a number, got {excerpt(value)}")
    if rule == "delta" and not 0.0 < value < 1.0:
        raise StrategyError(f"{where}: delta is the target |delta| in (0, 1), got {excerpt(value)}")
    if rule == "moneyness" and not 0.2 <= value <= 5.0:
        raise StrategyError(f"{where}: moneyness is S/K in [0.2, 5], got {excerpt(value)}")
    for bounded, (low, high) in (
        ("strike_offset_pct", STRIKE_OFFSET_PCT_RANGE),
        ("strike_at_or_above_pct", STRIKE_OFFSET_PCT_RANGE),
        ("strike_at_or_below_pct", STRIKE_OFFSET_PCT_RANGE),
        ("width_pct", WIDTH_PCT_RANGE),
    ):
        if rule == bounded and not low <= value <= high:
            raise StrategyError(
                f"{where}: {rule} is % of spot in [{low:g}, {high:g}], got {excerpt(value)}"
            )
    return LegSpec(leg_type, side, ratio, expiry, rule, float(value), of)


def parse_strategy(name: str, raw: object) -> StrategySpec:
    """Validate one catalogue entry (or an inline ``legs:`` strategy of a config)."""
    label = excerpt(name)
    if not isinstance(raw, dict):
        raise StrategyError(f"strategy {label} must be a mapping, got {excerpt(raw)}")
    allowed = {"description", "legs", "cash_secured"}
    unknown = [k for k in raw if not isinstance(k, str) or k not in allowed]
    if unknown:
        raise StrategyError(f"strategy {label} has unknown key(s) {excerpt_keys(unknown)}")
    legs_raw = raw.get("legs")
    if not isinstance(legs_raw, list) or not legs_raw or len(legs_raw) > 4:
        raise StrategyError(f"strategy {label} needs 1 to 4 legs, got {excerpt(legs_raw)}")
    legs = tuple(parse_leg(name, i, leg, i - 1) for i, leg in enumerate(legs_raw, start=1))
    if all(leg.leg_type == "stock" for leg in legs):
        raise StrategyError(f"strategy {label} has no option leg")
    for i, leg in enumerate(legs, start=1):
        if leg.of is not None and legs[leg.of - 1].leg_type == "stock":
            raise StrategyError(f"strategy {label} leg {i} refers to stock leg {leg.of}")
    cash_secured = raw.get("cash_secured", False)
    if not isinstance(cash_secured, bool):
        raise StrategyError(
            f"strategy {label}: cash_secured must be true or false, got {excerpt(cash_secured)}"
        )
    return StrategySpec(name, str(raw.get("description", "")), legs, cash_secured)


def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, StrategySpec]:
    """Every strategy of the catalogue, by name.

    Raises
    ------
    StrategyError
        On the first invalid strategy (named), or a file :func:`warehouse.safe_yaml.read_yaml`
        refuses (an anchor or alias, invalid YAML; named with its line).
    """
    try:
        raw = read_yaml(path)
    except YamlFileError as exc:
        raise StrategyError(str(exc)) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("strategies"), dict):
        raise StrategyError(f"{path} must hold a 'strategies:' mapping")
    return {name: parse_strategy(name, spec) for name, spec in raw["strategies"].items()}
