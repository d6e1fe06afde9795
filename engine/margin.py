"""Strategy-based (Reg T) margin of an option structure, per lot, classified from its legs.

One function, :func:`strategy_margin`, turns the legs of a set of positions into, per position
and per lot, the capital the structure ties up (``margin_usd``), its maximum loss at expiry
(``max_loss_usd``), its gross strike notional (``notional_usd``) and the name of the rule that
priced it (``margin_rule``, one of :data:`MARGIN_RULES`). The structure is read from the legs
themselves (types, signs, ratios, strikes, expirations), never from a strategy name, so inline
and custom strategies get the same treatment as the catalogue's.

Sources
-------
* Cboe Exchange, *Margin Manual* (Cboe Global Markets; edition of November 2021,
  https://cdn.cboe.com/resources/membership/Margin_Manual.pdf), sections "Long Put or Long Call",
  "Short Put or Short Call", "Short Put and Short Call", "Put Spread or Call Spread", "Long
  Butterfly Spread" / "Short Butterfly Spread", "Short Call and Long Underlying", "Long Put and
  Long Underlying", "Collar", and the cash-account column of each table. Section names follow the
  manual's table of contents (April 2000 edition, pp. 4-14, the edition whose text could be read
  here); worked examples are cited by page of the November 2021 edition (pp. 28-56). The 2021
  PDF itself could not be opened from here: its rules were checked against its wording as quoted
  in public code and broker pages (e.g. "short put or short call requirement, whichever is
  greater, plus the option proceeds of the other side"), and every worked example cited in
  ``tests/engine/test_margin.py`` reproduces to the cent.
* Cboe Rule 10.3 "Margin Requirements" (formerly Rule 12.3), paragraph (c)(5) "Initial and
  Maintenance Margin Requirements on Short Options…", whose (C) "Related Securities Positions"
  holds the spread, straddle and covered call/put ((C)(iii)) rules - the paragraph's structure as
  reprinted in the Federal Register, 87 FR 74200 (2022); FINRA Rule 4210(f)(2) sets the same
  minimums. Cboe, "Strategy-based Margin",
  https://markets.cboe.com/us/options/strategy_based_margin/ ("margin requirements set-forth in
  Cboe Rule 10.3 … are minimums").
* Regulation T, 12 CFR 220.8 (cash account: securities paid in full) and 220.12(c) (short sale:
  150 % of the value, of which the proceeds are 100 %).
* Hull, J. C. (2021), *Options, Futures, and Other Derivatives*, 11th ed., ch. 12 (payoff of a
  combination at expiry), for ``max_loss_usd``.

Units
-----
Prices and strikes are index points (per share for stock); every requirement below is computed in
points per lot and multiplied by ``multiplier`` (USD per point per contract) at the end. ``S`` is
the underlying's price at entry, ``p`` an option's entry (fill) price, ``K`` its strike.

What ``margin_usd`` is (the quantity returned)
----------------------------------------------
The manual prints two numbers per worked example: the **margin requirement** (short proceeds not
yet applied; long options counted at their cost) and the **SMA debit / cash call** (the
requirement less the short proceeds, which "may be applied"). ``margin_usd`` is, rule by rule:

* an **uncovered** short option is charged the manual's full requirement, which *includes* 100 %
  of its proceeds (``p + max(rate·S − OTM, 10 %·(S or K))``): its proceeds are not netted;
* a **covered** short (in a spread, a calendar, a covered call, a cash-secured put) is charged the
  spread's or cover's requirement *with its own proceeds applied*, i.e. the manual's cash call -
  for a defined-risk structure exactly its maximum loss;
* long options, and long stock (cash account: Regulation T 220.8, because the engine's cash leg
  is unlevered), are paid in full.

For example the manual's p. 42 credit call spread shows a requirement of $880 and, its $840 of
proceeds applied, a cash call of $40: ``margin_usd`` is $40 (its maximum loss); its p. 28 naked
put shows $1,000 and ``margin_usd`` is $1,000.

This is the convention of the engine before this module (naked shorts gross, spreads at their
maximum loss) and of the ``margin-estimator`` package; it never charges a spread more than its
legs would need naked. To get the manual's gross requirement, add back the proceeds of the covered
shorts; to get the pure cash call, subtract the proceeds of the uncovered ones.

The rules (:data:`MARGIN_RULES`), all from the manual and Rule 10.3(c)(5)
---------------------------------------------------------------------------
``long_premium``
    Long options only: each paid in full (manual "Long Put or Long Call", nine months or less).
``naked``
    Uncovered short calls/puts: ``p + max(rate·S − OTM, 10 %·S)`` for calls,
    ``p + max(rate·S − OTM, 10 %·K)`` for puts; ``rate`` = :data:`INDEX_NAKED_RATE` for a
    broad-based index, :data:`EQUITY_NAKED_RATE` for equities/ETFs (manual "Short Put or Short
    Call"; Rule 10.3(c)(5)).
``straddle_strangle``
    A short put and a short call: the greater of the two naked requirements plus the other side's
    proceeds (manual "Short Put and Short Call").
``vertical_spread``
    One long and one short of one type and expiry. The short needs the lesser of its naked
    requirement and the strike difference when the long is less protective (long call strike
    above / long put strike below the short's), else nothing; the long is paid; the short's
    proceeds are applied. Debit spread: the debit; credit spread: the strike difference less the
    credit (manual "Put Spread or Call Spread").
``iron_condor``
    A put spread and a call spread (iron condors, iron butterflies, their reverses, long boxes):
    the greater of the two spreads' requirements, all proceeds applied - the maximum loss (Rule
    10.3(c)(5)(C); manual p. 56 example).
``butterfly``
    Two or more spreads of one type and expiry (butterflies, condors, broken wings): the
    maximum potential loss - the debit for a long butterfly - all proceeds applied (manual "Long
    Butterfly Spread" / "Short Butterfly Spread"; p. 52 example).
``ratio_spread``
    More shorts than longs of a type (or more longs): the covered part as spreads, the excess
    shorts naked (and the straddle rule between uncovered calls and puts), excess longs paid.
``calendar_spread``
    Options on two expirations. A long expiring at or after the short covers it as a spread
    (debit in full when the long strike is at least as protective, else the strike difference
    added); a long expiring first covers nothing, its short is naked (manual "Put Spread or Call
    Spread": "long side expires with or after short side").
``collar``
    Long stock + long put + short call covered by the stock: stock and put paid in full, call
    proceeds applied (manual "Collar", cash account).
``covered_call``
    Long stock covering the short calls (one contract per ``multiplier`` shares): the stock paid
    in full, no requirement on the calls, their proceeds applied (manual "Short Call and Long
    Underlying").
``protective_put``
    Long stock + long puts: both paid in full (manual "Long Put and Long Underlying").
``cash_secured_put``
    Uncovered short puts with cash for the strike set aside (opt-in, see ``is_cash_secured``):
    the strike less the proceeds (manual "Short Put or Short Call", cash account).
``stock``
    Stock only: long paid in full; short stock charged :data:`SHORT_STOCK_RATE` of its value
    beyond the proceeds (Regulation T 220.12(c)).
``combination``
    Anything else (e.g. a short put with a call spread, a ratio write): the general decomposition
    below, applied as is.

The general decomposition (every rule above is a case of it)
------------------------------------------------------------
1. Each option leg is split into contracts. Within a position and an option type, shorts are
   ranked most-dangerous first (calls by rising strike, puts by falling strike) and longs
   best-cover first (same order, later expiry first); the i-th short is paired with the i-th
   long - the sorted matching, which minimises the total convex cost ``max(0, strike gap)``
   when every short finds a cover (the classic monotone-coupling result). A pair covers when
   the long expires at or after the short: the short is charged
   ``min(strike gap, naked requirement) − p``.
2. Uncovered short calls are covered by long stock, one contract per ``multiplier`` shares,
   most expensive first (charge ``−p``); uncovered short puts likewise by short stock.
3. With ``is_cash_secured``, the uncovered short puts left are cash-secured (``K − p``).
4. The uncovered shorts left are paired call-with-put, largest requirement first, under the
   straddle rule; the rest are charged naked.
5. Long options are paid in full; long stock too; short stock at :data:`SHORT_STOCK_RATE`.
6. A position whose every short option is covered by a long option and which holds no stock is
   "limited risk" (manual p. 52): its requirement is the lesser of the decomposition, the
   manual's limited-risk requirement after proceeds (the maximum potential loss of the payoff,
   floored at 0, plus the net debit - the maximum loss, unless the payoff cannot go negative,
   as in a long box, where the debit is still paid in full), and - a put spread and a call
   spread whose short strikes do not cross - the greater of the two sides. Floored at 0.

Known approximations: the pairing in step 1 is the sorted matching, not a full assignment
search, so a cover that fails only on expiry is not re-matched; the naked-requirement cap in a
very wide spread (gap above 15-20 % of spot) can make another matching cheaper. Long options with
more than nine months to run are paid in full here (the manual allows 75 %). Maintenance margin
and portfolio margin are out of scope.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Literal

import polars as pl

#: Uncovered short option on a broad-based index: 15 % of the underlying less the out-of-the-money
#: amount (Cboe Rule 10.3(c)(5); Margin Manual, "Short Put or Short Call").
INDEX_NAKED_RATE = 0.15
#: Same for equities, ETFs and narrow-based indexes: 20 % (same sources).
EQUITY_NAKED_RATE = 0.20
#: The minimum of the uncovered requirement: 10 % of the underlying (calls) or of the strike (puts)
#: (same sources).
MIN_NAKED_RATE = 0.10
#: Short stock: Regulation T 220.12(c) requires 150 % of its value, of which the sale proceeds are
#: 100 %: the deposit beyond them is 50 %.
SHORT_STOCK_RATE = 0.50

UnderlyingClass = Literal["broad_based_index", "equity"]
_NAKED_RATE: dict[str, float] = {
    "broad_based_index": INDEX_NAKED_RATE,
    "equity": EQUITY_NAKED_RATE,
}

#: Every value of ``margin_rule``, with the rule it names (see the module docstring for sources).
MARGIN_RULES: MappingProxyType[str, str] = MappingProxyType(
    {
        "long_premium": "long options only: paid in full",
        "naked": "uncovered shorts: proceeds + max(rate·S − OTM, 10 % of S (calls) or K (puts))",
        "straddle_strangle": "short put + short call: greater naked requirement + other proceeds",
        "vertical_spread": "one spread: debit, or strike difference less the credit",
        "iron_condor": "put spread + call spread: greater of the two sides, proceeds applied",
        "butterfly": "two or more spreads of one type: the maximum potential loss",
        "ratio_spread": "covered part as spreads, excess shorts naked, excess longs paid",
        "calendar_spread": "two expirations: covered as spreads when the long expires later",
        "collar": "long stock + long put + covered short call: stock and put paid, call applied",
        "covered_call": "long stock covers the short calls: the stock paid, call proceeds applied",
        "protective_put": "long stock + long puts: both paid in full",
        "cash_secured_put": "uncovered short puts with the strike in cash: strike less proceeds",
        "stock": "stock only: long paid in full, short at 50 % beyond the proceeds",
        "combination": "any other mix: the general decomposition",
    }
)

LEG_COLUMNS: tuple[str, ...] = (
    "position_id",
    "leg_no",
    "leg_type",
    "sign",
    "ratio",
    "units",
    "strike",
    "expiration",
    "entry_price",
)
POSITION_COLUMNS: tuple[str, ...] = ("position_id", "entry_value", "entry_underlying_price")
OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "position_id": pl.Int64(),
    "margin_usd": pl.Float64(),
    "max_loss_usd": pl.Float64(),
    "notional_usd": pl.Float64(),
    "margin_rule": pl.String(),
}
# Sums of floats in a parallel group-by may add in a different order from run to run; rounding
# to 9 decimals (prices have 2) keeps every result bit-identical (as engine.backtest does).
_DP = 9
_EPS = 1e-9
_KEY = ["position_id", "leg_type"]
# (column, descending) sort orders: contracts for the cover pairing, uncovered shorts by naked
# requirement; ties end on leg and contract so the order is total
_COVER_ORDER = (
    ("position_id", False), ("leg_type", False), ("sign", False), ("_k", False),
    ("expiration", True), ("entry_price", False), ("leg_no", False), ("contract", False),
)  # fmt: skip
_NAKED_ORDER = (
    ("position_id", False), ("leg_type", False), ("naked", True), ("strike", False),
    ("expiration", False), ("entry_price", False), ("leg_no", False), ("contract", False),
)  # fmt: skip


def _sorted(df: pl.DataFrame, order: tuple[tuple[str, bool], ...]) -> pl.DataFrame:
    return df.sort([c for c, _ in order], descending=[d for _, d in order])


def strategy_margin(
    position_legs: pl.DataFrame,
    positions: pl.DataFrame,
    *,
    multiplier: int,
    underlying_class: Literal["broad_based_index", "equity"],
) -> pl.DataFrame:
    """Strategy-based margin, maximum loss and notional of each position, per lot, in USD.

    Parameters
    ----------
    position_legs : pl.DataFrame
        One row per position per leg, for one lot (the unit of a strategy: a 1x2 ratio is one
        lot with ratios 1 and 2). Required columns: ``position_id`` (Int64), ``leg_no`` (Int32,
        unique within a position), ``leg_type`` ('call' | 'put' | 'stock'), ``sign`` (+1 long,
        -1 short), ``ratio`` (>= 1; options: contracts per lot, stock: shares per lot),
        ``units`` (= sign·ratio for options, sign·ratio/multiplier for stock), ``strike``
        (points; null for stock), ``expiration`` (Date; for stock the front option's),
        ``entry_price`` (fill price, points per unit; per share for stock). Other columns (e.g.
        ``mid``) are ignored.
    positions : pl.DataFrame
        One row per position: ``position_id``, ``entry_value`` (net premium per lot, points:
        Σ units·entry_price; + debit, − credit), ``entry_underlying_price`` (spot at entry,
        points). Optional ``is_cash_secured`` (Boolean): the account holds cash for the strike
        of every uncovered short put of that position (rule ``cash_secured_put``); absent or
        null means a margin account.
    multiplier : int
        USD per point per contract, and shares per contract for the stock cover (100 for SPX).
    underlying_class : {'broad_based_index', 'equity'}
        Selects the uncovered-short rate: :data:`INDEX_NAKED_RATE` or :data:`EQUITY_NAKED_RATE`
        (equity also covers ETFs and narrow-based indexes).

    Returns
    -------
    pl.DataFrame
        One row per position of ``positions``, sorted by ``position_id``: ``position_id``
        (Int64); ``margin_usd`` (Float64, >= 0: the capital one lot ties up, see the module
        docstring for which quantity); ``max_loss_usd`` (Float64: the largest loss at expiry,
        premium included, payoff evaluated at 0 and at every strike (Hull 2021, ch. 12), ``inf``
        when unbounded; for options on two expirations the net debit plus the strike gap of every
        less protective cover (the back legs valued at no less than their intrinsic value at the
        front expiry, discounting ignored) when every short is covered, else ``inf``);
        ``notional_usd`` (Float64: Σ ratio·strike·multiplier over the option legs);
        ``margin_rule`` (String, a key of :data:`MARGIN_RULES`).

    Raises
    ------
    ValueError
        A missing column (naming the frame and the columns); a ``leg_type`` outside
        call/put/stock, a ``sign`` other than ±1, a ``ratio`` < 1, ``units`` inconsistent with
        sign·ratio, a null or non-positive option strike, a null option expiration, a null
        entry price, a null or non-positive ``entry_underlying_price`` (each naming the bad
        values and their positions); a position without legs or legs without a position; a
        duplicated ``position_id`` or ``(position_id, leg_no)``; ``multiplier`` < 1; an
        unknown ``underlying_class``.

    Examples
    --------
    A short SPX strangle, 2815P/2985C at spot 2919.04 with 14.228 points of premium (SYNTHETIC
    split 7.114/7.114): the call side's naked requirement, 371.896 + 7.114, plus the put's 7.114.

    >>> import datetime as dt
    >>> exp = dt.date(2019, 4, 18)
    >>> legs = pl.DataFrame(
    ...     {
    ...         "position_id": [1, 1],
    ...         "leg_no": [1, 2],
    ...         "leg_type": ["put", "call"],
    ...         "sign": [-1, -1],
    ...         "ratio": [1, 1],
    ...         "units": [-1.0, -1.0],
    ...         "strike": [2815.0, 2985.0],
    ...         "expiration": [exp, exp],
    ...         "entry_price": [7.114, 7.114],
    ...     }
    ... )
    >>> positions = pl.DataFrame(
    ...     {"position_id": [1], "entry_value": [-14.228], "entry_underlying_price": [2919.04]}
    ... )
    >>> strategy_margin(legs, positions, multiplier=100, underlying_class="broad_based_index")
    shape: (1, 5)
    ┌─────────────┬────────────┬──────────────┬──────────────┬───────────────────┐
    │ position_id ┆ margin_usd ┆ max_loss_usd ┆ notional_usd ┆ margin_rule       │
    │ ---         ┆ ---        ┆ ---          ┆ ---          ┆ ---               │
    │ i64         ┆ f64        ┆ f64          ┆ f64          ┆ str               │
    ╞═════════════╪════════════╪══════════════╪══════════════╪═══════════════════╡
    │ 1           ┆ 38612.4    ┆ inf          ┆ 580000.0     ┆ straddle_strangle │
    └─────────────┴────────────┴──────────────┴──────────────┴───────────────────┘
    """
    legs, pos = _validated(position_legs, positions, multiplier, underlying_class)
    if pos.height == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    rate = _NAKED_RATE[underlying_class]
    units = _option_contracts(legs, pos, rate)
    pairs = _cover_pairs(units)
    covered = pairs.filter(pl.col("is_covered"))
    uncovered = pairs.filter(~pl.col("is_covered")).drop(
        "long_strike", "long_expiration", "is_covered", "width"
    )
    stock = _stock_units(legs)
    uncovered = _stock_and_cash_cover(uncovered, stock, pos)
    naked = _straddle_pairs(uncovered.filter(~pl.col("by_stock") & ~pl.col("by_cash")))
    features = _features(legs, pos, covered, uncovered, naked, stock)
    max_loss = _max_loss(legs, pos, features)
    return _assemble(features, max_loss, multiplier)


# --- validation ----------------------------------------------------------------------------------


def _validated(
    position_legs: pl.DataFrame,
    positions: pl.DataFrame,
    multiplier: int,
    underlying_class: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check the arguments and cast the columns used; raise ``ValueError`` naming bad values."""
    if underlying_class not in _NAKED_RATE:
        raise ValueError(
            f"underlying_class must be one of {sorted(_NAKED_RATE)}, got {underlying_class!r}"
        )
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
        raise ValueError(f"multiplier must be an int >= 1, got {multiplier!r}")
    for frame, df, required in (
        ("position_legs", position_legs, LEG_COLUMNS),
        ("positions", positions, POSITION_COLUMNS),
    ):
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise ValueError(
                f"{frame} is missing required column(s) {missing}; has {sorted(df.columns)}"
            )
    legs = position_legs.select(
        pl.col("position_id").cast(pl.Int64),
        pl.col("leg_no").cast(pl.Int64),
        pl.col("leg_type").cast(pl.String),
        pl.col("sign").cast(pl.Int64),
        pl.col("ratio").cast(pl.Int64),
        pl.col("units").cast(pl.Float64),
        pl.col("strike").cast(pl.Float64),
        pl.col("expiration").cast(pl.Date),
        pl.col("entry_price").cast(pl.Float64),
    )
    cash = (
        pl.col("is_cash_secured").cast(pl.Boolean).fill_null(False)
        if "is_cash_secured" in positions.columns
        else pl.lit(False)
    )
    pos = positions.select(
        pl.col("position_id").cast(pl.Int64),
        pl.col("entry_value").cast(pl.Float64),
        pl.col("entry_underlying_price").cast(pl.Float64),
        cash.alias("is_cash_secured"),
    )
    is_option = pl.col("leg_type").is_in(["call", "put"])
    per_share = pl.when(is_option).then(1.0).otherwise(1.0 / multiplier)
    checks: list[tuple[str, pl.DataFrame, pl.Expr, str]] = [
        ("leg_type", legs, ~pl.col("leg_type").is_in(["call", "put", "stock"]).fill_null(False),
         "must be 'call', 'put' or 'stock'"),
        ("sign", legs, ~pl.col("sign").is_in([-1, 1]).fill_null(False), "must be +1 or -1"),
        ("ratio", legs, pl.col("ratio").is_null() | (pl.col("ratio") < 1), "must be >= 1"),
        ("units", legs,
         ((pl.col("units") - pl.col("sign") * pl.col("ratio") * per_share).abs() > 1e-9)
         .fill_null(True), "must equal sign·ratio (options) or sign·ratio/multiplier (stock)"),
        ("strike", legs, is_option & (pl.col("strike").is_null() | (pl.col("strike") <= 0)),
         "must be > 0 for an option"),
        ("expiration", legs, is_option & pl.col("expiration").is_null(),
         "must not be null for an option"),
        ("entry_price", legs, pl.col("entry_price").is_null() | pl.col("entry_price").is_nan(),
         "must not be null"),
        ("entry_underlying_price", pos,
         (pl.col("entry_underlying_price") <= 0).fill_null(True), "must be > 0"),
        ("entry_value", pos, pl.col("entry_value").is_null() | pl.col("entry_value").is_nan(),
         "must not be null"),
    ]  # fmt: skip
    for column, df, bad, rule in checks:
        rows = df.filter(bad)
        if rows.height:
            values = rows.get_column(column).unique(maintain_order=True).head(5).to_list()
            ids = rows.get_column("position_id").unique(maintain_order=True).head(5).to_list()
            raise ValueError(f"{column} {rule}, got {values!r} (position_id {ids!r})")
    for frame, df, key in (
        ("positions", pos, ["position_id"]),
        ("position_legs", legs, ["position_id", "leg_no"]),
    ):
        dup = df.filter(pl.struct(key).is_duplicated())
        if dup.height:
            raise ValueError(
                f"{frame} has duplicated {key}: {dup.select(key).unique().head(5).rows()!r}"
            )
    orphans = legs.join(pos, on="position_id", how="anti")["position_id"].unique().sort()
    if orphans.len():
        raise ValueError(f"position_legs has position_id(s) not in positions: {orphans.to_list()}")
    empty = pos.join(legs, on="position_id", how="anti")["position_id"].sort()
    if empty.len():
        raise ValueError(f"positions without any leg in position_legs: {empty.head(5).to_list()}")
    return legs, pos


# --- 1. contracts, ranked, and their covers ------------------------------------------------------


def _option_contracts(legs: pl.DataFrame, pos: pl.DataFrame, rate: float) -> pl.DataFrame:
    """One row per option contract of a lot, with its naked requirement and its cover rank.

    ``naked`` (points): ``p + max(rate·S − OTM, 10 %·S)`` for a call, ``p + max(rate·S − OTM,
    10 %·K)`` for a put (Margin Manual, "Short Put or Short Call"). ``rank`` numbers the shorts
    most-dangerous first and the longs best-cover first within (position, type): calls by rising
    strike, puts by falling strike, then later expiry, then price, leg and contract.
    """
    is_call = pl.col("leg_type") == "call"
    spot = pl.col("entry_underlying_price")
    otm = (
        pl.when(is_call)
        .then((pl.col("strike") - spot).clip(lower_bound=0.0))
        .otherwise((spot - pl.col("strike")).clip(lower_bound=0.0))
    )
    floor = (
        pl.when(is_call).then(MIN_NAKED_RATE * spot).otherwise(MIN_NAKED_RATE * pl.col("strike"))
    )
    return (
        legs.filter(pl.col("leg_type") != "stock")
        .join(pos.select("position_id", "entry_underlying_price"), on="position_id")
        .with_columns(
            (pl.col("entry_price") + pl.max_horizontal(rate * spot - otm, floor)).alias("naked"),
            pl.when(is_call).then(pl.col("strike")).otherwise(-pl.col("strike")).alias("_k"),
            pl.int_ranges(0, pl.col("ratio")).alias("contract"),
        )
        .explode("contract")
        .pipe(_sorted, _COVER_ORDER)
        .with_columns(pl.int_range(pl.len()).over([*_KEY, "sign"]).alias("rank"))
        .drop("entry_underlying_price", "_k", "ratio", "units")
    )


def _cover_pairs(contracts: pl.DataFrame) -> pl.DataFrame:
    """Every short contract, with the long of the same rank and whether it covers it.

    A long covers the short of its rank when it expires at or after it (Margin Manual, "Put
    Spread or Call Spread": long side expires with or after short side). ``width`` is the strike
    gap the cover leaves open: long call strike above the short's, or long put strike below it;
    ``spread_req`` = min(width, naked requirement) (the manual's "lesser of" for spreads);
    ``charge`` = spread_req − p, the short's proceeds applied.
    """
    longs = contracts.filter(pl.col("sign") > 0).select(
        *_KEY,
        "rank",
        pl.col("strike").alias("long_strike"),
        pl.col("expiration").alias("long_expiration"),
    )
    gap = (
        pl.when(pl.col("leg_type") == "call")
        .then(pl.col("long_strike") - pl.col("strike"))
        .otherwise(pl.col("strike") - pl.col("long_strike"))
        .clip(lower_bound=0.0)
    )
    return (
        contracts.filter(pl.col("sign") < 0)
        .join(longs, on=[*_KEY, "rank"], how="left")
        .with_columns(
            (pl.col("long_expiration") >= pl.col("expiration"))
            .fill_null(False)
            .alias("is_covered"),
            gap.alias("width"),
        )
        .with_columns(pl.min_horizontal("width", "naked").alias("spread_req"))
        .with_columns((pl.col("spread_req") - pl.col("entry_price")).alias("charge"))
    )


# --- 2.-4. stock cover, cash cover, straddles -----------------------------------------------------


def _stock_units(legs: pl.DataFrame) -> pl.DataFrame:
    """Per position: long and short stock in contracts' worth, and its cost/value in points."""
    stock = legs.filter(pl.col("leg_type") == "stock")
    value = pl.col("units") * pl.col("entry_price")
    return stock.group_by("position_id").agg(
        pl.col("units").filter(pl.col("units") > 0).sum().alias("long_stock_units"),
        (-pl.col("units").filter(pl.col("units") < 0)).sum().alias("short_stock_units"),
        value.filter(pl.col("units") > 0).sum().alias("long_stock_cost"),
        (-value.filter(pl.col("units") < 0)).sum().alias("short_stock_value"),
    )


def _stock_and_cash_cover(
    uncovered: pl.DataFrame, stock: pl.DataFrame, pos: pl.DataFrame
) -> pl.DataFrame:
    """Mark the uncovered shorts covered by stock (``by_stock``) or by cash (``by_cash``).

    Long stock covers short calls, short stock short puts, one contract per ``multiplier``
    shares, the largest naked requirement first (Margin Manual, "Short Call and Long
    Underlying"; Rule 10.3(c)(5)(C)(iii) covered calls/puts). With ``is_cash_secured`` the short
    puts left are cash-secured (cash account: the strike set aside).
    """
    ranked = (
        _sorted(uncovered, _NAKED_ORDER)
        .with_columns(pl.int_range(pl.len()).over(_KEY).alias("naked_rank"))
        .join(stock, on="position_id", how="left")
        .join(pos.select("position_id", "is_cash_secured"), on="position_id")
    )
    coverable = (
        pl.when(pl.col("leg_type") == "call")
        .then(pl.col("long_stock_units"))
        .otherwise(pl.col("short_stock_units"))
        .fill_null(0.0)
    )
    by_stock = pl.col("naked_rank") < (coverable + _EPS).floor()
    return ranked.with_columns(by_stock.alias("by_stock")).with_columns(
        ((pl.col("leg_type") == "put") & pl.col("is_cash_secured") & ~pl.col("by_stock")).alias(
            "by_cash"
        )
    )


def _straddle_pairs(naked: pl.DataFrame) -> pl.DataFrame:
    """Charge the uncovered shorts: call-put pairs by the straddle rule, the rest naked.

    Within a position the uncovered calls and puts are each ranked by naked requirement, largest
    first, and paired by rank. A pair is charged the greater requirement plus the other option's
    proceeds (Margin Manual, "Short Put and Short Call"); an unpaired short its naked
    requirement. Returns one row per charge: ``position_id``, ``charge``, ``is_straddle``.
    """
    ranked = _sorted(naked, _NAKED_ORDER).with_columns(
        pl.int_range(pl.len()).over(_KEY).alias("straddle_rank")
    )
    side = ["position_id", "straddle_rank", "naked", "entry_price"]
    calls = ranked.filter(pl.col("leg_type") == "call").select(side)
    puts = ranked.filter(pl.col("leg_type") == "put").select(side)
    both = calls.join(
        puts, on=["position_id", "straddle_rank"], how="full", coalesce=True, suffix="_put"
    )
    call_n, put_n = pl.col("naked"), pl.col("naked_put")
    is_pair = call_n.is_not_null() & put_n.is_not_null()
    charge = (
        pl.when(is_pair & (call_n >= put_n))
        .then(call_n + pl.col("entry_price_put"))
        .when(is_pair)
        .then(put_n + pl.col("entry_price"))
        .otherwise(pl.coalesce(call_n, put_n))
    )
    return both.select("position_id", charge.alias("charge"), is_pair.alias("is_straddle"))


# --- 5.-6. per-position features, maximum loss, assembly -----------------------------------------


def _features(
    legs: pl.DataFrame,
    pos: pl.DataFrame,
    covered: pl.DataFrame,
    uncovered: pl.DataFrame,
    naked: pl.DataFrame,
    stock: pl.DataFrame,
) -> pl.DataFrame:
    """One row per position: the decomposition's charges (points per lot) and the leg counts."""
    opt = pl.col("leg_type") != "stock"
    is_call, is_put = pl.col("leg_type") == "call", pl.col("leg_type") == "put"
    long_, short = pl.col("sign") > 0, pl.col("sign") < 0
    contracts = pl.col("ratio")
    counts = legs.group_by("position_id").agg(
        (contracts * pl.col("entry_price")).filter(opt & long_).sum().alias("long_premium"),
        (contracts * pl.col("strike")).filter(opt).sum().alias("notional"),
        contracts.filter(is_call & long_).sum().alias("n_long_call"),
        contracts.filter(is_call & short).sum().alias("n_short_call"),
        contracts.filter(is_put & long_).sum().alias("n_long_put"),
        contracts.filter(is_put & short).sum().alias("n_short_put"),
        pl.col("expiration").filter(opt).n_unique().alias("n_expirations"),
        pl.col("strike").filter(is_put & short).max().alias("max_short_put_strike"),
        pl.col("strike").filter(is_call & short).min().alias("min_short_call_strike"),
    )
    pairs = covered.group_by("position_id").agg(
        pl.col("charge").sum().alias("cover_charge"),
        pl.col("entry_price").sum().alias("covered_proceeds"),
        pl.col("width").sum().alias("cover_width"),
        pl.col("spread_req").filter(pl.col("leg_type") == "put").sum().alias("put_spread_req"),
        pl.col("spread_req").filter(pl.col("leg_type") == "call").sum().alias("call_spread_req"),
        (pl.col("leg_type") == "call").sum().alias("n_call_pairs"),
        (pl.col("leg_type") == "put").sum().alias("n_put_pairs"),
    )
    others = uncovered.group_by("position_id").agg(
        (-pl.col("entry_price")).filter(pl.col("by_stock")).sum().alias("stock_cover_charge"),
        (pl.col("strike") - pl.col("entry_price"))
        .filter(pl.col("by_cash"))
        .sum()
        .alias("cash_cover_charge"),
        pl.col("by_stock").sum().alias("n_by_stock"),
        pl.col("by_cash").sum().alias("n_by_cash"),
    )
    naked_agg = naked.group_by("position_id").agg(
        pl.col("charge").sum().alias("naked_charge"),
        pl.col("is_straddle").sum().alias("n_straddles"),
        pl.len().alias("n_naked_charges"),
    )
    out = pos.join(counts, on="position_id", how="left")
    zero = []  # a position without covers, stock or naked shorts has none of these: 0
    for part in (pairs, others, naked_agg, stock):
        out = out.join(part, on="position_id", how="left")
        zero += [c for c in part.columns if c != "position_id"]
    return out.with_columns(pl.col(zero).fill_null(0)).with_columns(
        (
            pl.col("long_premium")
            + pl.col("cover_charge")
            + pl.col("stock_cover_charge")
            + pl.col("cash_cover_charge")
            + pl.col("naked_charge")
            + pl.col("long_stock_cost")
            + SHORT_STOCK_RATE * pl.col("short_stock_value")
        )
        .round(_DP)
        .alias("decomposition")
    )


def _max_loss(legs: pl.DataFrame, pos: pl.DataFrame, features: pl.DataFrame) -> pl.DataFrame:
    """Maximum loss at expiry per lot, points, ``inf`` when unbounded.

    One expiration: the payoff Σ units·payoff(S) less ``entry_value``, evaluated at S = 0 and at
    every strike (the payoff is linear between them, Hull 2021, ch. 12); unbounded when the
    slope above the highest strike (calls and stock units) is negative. Two expirations: the net
    debit plus the open strike gap of the covers when every short option is covered by an option,
    no short is covered by stock and there is no short stock, else ``inf``.

    Also returns ``limited_risk_req``: the maximum potential loss of the payoff (at least 0; the
    open strike gap for two expirations) plus ``entry_value`` - the manual's requirement of a
    limited-risk structure with the proceeds applied (step 6 of the module docstring).
    """
    points = (
        legs.filter(pl.col("leg_type") != "stock")
        .select("position_id", "strike")
        .unique()
        .vstack(pos.select("position_id", pl.lit(0.0).alias("strike")))
        .rename({"strike": "at"})
    )
    payoff = (
        pl.when(pl.col("leg_type") == "call")
        .then((pl.col("at") - pl.col("strike")).clip(lower_bound=0.0))
        .when(pl.col("leg_type") == "put")
        .then((pl.col("strike") - pl.col("at")).clip(lower_bound=0.0))
        .otherwise(pl.col("at"))
    )
    worst = (
        legs.join(points, on="position_id")
        .group_by("position_id", "at")
        .agg((pl.col("units") * payoff).sum().round(_DP).alias("value"))
        .group_by("position_id")
        .agg(pl.col("value").min().alias("worst_value"))
    )
    slope = legs.group_by("position_id").agg(
        pl.col("units").filter(pl.col("leg_type").is_in(["call", "stock"])).sum().alias("slope")
    )
    f = features.join(worst, on="position_id", how="left").join(slope, on="position_id")
    single = (
        pl.when(pl.col("slope") >= -_EPS)
        .then((pl.col("entry_value") - pl.col("worst_value")).clip(lower_bound=0.0))
        .otherwise(math.inf)
    )
    all_covered = (
        (pl.col("n_call_pairs") + pl.col("n_put_pairs"))
        == (pl.col("n_short_call") + pl.col("n_short_put"))
    ) & (pl.col("short_stock_units") == 0)
    two = (
        pl.when(all_covered)
        .then((pl.col("entry_value") + pl.col("cover_width")).clip(lower_bound=0.0))
        .otherwise(math.inf)
    )
    # the manual's limited-risk requirement: the maximum potential loss of the payoff (never
    # below 0: a payoff that cannot go negative frees nothing) plus the net debit
    potential_loss = (
        pl.when(pl.col("n_expirations") <= 1)
        .then((-pl.col("worst_value")).clip(lower_bound=0.0))
        .otherwise(pl.col("cover_width"))
    )
    return f.select(
        "position_id",
        pl.when(pl.col("n_expirations") <= 1)
        .then(single)
        .otherwise(two)
        .round(_DP)
        .alias("max_loss"),
        (potential_loss + pl.col("entry_value")).round(_DP).alias("limited_risk_req"),
    )


def _rule() -> pl.Expr:
    """The name of the rule applied, from the leg counts and the decomposition's outcome."""
    n_short = pl.col("n_short_call") + pl.col("n_short_put")
    n_long = pl.col("n_long_call") + pl.col("n_long_put")
    n_pairs = pl.col("n_call_pairs") + pl.col("n_put_pairs")
    has_stock = (pl.col("long_stock_units") > 0) | (pl.col("short_stock_units") > 0)
    uncovered = pl.col("n_naked_charges") > 0
    one_type = (pl.col("n_call_pairs") == 0) | (pl.col("n_put_pairs") == 0)
    only_stock_cover = (n_short == pl.col("n_by_stock")) & (pl.col("short_stock_units") == 0)
    return (
        pl.when((n_short == 0) & (n_long == 0))
        .then(pl.lit("stock"))
        .when((n_short == 0) & ~has_stock)
        .then(pl.lit("long_premium"))
        .when((n_short == 0) & (pl.col("n_long_call") == 0) & (pl.col("short_stock_units") == 0))
        .then(pl.lit("protective_put"))
        .when(n_short == 0)
        .then(pl.lit("combination"))
        .when(pl.col("n_expirations") > 1)
        .then(pl.lit("calendar_spread"))
        .when(only_stock_cover & (n_long == 0))
        .then(pl.lit("covered_call"))
        .when(only_stock_cover & (pl.col("n_long_call") == 0))
        .then(pl.lit("collar"))
        .when(has_stock)
        .then(pl.lit("combination"))
        .when((pl.col("n_by_cash") == n_short) & (n_long == 0))
        .then(pl.lit("cash_secured_put"))
        .when((n_pairs == 0) & (pl.col("n_straddles") > 0) & (n_long == 0))
        .then(pl.lit("straddle_strangle"))
        .when((n_pairs == 0) & (pl.col("n_by_cash") == 0) & (n_long == 0))
        .then(pl.lit("naked"))
        .when((n_pairs > 0) & one_type & (uncovered | (n_long > n_short)))
        .then(pl.lit("ratio_spread"))
        .when((n_pairs == 1) & (n_long == 1))
        .then(pl.lit("vertical_spread"))
        .when((n_pairs > 1) & one_type & (n_long == n_short) & ~uncovered)
        .then(pl.lit("butterfly"))
        .when(~one_type & (n_pairs == n_short) & ~uncovered)
        .then(pl.lit("iron_condor"))
        .otherwise(pl.lit("combination"))
    )


def _assemble(features: pl.DataFrame, max_loss: pl.DataFrame, multiplier: int) -> pl.DataFrame:
    """Apply the limited-risk cap (step 6 of the module docstring) and convert to USD."""
    f = features.join(max_loss, on="position_id")
    n_short = pl.col("n_short_call") + pl.col("n_short_put")
    limited_risk = (
        ((pl.col("n_call_pairs") + pl.col("n_put_pairs")) == n_short)
        & (pl.col("long_stock_units") == 0)
        & (pl.col("short_stock_units") == 0)
    )
    # a put spread and a call spread whose short strikes do not cross cannot both lose at expiry
    two_sides = (
        limited_risk
        & (pl.col("n_expirations") <= 1)
        & (pl.col("n_call_pairs") > 0)
        & (pl.col("n_put_pairs") > 0)
        & (pl.col("max_short_put_strike") <= pl.col("min_short_call_strike"))
    )
    greater_side = (
        pl.max_horizontal("put_spread_req", "call_spread_req")
        + pl.col("long_premium")
        - pl.col("covered_proceeds")
    )
    margin = (
        pl.when(two_sides)
        .then(pl.min_horizontal("decomposition", "limited_risk_req", greater_side))
        .when(limited_risk)
        .then(pl.min_horizontal("decomposition", "limited_risk_req"))
        .otherwise(pl.col("decomposition"))
        .clip(lower_bound=0.0)
        .round(_DP)
    )
    return (
        f.select(
            "position_id",
            (margin * multiplier).alias("margin_usd"),
            (pl.col("max_loss") * multiplier).alias("max_loss_usd"),
            (pl.col("notional").round(_DP) * multiplier).alias("notional_usd"),
            _rule().alias("margin_rule"),
        )
        .sort("position_id")
        .select([pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items()])
    )
