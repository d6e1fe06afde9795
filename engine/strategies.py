"""The strategy catalogue (``engine/strategies.yaml``): declarative legs, loaded and checked.

A strategy is a list of :class:`LegSpec`; :func:`load_catalogue` validates every leg on load and
names the strategy, the leg and the bad value on error. The engine never special-cases a
strategy by name: everything it does follows from the legs (side, ratio, type, expiry, strike
rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

CATALOGUE_PATH = Path(__file__).with_name("strategies.yaml")

LegType = Literal["call", "put", "stock"]
Side = Literal["long", "short"]
Expiry = Literal["front", "back"]
StrikeRule = Literal["delta", "moneyness", "strike_offset_pct", "width_pct", "same_strike_as"]
STRIKE_RULES: tuple[str, ...] = (
    "delta",
    "moneyness",
    "strike_offset_pct",
    "width_pct",
    "same_strike_as",
)
_LEG_KEYS = {"type", "side", "ratio", "expiry", "of", *STRIKE_RULES}


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
        % of spot, or (``same_strike_as``) 0.
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
    where = f"strategy {strategy!r} leg {index}"
    if not isinstance(raw, dict):
        raise StrategyError(f"{where} must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - _LEG_KEYS)
    if unknown:
        raise StrategyError(f"{where} has unknown key(s) {unknown}; allowed: {sorted(_LEG_KEYS)}")
    leg_type, side, ratio = raw.get("type"), raw.get("side"), raw.get("ratio", 1)
    if leg_type not in ("call", "put", "stock"):
        raise StrategyError(f"{where}: type must be call, put or stock, got {leg_type!r}")
    if side not in ("long", "short"):
        raise StrategyError(f"{where}: side must be long or short, got {side!r}")
    if not isinstance(ratio, int) or isinstance(ratio, bool) or ratio < 1:
        raise StrategyError(f"{where}: ratio must be an integer >= 1, got {ratio!r}")
    expiry = raw.get("expiry", "front")
    if expiry not in ("front", "back"):
        raise StrategyError(f"{where}: expiry must be front or back, got {expiry!r}")
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
                f"{where}: {rule} must refer to an earlier leg (1..{n_previous}), got {of!r}"
            )
        value = 0.0 if rule == "same_strike_as" else value
    elif "of" in raw:
        raise StrategyError(f"{where}: 'of' only goes with width_pct, got it with {rule}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise StrategyError(f"{where}: {rule} must be a number, got {value!r}")
    if rule == "delta" and not 0.0 < value < 1.0:
        raise StrategyError(f"{where}: delta is the target |delta| in (0, 1), got {value!r}")
    if rule == "moneyness" and not 0.2 <= value <= 5.0:
        raise StrategyError(f"{where}: moneyness is S/K in [0.2, 5], got {value!r}")
    return LegSpec(leg_type, side, ratio, expiry, rule, float(value), of)


def parse_strategy(name: str, raw: object) -> StrategySpec:
    """Validate one catalogue entry (or an inline ``legs:`` strategy of a config)."""
    if not isinstance(raw, dict):
        raise StrategyError(f"strategy {name!r} must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - {"description", "legs", "cash_secured"})
    if unknown:
        raise StrategyError(f"strategy {name!r} has unknown key(s) {unknown}")
    legs_raw = raw.get("legs")
    if not isinstance(legs_raw, list) or not legs_raw or len(legs_raw) > 4:
        raise StrategyError(f"strategy {name!r} needs 1 to 4 legs, got {legs_raw!r}")
    legs = tuple(parse_leg(name, i, leg, i - 1) for i, leg in enumerate(legs_raw, start=1))
    if all(leg.leg_type == "stock" for leg in legs):
        raise StrategyError(f"strategy {name!r} has no option leg")
    for i, leg in enumerate(legs, start=1):
        if leg.of is not None and legs[leg.of - 1].leg_type == "stock":
            raise StrategyError(f"strategy {name!r} leg {i} refers to stock leg {leg.of}")
    cash_secured = raw.get("cash_secured", False)
    if not isinstance(cash_secured, bool):
        raise StrategyError(f"strategy {name!r}: cash_secured must be true or false")
    return StrategySpec(name, str(raw.get("description", "")), legs, cash_secured)


def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, StrategySpec]:
    """Every strategy of the catalogue, by name.

    Raises
    ------
    StrategyError
        On the first invalid strategy (named).
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("strategies"), dict):
        raise StrategyError(f"{path} must hold a 'strategies:' mapping")
    return {name: parse_strategy(name, spec) for name, spec in raw["strategies"].items()}
