"""Entries: which sessions a position may open on, on which contracts, and why an entry was skipped.

1. **Schedule** (:func:`entry_days`): every session of the calendar (``daily``), the first session
   on or after a weekday each week (``weekly``), the first session after each standard monthly
   expiration, the third Friday (``monthly_expiration``), or the expiration session itself
   (``monthly_expiration_day``: the third Friday, the session before it when it is a holiday,
   the roll date of the Cboe BuyWrite indices).
2. **Signal**: the forecast of ``as_of_date`` t fills at the first quotes taken after t's close
   (:func:`engine.sessions.signal_entry_sessions`), never on quotes that precede its information.
3. **Contracts** (:func:`select_legs`): every expiration (and, for calendars, back expiration on
   or after it, in ``entry.back_expiry_months`` when set) in the config's DTE windows is tried;
   in each, leg by leg, the listed contract nearest the leg's
   target (|delta|, S/K, a strike offset or a width from an earlier leg, in % of spot; or the
   lowest strike at or above, ``strike_at_or_above_pct``, or the highest strike at or below,
   ``strike_at_or_below_pct``, a level of spot × (1 + value / 100)) within the tolerance,
   among tradable quotes (in the universe, fresh, ``bid > 0``, ``ask >= bid``, spread under
   ``max_spread_pct``). ``same_strike_as`` legs take exactly the referred leg's strike. The
   entry takes the expiration nearest ``target_dte`` *among those where every leg fills* with
   distinct contracts.
4. **Skipped entries** (:func:`skipped_entries`): every scheduled session that opened nothing gets
   one row with its reason (:data:`SKIP_REASONS`); sizing adds its own (:mod:`engine.portfolio`).
"""

from __future__ import annotations

import polars as pl

from engine.config import BacktestConfig

#: Why a scheduled session opened no position (``backtest.skipped_entries.reason``).
SKIP_REASONS: tuple[str, ...] = (
    "no_quotes",  # the vendor has no quotes that session (a stale day)
    "no_signal",  # no forecast maps to the session
    "signal_off",  # the signal does not hold
    "no_expiration_in_window",  # no tradable expiration within [min_dte, max_dte]
    "spread_too_wide",  # every leg exists, but a leg's quote is not tradable (spread, no bid)
    "no_expiration_with_all_legs",  # no expiration where every leg has a contract in tolerance
    "am_settlement_unavailable",  # execution.am_settlement = soq_only and no SOQ for the expiry
    "max_open_positions",  # the cap on open positions
    "sized_to_zero",  # sizing gave 0 lots; detail names the cap
)

_LEG_QUOTE = (
    "contract_symbol",
    "option_type",
    "strike",
    "expiration",
    "settlement_type",
    "exercise_style",
    "bid",
    "ask",
    "mid",
    "delta",
    "underlying_price",
)


# --- 1. schedule and signals -----------------------------------------------------------------


def _third_fridays(calendar: pl.LazyFrame) -> pl.LazyFrame:
    months = calendar.select(pl.col("quote_date").dt.truncate("1mo").alias("month")).unique()
    # first Friday = 1 + (5 - weekday(first)) % 7; the third is 14 days later
    first = pl.col("month")
    offset = (5 - first.dt.weekday()).mod(7) + 14
    return months.select((first + pl.duration(days=offset)).alias("monthly_expiration"))


