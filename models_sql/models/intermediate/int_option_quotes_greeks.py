"""One row per contract per quote_date: implied volatility of the mid and greeks, computed here.

dbt Python model (dbt-duckdb). The math is in :mod:`warehouse.pricing` (Black-76 on the parity
forward); this file only reads ``int_option_pricing_inputs``, calls it and shapes the output.

Incremental by quote_date: on an incremental run only the quote dates to (re)build are read and
solved (:func:`quote_dates_kept` says which stay): every day the table does not have yet (later
than its latest, or landed late), every day whose landed batches changed since it was solved
(its ``batch_fingerprint`` differs from the inputs', as in the SQL models' macro
``quote_dates_kept``, models_sql/macros/incremental.sql), and every day with a row whose forward
or dividend yield moved since (a forward that carries another day's parity dividend yield
follows that day). A
change to the inputs' logic still needs ``--full-refresh``. The result of a row depends on that
row's inputs only, and rows come out sorted by (quote_date, contract_symbol), so a full refresh
and any sequence of incremental runs give identical rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from warehouse.pricing import (
    IV_STATUS_INVALID_INPUT,
    IV_STATUS_LABELS,
    IV_STATUS_OK,
    black_greeks,
    implied_volatility,
)
from warehouse.session_parts import append_part

INPUT_COLUMNS = (
    "contract_symbol",
    "quote_date",
    "quoted_at",
    "option_type",
    "strike",
    "mid",
    "underlying_price",
    "tte_years",
    "risk_free_rate",
    "forward_price",
    "dividend_yield",
)
GREEK_COLUMNS = ("delta", "gamma", "theta", "vega", "rho")
#: Rows solved at once: whole quote dates are read and solved in groups of about this many rows
#: and appended to a session temp table, so the model's memory is a group's, not the chain's
#: (the real chain tiled 30x is 23 M rows).
CHUNK_ROWS = 2_000_000
PARTS_TABLE = "int_option_quotes_greeks__parts"


def date_groups(counts: pl.DataFrame, chunk_rows: int) -> list[tuple]:
    """Consecutive quote dates grouped into runs of about ``chunk_rows`` rows (a date is never
    split): ``[(first_date, last_date), ...]`` in date order, from ``quote_date, n`` rows."""
    groups, first, size = [], None, 0
    for quote_date, n in counts.sort("quote_date").iter_rows():
        if first is None:
            first = quote_date
        size += n
        last = quote_date
        if size >= chunk_rows:
            groups.append((first, last))
            first, size = None, 0
    if first is not None:
        groups.append((first, last))
    return groups


def solve_greeks(inputs: pl.DataFrame) -> pl.DataFrame:
    """Implied volatility of the mid and the greeks at that volatility, per row.

    Parameters
    ----------
    inputs
        One row per contract per quote_date with the columns of :data:`INPUT_COLUMNS`
        (``int_option_pricing_inputs``): ``quoted_at`` the quote's instant (UTC, passed
        through: the volatility and greeks hold at that instant); ``option_type``
        ``call``/``put``; ``strike``, ``mid``, ``underlying_price``, ``forward_price`` in USD
        per share; ``tte_years`` in years from ``quoted_at`` to settlement;
        ``risk_free_rate`` and ``dividend_yield`` decimal, continuous.

    Returns
    -------
    polars.DataFrame
        Same rows sorted by (quote_date, contract_symbol): the keys, ``quoted_at``,
        ``tte_years``, ``risk_free_rate``, ``forward_price``, ``dividend_yield``, then
        ``implied_volatility`` (decimal per √year), ``iv_solve_status`` (text,
        :data:`warehouse.pricing.IV_STATUS_LABELS`)
        and ``delta``, ``gamma``, ``theta`` (per calendar day), ``vega`` (per vol point),
        ``rho`` (per rate point), per share. The volatility and the greeks are NULL (never NaN)
        where ``iv_solve_status`` is not ``ok``; a row without an ``underlying_price`` (no spot
        for the spot greeks) is ``invalid_input``.

    Raises
    ------
    ValueError
        If a column of :data:`INPUT_COLUMNS` is missing, or ``option_type`` is not call/put.
    """
    missing = [c for c in INPUT_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"int_option_pricing_inputs lacks columns {missing}")
    frame = inputs.select(INPUT_COLUMNS).sort("quote_date", "contract_symbol")
    option_type = frame["option_type"]
    bad_types = option_type.filter(~option_type.is_in(["call", "put"])).unique().to_list()
    if bad_types:
        raise ValueError(f"option_type must be 'call' or 'put', got {bad_types!r}")

    def column(name: str) -> np.ndarray:
        return frame[name].cast(pl.Float64).to_numpy()

    is_call = (option_type == "call").to_numpy()
    forward, strike, tte, rate = (
        column("forward_price"),
        column("strike"),
        column("tte_years"),
        column("risk_free_rate"),
    )
    volatility, status = implied_volatility(column("mid"), forward, strike, tte, rate, is_call)
    # Spot greeks need a spot: without one the row is invalid input, never half-filled.
    spot = column("underlying_price")
    no_spot = (status == IV_STATUS_OK) & ~(spot > 0)
    status[no_spot] = IV_STATUS_INVALID_INPUT
    volatility[no_spot] = np.nan
    greeks = black_greeks(spot, forward, strike, tte, rate, volatility, is_call)
    labels = pl.Series("iv_solve_status", IV_STATUS_LABELS, dtype=pl.String)
    return frame.select(
        "contract_symbol",
        "quote_date",
        "quoted_at",
        pl.col("tte_years").cast(pl.Float64),
        pl.col("risk_free_rate").cast(pl.Float64),
        pl.col("forward_price").cast(pl.Float64),
        pl.col("dividend_yield").cast(pl.Float64),
    ).with_columns(
        pl.Series("implied_volatility", volatility).fill_nan(None),
        labels.gather(status.astype(np.int64)),
        *(pl.Series(name, greeks[name]).fill_nan(None) for name in GREEK_COLUMNS),
    )


def quote_dates_kept(session, this: str, inputs) -> list:
    """The quote dates an incremental run leaves as solved, oldest first.

    Parameters
    ----------
    session
        The DuckDB connection of the run.
    this
        Name of this model's table (one row per contract per quote_date, with the columns
        :func:`model` writes).
    inputs
        DuckDB relation of ``int_option_pricing_inputs`` (one row per contract per quote_date,
        with ``batch_fingerprint`` and ``dividend_yield_date``).

    Returns
    -------
    list of datetime.date
        The solved dates whose inputs come from the same landed batches (fingerprint) and whose
        rows' forwards and dividend yields are unchanged: every other date is solved again.
    """
    # `inputs` in the SQL is the argument: DuckDB reads a Python variable by its name
    kept = session.sql(
        f"""
        with
        landed as (select distinct quote_date, batch_fingerprint from inputs),
        built as (select distinct quote_date, batch_fingerprint from {this}),
        changed as (
            select landed.quote_date
            from landed
            anti join built
                on landed.quote_date = built.quote_date
                and landed.batch_fingerprint = built.batch_fingerprint
            union
            select built.quote_date
            from built
            left join landed on built.quote_date = landed.quote_date
            where built.batch_fingerprint is distinct from landed.batch_fingerprint
        ),
        -- rows whose forward carries another day's parity dividend yield (or that have none):
        -- solved again when the forward or the yield moved since they were solved
        carried as (
            select distinct inputs.quote_date
            from inputs
            left join {this} as solved
                on inputs.quote_date = solved.quote_date
                and inputs.contract_symbol = solved.contract_symbol
            where (
                    inputs.dividend_yield_date is null
                    or inputs.dividend_yield_date < inputs.quote_date
                )
                and (
                    inputs.forward_price is distinct from solved.forward_price
                    or inputs.dividend_yield is distinct from solved.dividend_yield
                )
        )
        select distinct built.quote_date
        from built
        anti join (select quote_date from changed union select quote_date from carried) as rebuilt
            on built.quote_date = rebuilt.quote_date
        order by built.quote_date
        """
    ).fetchall()
    return [row[0] for row in kept]


def model(dbt, session):
    # the parts table is the session's: dropped once materialized, or it would hold the whole
    # chain in DuckDB's memory for the rest of the build (dbt reuses the session)
    dbt.config(
        materialized="incremental",
        unique_key="quote_date",
        incremental_strategy="delete+insert",
        on_schema_change="fail",
        post_hook="drop table if exists temp.main.int_option_quotes_greeks__parts",
    )
    inputs = dbt.ref("int_option_pricing_inputs")
    if dbt.is_incremental:
        kept = quote_dates_kept(session, str(dbt.this), inputs)
        if kept:
            dates = ", ".join(f"date '{quote_date.isoformat()}'" for quote_date in kept)
            inputs = inputs.filter(f"quote_date not in ({dates})")
    columns = ", ".join((*INPUT_COLUMNS, "batch_fingerprint"))
    counts = inputs.aggregate("quote_date, count(*) as n", "quote_date").pl()
    groups = date_groups(counts, CHUNK_ROWS)
    if not groups:  # nothing to solve (an incremental run with no new day)
        return _solved(inputs.select(columns).pl())
    for i, (first, last) in enumerate(groups):
        frame = inputs.filter(
            f"quote_date between date '{first.isoformat()}' and date '{last.isoformat()}'"
        ).select(columns)
        append_part(session, PARTS_TABLE, _solved(frame.pl()), create=i == 0)
    return session.table(PARTS_TABLE)


def _solved(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`solve_greeks` of ``frame`` with each quote date's ``batch_fingerprint`` (the
    batches landed for that date as the inputs were built from them)."""
    fingerprints = frame.select("quote_date", "batch_fingerprint").unique()
    return solve_greeks(frame).join(
        fingerprints, on="quote_date", how="left", maintain_order="left"
    )
