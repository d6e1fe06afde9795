"""Canonical schemas of the landed (raw) tables: the field's column names, one place.

Every landed table also carries lineage columns: ``source`` (which vendor layout), ``source_file``
(path relative to the vendor directory, or a ``yfinance://`` address for live fetches),
``source_line`` (1-based line in that file, header = 1) and ``load_id`` (the landed batch).
"""

from __future__ import annotations

import polars as pl

LINEAGE: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "load_id": pl.String(),
}

#: One row per contract per quote (per quote_date for end-of-day files; per snapshot for
#: live snapshots). ``quoted_at`` is never null: the layout's quote time (``VendorFormat.
#: quote_time``: 15:45 ET, or the close) or the live snapshot's instant. Vols are decimal
#: fractions (0.12 = 12 %); greeks are as the vendor delivers them (null where it gives none).
OPTION_QUOTES: dict[str, pl.DataType] = {
    # The underlying the contract specs declare for the root (SPXW -> SPX); the vendor's own
    # ``underlying`` value, as delivered, is ``vendor_underlying_symbol``.
    "underlying_symbol": pl.String(),
    "vendor_underlying_symbol": pl.String(),
    "underlying_price": pl.Float64(),
    "underlying_bid": pl.Float64(),
    "underlying_ask": pl.Float64(),
    "exchange": pl.String(),
    # OCC/OSI symbol built from the row's own terms, unpadded: root + YYMMDD + C|P + strike x 1000
    # in 8 digits (SPXW190426C02900000). The vendor's symbol, as delivered, is ``vendor_symbol``.
    "contract_symbol": pl.String(),
    "vendor_symbol": pl.String(),
    "option_root": pl.String(),
    "option_type": pl.String(),  # 'call' | 'put'
    # The expiry's last trading session (a pre-2015 Saturday expiration is its Friday; a
    # holiday Friday its Thursday), whatever convention the vendor wrote; the vendor's own
    # column value, as delivered, is ``vendor_expiration``.
    "expiration": pl.Date(),
    "vendor_expiration": pl.Date(),
    "quote_date": pl.Date(),  # exchange-local date
    "quoted_at": pl.Datetime("us", "UTC"),  # when the quote was taken (UTC), never null
    "strike": pl.Float64(),
    "last": pl.Float64(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Int64(),
    "ask_size": pl.Int64(),
    "volume": pl.Int64(),
    "open_interest": pl.Int64(),
    "implied_volatility": pl.Float64(),
    "delta": pl.Float64(),
    "gamma": pl.Float64(),
    "theta": pl.Float64(),
    "vega": pl.Float64(),
    "rho": pl.Float64(),
    # Contract terms, from loaders/contract_specs.yaml by option_root (or the vendor's own column).
    "exercise_style": pl.String(),  # 'european' | 'american'
    "settlement_style": pl.String(),  # 'cash' | 'physical'
    "settlement_type": pl.String(),  # 'AM' (open, SOQ) | 'PM' (close)
    "contract_multiplier": pl.Int64(),
    # Adjusted contracts (after a split, merger or special dividend: an adjusted root such as
    # AAPL1, a strike off the $0.50 grid such as 65.71 = 460/7, a multiplier other than 100, a
    # deliverable other than 100 shares): kept, never priced or backtested as standard.
    "deliverable": pl.String(),  # the vendor's deliverable text, where it gives one
    "is_standard_contract": pl.Boolean(),
    "nonstandard_reason": pl.String(),  # null for a standard contract; else why, ';'-joined
    **LINEAGE,
}

#: One row per symbol per date per source. Prices in the listing currency. ``close`` is raw
#: (unadjusted) unless ``is_adjusted``; ``adj_close`` is the vendor's split/dividend-adjusted
#: close where it delivers one. Close-only series leave open/high/low/volume null.
BARS: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
    "volume": pl.Int64(),
    "is_adjusted": pl.Boolean(),
    **LINEAGE,
}

