"""Tests of the dbt Python model int_option_quotes_greeks, run outside dbt against an in-memory
DuckDB (SYNTHETIC rows): output shape and NULLs, the incremental filter (new days, days whose
landed batches or carried forwards changed), row-order independence. The model's SQL-side wiring is exercised by `dbt build`."""

from __future__ import annotations

import datetime as dt
import importlib.util
from types import SimpleNamespace

import duckdb
import numpy as np
import polars as pl
import pytest

from warehouse.paths import REPO_ROOT
from warehouse.pricing import black_price

MODEL_PATH = REPO_ROOT / "models_sql" / "models" / "intermediate" / "int_option_quotes_greeks.py"


@pytest.fixture(scope="module")
def greeks_model():
    spec = importlib.util.spec_from_file_location("int_option_quotes_greeks", MODEL_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs() -> pl.DataFrame:
    # Two days of a two-contract chain on F = 100 (r = 1 %, T = 30/365), priced at σ = 20 %;
    # day 2 adds a contract with no ask (no mid), one already settled (T = 0) and one without
    # an underlying price (no spot for the spot greeks).
    tte = 30 / 365
    call_mid = float(black_price(100.0, 100.0, tte, 0.01, 0.20, True)[0])
    put_mid = float(black_price(100.0, 95.0, tte, 0.01, 0.20, False)[0])
    day1, day2 = dt.date(2019, 4, 25), dt.date(2019, 4, 26)
    rows = [
        ("B_CALL", day1, "call", 100.0, call_mid, tte),
        ("A_PUT", day1, "put", 95.0, put_mid, tte),
        ("B_CALL", day2, "call", 100.0, call_mid, tte),
        ("A_PUT", day2, "put", 95.0, put_mid, tte),
        ("C_NO_ASK", day2, "call", 110.0, None, tte),
        ("D_SETTLED", day2, "call", 100.0, 1.0, 0.0),
        ("E_NO_SPOT", day2, "call", 100.0, call_mid, tte),
    ]
    return pl.DataFrame(
        {
            "contract_symbol": [r[0] for r in rows],
            "quote_date": [r[1] for r in rows],
            # 15:45 EDT, passed through untouched
            "quoted_at": [dt.datetime.combine(r[1], dt.time(19, 45), tzinfo=dt.UTC) for r in rows],
            "option_type": [r[2] for r in rows],
            "strike": [r[3] for r in rows],
            "mid": [r[4] for r in rows],
            "underlying_price": [None if r[0] == "E_NO_SPOT" else 99.9 for r in rows],
            "tte_years": [r[5] for r in rows],
            "risk_free_rate": [0.01] * len(rows),
            "forward_price": [100.0] * len(rows),
            "dividend_yield": [0.02] * len(rows),
        },
        schema_overrides={"mid": pl.Float64, "underlying_price": pl.Float64},
    )


def test_solve_greeks_recovers_the_vol_and_nulls_failures(greeks_model):
    out = greeks_model.solve_greeks(_inputs())
    assert out.columns == [
        "contract_symbol",
        "quote_date",
        "quoted_at",
        "tte_years",
        "risk_free_rate",
        "forward_price",
        "dividend_yield",
        "implied_volatility",
        "iv_solve_status",
        *greeks_model.GREEK_COLUMNS,
    ]
    # sorted by (quote_date, contract_symbol)
    assert out["contract_symbol"].to_list() == [
        "A_PUT",
        "B_CALL",
        "A_PUT",
        "B_CALL",
        "C_NO_ASK",
        "D_SETTLED",
        "E_NO_SPOT",
    ]
    assert out["iv_solve_status"].to_list() == [
        "ok",
        "ok",
        "ok",
        "ok",
        "no_price",
        "expired",
        "invalid_input",
    ]
    solved = out.filter(pl.col("iv_solve_status") == "ok")
    np.testing.assert_allclose(solved["implied_volatility"].to_numpy(), 0.20, atol=1e-12)
    failed = out.filter(pl.col("iv_solve_status") != "ok")
    for name in ("implied_volatility", *greeks_model.GREEK_COLUMNS):
        assert failed[name].null_count() == failed.height  # NULL, never NaN
        assert solved[name].null_count() == 0


def test_solve_greeks_is_independent_of_row_order(greeks_model):
    inputs = _inputs()
    shuffled = inputs.sample(fraction=1.0, shuffle=True, seed=5)
    assert greeks_model.solve_greeks(shuffled).equals(greeks_model.solve_greeks(inputs))


def test_solve_greeks_rejects_bad_frames(greeks_model):
    with pytest.raises(ValueError, match="lacks columns"):
        greeks_model.solve_greeks(_inputs().drop("forward_price"))
    with pytest.raises(ValueError, match="option_type must be"):
        greeks_model.solve_greeks(_inputs().with_columns(pl.lit("CALL").alias("option_type")))


def _fake_dbt(con: duckdb.DuckDBPyConnection, *, is_incremental: bool) -> SimpleNamespace:
    return SimpleNamespace(
        config=lambda **_: None,
        ref=lambda name: con.sql(f"select * from {name}"),
        this="int_option_quotes_greeks",
        is_incremental=is_incremental,
    )


def _model_rows(greeks_model, con: duckdb.DuckDBPyConnection, *, is_incremental: bool):
    """The model's rows as polars: it returns a DuckDB relation (its session temp table of
    solved date groups) when it solved something, a polars frame when nothing was left."""
    out = greeks_model.model(_fake_dbt(con, is_incremental=is_incremental), con)
    return out.pl() if isinstance(out, duckdb.DuckDBPyRelation) else out


def _pricing_inputs_table(con: duckdb.DuckDBPyConnection, inputs: pl.DataFrame) -> None:
    """int_option_pricing_inputs from ``inputs``, with the lineage columns the model reads: one
    batch per day (fingerprint ``fp-<date>``), every forward the day's own
    (dividend_yield_date = quote_date) unless ``inputs`` says otherwise."""
    if "dividend_yield_date" not in inputs.columns:
        inputs = inputs.with_columns(pl.col("quote_date").alias("dividend_yield_date"))
    inputs = inputs.with_columns(
        ("fp-" + pl.col("quote_date").cast(pl.String)).alias("batch_fingerprint")
    )
    con.register("inputs_frame", inputs)
    con.execute("create or replace table int_option_pricing_inputs as select * from inputs_frame")
    con.unregister("inputs_frame")


def test_incremental_run_solves_only_new_quote_dates_and_matches_a_full_refresh(greeks_model):
    con = duckdb.connect()
    inputs = _inputs()
    _pricing_inputs_table(con, inputs)

    full = _model_rows(greeks_model, con, is_incremental=False)
    assert full.height == inputs.height

    # the table holds day 1 only: an incremental run solves day 2 and nothing else
    con.register("day1_frame", full.filter(pl.col("quote_date") == dt.date(2019, 4, 25)))
    con.execute("create table int_option_quotes_greeks as select * from day1_frame")
    new_rows = _model_rows(greeks_model, con, is_incremental=True)
    assert new_rows["quote_date"].unique().to_list() == [dt.date(2019, 4, 26)]
    assert pl.concat([full.filter(pl.col("quote_date") == dt.date(2019, 4, 25)), new_rows]).equals(
        full
    )
    con.close()


def test_incremental_run_solves_again_the_days_whose_batches_or_carried_forwards_changed(
    greeks_model,
):
    """Issue 15. Both days solved; then day 1's batch is superseded (a corrected file: B_CALL's
    mid moves): day 1 is solved again, day 2 kept. Then day 2's A_PUT carries day 1's dividend
    yield and its forward moves with day 1's correction: day 2 is solved again."""
    day1, day2 = dt.date(2019, 4, 25), dt.date(2019, 4, 26)
    con = duckdb.connect()
    inputs = _inputs()
    _pricing_inputs_table(con, inputs)
    full = _model_rows(greeks_model, con, is_incremental=False)
    con.register("full_frame", full)
    con.execute("create table int_option_quotes_greeks as select * from full_frame")
    con.unregister("full_frame")
    assert full["batch_fingerprint"].unique().sort().to_list() == ["fp-2019-04-25", "fp-2019-04-26"]

    # nothing landed since: nothing to solve
    assert _model_rows(greeks_model, con, is_incremental=True).height == 0

    # day 1 corrected: a new batch (fingerprint), B_CALL's mid up by 0.05
    corrected = inputs.with_columns(
        pl.when((pl.col("contract_symbol") == "B_CALL") & (pl.col("quote_date") == day1))
        .then(pl.col("mid") + 0.05)
        .otherwise(pl.col("mid"))
        .alias("mid")
    )
    _pricing_inputs_table(con, corrected)
    con.execute(
        "update int_option_pricing_inputs set batch_fingerprint = 'fp-corrected' "
        "where quote_date = ?",
        [day1],
    )
    rows = _model_rows(greeks_model, con, is_incremental=True)
    assert rows["quote_date"].unique().to_list() == [day1]
    assert rows["batch_fingerprint"].unique().to_list() == ["fp-corrected"]
    b_call = rows.filter(pl.col("contract_symbol") == "B_CALL")["implied_volatility"].item()
    assert b_call > 0.20  # a dearer call, a higher vol

    # day 2's A_PUT carries day 1's yield, and its forward moved: day 2 is solved again
    con.execute(
        "update int_option_pricing_inputs set dividend_yield_date = ?, forward_price = 100.01 "
        "where quote_date = ? and contract_symbol = 'A_PUT'",
        [day1, day2],
    )
    con.execute("delete from int_option_quotes_greeks where quote_date = ?", [day1])
    con.register("rows_frame", rows)
    con.execute("insert into int_option_quotes_greeks select * from rows_frame")
    rows = _model_rows(greeks_model, con, is_incremental=True)
    assert rows["quote_date"].unique().to_list() == [day2]
    con.close()


def test_date_groups_never_split_a_day(greeks_model):
    # SYNTHETIC day counts 5, 3, 4, 1, 6 in groups of about 7 rows: 5+3 reaches 7, 4+1+6 too
    days = [dt.date(2019, 4, d) for d in (22, 23, 24, 25, 26)]
    counts = pl.DataFrame({"quote_date": days[::-1], "n": [6, 1, 4, 3, 5]})
    assert greeks_model.date_groups(counts, 7) == [(days[0], days[1]), (days[2], days[4])]
    assert greeks_model.date_groups(counts, 100) == [(days[0], days[4])]
    assert greeks_model.date_groups(counts, 1) == [(d, d) for d in days]
    assert greeks_model.date_groups(counts.clear(), 7) == []


def test_solving_in_date_groups_gives_the_rows_of_one_group(greeks_model, monkeypatch):
    # SYNTHETIC two-day inputs solved one day per group and all at once: identical rows, order
    con = duckdb.connect()
    _pricing_inputs_table(con, _inputs())
    whole = _model_rows(greeks_model, con, is_incremental=False)
    monkeypatch.setattr(greeks_model, "CHUNK_ROWS", 1)
    by_day = _model_rows(greeks_model, con, is_incremental=False)
    assert by_day.equals(whole) and whole["quote_date"].n_unique() == 2
    con.close()
