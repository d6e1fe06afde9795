"""Scan research mode: every candidate entry of a strategy across the chain, exited at a fixed DTE.

A *scan* answers "how did this structure do, by days to expiration and moneyness (or delta) at
entry?" over the whole chain, with no signal, no sizing and no portfolio: every tradable
candidate on every quote date is one trade. It is the engine's counterpart of optopsy's
strategy functions (``optopsy.long_straddles(data, max_entry_dte=45, exit_dte=7)``, read from
optopsy 2.0.3's source), with the differences listed below. Every stage is
``LazyFrame -> LazyFrame``; :func:`scan_trades` returns the lazy trade plan, :func:`run_scan`
collects the aggregate (and the trades on request), :func:`scan_summary` only the aggregate.
No I/O here.

The trade, step by step (``cfg`` is a :class:`ScanConfig`):

1. **Entry legs**: quotes with ``min_entry_dte <= dte <= max_entry_dte`` (the near leg's for a
   calendar), ``bid > min_bid_ask`` and ``ask > min_bid_ask`` (so a zero bid never enters, as
   with optopsy's default ``min_bid_ask=0.05``), a positive mid, and moneyness ``S / K`` within
   ``[min_moneyness, max_moneyness]`` (the default ``[0.5, 1.5]`` is optopsy's default
   ``max_otm_pct=0.5``: its ``otm_pct = (K - S) / K = 1 - S / K``).
2. **Candidates** (legs and ratios in :data:`LEG_RATIOS`): legs of one
   ``(underlying_symbol, option_root, entry_date, expiration)`` combined by the structure's
   strike rules (see the builders); a calendar pairs two expirations of one strike.
3. **Exit day** of an expiration: the quote date ``expiration - exit_dte`` calendar days
   (``exit_type='exact'``); when the expiration is not quoted that day (weekend, holiday, a day
   the vendor skipped), the first later day it is quoted, up to ``exit_tolerance_days`` after
   (``'nearest_day'``), never after the expiration (:func:`exit_quotes`). Every leg exits that
   day (a calendar on its near expiration's exit day). A candidate with a leg that has no mid
   that day (``ask = 0``: no market) has no exit and is not a trade.
4. **Prices**, index points per one structure (no multiplier, commission or slippage), mid fills
   on both sides, summed exactly in integer millionths of a point. With signed ratios ``r``
   (``+`` bought, ``-`` sold),
   ``entry_premium = Σ r · entry_mid`` (``> 0`` a debit paid, ``< 0`` a credit received),
   ``exit_premium = Σ r · exit_mid``, ``pnl_points = exit_premium - entry_premium`` and
   ``trade_return = pnl_points / |entry_premium|`` (decimal; for a credit, the fraction of the
   credit received: +1 keeps it all, -2 loses twice it; null when the entry premium is 0).
   This is optopsy's ``pct_change``. Long and short of one candidate have opposite P&L and
   return. A tiny premium makes a huge return, in optopsy too.
5. **Aggregate** by entry-DTE bucket × the moneyness (or delta) bucket of each strike leg.

Semantics against optopsy 2.0.3 (its ``core._evaluate_options`` and ``core._strategy_engine``):

- *Entry DTE*: here ``[min_entry_dte, max_entry_dte]`` with ``min_entry_dte > exit_dte``
  (default ``exit_dte + 1``); optopsy ``(exit_dte, max_entry_dte]``: the same by default.
- *Exit day*: optopsy matches ``dte == exit_dte`` only, so an expiration whose exit day has no
  quotes loses every trade (a fifth to a quarter of the SPX 2019 trades at ``exit_dte=7``:
  the vendor skipped five trading days). Here that is
  ``exit_tolerance_days=0``; the default also takes the nearest later day and says so in
  ``exit_type``. ``n_exact_exit`` counts what exact matching alone keeps.
- *Zero bids*: both require ``bid > min_bid_ask`` and ``ask > min_bid_ask`` at entry and
  nothing at exit, where a zero bid is priced at ``ask / 2``. A quote without an ask has no mid
  here (the warehouse's rule) and no exit; optopsy prices it at ``(0 + 0) / 2 = 0``.
- *Moneyness trim*: here on entry legs only; optopsy trims entry *and* exit rows on
  ``otm_pct`` rounded to 0.01, so a big move can drop a trade.
- *Legs*: here all legs share ``option_root`` (an SPX AM-settled monthly never pairs with an
  SPXW PM-settled weekly of the same expiration); optopsy joins on ``underlying_symbol``, so
  with both roots in one frame it pairs them and can match an entry with the other root's exit.
  The benchmark gives optopsy ``underlying_symbol = option_root`` to compare like with like.
- *Fills and return*: both mid and ``pnl / |entry premium|``; optopsy's singles ignore the
  side (a short call reports the long call's return).
- *Verticals and strangles*: both take every ``K1 < K2`` pair (here optionally within
  ``max_strike_width``).
- *Iron condors*: optopsy 2.0.3 has none; its later versions merge four legs on the expiration
  and keep every ``K1 < K2 < K3 < K4``: on the SPX 2019 chain the third merge asks for 139 GiB
  at once (16.5 GiB with the roots kept apart, for 2.0 billion rows; the fourth would make 360
  billion). Here the candidate set is bounded (see :func:`iron_condor_trades`).
- *Buckets*: DTE buckets are right-closed ``(a, b]`` like optopsy's ``dte_range``; moneyness
  buckets are left-closed ``[a, b)`` in ``S / K``, which is optopsy's ``otm_pct_range``
  ``(1 - b, 1 - a]``. optopsy's DTE edges are ``range(0, max_entry_dte, 7)``, so entries above
  the last edge (DTE 43-45 for 45) vanish from its aggregate, as do rows outside its otm edges;
  here values outside the edges get an open-ended bucket (``'(49, inf)'``).

Aggregate columns against optopsy's ``describe()`` output: ``dte_bucket`` ↔ ``dte_range``,
``<bucket_by>_bucket_leg<i>`` ↔ ``otm_pct_range[_leg<i>]``, ``n_trades`` ↔ ``count`` (all
trades here; ``count`` counts non-NaN returns), ``return_mean, return_std, return_min,
return_p25, return_median, return_p75, return_max`` ↔ ``mean, std, min, 25%, 50%, 75%, max``
(sample std and linearly interpolated quantiles, as pandas), plus ``win_rate``,
``pnl_points_mean`` and ``n_exact_exit``.

Results do not depend on the row order of the input. Every aggregate is computed in an
order-free way (counts; the P&L sum in integer millionths of a point; return statistics over each
bucket's returns sorted by value), so the summary is the same to the last bit on either engine;
the trades come out sorted because the legs are sorted before they are combined and every join
keeps the left-then-right order.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import polars as pl

from engine.config import ConfigError
from engine.schema import require_columns
from warehouse.safe_yaml import YamlFileError, excerpt, excerpt_keys, read_yaml

Structure = Literal[
    "single", "straddle", "strangle", "vertical", "iron_condor", "butterfly", "calendar"
]
Side = Literal["long", "short"]
OptionType = Literal["call", "put"]
BucketBy = Literal["moneyness", "delta"]

#: Columns of ``marts.fct_option_quotes_daily`` the scan reads (one row per contract per quote
#: date; ``dte`` in calendar days, prices in index points, ``delta`` may be null).
SCAN_QUOTE_COLUMNS: tuple[str, ...] = (
    "contract_symbol",
    "underlying_symbol",
    "option_root",
    "quote_date",
    "expiration",
    "dte",
    "option_type",
    "strike",
    "bid",
    "ask",
    "mid",
    "underlying_price",
    "delta",
)

#: Legs of the *long* version of each structure, in leg order: ``(option_type, ratio)``;
#: ``None`` takes :attr:`ScanConfig.option_type`. ``side='short'`` negates every ratio. Long is
#: the debit version throughout: a long vertical is a debit spread (call: +K1 −K2; put: −K1 +K2,
#: see :func:`leg_ratios`), a long iron condor the debit (reverse) condor, so the usual credit
#: iron condor is ``side='short'``. Strikes ascend with the leg number; a straddle's and a
#: calendar's legs share the strike; a calendar's leg 1 is the near expiration.
LEG_RATIOS: dict[str, tuple[tuple[OptionType | None, int], ...]] = {
    "single": ((None, 1),),
    "straddle": (("put", 1), ("call", 1)),
    "strangle": (("put", 1), ("call", 1)),
    "vertical": ((None, 1), (None, -1)),
    "iron_condor": (("put", -1), ("put", 1), ("call", 1), ("call", -1)),
    "butterfly": ((None, 1), (None, -2), (None, 1)),
    "calendar": ((None, -1), (None, 1)),
}

#: Legs whose entry bucket is an aggregation key: a strike shared by two legs is bucketed once
#: (a straddle by its put leg, a calendar by its near leg).
BUCKET_LEGS: dict[str, tuple[int, ...]] = {
    "single": (1,),
    "straddle": (1,),
    "strangle": (1, 2),
    "vertical": (1, 2),
    "iron_condor": (1, 2, 3, 4),
    "butterfly": (1, 2, 3),
    "calendar": (1,),
}

_DEFAULT_MONEYNESS_EDGES: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(21))
_DEFAULT_DELTA_EDGES: tuple[float, ...] = tuple(round(-1.0 + 0.1 * i, 1) for i in range(21))
_DTE_BUCKET_WIDTH = 7
_STRIKE_KEY_SCALE = 1000  # strikes are joined as integer thousandths of a point
_DTE_SPAN = 2**20  # group keys pack the DTE in 20 bits: the config bounds DTE below it
_MICRO = 1_000_000  # prices are summed as integer millionths of a point
_MAX_DTE = 3650  # bound of max_entry_dte and max_calendar_gap_days (ten years)
# Structures whose candidate sets grow with the square (or more) of the strikes per expiration:
# their aggregate runs on the streaming engine, whose group-by holds only the grouped columns.
_COMBINATORIAL = frozenset({"strangle", "vertical", "iron_condor", "butterfly", "calendar"})


class ScanConfigError(ConfigError):
    """A scan configuration key is unknown, missing, of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ScanConfig:
    """Settings of one scan.

    Parameters
    ----------
    structure
        Strategy family, see :data:`LEG_RATIOS`.
    side
        ``'long'`` (the debit version) or ``'short'`` (every ratio negated).
    option_type
        ``'call'`` or ``'put'`` for ``single``, ``vertical``, ``butterfly`` and ``calendar``;
        ignored by the others.
    max_entry_dte
        Largest entry DTE, calendar days (``1..3650``; for a calendar, of the near leg).
    exit_dte
        DTE of the exit day, calendar days (``0 <= exit_dte < max_entry_dte``); 0 exits at the
        expiration day's quote.
    min_entry_dte
        Smallest entry DTE, calendar days, ``exit_dte < min_entry_dte <= max_entry_dte``;
        ``None`` (default) means ``exit_dte + 1``.
    exit_tolerance_days
        Calendar days after the exact exit day (``expiration - exit_dte``) within which the first
        quote date replaces a missing one (``>= 0``; 0 is optopsy's exact match). The default 5
        bridges the longest gap of the SPX 2019 chain (no quotes on 2019-06-14, 06-17 and 06-18:
        a Friday, the weekend, a Monday and a Tuesday).
    min_bid_ask
        Entry legs need ``bid > min_bid_ask`` and ``ask > min_bid_ask``, index points (``>= 0``;
        0.05 is optopsy's default). Not applied at exit.
    min_moneyness, max_moneyness
        Entry legs need ``min_moneyness <= S / K <= max_moneyness`` (``0 < min < max``).
    max_strike_width
        ``vertical`` and ``strangle``: largest ``K2 - K1``, index points (``> 0``); ``None``
        (default) keeps every pair, as optopsy does.
    max_wing_width
        ``iron_condor`` (each wing) and ``butterfly`` (both wings): largest wing width, index
        points (``> 0``).
    max_short_distance
        ``iron_condor``: the short put strike lies in ``[S (1 - d), S]`` and the short call strike
        in ``[S, S (1 + d)]``, ``d`` a decimal fraction in ``(0, 1)``, ``S`` the underlying price
        at entry.
    equal_wings
        ``iron_condor``: both wings of equal width (default ``True``, the textbook condor);
        ``False`` also takes every unbalanced pair, about ten times as many candidates.
    max_calendar_gap_days
        ``calendar``: the far expiration is 1 to this many calendar days after the near one
        (``<= 3650``).
    bucket_by
        ``'moneyness'`` (``S / K`` at entry) or ``'delta'`` (the quote's delta at entry; a null
        delta has a null bucket).
    dte_bucket_edges
        Increasing integer entry-DTE edges of right-closed buckets ``(a, b]``; ``None`` (default)
        means every 7 days from 0 to ``max_entry_dte`` rounded up to a multiple of 7.
    bucket_edges
        Increasing edges of the left-closed moneyness or delta buckets ``[a, b)``; ``None``
        (default) means 0.5, 0.55, …, 1.5 for moneyness and −1.0, −0.9, …, 1.0 for delta.

    Raises
    ------
    ScanConfigError
        On construction, naming the key and the bad value.

    Examples
    --------
    >>> cfg = ScanConfig(structure="vertical", option_type="put", side="short")
    >>> cfg.min_entry_dte, cfg.dte_bucket_edges
    (8, (0, 7, 14, 21, 28, 35, 42, 49))
    >>> ScanConfig(exit_dte=50)
    Traceback (most recent call last):
    ...
    engine.scan.ScanConfigError: exit_dte must be < max_entry_dte = 45, got 50
    """

    structure: Structure = "single"
    side: Side = "long"
    option_type: OptionType = "call"
    max_entry_dte: int = 45
    exit_dte: int = 7
    min_entry_dte: int | None = None
    exit_tolerance_days: int = 5
    min_bid_ask: float = 0.05
    min_moneyness: float = 0.5
    max_moneyness: float = 1.5
    max_strike_width: float | None = None
    max_wing_width: float = 50.0
    max_short_distance: float = 0.05
    equal_wings: bool = True
    max_calendar_gap_days: int = 35
    bucket_by: BucketBy = "moneyness"
    dte_bucket_edges: tuple[int, ...] | None = None
    bucket_edges: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_literal("structure", self.structure, Structure)
        _check_literal("side", self.side, Side)
        _check_literal("option_type", self.option_type, OptionType)
        _check_literal("bucket_by", self.bucket_by, BucketBy)
        for key in ("max_entry_dte", "exit_dte", "exit_tolerance_days", "max_calendar_gap_days"):
            _check_int(key, getattr(self, key))
        _check_low("max_entry_dte", self.max_entry_dte, 1)
        _check_high("max_entry_dte", self.max_entry_dte, _MAX_DTE)
        _check_low("exit_dte", self.exit_dte, 0)
        if self.exit_dte >= self.max_entry_dte:
            raise ScanConfigError(
                f"exit_dte must be < max_entry_dte = {self.max_entry_dte}, "
                f"got {excerpt(self.exit_dte)}"
            )
        if self.min_entry_dte is None:
            _set(self, "min_entry_dte", self.exit_dte + 1)
        else:
            _check_int("min_entry_dte", self.min_entry_dte)
            if not self.exit_dte < self.min_entry_dte <= self.max_entry_dte:
                raise ScanConfigError(
                    "min_entry_dte must be in (exit_dte, max_entry_dte] = "
                    f"({self.exit_dte}, {self.max_entry_dte}], got {excerpt(self.min_entry_dte)}"
                )
        _check_low("exit_tolerance_days", self.exit_tolerance_days, 0)
        _check_low("max_calendar_gap_days", self.max_calendar_gap_days, 1)
        _check_high("max_calendar_gap_days", self.max_calendar_gap_days, _MAX_DTE)
        for key in ("min_bid_ask", "min_moneyness", "max_moneyness", "max_wing_width"):
            _set(self, key, _check_float(key, getattr(self, key)))
        _check_low("min_bid_ask", self.min_bid_ask, 0.0)
        if not 0 < self.min_moneyness < self.max_moneyness:
            raise ScanConfigError(
                "moneyness band must satisfy 0 < min_moneyness < max_moneyness, got "
                f"min_moneyness={self.min_moneyness!r}, max_moneyness={self.max_moneyness!r}"
            )
        if self.max_strike_width is not None:
            _set(self, "max_strike_width", _check_float("max_strike_width", self.max_strike_width))
            _check_positive("max_strike_width", self.max_strike_width)
        _check_positive("max_wing_width", self.max_wing_width)
        distance = _check_float("max_short_distance", self.max_short_distance)
        if not 0 < distance < 1:
            raise ScanConfigError(f"max_short_distance must be in (0, 1), got {excerpt(distance)}")
        _set(self, "max_short_distance", distance)
        if not isinstance(self.equal_wings, bool):
            raise ScanConfigError(
                f"equal_wings must be true or false, got {excerpt(self.equal_wings)}"
            )
        if self.dte_bucket_edges is None:
            top = -(-self.max_entry_dte // _DTE_BUCKET_WIDTH) * _DTE_BUCKET_WIDTH
            _set(self, "dte_bucket_edges", tuple(range(0, top + 1, _DTE_BUCKET_WIDTH)))
        else:
            _set(self, "dte_bucket_edges", _check_edges("dte_bucket_edges", self.dte_bucket_edges))
            for edge in self.dte_bucket_edges:
                _check_int("dte_bucket_edges", edge)
        if self.bucket_edges is None:
            default = (
                _DEFAULT_MONEYNESS_EDGES if self.bucket_by == "moneyness" else _DEFAULT_DELTA_EDGES
            )
            _set(self, "bucket_edges", default)
        else:
            _set(self, "bucket_edges", _check_edges("bucket_edges", self.bucket_edges))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ScanConfig:
        """Build from a mapping (e.g. parsed YAML), rejecting unknown keys; lists become tuples.

        Raises
        ------
        ScanConfigError
            When ``values`` is not a mapping, has keys that are not fields (all are named), or
            holds a bad value.
        """
        if not isinstance(values, Mapping):
            raise ScanConfigError(f"scan config must be a mapping, got {excerpt(values)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in values if not isinstance(k, str) or k not in fields]
        if unknown:
            raise ScanConfigError(
                f"unknown scan config key(s) {excerpt_keys(unknown)}; "
                f"allowed keys: {sorted(fields)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """Every field with defaults filled in; tuples as lists (JSON-ready)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def leg_ratios(cfg: ScanConfig) -> tuple[tuple[OptionType, int], ...]:
    """Option type and signed ratio of every leg of ``cfg``'s structure and side.

    Examples
    --------
    >>> leg_ratios(ScanConfig(structure="vertical", option_type="put", side="short"))
    (('put', 1), ('put', -1))
    >>> leg_ratios(ScanConfig(structure="iron_condor", side="short"))
    (('put', 1), ('put', -1), ('call', -1), ('call', 1))
    """
    legs = LEG_RATIOS[cfg.structure]
    if cfg.structure == "vertical" and cfg.option_type == "put":
        legs = ((None, -1), (None, 1))
    sign = 1 if cfg.side == "long" else -1
    return tuple((kind or cfg.option_type, sign * ratio) for kind, ratio in legs)


# --- stages ---------------------------------------------------------------------------------------


def exit_quotes(quotes: pl.LazyFrame, cfg: ScanConfig) -> pl.LazyFrame:
    """The exit day of every expiration and the quotes of its contracts that day.

    The exit day of ``(underlying_symbol, option_root, expiration)`` is the first quote date of
    the expiration's contracts (with a mid) in ``[expiration - exit_dte, expiration - exit_dte
    + exit_tolerance_days]``, never after the expiration: exact when the expiration is quoted
    ``exit_dte`` days before it, else the nearest later day (weekend, holiday, a day the vendor
    skipped). An expiration not quoted in that window has no exit.

    Parameters
    ----------
    quotes
        Daily quotes (see :func:`scan_trades`).

    Returns
    -------
    pl.LazyFrame
        One row per contract quoted with a mid on its expiration's exit day:
        ``underlying_symbol, option_root, contract_symbol, exit_date, is_exact_exit`` (the exit
        day is ``expiration - exit_dte``), ``exit_mid, underlying_price_exit`` and ``expiry_id``
        (UInt32 numbering the ``(underlying_symbol, option_root, expiration)`` in that order).
    """
    lowest_dte = max(cfg.exit_dte - cfg.exit_tolerance_days, 0)
    expiry = ["underlying_symbol", "option_root", "expiration"]
    return (
        quotes.filter(
            pl.col("dte").is_between(lowest_dte, cfg.exit_dte),
            pl.col("mid").is_not_null(),
            pl.col("mid").is_finite(),
        )
        .filter(pl.col("quote_date") == pl.col("quote_date").min().over(expiry))
        .select(
            "underlying_symbol",
            "option_root",
            "contract_symbol",
            pl.col("quote_date").alias("exit_date"),
            (pl.col("dte") == cfg.exit_dte).alias("is_exact_exit"),
            pl.col("mid").cast(pl.Float64).alias("exit_mid"),
            (pl.col("mid") * _MICRO).round().cast(pl.Int64).alias("exit_micro"),
            pl.col("underlying_price").cast(pl.Float64).alias("underlying_price_exit"),
            pl.struct(expiry).rank("dense").cast(pl.UInt32).alias("expiry_id"),
        )
    )


def far_exit_quotes(quotes: pl.LazyFrame, cfg: ScanConfig, *, fills: pl.LazyFrame) -> pl.LazyFrame:
    """A calendar's far-leg fills: quotes on the exit days of the near expirations.

    Parameters
    ----------
    quotes
        Daily quotes (see :func:`scan_trades`).
    fills
        Output of :func:`exit_quotes` (the near legs' exit days).

    Returns
    -------
    pl.LazyFrame
        ``contract_symbol_leg2, exit_date, exit_mid_leg2, exit_micro_leg2``: one row per contract
        per exit day of its root on which it is quoted with a mid (and at most ``exit_dte +
        max_calendar_gap_days`` days from expiry, the farthest a far leg can be).
    """
    days = fills.select("underlying_symbol", "option_root", "exit_date").unique()
    return (
        quotes.filter(
            pl.col("dte").is_between(1, cfg.exit_dte + cfg.max_calendar_gap_days),
            pl.col("mid").is_not_null(),
            pl.col("mid").is_finite(),
        )
        .join(
            days,
            left_on=["underlying_symbol", "option_root", "quote_date"],
            right_on=["underlying_symbol", "option_root", "exit_date"],
            how="semi",
        )
        .select(
            pl.col("contract_symbol").alias("contract_symbol_leg2"),
            pl.col("quote_date").alias("exit_date"),
            pl.col("mid").cast(pl.Float64).alias("exit_mid_leg2"),
            (pl.col("mid") * _MICRO).round().cast(pl.Int64).alias("exit_micro_leg2"),
        )
    )


def entry_legs(quotes: pl.LazyFrame, cfg: ScanConfig) -> pl.LazyFrame:
    """Quotes that may be an entry leg, with their bucket numbers (not yet sorted).

    Parameters
    ----------
    quotes
        Daily quotes (see :func:`scan_trades`).

    Returns
    -------
    pl.LazyFrame
        One row per contract per entry date passing the entry rules of the module docstring
        (only ``cfg.option_type`` for the one-type structures; for a calendar the DTE ceiling is
        ``max_entry_dte + max_calendar_gap_days``, for its far leg): ``underlying_symbol,
        option_root, expiration, entry_date, dte, is_put, strike, strike_key`` (Int64
        thousandths of a point, the join key), ``contract_symbol, entry_mid, underlying_price,
        moneyness`` (``S / K``), ``delta, dte_bucket_idx, bucket_idx`` (bucket numbers, see
        :func:`bucket_labels`).
    """
    max_dte = cfg.max_entry_dte
    if cfg.structure == "calendar":
        max_dte += cfg.max_calendar_gap_days
    types = {kind for kind, _ in leg_ratios(cfg)}
    moneyness = pl.col("underlying_price") / pl.col("strike")
    value = pl.col("moneyness") if cfg.bucket_by == "moneyness" else pl.col("delta")
    return (
        quotes.filter(
            pl.col("dte").is_between(cfg.min_entry_dte, max_dte),
            pl.col("option_type").is_in(sorted(types)),
            pl.col("bid") > cfg.min_bid_ask,
            pl.col("ask") > cfg.min_bid_ask,
            pl.col("mid") > 0,
            pl.col("mid").is_finite(),
            pl.col("strike") > 0,
            pl.col("underlying_price") > 0,
            moneyness.is_between(cfg.min_moneyness, cfg.max_moneyness),
        )
        .select(
            "underlying_symbol",
            "option_root",
            "expiration",
            pl.col("quote_date").alias("entry_date"),
            pl.col("dte").cast(pl.Int32),
            (pl.col("option_type") == "put").alias("is_put"),
            pl.col("strike").cast(pl.Float64),
            (pl.col("strike") * _STRIKE_KEY_SCALE).round().cast(pl.Int64).alias("strike_key"),
            "contract_symbol",
            pl.col("mid").cast(pl.Float64).alias("entry_mid"),
            (pl.col("mid") * _MICRO).round().cast(pl.Int64).alias("entry_micro"),
            pl.col("underlying_price").cast(pl.Float64),
            moneyness.cast(pl.Float64).alias("moneyness"),
            pl.col("delta").cast(pl.Float64),
        )
        .with_columns(
            _bucket_index(pl.col("dte"), cfg.dte_bucket_edges, left_closed=False).alias(
                "dte_bucket_idx"
            ),
            _bucket_index(value, cfg.bucket_edges, left_closed=True).alias("bucket_idx"),
        )
    )


def legs_with_exits(
    legs: pl.LazyFrame, cfg: ScanConfig, *, fills: pl.LazyFrame, ordered: bool = True
) -> pl.LazyFrame:
    """Entry legs with their exit fill and group key.

    Parameters
    ----------
    legs
        Output of :func:`entry_legs`.
    fills
        Output of :func:`exit_quotes`.
    ordered
        Sort the legs by ``group_key, is_put, strike_key`` (the order the trades come out in);
        an aggregate alone does not need it.

    Returns
    -------
    pl.LazyFrame
        ``legs`` with ``exit_date, is_exact_exit, exit_mid, underlying_price_exit`` and
        ``group_key`` (Int64, one value per ``(underlying_symbol, option_root, expiration,
        entry_date)``, increasing in that order). Legs entered on or after their exit day, or
        without an exit fill, are dropped; for a calendar only near legs
        (``dte <= max_entry_dte``) remain.
    """
    if cfg.structure == "calendar":
        legs = legs.filter(pl.col("dte") <= cfg.max_entry_dte)
    joined = (
        legs.join(fills.drop("underlying_symbol", "option_root"), on="contract_symbol", how="inner")
        .filter(pl.col("entry_date") < pl.col("exit_date"))
        .with_columns(
            # The expiration's number, then the entry date as the DTE counted down (dte < 2**20
            # by the config's bounds): one integer per group, increasing in the trade order.
            (
                pl.col("expiry_id").cast(pl.Int64) * _DTE_SPAN + (_DTE_SPAN - 1 - pl.col("dte"))
            ).alias("group_key")
        )
        .drop("expiry_id")
    )
    return joined.sort("group_key", "is_put", "strike_key") if ordered else joined


# --- structures -----------------------------------------------------------------------------------

_LEG_FIELDS = (
    "contract_symbol",
    "strike",
    "strike_key",
    "entry_mid",
    "exit_mid",
    "entry_micro",
    "exit_micro",
    "moneyness",
    "delta",
    "bucket_idx",
)
_GROUP_FIELDS = (
    "underlying_symbol",
    "option_root",
    "expiration",
    "entry_date",
    "exit_date",
    "is_exact_exit",
    "dte",
    "dte_bucket_idx",
    "underlying_price",
    "underlying_price_exit",
)
#: Leg columns an aggregate needs (the rest only make trade rows; see run_scan).
_SUMMARY_FIELDS = ("group_key", "is_put", "entry_micro", "exit_micro", "bucket_idx")
_SUMMARY_GROUP_FIELDS = ("dte_bucket_idx", "is_exact_exit")


def _leg(legs: pl.LazyFrame, i: int, option_type: str, *, with_group: bool) -> pl.LazyFrame:
    """Legs of one type renamed ``<field>_leg<i>``; leg 1 also carries the group fields.

    Fields missing from ``legs`` (a lean leg table for an aggregate) are skipped.
    """
    present = set(legs.collect_schema().names())
    group = [c for c in _GROUP_FIELDS if c in present] if with_group else []
    fields = [c for c in _LEG_FIELDS if c in present]
    return legs.filter(pl.col("is_put") == (option_type == "put")).select(
        "group_key", *group, *[pl.col(c).alias(f"{c}_leg{i}") for c in fields]
    )


def _pairs(
    left: pl.LazyFrame,
    right: pl.LazyFrame,
    i: int,
    j: int,
    max_width: float | None,
    *,
    ordered: bool,
) -> pl.LazyFrame:
    """Leg ``i`` × leg ``j`` of one group with ``K_i < K_j <= K_i + max_width``."""
    lo, hi = pl.col(f"strike_key_leg{i}"), pl.col(f"strike_key_leg{j}")
    cond = lo < hi
    if max_width is not None:
        cond = cond & (hi - lo <= round(max_width * _STRIKE_KEY_SCALE))
    return left.join(right, on="group_key", how="inner", maintain_order=_order(ordered)).filter(
        cond
    )


def _order(ordered: bool) -> str:
    # Keeping the left-then-right order makes sorted trades from sorted legs; an aggregate alone
    # does not need it, and the join is faster without.
    return "left_right" if ordered else "none"


def single_trades(legs: pl.LazyFrame, cfg: ScanConfig, *, ordered: bool = True) -> pl.LazyFrame:
    """One leg: every leg of ``cfg.option_type``.

    Every builder has this signature and output shape.

    Parameters
    ----------
    legs
        Output of :func:`legs_with_exits`.
    ordered
        Keep the left-then-right order in every join, so sorted legs make sorted trades; an
        aggregate alone does not need it.

    Returns
    -------
    pl.LazyFrame
        One row per candidate: the group fields and ``<field>_leg<i>`` per leg (see
        :func:`scan_trades`).
    """
    ((kind, _),) = leg_ratios(cfg)
    return _leg(legs, 1, kind, with_group=True)


def straddle_trades(legs: pl.LazyFrame, cfg: ScanConfig, *, ordered: bool = True) -> pl.LazyFrame:
    """Put (leg 1) and call (leg 2) of one strike, expiration and entry date."""
    puts = _leg(legs, 1, "put", with_group=True)
    calls = _leg(legs, 2, "call", with_group=False)
    return puts.join(
        calls,
        left_on=["group_key", "strike_key_leg1"],
        right_on=["group_key", "strike_key_leg2"],
        how="inner",
        maintain_order=_order(ordered),
    )


def strangle_trades(legs: pl.LazyFrame, cfg: ScanConfig, *, ordered: bool = True) -> pl.LazyFrame:
    """Put at K1 (leg 1) and call at K2 (leg 2), ``K1 < K2 <= K1 + max_strike_width``."""
    puts = _leg(legs, 1, "put", with_group=True)
    calls = _leg(legs, 2, "call", with_group=False)
    return _pairs(puts, calls, 1, 2, cfg.max_strike_width, ordered=ordered)


def vertical_trades(legs: pl.LazyFrame, cfg: ScanConfig, *, ordered: bool = True) -> pl.LazyFrame:
    """Two strikes of ``cfg.option_type``, ``K1 < K2 <= K1 + max_strike_width``."""
    low = _leg(legs, 1, cfg.option_type, with_group=True)
    high = _leg(legs, 2, cfg.option_type, with_group=False)
    return _pairs(low, high, 1, 2, cfg.max_strike_width, ordered=ordered)


def iron_condor_trades(
    legs: pl.LazyFrame, cfg: ScanConfig, *, ordered: bool = True
) -> pl.LazyFrame:
    """Put spread K1 < K2 below call spread K3 < K4, in a bounded candidate set.

    The candidates: each wing (``K2 - K1``, ``K4 - K3``) at most ``max_wing_width`` points and,
    with ``equal_wings``, both equal; the short put ``K2`` in ``[S (1 - d), S]`` and the short
    call ``K3`` in ``[S, S (1 + d)]`` with ``d = max_short_distance`` (so both shorts are out of
    the money or at it); ``K2 < K3``. optopsy's four-leg product has no such bounds (every
    ``K1 < K2 < K3 < K4`` of an expiration) and asks for 139 GiB on the SPX 2019 chain; the
    defaults here give 4.5 million condors there (45 million without ``equal_wings``).
    """
    spot = pl.col("underlying_price")
    d = cfg.max_short_distance
    short_put = legs.filter(pl.col("strike").is_between(spot * (1 - d), spot))
    short_call = legs.filter(pl.col("strike").is_between(spot, spot * (1 + d)))
    put_spread = _pairs(
        _leg(legs, 1, "put", with_group=True),
        _leg(short_put, 2, "put", with_group=False),
        1,
        2,
        cfg.max_wing_width,
        ordered=ordered,
    )
    call_spread = _pairs(
        _leg(short_call, 3, "call", with_group=False),
        _leg(legs, 4, "call", with_group=False),
        3,
        4,
        cfg.max_wing_width,
        ordered=ordered,
    )
    keys = ["group_key"]
    if cfg.equal_wings:
        put_spread = put_spread.with_columns(
            (pl.col("strike_key_leg2") - pl.col("strike_key_leg1")).alias("_wing")
        )
        call_spread = call_spread.with_columns(
            (pl.col("strike_key_leg4") - pl.col("strike_key_leg3")).alias("_wing")
        )
        keys.append("_wing")
    return (
        put_spread.join(call_spread, on=keys, how="inner", maintain_order=_order(ordered))
        .filter(pl.col("strike_key_leg2") < pl.col("strike_key_leg3"))
        .drop("_wing", strict=False)
    )


def butterfly_trades(legs: pl.LazyFrame, cfg: ScanConfig, *, ordered: bool = True) -> pl.LazyFrame:
    """K1 < K2 < K3 of ``cfg.option_type``, equal wings ``K2 - K1 = K3 - K2 <= max_wing_width``."""
    kind = cfg.option_type
    wings = _pairs(
        _leg(legs, 1, kind, with_group=True),
        _leg(legs, 2, kind, with_group=False),
        1,
        2,
        cfg.max_wing_width,
        ordered=ordered,
    ).with_columns((2 * pl.col("strike_key_leg2") - pl.col("strike_key_leg1")).alias("_k3"))
    return wings.join(
        _leg(legs, 3, kind, with_group=False),
        left_on=["group_key", "_k3"],
        right_on=["group_key", "strike_key_leg3"],
        how="inner",
        maintain_order=_order(ordered),
    ).drop("_k3", strict=False)


def calendar_trades(
    legs: pl.LazyFrame, cfg: ScanConfig, *, far_legs: pl.LazyFrame, far_fills: pl.LazyFrame
) -> pl.LazyFrame:
    """Near (leg 1) and far (leg 2) expiration of one strike, exited on the near exit day.

    Parameters
    ----------
    legs
        Output of :func:`legs_with_exits` (near legs).
    far_legs
        Output of :func:`entry_legs`: the far leg is any expiration 1 to
        ``max_calendar_gap_days`` after the near one, same root, type and strike.
    far_fills
        Output of :func:`far_exit_quotes`: the far leg fills at its mid on the near exit day.

    Returns
    -------
    pl.LazyFrame
        As the other builders, plus ``expiration_leg2``; sorted like them, the far expiration
        last.
    """
    near = _leg(legs, 1, cfg.option_type, with_group=True)
    far = far_legs.select(
        "underlying_symbol",
        "option_root",
        "entry_date",
        pl.col("expiration").alias("expiration_leg2"),
        *[pl.col(c).alias(f"{c}_leg2") for c in _LEG_FIELDS if c not in ("exit_mid", "exit_micro")],
    )
    gap = pl.col("expiration_leg2") - pl.col("expiration")
    return (
        near.join(
            far,
            left_on=["underlying_symbol", "option_root", "entry_date", "strike_key_leg1"],
            right_on=["underlying_symbol", "option_root", "entry_date", "strike_key_leg2"],
            how="inner",
        )
        .filter(gap > pl.duration(days=0), gap <= pl.duration(days=cfg.max_calendar_gap_days))
        .join(far_fills, on=["contract_symbol_leg2", "exit_date"], how="inner")
        .sort("group_key", "strike_key_leg1", "expiration_leg2")
    )


_BUILDERS = {
    "single": single_trades,
    "straddle": straddle_trades,
    "strangle": strangle_trades,
    "vertical": vertical_trades,
    "iron_condor": iron_condor_trades,
    "butterfly": butterfly_trades,
}


def price_trades(trades: pl.LazyFrame, cfg: ScanConfig) -> pl.LazyFrame:
    """Premiums, P&L and return of every candidate (mid fills, index points per structure).

    The sums run on integer millionths of a point (``entry_micro``, ``exit_micro``: mids lie on
    a half-cent grid), so they are exact: legs that cost the same make an entry premium of
    exactly 0, not 1e-17 (which would make a return of 1e16).

    Parameters
    ----------
    trades
        Output of a structure builder: ``entry_micro_leg<i>, exit_micro_leg<i>`` for every leg.

    Returns
    -------
    pl.LazyFrame
        ``trades`` with ``entry_premium = Σ r_i entry_mid_leg<i>`` (``> 0`` debit, ``< 0``
        credit), ``exit_premium = Σ r_i exit_mid_leg<i>``, ``pnl_points = exit_premium -
        entry_premium`` (index points), ``trade_return = pnl_points / |entry_premium|``
        (decimal, null when the entry premium is 0) and ``pnl_micro`` (Int64, the P&L in
        millionths of a point); ``r_i`` from :func:`leg_ratios`.
    """
    ratios = [r for _, r in leg_ratios(cfg)]

    def premium(prefix: str) -> pl.Expr:
        terms = [r * pl.col(f"{prefix}_leg{i}") for i, r in enumerate(ratios, start=1)]
        return functools.reduce(operator.add, terms)

    entry, pnl = pl.col("entry_micro"), pl.col("pnl_micro")
    return (
        trades.with_columns(
            premium("entry_micro").alias("entry_micro"), premium("exit_micro").alias("exit_micro")
        )
        .with_columns((pl.col("exit_micro") - entry).alias("pnl_micro"))
        .with_columns(
            (entry / _MICRO).alias("entry_premium"),
            (pl.col("exit_micro") / _MICRO).alias("exit_premium"),
            (pnl / _MICRO).alias("pnl_points"),
            pl.when(entry != 0).then(pnl / entry.abs()).otherwise(None).alias("trade_return"),
        )
    )


def label_trades(trades: pl.LazyFrame, cfg: ScanConfig) -> pl.LazyFrame:
    """The trade columns of :func:`scan_trades`, in order, with bucket labels.

    Parameters
    ----------
    trades
        Output of :func:`price_trades`; already in key order (see the module docstring).
    """
    n_legs = len(leg_ratios(cfg))
    dte_labels = bucket_labels(cfg.dte_bucket_edges, left_closed=False)
    labels = bucket_labels(cfg.bucket_edges, left_closed=True)
    leg_cols = [
        f"{c}_leg{i}"
        for i in range(1, n_legs + 1)
        for c in ("contract_symbol", "strike", "entry_mid", "exit_mid", "moneyness", "delta")
    ]
    if cfg.structure == "calendar":
        leg_cols.insert(leg_cols.index("contract_symbol_leg2"), "expiration_leg2")
    return trades.select(
        "underlying_symbol",
        "option_root",
        "expiration",
        "entry_date",
        "exit_date",
        pl.when("is_exact_exit")
        .then(pl.lit("exact"))
        .otherwise(pl.lit("nearest_day"))
        .alias("exit_type"),
        pl.col("dte").alias("dte_entry"),
        (pl.col("expiration") - pl.col("exit_date"))
        .dt.total_days()
        .cast(pl.Int32)
        .alias("dte_exit"),
        pl.col("underlying_price").alias("underlying_price_entry"),
        "underlying_price_exit",
        *leg_cols,
        "entry_premium",
        "exit_premium",
        "pnl_points",
        "trade_return",
        _label(pl.col("dte_bucket_idx"), dte_labels).alias("dte_bucket"),
        *[
            _label(pl.col(f"bucket_idx_leg{i}"), labels).alias(f"{cfg.bucket_by}_bucket_leg{i}")
            for i in BUCKET_LEGS[cfg.structure]
        ],
    )


def summarize_trades(trades: pl.LazyFrame, cfg: ScanConfig) -> pl.LazyFrame:
    """Return statistics by entry-DTE bucket × the bucket of each strike leg.

    Every statistic is independent of the order of ``trades``: counts, the P&L summed in
    integer millionths of a point, and the return statistics taken over each bucket's returns
    sorted by value.

    Parameters
    ----------
    trades
        Output of :func:`price_trades` (bucket numbers, not labels: the labels go on the small
        result).

    Returns
    -------
    pl.LazyFrame
        One row per non-empty bucket combination, sorted by bucket (open-ended buckets at the
        ends, a null delta bucket last): ``dte_bucket``, ``<bucket_by>_bucket_leg<i>`` for
        :data:`BUCKET_LEGS`, ``n_trades``, ``n_exact_exit`` (trades whose exit day was the exact
        DTE), ``return_mean, return_std`` (sample, ddof 1; null below two returns),
        ``return_min, return_p25, return_median, return_p75, return_max`` (linear interpolation,
        as pandas), all over the non-null ``trade_return`` (decimal), ``win_rate`` (share of
        trades with ``pnl_points > 0``) and ``pnl_points_mean`` (index points per structure).
    """
    legs = BUCKET_LEGS[cfg.structure]
    # One integer key instead of several, markedly faster to group on: the bucket numbers as the
    # digits of base `radix`, a null (delta) bucket as the digit radix - 1.
    radix = max(len(cfg.dte_bucket_edges), len(cfg.bucket_edges)) + 2
    digits = [pl.col("dte_bucket_idx"), *[pl.col(f"bucket_idx_leg{i}") for i in legs]]
    code = pl.lit(0, dtype=pl.Int64)
    for digit in digits:
        code = code * radix + digit.fill_null(radix - 1).cast(pl.Int64)
    pnl = pl.col("pnl_micro")
    returns = pl.col("_returns")
    n_returns = returns.list.len()

    def quantile(q: float) -> pl.Expr:
        # Linear interpolation between the order statistics around (n - 1) q, as pandas/numpy.
        position = (n_returns - 1).cast(pl.Float64) * q
        low = position.floor().cast(pl.Int64)
        high = pl.min_horizontal(low + 1, n_returns - 1)
        below = returns.list.get(low, null_on_oob=True)
        above = returns.list.get(high, null_on_oob=True)
        return below + (above - below) * (position - low)

    stats = (
        trades.select(code.alias("_code"), "is_exact_exit", "pnl_micro", "trade_return")
        .group_by("_code")
        .agg(
            pl.len().cast(pl.Int64).alias("n_trades"),
            pl.col("is_exact_exit").sum().cast(pl.Int64).alias("n_exact_exit"),
            (pnl > 0).sum().cast(pl.Int64).alias("_wins"),
            pnl.sum().alias("_pnl_micro"),
            pl.col("trade_return").drop_nulls().alias("_returns"),
        )
        # Sorting the lists after the group-by is faster than sorting inside it.
        .with_columns(returns.list.sort())
        .select(
            "_code",
            "n_trades",
            "n_exact_exit",
            returns.list.mean().alias("return_mean"),
            returns.list.std().alias("return_std"),
            returns.list.first().alias("return_min"),
            quantile(0.25).alias("return_p25"),
            quantile(0.5).alias("return_median"),
            quantile(0.75).alias("return_p75"),
            returns.list.last().alias("return_max"),
            (pl.col("_wins") / pl.col("n_trades")).alias("win_rate"),
            (pl.col("_pnl_micro") / pl.col("n_trades") / _MICRO).alias("pnl_points_mean"),
        )
        .sort("_code")
    )
    names = ["dte_bucket", *[f"{cfg.bucket_by}_bucket_leg{i}" for i in legs]]
    dte_labels = bucket_labels(cfg.dte_bucket_edges, left_closed=False)
    labels = bucket_labels(cfg.bucket_edges, left_closed=True)
    decoded = [
        _label(
            (pl.col("_code") // radix ** (len(names) - 1 - pos)) % radix,
            dte_labels if pos == 0 else labels,
        ).alias(name)
        for pos, name in enumerate(names)
    ]
    return stats.select(*decoded, pl.exclude("_code"))


# --- entry points ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScanResult:
    """A collected scan.

    Attributes
    ----------
    config
        The settings.
    summary
        Output of :func:`summarize_trades`, collected.
    trades
        One row per trade (see :func:`scan_trades`), or ``None`` when not requested.
    """

    config: ScanConfig
    summary: pl.DataFrame
    trades: pl.DataFrame | None


def scan_trades(quotes: pl.LazyFrame, cfg: ScanConfig) -> pl.LazyFrame:
    """Every candidate trade of ``cfg``'s structure with its exit: a lazy plan, nothing collected.

    Parameters
    ----------
    quotes
        ``marts.fct_option_quotes_daily``: one row per contract per quote_date; needs
        :data:`SCAN_QUOTE_COLUMNS` (``dte`` calendar days ``= expiration - quote_date``,
        ``option_type`` ``'call'``/``'put'``, prices in index points, ``mid = (bid + ask) / 2``
        or null without a market, ``delta`` may be null). Pre-filter it to the source and the
        underlyings to scan.
    cfg
        Scan settings.

    Returns
    -------
    pl.LazyFrame
        One row per trade, sorted by ``underlying_symbol, option_root, expiration, entry_date``,
        then the leg strikes (and a calendar's far expiration): ``underlying_symbol,
        option_root, expiration`` (a calendar's near one), ``entry_date, exit_date, exit_type``
        (``'exact'`` or ``'nearest_day'``), ``dte_entry, dte_exit`` (calendar days),
        ``underlying_price_entry, underlying_price_exit``; per leg ``i``:
        ``contract_symbol_leg<i>, strike_leg<i>, entry_mid_leg<i>, exit_mid_leg<i>,
        moneyness_leg<i>`` (``S / K`` at entry), ``delta_leg<i>`` (and ``expiration_leg2`` for a
        calendar); then ``entry_premium, exit_premium, pnl_points, trade_return`` (see
        :func:`price_trades`), ``dte_bucket`` and ``<bucket_by>_bucket_leg<i>`` for
        :data:`BUCKET_LEGS`.

    Raises
    ------
    ValueError
        When ``quotes`` lacks a required column (reads the schema only). Duplicate quotes are
        caught by :func:`run_scan` only.
    """
    require_columns(quotes, SCAN_QUOTE_COLUMNS, "quotes (marts.fct_option_quotes_daily)")
    fills = quotes.pipe(exit_quotes, cfg)
    candidates = quotes.pipe(entry_legs, cfg)
    legs = candidates.pipe(legs_with_exits, cfg, fills=fills)
    far_fills = quotes.pipe(far_exit_quotes, cfg, fills=fills)
    return _combine(legs, cfg, candidates=candidates, far_fills=far_fills).pipe(label_trades, cfg)


def scan_summary(quotes: pl.LazyFrame, cfg: ScanConfig) -> pl.DataFrame:
    """Collect only the aggregate (the trade rows are never kept); see :func:`run_scan`."""
    return run_scan(quotes, cfg, keep_trades=False).summary


def run_scan(quotes: pl.LazyFrame, cfg: ScanConfig, *, keep_trades: bool = True) -> ScanResult:
    """Collect the summary, and the trades when ``keep_trades``.

    The legs (entries with their exit fills) are collected first and checked; the structure is
    combined from them. Without ``keep_trades`` the legs keep only the columns an aggregate
    needs, and for the combinatorial structures (all but ``single`` and ``straddle``) the
    aggregate runs on the streaming engine, so the trade rows are never all held: an iron condor
    scan makes millions.

    Parameters
    ----------
    quotes
        See :func:`scan_trades`.
    cfg
        Scan settings.
    keep_trades
        Also collect the trade rows.

    Returns
    -------
    ScanResult
        The same frames whatever the row order of ``quotes``; the same summary with or without
        ``keep_trades``.

    Raises
    ------
    ValueError
        When ``quotes`` lacks a required column; when a contract is quoted twice on its exit
        day, or two entry legs of one day share ``(underlying_symbol, option_root, expiration,
        option_type, strike)`` (the same contract twice, or two symbols for one contract); the
        message names up to three.
    """
    require_columns(quotes, SCAN_QUOTE_COLUMNS, "quotes (marts.fct_option_quotes_daily)")
    fills = quotes.pipe(exit_quotes, cfg)
    candidates = quotes.pipe(entry_legs, cfg)
    legs = candidates.pipe(legs_with_exits, cfg, fills=fills, ordered=keep_trades)
    lean = not keep_trades and cfg.structure != "calendar"
    if lean:
        fields = [*_SUMMARY_FIELDS, *_SUMMARY_GROUP_FIELDS, "strike_key", "contract_symbol"]
        if cfg.structure == "iron_condor":
            fields += ["strike", "underlying_price"]
        legs = legs.select(fields)
    plans = [fills.select("contract_symbol"), legs]
    if cfg.structure == "calendar":
        plans += [candidates, quotes.pipe(far_exit_quotes, cfg, fills=fills)]
    collected = pl.collect_all(plans, engine="in-memory")
    _check_unique(collected[0], ["contract_symbol"], "a contract is quoted twice on its exit day")
    _check_unique(
        collected[1],
        ["group_key", "is_put", "strike_key"],
        "two entry legs share (underlying_symbol, option_root, expiration, option_type, strike) "
        "on one quote_date",
    )
    far_fills = None
    if cfg.structure == "calendar":
        candidates, far_fills = collected[2].lazy(), collected[3].lazy()
        _check_unique(
            collected[2],
            [
                "underlying_symbol",
                "option_root",
                "expiration",
                "is_put",
                "strike_key",
                "entry_date",
            ],
            "two entry legs share (underlying_symbol, option_root, expiration, option_type, "
            "strike) on one quote_date",
        )
        _check_unique(
            collected[3], ["contract_symbol_leg2", "exit_date"], "a contract is quoted twice"
        )
    priced = _combine(
        collected[1].lazy(), cfg, candidates=candidates, far_fills=far_fills, ordered=keep_trades
    )
    if keep_trades:
        trades = priced.collect(engine="in-memory").lazy()
        summary, labelled = pl.collect_all(
            [summarize_trades(trades, cfg), label_trades(trades, cfg)], engine="in-memory"
        )
        return ScanResult(config=cfg, summary=summary, trades=labelled)
    engine = "streaming" if cfg.structure in _COMBINATORIAL else "in-memory"
    summary = priced.pipe(summarize_trades, cfg).collect(engine=engine)
    return ScanResult(config=cfg, summary=summary, trades=None)


def _combine(
    legs: pl.LazyFrame,
    cfg: ScanConfig,
    *,
    candidates: pl.LazyFrame,
    far_fills: pl.LazyFrame | None,
    ordered: bool = True,
) -> pl.LazyFrame:
    """The structure's candidates built from the legs (see the builders), priced."""
    if cfg.structure == "calendar":
        trades = legs.pipe(calendar_trades, cfg, far_legs=candidates, far_fills=far_fills)
    else:
        trades = legs.pipe(_BUILDERS[cfg.structure], cfg, ordered=ordered)
    return trades.pipe(price_trades, cfg)


# --- buckets --------------------------------------------------------------------------------------


def bucket_labels(edges: tuple[float, ...], *, left_closed: bool) -> list[str]:
    """Labels of the ``len(edges) + 1`` bucket numbers of the scan, open ends included.

    Bucket ``k`` holds the values that have passed ``k`` edges: 0 lies below the first edge,
    ``len(edges)`` above the last.

    Examples
    --------
    >>> bucket_labels((0, 7, 14), left_closed=False)
    ['(-inf, 0]', '(0, 7]', '(7, 14]', '(14, inf)']
    >>> bucket_labels((0.9, 1.0), left_closed=True)
    ['(-inf, 0.9)', '[0.9, 1.0)', '[1.0, inf)']
    """
    bounds = ["-inf", *[str(e) for e in edges], "inf"]
    labels = []
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if left_closed:
            labels.append(f"{'(' if k == 0 else '['}{lo}, {hi})")
        else:
            labels.append(f"({lo}, {hi}{')' if k == len(edges) else ']'}")
    return labels


def _bucket_index(value: pl.Expr, edges: tuple[float, ...], *, left_closed: bool) -> pl.Expr:
    """Bucket number 0..len(edges) of ``value``: how many edges it has passed (NaN, null: null)."""
    passed = pl.lit(pl.Series(edges, dtype=pl.Float64)).search_sorted(
        value.cast(pl.Float64), side="right" if left_closed else "left"
    )
    return pl.when(value.cast(pl.Float64).is_finite()).then(passed.cast(pl.Int32))


def _label(idx: pl.Expr, labels: list[str]) -> pl.Expr:
    return idx.replace_strict(dict(enumerate(labels)), default=None, return_dtype=pl.String)


# --- checks ---------------------------------------------------------------------------------------


def _check_unique(df: pl.DataFrame, keys: list[str], what: str) -> None:
    """Raise naming up to three repeated ``keys`` values of ``df``."""
    repeated = df.filter(pl.struct(keys).is_duplicated())
    if not repeated.is_empty():
        shown = repeated.select("contract_symbol" if "contract_symbol" in df.columns else keys)
        raise ValueError(f"{what}: {shown.unique(maintain_order=True).head(3).rows()}")


def _set(cfg: ScanConfig, key: str, value: object) -> None:
    # Normalising a field of a frozen dataclass during its own validation.
    object.__setattr__(cfg, key, value)


def _check_literal(key: str, value: object, alias: object) -> None:
    allowed = get_args(alias)
    if value not in allowed:
        raise ScanConfigError(f"{key} must be one of {list(allowed)}, got {excerpt(value)}")


def _check_int(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScanConfigError(f"{key} must be an integer, got {excerpt(value)}")


def _check_float(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScanConfigError(f"{key} must be a number, got {excerpt(value)}")
    if not math.isfinite(value):
        raise ScanConfigError(f"{key} must be finite, got {excerpt(value)}")
    return float(value)


def _check_low(key: str, value: float, low: float) -> None:
    if value < low:
        raise ScanConfigError(f"{key} must be >= {low!r}, got {excerpt(value)}")


def _check_high(key: str, value: float, high: float) -> None:
    if value > high:
        raise ScanConfigError(f"{key} must be <= {high!r}, got {excerpt(value)}")


def _check_positive(key: str, value: float) -> None:
    if not value > 0:
        raise ScanConfigError(f"{key} must be > 0, got {excerpt(value)}")


def _check_edges(key: str, edges: object) -> tuple[float, ...]:
    if not isinstance(edges, tuple) or len(edges) < 2:
        raise ScanConfigError(f"{key} must be a tuple of at least 2 edges, got {excerpt(edges)}")
    for edge in edges:
        _check_float(key, edge)
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ScanConfigError(f"{key} must be strictly increasing, got {excerpt(edges)}")
    return edges


# --- ``python -m engine scan`` ------------------------------------------------------------------


def add_cli_arguments(parser: Any) -> None:
    """Options of ``python -m engine scan`` (an ``argparse`` sub-parser)."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML mapping of ScanConfig fields (flags below override it)",
    )
    parser.add_argument(
        "--structure",
        choices=sorted(LEG_RATIOS),
        default=None,
        help="single, straddle, strangle, vertical, iron_condor, butterfly, "
        "calendar (default single)",
    )
    parser.add_argument(
        "--side",
        choices=("long", "short"),
        default=None,
        help="long (the debit version) or short (default long)",
    )
    parser.add_argument(
        "--option-type",
        choices=("call", "put"),
        default=None,
        help="for single, vertical, butterfly, calendar (default call)",
    )
    parser.add_argument(
        "--max-entry-dte", type=int, default=None, help="calendar days (default 45)"
    )
    parser.add_argument("--exit-dte", type=int, default=None, help="calendar days (default 7)")
    parser.add_argument(
        "--bucket-by",
        choices=("moneyness", "delta"),
        default=None,
        help="second bucket axis (default moneyness S/K)",
    )
    parser.add_argument("--underlying", default="SPX", help="underlying symbol (default SPX)")
    parser.add_argument(
        "--roots", default="SPX,SPXW", help="comma-separated option roots (default SPX,SPXW)"
    )
    parser.add_argument(
        "--trades-csv", type=Path, default=None, help="also write every trade to this CSV file"
    )


def cli_main(args: Any, db_path: Path) -> int:
    """Run a scan from parsed CLI arguments against ``marts.fct_option_quotes_daily``.

    Prints progress, the trade counts and the summary by bucket; returns 0.

    Raises
    ------
    ScanConfigError
        On a bad setting (named). ``FileNotFoundError`` when the database is missing.
    """
    import time

    from warehouse.paths import connect

    values: dict[str, Any] = {}
    if args.config is not None:
        try:
            from_file = read_yaml(args.config)
        except YamlFileError as exc:
            raise ScanConfigError(str(exc)) from exc
        if from_file is not None and not isinstance(from_file, dict):
            raise ScanConfigError(
                f"{args.config}: scan config must be a mapping, got {type(from_file).__name__}"
            )
        values.update(from_file or {})
    flags = {
        "structure": args.structure,
        "side": args.side,
        "option_type": args.option_type,
        "max_entry_dte": args.max_entry_dte,
        "exit_dte": args.exit_dte,
        "bucket_by": args.bucket_by,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    cfg = ScanConfig.from_mapping(values)
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"warehouse database not found: {db_path} (run `make all`)")
    roots = [r.strip() for r in args.roots.split(",") if r.strip()]
    started = time.perf_counter()
    con = connect(db_path, read_only=True)
    try:
        quotes = con.sql(
            f"select {', '.join(SCAN_QUOTE_COLUMNS)} from marts.fct_option_quotes_daily "
            "where underlying_symbol = ? and list_contains(?, option_root)",
            params=[args.underlying, roots],
        ).pl()
    finally:
        con.close()
    print(
        f"read {quotes.height:,} quotes of {args.underlying} {roots} "
        f"({time.perf_counter() - started:.1f} s); scanning {cfg.side} {cfg.structure}",
        flush=True,
    )
    started = time.perf_counter()
    result = run_scan(quotes.lazy(), cfg, keep_trades=args.trades_csv is not None)
    summary = result.summary
    n = int(summary["n_trades"].sum()) if summary.height else 0
    exact = int(summary["n_exact_exit"].sum()) if summary.height else 0
    print(
        f"{n:,} trades ({exact:,} with an exact exit-DTE match) in "
        f"{time.perf_counter() - started:.2f} s",
        flush=True,
    )
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=200):
        print(summary)
    if args.trades_csv is not None and result.trades is not None:
        result.trades.write_csv(args.trades_csv)
        print(f"trades -> {args.trades_csv}")
    return 0