#: One row per symbol per factor-file date (QuantConnect/Lean layout): the factors apply to every
#: bar up to and including ``date``; adjusted price = raw price x price_factor x split_factor.
ADJUSTMENT_FACTORS: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "date": pl.Date(),
    "price_factor": pl.Float64(),
    "split_factor": pl.Float64(),
    "reference_price": pl.Float64(),
    **LINEAGE,
}

#: One row per symbol per ex-date per action: ``dividend`` (cash per share, USD) or ``split``
#: (new shares per old share: 4.0 for a 4-for-1).
CORPORATE_ACTIONS: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ex_date": pl.Date(),
    "action_type": pl.String(),
    "value": pl.Float64(),
    **LINEAGE,
}

#: One row per index per date, in index points (VIX 17.42 means 17.42 % annualised vol).
VOLATILITY_INDICES: dict[str, pl.DataType] = {
    "index_symbol": pl.String(),
    "date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    **LINEAGE,
}

#: One row per Cboe strategy benchmark index (BXM) per date, in index points; the same layout
#: as the volatility indices (Cboe publishes both as ``<INDEX>_History.csv``).
BENCHMARK_INDICES: dict[str, pl.DataType] = dict(VOLATILITY_INDICES)

#: One row per FRED series per date, in percent as FRED delivers it; a holiday has a null value.
RATES: dict[str, pl.DataType] = {
    "series_id": pl.String(),
    "date": pl.Date(),
    "value_pct": pl.Float64(),
    **LINEAGE,
}

#: One row per index per month of Cboe's exercise settlement values, in index points, as Cboe
#: publishes their history: blocks headed ``<Month YYYY> Settlement Values`` of
#: ``<index> (<symbol>),<value>`` lines. ``S&P 500 (SET)`` is the Special Opening Quotation (SOQ)
#: that settles the AM-settled SPX monthlies. The file names the month, not the day: the
#: settlement day (the month's standard expiration; a Wednesday for the VIX's ``VRO``) is derived
#: downstream (marts.fct_settlement_values).
SETTLEMENT_VALUES: dict[str, pl.DataType] = {
    "settlement_month": pl.Date(),  # first day of the block's month
    "index_label": pl.String(),  # as delivered, less a trailing ':' ("S&P 500 (SET)")
    "index_name": pl.String(),  # the label less its symbol ("S&P 500")
    "settlement_symbol": pl.String(),  # Cboe's symbol ("SET"); null if the label has none
    "settlement_value": pl.Float64(),  # index points
    "has_vendor_footnote": pl.Boolean(),  # the value carried Cboe's '*' footnote mark
    **LINEAGE,
}

#: One row per contract per trade_date: a listed option's *traded* day aggregate (Polygon.io day
#: bars): open, high, low and close of the day's trades, their volume-weighted average price and
#: count. Prices of trades, not quotes (no bid/ask, open interest, IV or greeks); a row exists only
#: on days the contract traded. Prices in USD per share of the underlying (one contract is
#: ``contract_multiplier`` = 100 shares); ``volume`` in contracts.
OPTION_DAY_BARS: dict[str, pl.DataType] = {
    "underlying_symbol": pl.String(),
    # unpadded OCC symbol built from the row's terms (loaders.contracts.occ_symbol); the root is
    # the underlying for these standard equity/ETF options (AAPL230217C00095000)
    "contract_symbol": pl.String(),
    "option_root": pl.String(),
    "option_type": pl.String(),  # 'call' | 'put'
    "expiration": pl.Date(),
    "strike": pl.Float64(),  # USD
    "trade_date": pl.Date(),  # exchange-local session of the bar
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),  # contracts traded
    "vwap": pl.Float64(),  # volume-weighted average trade price, USD per share
    "transactions": pl.Int64(),  # trades in the bar
    # Start of Polygon's aggregate window: midnight New York time on trade_date, in UTC (04:00 or
    # 05:00 UTC by DST); a bar label, not the time of any trade.
    "bar_start_at": pl.Datetime("us", "UTC"),
    "cycle_start": pl.Date(),  # publisher's ~45-day sampling cycle the row belongs to (nullable)
    **LINEAGE,
}

