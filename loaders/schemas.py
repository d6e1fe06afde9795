"""Canonical schemas of the landed (raw) tables: the field's column names, one place.

Every landed table also carries lineage columns: ``source`` (which vendor layout), ``source_file``
(path relative to the vendor directory) and ``source_line`` (1-based line in that file, header = 1).
"""

from __future__ import annotations

import polars as pl

LINEAGE: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

#: One row per contract per quote_date. Vols are decimal fractions (0.12 = 12 %).
OPTION_QUOTES: dict[str, pl.DataType] = {
    "underlying_symbol": pl.String(),
    "underlying_price": pl.Float64(),
    "exchange": pl.String(),
    "contract_symbol": pl.String(),  # the vendor's symbol, kept as delivered
    "option_type": pl.String(),  # 'call' | 'put'
    "expiration": pl.Date(),
    "quote_date": pl.Date(),
    "strike": pl.Float64(),
    "last": pl.Float64(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "volume": pl.Int64(),
    "open_interest": pl.Int64(),
    "implied_volatility": pl.Float64(),
    "delta": pl.Float64(),
    "gamma": pl.Float64(),
    **LINEAGE,
}

#: One row per symbol per date per source; close-only series leave open/high/low/volume null.
BARS: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
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

#: One row per FRED series per date, in percent as FRED delivers it; a holiday has a null value.
RATES: dict[str, pl.DataType] = {
    "series_id": pl.String(),
    "date": pl.Date(),
    "value_pct": pl.Float64(),
    **LINEAGE,
}

#: Rows that failed parsing or validation, with the rule they broke; every column kept as text.
REJECTS: dict[str, pl.DataType] = {
    "entity": pl.String(),
    "rule": pl.String(),
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "row_json": pl.String(),
}
