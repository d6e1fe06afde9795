"""Shared by the incremental-model tests: every incremental model and a key that orders its rows,
and a reader of a sandbox's built table."""

from __future__ import annotations

import duckdb
import polars as pl

from warehouse.sandbox import Sandbox

KEYS = ["quote_date", "contract_symbol"]
#: every incremental model, with a key that orders its rows
INCREMENTAL = {
    "intermediate.int_option_quotes_priced": KEYS,
    "intermediate.int_option_pricing_inputs": KEYS,
    "intermediate.int_option_quotes_greeks": KEYS,
    "intermediate.int_option_expiry_surface": [
        "quote_date",
        "underlying_symbol",
        "expiration",
        "settlement_type",
    ],
    "marts.fct_option_features": KEYS,
    "marts.fct_option_targets": KEYS,
}


def built_table(sandbox: Sandbox, name: str, order: list[str] | None = None) -> pl.DataFrame:
    """Table ``name`` of the sandbox's build database, sorted by ``order`` (default: its key in
    :data:`INCREMENTAL`)."""
    with duckdb.connect(str(sandbox.paths.build_db), read_only=True) as con:
        return con.sql(f"select * from {name}").pl().sort(order or INCREMENTAL[name])