#: One row per underlying per quote_date per tenor (``days``) per delta: a vendor-smoothed implied
#: volatility surface in OptionMetrics' ``vsurfd`` layout (the vendor interpolates its own IVs
#: of listed options, with a kernel smoother, onto fixed calendar-day tenors and deltas: IvyDB
#: US File and Data Reference Manual v3.0, 2015, ch. 3 "Surface"), as the qmoms package ships
#: it. Interpolated points, not quotes: ``strike`` is the strike at which that delta is reached,
#: not a listed strike. Vols and deltas are decimal fractions (the vendor's delta -10 is -0.10);
#: prices in USD.
IV_SURFACES: dict[str, pl.DataType] = {
    # from the CRSP PERMNO by the layout's map (loaders.vendor.QMOMS_PERMNO_SYMBOLS); null for
    # an id the map does not know (rejected at landing)
    "underlying_symbol": pl.String(),
    "permno": pl.Int64(),  # CRSP permanent security id, the vendor's ``id``
    "quote_date": pl.Date(),  # exchange-local date of the surface
    "days": pl.Int64(),  # tenor, calendar days (30, 60, 91)
    "delta": pl.Float64(),  # decimal fraction, call > 0, put < 0 (-0.25 is the 25-delta put)
    "option_type": pl.String(),  # 'call' (delta > 0) | 'put' (delta < 0)
    "strike": pl.Float64(),  # USD, the strike of that delta on the surface
    "implied_volatility": pl.Float64(),  # decimal
    "forward_price": pl.Float64(),  # USD, the vendor's forward for the tenor
    "spot_price": pl.Float64(),  # USD, the underlying's close
    "moneyness": pl.Float64(),  # strike / spot_price, as the vendor gives it (``mnes``)
    **LINEAGE,
}

#: Rows that failed parsing or a validation rule, with the rule; the row is kept as JSON text.
#: The same layout holds warnings (rows that landed but broke a warning-severity rule).
REJECTS: dict[str, pl.DataType] = {
    "entity": pl.String(),
    "rule": pl.String(),
    "severity": pl.String(),  # 'error' (row rejected) | 'warning' (row landed, flagged)
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "load_id": pl.String(),
    "row_json": pl.String(),
}

ENTITY_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "option_quotes": OPTION_QUOTES,
    "index_bars": BARS,
    "equity_bars": BARS,
    "adjustment_factors": ADJUSTMENT_FACTORS,
    "corporate_actions": CORPORATE_ACTIONS,
    "volatility_indices": VOLATILITY_INDICES,
    "benchmark_indices": BENCHMARK_INDICES,
    "rates": RATES,
    "settlement_values": SETTLEMENT_VALUES,
    "option_day_bars": OPTION_DAY_BARS,
    "iv_surfaces": IV_SURFACES,
}

#: Columns that identify a row of each entity (unique within and across landed batches).
ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "option_quotes": ("source", "quote_date", "quoted_at", "contract_symbol"),
    "index_bars": ("source", "symbol", "date"),
    "equity_bars": ("source", "symbol", "date"),
    "adjustment_factors": ("source", "symbol", "date"),
    "corporate_actions": ("source", "symbol", "ex_date", "action_type"),
    "volatility_indices": ("source", "index_symbol", "date"),
    "benchmark_indices": ("source", "index_symbol", "date"),
    "rates": ("source", "series_id", "date"),
    "settlement_values": ("source", "settlement_month", "index_label"),
    "option_day_bars": ("source", "contract_symbol", "trade_date"),
    "iv_surfaces": ("source", "underlying_symbol", "quote_date", "days", "delta"),
}