def scheduled_days(calendar: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """Sessions of the entry schedule: ``quote_date, day_index, has_quotes, prior_session`` (the
    session before, whose close is the last information an entry's quotes follow).

    ``monthly_expiration_day`` is the session of each standard monthly expiration: the third
    Friday, or the last session before it in the same week when that Friday is an exchange
    holiday (Good Friday 2008-03-21 -> Thursday 03-20). Source: Cboe, *Cboe Russell 2000 30-Delta
    BuyWrite Index* methodology (the BuyWrite family's rule: "roll date is the third Friday of
    each month. Should the third Friday fall on an exchange holiday, the roll date is the
    preceding day"); OCC expiration calendar for the holiday-moved expirations.
    """
    e = cfg.entry
    days = calendar.select("quote_date", "day_index", "has_quotes", "prior_session")
    if e.schedule == "monthly_expiration_day":
        fridays = _third_fridays(calendar).sort("monthly_expiration")
        return (
            fridays.join_asof(
                days.sort("quote_date"),
                left_on="monthly_expiration",
                right_on="quote_date",
                strategy="backward",
            )
            # a holiday moves the expiration to the session before it, never to another week
            .filter(
                pl.col("quote_date").is_not_null()
                & ((pl.col("monthly_expiration") - pl.col("quote_date")).dt.total_days() < 4)
            )
            .select("quote_date", "day_index", "has_quotes", "prior_session")
            .sort("quote_date")
        )
    if e.schedule == "weekly":
        week = pl.col("quote_date").dt.truncate("1w") + pl.duration(days=e.weekday - 1)
        return (
            days.with_columns(week.alias("_anchor"))
            .filter(pl.col("quote_date") >= pl.col("_anchor"))
            .filter(pl.col("quote_date") == pl.col("quote_date").min().over("_anchor"))
            .drop("_anchor")
        )
    if e.schedule == "monthly_expiration":
        return (
            days.sort("quote_date")
            .join_asof(
                _third_fridays(calendar).sort("monthly_expiration"),
                left_on="quote_date",
                right_on="monthly_expiration",
                strategy="backward",
                allow_exact_matches=False,
            )
            .filter(pl.col("monthly_expiration").is_not_null())
            .filter(pl.col("quote_date") == pl.col("quote_date").min().over("monthly_expiration"))
            .drop("monthly_expiration")
        )
    return days


def entry_days(
    scheduled: pl.LazyFrame, cfg: BacktestConfig, *, signals: pl.LazyFrame | None
) -> pl.LazyFrame:
    """Scheduled sessions with quotes where the signal holds.

    Parameters
    ----------
    scheduled
        :func:`scheduled_days`.
    signals
        Signals mapped to entry sessions (:func:`engine.sessions.signal_entry_sessions`):
        ``quote_date, signal_date, signal_value, signal_on, size_multiplier``; ``None`` without a
        day-level signal (``none``, ``top_k``).

    Returns
    -------
    pl.LazyFrame
        ``quote_date, day_index, signal_date, signal_value, size_multiplier``; without a signal,
        ``signal_date`` is the prior session (the last close before the entry's quotes).
    """
    days = scheduled.filter("has_quotes").drop("has_quotes")
    if signals is None:
        return days.rename({"prior_session": "signal_date"}).with_columns(
            pl.lit(None, dtype=pl.Float64).alias("signal_value"),
            pl.lit(1.0).alias("size_multiplier"),
        )
    days = days.drop("prior_session")
    return days.join(
        signals.filter("signal_on").select(
            "quote_date", "signal_date", "signal_value", "size_multiplier"
        ),
        on="quote_date",
        how="inner",
    )


def prob_signals(forecasts: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """``as_of_date, signal_value, signal_on, size_multiplier`` from ``p_up`` forecasts.

    ``forecasts`` has one row per ``as_of_date`` with ``p_up`` (decimal probability).
    """
    e = cfg.entry
    p = pl.col("p_up")
    on = p >= e.threshold if e.signal == "prob_up_at_least" else p <= e.threshold
    return forecasts.select(
        "as_of_date",
        p.alias("signal_value"),
        on.fill_null(False).alias("signal_on"),
        pl.lit(1.0).alias("size_multiplier"),
    )


def regime_signals(forecasts: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """``as_of_date, signal_value, signal_on, size_multiplier`` from an iv_regime model.

    ``forecasts`` has one row per ``as_of_date`` with the class probabilities ``prob_low``,
    ``prob_normal``, ``prob_high`` (decimal; ``ml.predictions`` of an ``iv_regime`` model).
    ``signal_value`` is the probability that the regime 5 sessions ahead is one of
    ``entry.regimes`` (the sum of their class probabilities); the signal is on when it is at
    least ``entry.threshold``. A day with a missing probability is off.
    """
    e = cfg.entry
    p = pl.sum_horizontal(pl.col(f"prob_{r.lower()}") for r in e.regimes)
    missing = pl.any_horizontal(pl.col(f"prob_{r.lower()}").is_null() for r in e.regimes)
    value = pl.when(missing).then(None).otherwise(p)
    return forecasts.select(
        "as_of_date",
        value.alias("signal_value"),
        (value >= e.threshold).fill_null(False).alias("signal_on"),
        pl.lit(1.0).alias("size_multiplier"),
    )


def selector_signals(selector: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """Days the strategy selector (``forecasts.fct_strategy_signals``) picks this strategy.

    ``selector`` has ``as_of_date, strategy, size_tier`` (FULL/HALF/NONE) and
    ``direction_confidence``; FULL opens the sized lots, HALF half of them.
    """
    return selector.select(
        "as_of_date",
        pl.col("direction_confidence").alias("signal_value"),
        ((pl.col("strategy") == cfg.strategy.name) & (pl.col("size_tier") != "NONE")).alias(
            "signal_on"
        ),
        pl.when(pl.col("size_tier") == "HALF").then(0.5).otherwise(1.0).alias("size_multiplier"),
    )


# --- 2. contracts --------------------------------------------------------------------------------


def universe_quotes(
    chain: pl.LazyFrame, cfg: BacktestConfig, *, universe: pl.LazyFrame, days: pl.LazyFrame
) -> pl.LazyFrame:
    """Quotes of the entry universe on ``days`` (``quote_date``), roots ranked by preference
    (``root_rank``), of the configured expiry type; not yet filtered for tradability."""
    roots = list(cfg.option_roots)
    on_days = days.select("quote_date").unique()
    # the days first: the contract join then sees the days' rows, not every row of the chain
    lf = (
        chain.join(on_days, on="quote_date", how="semi")
        .filter(pl.col("option_root").is_in(roots))
        .join(
            universe.select("contract_symbol", "quote_date").join(
                on_days, on="quote_date", how="semi"
            ),
            on=["contract_symbol", "quote_date"],
        )
        .with_columns(
            pl.col("option_root")
            .replace_strict(roots, list(range(len(roots))), return_dtype=pl.Int32)
            .alias("root_rank")
        )
    )
    if cfg.entry.expiry_type != "any":
        lf = lf.filter(pl.col("expiry_type") == cfg.entry.expiry_type)
    return lf


def in_expiration_windows(cfg: BacktestConfig) -> pl.Expr:
    """Quotes whose ``dte`` is in the front window ``[min_dte, max_dte]`` or, for calendars and
    diagonals, the back one (:func:`is_back_expiration`): the only expirations
    :func:`expiration_combos` may pick."""
    e = cfg.entry
    inside = pl.col("dte").is_between(e.min_dte, e.max_dte)
    if cfg.strategy.has_back_expiry:
        inside = inside | is_back_expiration(cfg)
    return inside


def is_back_expiration(cfg: BacktestConfig) -> pl.Expr:
    """Quotes (``dte``, ``expiration``, ``expiry_type``) whose expiration may be a back one:
    ``dte`` in ``[back_min_dte, back_max_dte]`` and, with ``entry.back_expiry_months`` set, a
    standard monthly expiration (``expiry_type = 'monthly'``) in one of those months (the March
    cycle ``[3, 6, 9, 12]`` of the Cboe CLL's quarterly puts: Cboe, "CBOE S&P 500 95-110 Collar
    Index (CLL)", 2008)."""
    e = cfg.entry
    back = pl.col("dte").is_between(e.back_min_dte, e.back_max_dte)
    if e.back_expiry_months:
        back = (
            back
            & (pl.col("expiry_type") == "monthly")
            & pl.col("expiration").dt.month().is_in(list(e.back_expiry_months))
        )
    return back


def tradable(quotes: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """Quotes a leg may open on: fresh, ``bid > 0``, ``ask >= bid``, spread within the cap.

    With ``execution.zero_bid: trade`` a quote with ``bid = 0`` and ``ask > 0`` is tradable too,
    whatever its spread (``(ask - 0) / mid`` measures nothing there: a modeled far wing's mid is
    its model value, 0.00001 against an ask of 0.05); a short leg is then written for nothing
    (:func:`engine.fills.fill_price`)."""
    two_sided = (pl.col("bid") > 0) & (pl.col("spread_pct") <= cfg.execution.max_spread_pct)
    if cfg.execution.zero_bid == "trade":
        two_sided = two_sided | ((pl.col("bid") == 0) & (pl.col("ask") > 0))
    return quotes.filter(
        ~pl.col("is_stale_quote").fill_null(False),
        two_sided,
        pl.col("ask") >= pl.col("bid"),
    )


def expiration_combos(candidates: pl.LazyFrame, cfg: BacktestConfig) -> pl.LazyFrame:
    """Every expiration (pair, for calendars) an entry day may use, with its preference order.

    The back expiration of a calendar is one of :func:`is_back_expiration` on or after the
    front expiration: strictly after it when the windows do not overlap (``max_dte <
    back_min_dte``, the config's check without ``back_expiry_months``); with
    ``back_expiry_months`` the windows may overlap and the back expiration may *be* the front
    one (the CLL's quarterly put in the quarterly month, when it expires with the monthly call;
    both legs then settle together, :func:`engine.exits.price_exits`).

    Returns ``quote_date, option_root, _front`` (and ``back_expiration``) and ``_order`` (sort
    key: distance of the DTE to ``target_dte``, then the shorter, then the preferred root, then
    the back expiration's distance to ``back_target_dte``, then the shorter back DTE).
    """
    e = cfg.entry
    expiries = candidates.select(
        "quote_date", "option_root", "root_rank", "expiration", "dte", "expiry_type"
    )
    expiries = expiries.unique()
    front = expiries.filter(pl.col("dte").is_between(e.min_dte, e.max_dte)).select(
        "quote_date",
        "option_root",
        "root_rank",
        pl.col("expiration").alias("_front"),
        pl.col("dte").alias("_dte"),
        (pl.col("dte") - e.target_dte).abs().alias("_distance"),
    )
    if cfg.strategy.has_back_expiry:
        back = expiries.filter(is_back_expiration(cfg)).select(
            "quote_date",
            "option_root",
            pl.col("expiration").alias("back_expiration"),
            (pl.col("dte") - e.back_target_dte).abs().alias("_back_distance"),
            pl.col("dte").alias("_back_dte"),
        )
        front = front.join(back, on=["quote_date", "option_root"], how="inner").filter(
            pl.col("back_expiration") >= pl.col("_front")
        )
    else:
        front = front.with_columns(
            pl.lit(None, dtype=pl.Date).alias("back_expiration"),
            pl.lit(0, dtype=pl.Int64).alias("_back_distance"),
            pl.lit(0, dtype=pl.Int64).alias("_back_dte"),
        )
    return front.with_columns(
        pl.struct("_distance", "_dte", "root_rank", "_back_distance", "_back_dte").alias("_order")
    )


def select_legs(
    candidates: pl.LazyFrame, cfg: BacktestConfig, *, combos: pl.LazyFrame
) -> pl.LazyFrame:
    """Pick every leg's contract for each entry day; one row per (entry day, leg).

    Legs are resolved in order (a width refers to an earlier leg's strike) in every expiration
    combination of :func:`expiration_combos` at once; the loop runs over the strategy's legs (at
    most 4), each step vectorized over all days and combinations. The day's entry is the
    preferred combination where every option leg has a contract and no contract repeats.

    Returns
    -------
    pl.LazyFrame
        ``quote_date, leg_no`` (1-based), the leg's spec (``leg_type, sign, ratio``) and its
        quote (``contract_symbol, option_type, strike, expiration, settlement_type,
        exercise_style, bid, ask, mid, delta, underlying_price``; stock legs have
        ``contract_symbol`` = the underlying, prices at the session's spot and null option
        columns). Days without a complete combination are absent.
    """
    complete = complete_combos(candidates, cfg, combos=combos)
    best = (
        complete.select("quote_date", "_combo", "_order")
        .unique()
        .sort("quote_date", "_order")
        .group_by("quote_date", maintain_order=True)
        .first()
        .select("quote_date", "_combo")
    )
    option_legs = complete.join(best, on=["quote_date", "_combo"]).select(
        "quote_date", "leg_no", *_LEG_QUOTE
    )
    spec = cfg.strategy
    frames = [option_legs]
    first_option = spec.option_legs[0] + 1
    for no, leg in enumerate(spec.legs, start=1):
        if leg.leg_type != "stock":
            continue
        frames.append(
            option_legs.filter(pl.col("leg_no") == first_option).select(
                "quote_date",
                pl.lit(no, dtype=pl.Int32).alias("leg_no"),
                pl.lit(cfg.underlying_symbol).alias("contract_symbol"),
                pl.lit("stock").alias("option_type"),
                pl.lit(None, dtype=pl.Float64).alias("strike"),
                "expiration",
                pl.lit(None, dtype=pl.String).alias("settlement_type"),
                pl.lit(None, dtype=pl.String).alias("exercise_style"),
                pl.col("underlying_price").alias("bid"),
                pl.col("underlying_price").alias("ask"),
                pl.col("underlying_price").alias("mid"),
                pl.lit(1.0).alias("delta"),
                "underlying_price",
            )
        )
    return pl.concat(frames, how="vertical_relaxed").join(_spec_frame(cfg), on="leg_no")


def hold_standing_strikes(
    legs: pl.DataFrame, candidates: pl.LazyFrame, cfg: BacktestConfig
) -> pl.DataFrame:
    """``entry.back_strike: standing``: each back leg keeps the strike it had at the previous entry
    while its expiration is unchanged (Cboe CLL's quarterly put, held between quarterly rolls).

    Entry sessions are walked in order (a handful of rows each: the state is one strike per back
    leg). On a session whose back leg has the expiration the same leg had at the previous
    entry session (as chosen, before sizing), the leg takes that session's strike again
    instead of its rule's, when (1) it is not above the session's lowest short call strike
    (the CLL cross-roll: "if the strike of the call is smaller than the strike of the standing
    put on a non-quarterly roll date, that put is sold and replaced by a new 5 % OTM put with
    the same quarterly expiration"; Cboe, "CBOE S&P 500 95-110 Collar Index (CLL)", 2008) and
    (2) that contract is tradable that session (else the rule's strike stands, and is the one
    held from then on). The position closes and re-buys it at the same quote, so at a mid fill
    without costs this is holding it; only the lots follow the roll's sizing.

    Parameters
    ----------
    legs
        :func:`select_legs`, collected: one row per (entry session, leg).
    candidates
        The tradable quotes the legs were chosen from (:func:`tradable`).

    Returns
    -------
    pl.DataFrame
        ``legs`` with the held back legs' quote columns replaced by the standing contract's.
    """
    spec = cfg.strategy
    back = [no for no, leg in enumerate(spec.legs, start=1) if leg.expiry == "back"]
    short_calls = [
        no
        for no, leg in enumerate(spec.legs, start=1)
        if leg.leg_type == "call" and leg.side == "short"
    ]
    if not back or legs.is_empty():
        return legs
    match = ["quote_date", "expiration", "option_type", "settlement_type"]
    rows = legs.filter(pl.col("leg_no").is_in(back)).sort("quote_date", "leg_no")
    ceilings = dict(
        legs.filter(pl.col("leg_no").is_in(short_calls))
        .group_by("quote_date")
        .agg(pl.col("strike").min())
        .iter_rows()
    )
    pool = (
        candidates.join(rows.select(match).unique().lazy(), on=match, how="semi")
        .select(*_LEG_QUOTE, "quote_date")
        .sort(*match, "strike", "contract_symbol")
        .unique([*match, "strike"], keep="first", maintain_order=True)
        .collect()
    )
    listed = set(pool.select(*match, "strike").iter_rows())
    standing: dict[int, tuple] = {}  # leg_no -> (expiration, strike)
    held = []
    for day, no, expiration, option_type, settlement, strike in rows.select(
        "quote_date", "leg_no", *match[1:], "strike"
    ).iter_rows():
        before = standing.get(no)
        keep = (
            before is not None
            and before[0] == expiration
            and before[1] != strike
            and (ceilings.get(day) is None or before[1] <= ceilings[day])
            and (day, expiration, option_type, settlement, before[1]) in listed
        )
        if keep:
            strike = before[1]
            held.append((day, no, strike))
        standing[no] = (expiration, strike)
    if not held:
        return legs
    swaps = pl.DataFrame(
        held,
        schema={"quote_date": pl.Date, "leg_no": pl.Int32, "strike": pl.Float64},
        orient="row",
    )
    quote_cols = [c for c in _LEG_QUOTE if c not in match and c != "strike"]
    replaced = (
        legs.join(swaps.select("quote_date", "leg_no"), on=["quote_date", "leg_no"])
        .drop(quote_cols, "strike")
        .join(swaps, on=["quote_date", "leg_no"])
        .join(pool, on=[*match, "strike"])
        .select(legs.columns)
    )
    kept = legs.join(swaps.select("quote_date", "leg_no"), on=["quote_date", "leg_no"], how="anti")
    return pl.concat([kept, replaced]).sort("quote_date", "leg_no")


def _spec_frame(cfg: BacktestConfig) -> pl.LazyFrame:
    legs = cfg.strategy.legs
    return pl.LazyFrame(
        {
            "leg_no": list(range(1, len(legs) + 1)),
            "leg_type": [leg.leg_type for leg in legs],
            "sign": [leg.sign for leg in legs],
            "ratio": [leg.ratio for leg in legs],
        },
        schema={"leg_no": pl.Int32, "leg_type": pl.String, "sign": pl.Int32, "ratio": pl.Int32},
    )


def complete_combos(
    candidates: pl.LazyFrame, cfg: BacktestConfig, *, combos: pl.LazyFrame
) -> pl.LazyFrame:
    """Every (day, combination) where every option leg has a distinct contract in tolerance.

    Returns one row per day × combination × option leg: ``quote_date, _combo, _order, leg_no``
    and the leg's quote columns.
    """
    e = cfg.entry
    spec = cfg.strategy
    keyed = combos.with_columns(
        pl.struct("option_root", "_front", "back_expiration").hash(seed=7).alias("_combo")
    )
    combo_cols = ("_combo", "_order", "_front", "back_expiration")
    # each quote joins the combinations of its own expiration (front, or back for calendars)
    # only, so the pool is no larger than the quotes times the calendars' pairings
    pools = {
        "front": candidates.join(
            keyed.select("quote_date", "option_root", *combo_cols),
            left_on=["quote_date", "option_root", "expiration"],
            right_on=["quote_date", "option_root", "_front"],
        ).with_columns(pl.col("expiration").alias("_front"))
    }
    if spec.has_back_expiry:
        pools["back"] = candidates.join(
            keyed.select("quote_date", "option_root", *combo_cols),
            left_on=["quote_date", "option_root", "expiration"],
            right_on=["quote_date", "option_root", "back_expiration"],
        ).with_columns(pl.col("expiration").alias("back_expiration"))
    key = ["quote_date", "_combo"]
    # the at-the-money strike of each combination's front expiration: nearest the underlying
    atm = (
        pools["front"]
        .with_columns((pl.col("strike") - pl.col("underlying_price")).abs().alias("_d"))
        .sort(*key, "_d", "strike")
        .group_by(*key, maintain_order=True)
        .first()
        .select(*key, pl.col("strike").alias("_atm_strike"))
    )
    chosen: list[pl.LazyFrame] = []
    strikes: dict[int, pl.LazyFrame] = {}
    for no, leg in enumerate(spec.legs, start=1):
        if leg.leg_type == "stock":
            continue
        legs = pools[leg.expiry].filter(pl.col("option_type") == leg.leg_type)
        spot = pl.col("underlying_price")
        if leg.rule == "delta":
            distance = (pl.col("delta").abs() - leg.value).abs()
            tolerance = e.delta_tolerance
        elif leg.rule == "moneyness":
            distance = (spot / pl.col("strike") - leg.value).abs()
            tolerance = e.moneyness_tolerance
        elif leg.rule == "same_strike_as":
            legs = legs.join(strikes[leg.of], on=key)
            distance = (pl.col("strike") - pl.col("_ref_strike")).abs()
            tolerance = 0.0  # the same strike, exactly
        elif leg.rule == "strike_at_or_above_pct":
            # the lowest listed strike at or above the target level (Cboe BXM roll rule; CLL's
            # call: "if this strike is not listed, the closest strike above is selected")
            target = _level_pct_of_spot(spot, leg.value)
            legs = legs.filter(pl.col("strike") >= target)
            distance = (pl.col("strike") - target) / spot * 100.0
            tolerance = e.strike_tolerance_pct
        elif leg.rule == "strike_at_or_below_pct":
            # the highest listed strike at or below the target level: Cboe CLL / PPUT puts, "if
            # this strike is not listed, the closest strike below is selected"
            target = _level_pct_of_spot(spot, leg.value)
            legs = legs.filter(pl.col("strike") <= target)
            distance = (target - pl.col("strike")) / spot * 100.0
            tolerance = e.strike_tolerance_pct
        else:
            if leg.rule == "strike_offset_pct":
                legs = legs.join(atm, on=key)
                target = pl.col("_atm_strike") + leg.value / 100.0 * spot
            else:
                legs = legs.join(strikes[leg.of], on=key)
                target = pl.col("_ref_strike") + leg.value / 100.0 * spot
            distance = (pl.col("strike") - target).abs() / spot * 100.0
            tolerance = e.strike_tolerance_pct
        picked = (
            legs.with_columns(distance.alias("_distance"))
            .filter(pl.col("_distance") <= tolerance)
            .sort(*key, "_distance", "strike")
            .group_by(*key, maintain_order=True)
            .first()
        )
        strikes[no] = picked.select(*key, pl.col("strike").alias("_ref_strike"))
        chosen.append(
            picked.select(*key, "_order", pl.lit(no, dtype=pl.Int32).alias("leg_no"), *_LEG_QUOTE)
        )
    option_legs = pl.concat(chosen)
    n_option_legs = len(spec.option_legs)
    full = (
        option_legs.group_by(key)
        .agg(pl.len().alias("_n"), pl.col("contract_symbol").n_unique().alias("_unique"))
        .filter((pl.col("_n") == n_option_legs) & (pl.col("_unique") == n_option_legs))
        .select(key)
    )
    return option_legs.join(full, on=key)


def _level_pct_of_spot(spot: pl.Expr, pct: float) -> pl.Expr:
    """The level spot × (1 + pct / 100) of the ``strike_at_or_*_pct`` rules, in index points,
    computed as spot + spot × pct / 100: exact for a round spot and a whole percent, where
    spot × (1 + pct / 100) can miss a listed strike (1300 × 1.1 = 1430.0000000000002, above the
    listed 1430). At pct = 0 both are spot exactly."""
    return spot + spot * pct / 100.0


def top_k_legs(
    candidates: pl.LazyFrame,
    cfg: BacktestConfig,
    *,
    scores: pl.LazyFrame,
    combos: pl.LazyFrame,
) -> pl.LazyFrame:
    """``top_k`` entries: per entry session, the ``k`` contracts of the leg's type with the
    highest forecast score among the preferred expiration's candidates (one position each).

    ``scores`` has ``contract_symbol, quote_date`` (the entry session the score may fill on),
    ``signal_date`` and ``score``. Returns :func:`select_legs`'s layout plus ``rank`` (1 =
    highest score), ``signal_value`` (the score) and ``signal_date``.
    """
    leg = cfg.strategy.legs[0]
    front = (
        combos.sort("quote_date", "_order")
        .group_by("quote_date", maintain_order=True)
        .first()
        .select("quote_date", "option_root", pl.col("_front").alias("expiration"))
    )
    return (
        candidates.join(front, on=["quote_date", "option_root", "expiration"])
        .filter(pl.col("option_type") == leg.leg_type)
        .join(
            scores.select(
                "contract_symbol",
                "quote_date",
                "signal_date",
                pl.col("score").alias("signal_value"),
            ),
            on=["contract_symbol", "quote_date"],
        )
        .with_columns(
            pl.col("signal_value").rank("ordinal", descending=True).over("quote_date").alias("rank")
        )
        .filter(pl.col("rank") <= cfg.entry.k)
        .select(
            "quote_date",
            pl.lit(1, dtype=pl.Int32).alias("leg_no"),
            *_LEG_QUOTE,
            pl.lit(leg.leg_type).alias("leg_type"),
            pl.lit(leg.sign, dtype=pl.Int32).alias("sign"),
            pl.lit(leg.ratio, dtype=pl.Int32).alias("ratio"),
            "rank",
            "signal_value",
            "signal_date",
        )
    )


# --- 3. why an entry was skipped -------------------------------------------------------------


def skipped_entries(
    scheduled: pl.DataFrame,
    signals: pl.DataFrame | None,
    entered: pl.DataFrame,
    *,
    universe_pool: pl.LazyFrame,
    cfg: BacktestConfig,
    refused_am: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per scheduled session that opened no position, before sizing.

    Parameters
    ----------
    scheduled
        :func:`scheduled_days`, collected.
    signals
        Mapped day signals (``quote_date, signal_on``), or ``None`` without a day signal.
    entered
        ``quote_date`` of the sessions that have a complete entry.
    universe_pool
        :func:`universe_quotes` on the scheduled days (before the tradability filter): a day whose
        legs all resolve there but not among tradable quotes is ``spread_too_wide``.
    refused_am
        ``quote_date`` of days whose only complete entries were refused for AM settlement.

    Returns
    -------
    pl.DataFrame
        ``quote_date, reason, detail`` (one of :data:`SKIP_REASONS`; detail may be null).
    """
    days = scheduled.filter(~pl.col("quote_date").is_in(entered["quote_date"].implode()))
    reason = pl.when(~pl.col("has_quotes")).then(pl.lit("no_quotes"))
    if signals is not None:
        days = days.join(
            signals.select("quote_date", "signal_on", "signal_date"), on="quote_date", how="left"
        )
        reason = reason.when(pl.col("signal_on").is_null()).then(pl.lit("no_signal"))
        reason = reason.when(~pl.col("signal_on")).then(pl.lit("signal_off"))
    days = days.with_columns(reason.alias("reason"))
    open_days = days.filter(pl.col("reason").is_null()).select("quote_date")
    out = [days.filter(pl.col("reason").is_not_null()).select("quote_date", "reason")]
    if open_days.height:
        pool = universe_pool.join(open_days.lazy(), on="quote_date")
        combos = expiration_combos(pool, cfg)
        has_window = combos.select("quote_date").unique()
        relaxed = complete_combos(pool, cfg, combos=combos)
        has_window, relaxed_days = pl.collect_all(
            [has_window, relaxed.select("quote_date").unique()]
        )
        reason = (
            pl.when(~pl.col("quote_date").is_in(has_window["quote_date"].implode()))
            .then(pl.lit("no_expiration_in_window"))
            .when(pl.col("quote_date").is_in(relaxed_days["quote_date"].implode()))
            .then(pl.lit("spread_too_wide"))
            .otherwise(pl.lit("no_expiration_with_all_legs"))
        )
        if refused_am is not None:
            reason = (
                pl.when(pl.col("quote_date").is_in(refused_am["quote_date"].implode()))
                .then(pl.lit("am_settlement_unavailable"))
                .otherwise(reason)
            )
        rest = open_days.with_columns(reason.alias("reason"))
        out.append(rest)
    return (
        pl.concat(out)
        .with_columns(pl.lit(None, dtype=pl.String).alias("detail"))
        .sort("quote_date")
    )
