"""OCC symbols and contract terms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from loaders import contracts


def test_occ_symbol_round_trips_through_parse() -> None:
    frame = pl.DataFrame(
        {
            "root": ["SPXW", "SPY"],
            "expiration": [dt.date(2019, 4, 26), dt.date(2021, 1, 29)],
            "option_type": ["call", "put"],
            "strike": [2912.5, 345.0],
        }
    )
    symbols = frame.select(
        contracts.occ_symbol(
            pl.col("root"), pl.col("expiration"), pl.col("option_type"), pl.col("strike")
        ).alias("s")
    )["s"]
    # 2912.5 x 1000 = 2,912,500 -> "02912500"
    assert symbols.to_list() == ["SPXW190426C02912500", "SPY210129P00345000"]
    parsed = pl.select(contracts.parse_occ(pl.lit("SPXW  190426C02912500")).alias("p")).unnest("p")
    assert parsed.row(0) == ("SPXW", dt.date(2019, 4, 26), "call", 2912.5, 2_912_500)


def test_a_symbol_that_is_not_occ_parses_to_nulls() -> None:
    parsed = pl.select(contracts.parse_occ(pl.lit("SPX-JUN19-2900C")).alias("p")).unnest("p")
    assert parsed.row(0) == (None, None, None, None, None)


def test_unlisted_roots_get_the_equity_default_and_listed_roots_their_terms() -> None:
    quotes = pl.DataFrame(
        {
            "option_root": ["SPX", "SPXW", "AAPL"],
            "exercise_style": [None, None, None],
            "settlement_style": [None, None, None],
            "settlement_type": [None, None, None],
            "contract_multiplier": [None, None, None],
        },
        schema_overrides={
            "contract_multiplier": pl.Int64,
            **dict.fromkeys(["exercise_style", "settlement_style", "settlement_type"], pl.String),
        },
    )
    out = contracts.with_contract_terms(quotes)
    assert out.rows() == [
        ("SPX", "european", "cash", "AM", 100),
        ("SPXW", "european", "cash", "PM", 100),
        ("AAPL", "american", "physical", "PM", 100),
    ]


def test_a_bad_specs_file_names_root_term_and_value(tmp_path: Path) -> None:
    path = tmp_path / "specs.yaml"
    path.write_text(
        "default: {exercise_style: american, settlement_style: physical, settlement_type: PM, "
        "contract_multiplier: 100}\nroots:\n  XYZ: {exercise_style: bermudan, "
        "settlement_style: cash, settlement_type: PM, contract_multiplier: 100}\n"
    )
    with pytest.raises(ValueError, match=r"XYZ: exercise_style must be one of .*'bermudan'"):
        contracts.load_specs(path)
