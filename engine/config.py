"""Typed, frozen, strict configuration of a backtest run, built from YAML.

The configuration is the whole identity of a run: :attr:`StraddleConfig.run_id` is a hash of its
canonical JSON (defaults filled in), so the same settings always write the same rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

Strategy = Literal["long_straddle"]
EntrySignal = Literal["prob_up_at_least", "prob_up_at_most"]
EquityWindow = Literal["forecast", "data"]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "configs" / "long_straddle_spx.yaml"


class ConfigError(ValueError):
    """A configuration key is unknown, missing, of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StraddleConfig:
    """Settings of one long ATM straddle backtest gated by an ML forecast.

    Parameters
    ----------
    strategy
        Only ``'long_straddle'``.
    underlying_symbol
        Underlying of the chain and of the forecasts, e.g. ``'SPX'``.
    option_roots
        Option roots to trade, in order of preference when two roots offer the same expiration
        (``'SPXW'`` PM-settled weeklies, ``'SPX'`` AM-settled monthlies). Both legs always come
        from one root.
    target_dte, min_dte, max_dte
        Calendar days to expiration: the expiration nearest ``target_dte`` within
        ``[min_dte, max_dte]`` is chosen. ``0 <= min_dte <= target_dte <= max_dte``.
    holding_days
        Trading days to hold (``>= 1``); the trade settles at expiration if that comes first.
    forecast_model
        ``ml.predictions.model_name`` that gates entries.
    forecast_model_version
        ``ml.predictions.model_version`` to use; ``None`` (default) requires the model to have
        exactly one version for the underlying.
    entry_signal
        ``'prob_up_at_least'`` enters when ``prob_up >= entry_threshold``;
        ``'prob_up_at_most'`` when ``prob_up <= entry_threshold``.
    entry_threshold
        Decimal probability in ``[0, 1]``.
    contracts
        Straddles bought per entry (``>= 1``).
    multiplier
        Contract multiplier, USD per index point (``>= 1``; 100 for SPX).
    slippage_bps
        Basis points of mid paid when buying and given up when selling, in ``[0, 10000]``.
    commission_per_contract
        USD per contract per leg (``>= 0``), at entry and at a traded exit; none at expiry.
    initial_capital
        Starting cash, USD (``> 0``).
    equity_window
        Days of the equity curve: ``'forecast'`` (default) runs from the first trading day with a
        forecast to the later of the last forecast day and the last exit; ``'data'`` covers
        every trading day of the quotes.

    Raises
    ------
    ConfigError
        On construction, naming the key and the bad value.
    """

    strategy: Strategy = "long_straddle"
    underlying_symbol: str
    option_roots: tuple[str, ...] = ("SPXW",)
    target_dte: int = 30
    min_dte: int = 20
    max_dte: int = 45
    holding_days: int = 5
    forecast_model: str
    forecast_model_version: str | None = None
    entry_signal: EntrySignal = "prob_up_at_most"
    entry_threshold: float = 0.55
    contracts: int = 1
    multiplier: int = 100
    slippage_bps: float = 50.0
    commission_per_contract: float = 0.65
    initial_capital: float = 100_000.0
    equity_window: EquityWindow = "forecast"

    def __post_init__(self) -> None:
        _check_literal("strategy", self.strategy, Strategy)
        _check_text("underlying_symbol", self.underlying_symbol)
        _set(self, "option_roots", _check_roots(self.option_roots))
        for key in ("target_dte", "min_dte", "max_dte", "holding_days", "contracts", "multiplier"):
            _check_int(key, getattr(self, key))
        _check_text("forecast_model", self.forecast_model)
        if self.forecast_model_version is not None:
            _check_text("forecast_model_version", self.forecast_model_version)
        _check_literal("entry_signal", self.entry_signal, EntrySignal)
        _check_literal("equity_window", self.equity_window, EquityWindow)
        for key in (
            "entry_threshold",
            "slippage_bps",
            "commission_per_contract",
            "initial_capital",
        ):
            _set(self, key, _check_float(key, getattr(self, key)))

        _check_range("min_dte", self.min_dte, low=0)
        _check_range("max_dte", self.max_dte, low=self.min_dte, low_name="min_dte")
        if not self.min_dte <= self.target_dte <= self.max_dte:
            raise ConfigError(
                f"target_dte must be within [min_dte, max_dte] = [{self.min_dte}, {self.max_dte}], "
                f"got {self.target_dte!r}"
            )
        _check_range("holding_days", self.holding_days, low=1)
        _check_range("contracts", self.contracts, low=1)
        _check_range("multiplier", self.multiplier, low=1)
        _check_range("entry_threshold", self.entry_threshold, low=0.0, high=1.0)
        _check_range("slippage_bps", self.slippage_bps, low=0.0, high=10_000.0)
        _check_range("commission_per_contract", self.commission_per_contract, low=0.0)
        if not self.initial_capital > 0:
            raise ConfigError(f"initial_capital must be > 0 USD, got {self.initial_capital!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StraddleConfig:
        """Build from a mapping, rejecting unknown keys and naming missing required ones.

        Raises
        ------
        ConfigError
            When ``values`` is not a mapping, has keys that are not fields (all are named), lacks
            a required key, or holds a bad value.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"config must be a mapping of keys to values, got {values!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in values if k not in fields)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; allowed keys: {sorted(fields)}")
        missing = sorted(
            name
            for name, f in fields.items()
            if name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        )
        if missing:
            raise ConfigError(f"missing required config key(s) {missing}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: Path | str) -> StraddleConfig:
        """Read a YAML file holding one mapping (see ``engine/configs/long_straddle_spx.yaml``).

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ConfigError
            When the YAML is not a mapping or a key or value is bad (see :meth:`from_mapping`).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        try:
            return cls.from_mapping(values if values is not None else {})
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """Every field with defaults filled in; tuples as lists (JSON-ready)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["option_roots"] = list(self.option_roots)
        return out

    @property
    def config_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, defaults included."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def run_id(self) -> str:
        """First 12 hex characters of the SHA-256 of :attr:`config_json` (deterministic)."""
        return hashlib.sha256(self.config_json.encode("utf-8")).hexdigest()[:12]


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> StraddleConfig:
    """Read a :class:`StraddleConfig` from YAML; the default is the shipped SPX run."""
    return StraddleConfig.from_yaml(path)


def _set(cfg: StraddleConfig, key: str, value: object) -> None:
    # Normalising a field of a frozen dataclass during its own validation.
    object.__setattr__(cfg, key, value)


def _check_literal(key: str, value: object, alias: object) -> None:
    allowed = get_args(alias)
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")


def _check_text(key: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string, got {value!r}")


def _check_roots(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"option_roots must be a non-empty list of strings, got {value!r}")
    for root in value:
        if not isinstance(root, str) or not root.strip():
            raise ConfigError(f"option_roots entries must be non-empty strings, got {root!r}")
    duplicated = sorted({r for r in value if list(value).count(r) > 1})
    if duplicated:
        raise ConfigError(f"option_roots must not repeat a root, got {duplicated!r} twice")
    return tuple(value)


def _check_int(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")


def _check_float(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {value!r}")
    return float(value)


def _check_range(
    key: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_name: str | None = None,
) -> None:
    if low is not None and value < low:
        bound = f"{low_name} = {low!r}" if low_name else repr(low)
        raise ConfigError(f"{key} must be >= {bound}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be <= {high!r}, got {value!r}")
