"""Landing validation with great-expectations: one suite per entity, row-level rejects.

great-expectations runs on pandas batches (its SQL datasource does not work with DuckDB, see
../shared/FIELD_NOTES.md). Each expectation is asked for ``COMPLETE`` results so that the index
of every failing row comes back. Expectations of severity ``critical`` are *errors*: the rows that
break them are rejected (kept with the rule, file and line), the others land. Expectations of
severity ``warning`` flag rows that still land (a vendor IV of 0 or 3,600 % is a real quirk of
real files, not a reason to lose the quote); flagged rows are kept in the same layout. A row
breaking several error rules is rejected once, under the first rule it broke.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl

from loaders import calendar, contracts, schemas

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

#: Implied volatility a quote can plausibly carry, decimal: above 500 % it is a solver artefact.
IV_PLAUSIBLE_MAX = 5.0
#: Relative tolerance of the OHLC ordering checks (adjusted prices carry float noise ~1e-15).
OHLC_TOLERANCE = 1e-9
#: Derived columns added for validation only (never landed): the terms parsed from the vendor's
#: OCC symbol, and whether the row's date is an exchange session.
_OCC_FIELDS = ("expiration", "option_type", "strike")
CALENDAR_COLUMN = {
    "option_quotes": "quote_date",
    "index_bars": "date",
    "equity_bars": "date",
    "volatility_indices": "date",
    "benchmark_indices": "date",
    "option_day_bars": "trade_date",
    "iv_surfaces": "quote_date",
}


def _ohlc_ordering(e: Any) -> list[Any]:
    """The day's high is its highest price and its low its lowest, within a relative 1e-9
    (``high_bound``/``low_bound``, :func:`_with_derived_columns`); rows missing a price pass."""
    return [
        e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing"
        )
        for a, b in (
            ("high_bound", "low"),
            ("high_bound", "open"),
            ("high_bound", "close"),
            ("open", "low_bound"),
            ("close", "low_bound"),
        )
    ]


def _suite_specs(entity: str) -> list[Any]:
    """Expectations of one entity, built lazily: importing great-expectations takes ~2 s."""
    import great_expectations as gx

    e = gx.expectations
    warning = {"severity": "warning"}
    key = list(schemas.ENTITY_KEYS[entity])
    unique = e.ExpectCompoundColumnsToBeUnique(column_list=key)
    on_session = e.ExpectColumnValuesToBeInSet(column="is_exchange_session", value_set=[True])
    if entity == "option_quotes":
        return [
            *[
                e.ExpectColumnValuesToNotBeNull(column=c)
                for c in (
                    "underlying_symbol",
                    "contract_symbol",
                    "option_root",
                    "quote_date",
                    "quoted_at",
                    "expiration",
                    "option_type",
                    "strike",
                )
            ],
            e.ExpectColumnValuesToBeInSet(column="option_type", value_set=["call", "put"]),
            e.ExpectColumnValuesToBeBetween(column="strike", min_value=0, strict_min=True),
            e.ExpectColumnValuesToBeBetween(column="bid", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="ask", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="open_interest", min_value=0),
            # Crossed market (ask < bid). Both zero (no market) passes: ask = bid.
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="ask",
                column_B="bid",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="expiration", column_B="quote_date", or_equal=True
            ),
            # The vendor's symbol must be an OCC symbol and agree with the row's own columns.
            e.ExpectColumnValuesToMatchRegex(column="vendor_symbol", regex=contracts.OCC_REGEX),
            *[
                e.ExpectColumnPairValuesToBeEqual(
                    column_A=c,
                    column_B=f"vendor_symbol_{c}",
                    ignore_row_if="either_value_is_missing",
                )
                for c in _OCC_FIELDS
            ],
            e.ExpectColumnValuesToBeInSet(
                column="exercise_style", value_set=["european", "american"]
            ),
            e.ExpectColumnValuesToBeInSet(column="settlement_type", value_set=["AM", "PM"]),
            e.ExpectColumnValuesToBeBetween(column="contract_multiplier", min_value=1),
            on_session,
            unique,
            # Warnings: the quote lands, the flag is kept and counted.
            e.ExpectColumnValuesToBeBetween(
                column="implied_volatility",
                min_value=0,
                max_value=IV_PLAUSIBLE_MAX,
                strict_min=True,
                **warning,
            ),
            e.ExpectColumnValuesToBeBetween(
                column="underlying_price", min_value=0, strict_min=True, **warning
            ),
        ]
    if entity in ("index_bars", "equity_bars"):
        return [
            e.ExpectColumnValuesToNotBeNull(column="symbol"),
            e.ExpectColumnValuesToNotBeNull(column="date"),
            e.ExpectColumnValuesToNotBeNull(column="close"),
            e.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True),
            # OHLC consistent: the high is the highest price of the day, the low the lowest
            # (within a relative 1e-9: split/dividend-adjusted files carry float noise).
            *_ohlc_ordering(e),
            e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
            on_session,
            unique,
        ]
    if entity == "adjustment_factors":
        return [
            e.ExpectColumnValuesToNotBeNull(column="date"),
            e.ExpectColumnValuesToBeBetween(column="price_factor", min_value=0, strict_min=True),
            e.ExpectColumnValuesToBeBetween(column="split_factor", min_value=0, strict_min=True),
            unique,
        ]
    if entity == "corporate_actions":
        return [
            e.ExpectColumnValuesToNotBeNull(column="ex_date"),
            e.ExpectColumnValuesToBeInSet(column="action_type", value_set=["dividend", "split"]),
            e.ExpectColumnValuesToBeBetween(column="value", min_value=0, strict_min=True),
            unique,
        ]
    if entity in ("volatility_indices", "benchmark_indices"):
        return [
            e.ExpectColumnValuesToNotBeNull(column="date"),
            e.ExpectColumnValuesToNotBeNull(column="close"),
            e.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True),
            unique,
            # Cboe computes VIX in global trading hours on some NYSE holidays (2022-05-30...):
            # real values on non-NYSE days are flagged, not rejected.
            e.ExpectColumnValuesToBeInSet(
                column="is_exchange_session", value_set=[True], **warning
            ),
        ]
    if entity == "rates":
        return [
            e.ExpectColumnValuesToNotBeNull(column="date"),
            # Percent; negative T10Y2Y spreads are real, a yield of +-100 % is not.
            e.ExpectColumnValuesToBeBetween(column="value_pct", min_value=-100, max_value=100),
            unique,
        ]
    if entity == "settlement_values":
        return [
            # A line before any "<Month YYYY> Settlement Values" header has no month.
            e.ExpectColumnValuesToNotBeNull(column="settlement_month"),
            e.ExpectColumnValuesToNotBeNull(column="index_label"),
            e.ExpectColumnValuesToNotBeNull(column="settlement_value"),
            e.ExpectColumnValuesToBeBetween(
                column="settlement_value", min_value=0, strict_min=True
            ),
            unique,
        ]
    if entity == "option_day_bars":
        either = {"ignore_row_if": "either_value_is_missing"}
        return [
            *[
                e.ExpectColumnValuesToNotBeNull(column=c)
                for c in (
                    "underlying_symbol",
                    "contract_symbol",
                    "option_root",
                    "trade_date",
                    "expiration",
                    "option_type",
                    "strike",
                    "close",
                    "volume",
                    "bar_start_at",
                )
            ],
            e.ExpectColumnValuesToBeInSet(column="option_type", value_set=["call", "put"]),
            e.ExpectColumnValuesToBeBetween(column="strike", min_value=0, strict_min=True),
            # A bar is made of trades: every price is positive (the smallest print is 0.01).
            e.ExpectColumnValuesToBeBetween(column="low", min_value=0, strict_min=True),
            # OHLC of the day's trades: the high is the highest, the low the lowest (within 1e-9).
            *_ohlc_ordering(e),
            e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="transactions", min_value=0),
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="expiration", column_B="trade_date", or_equal=True
            ),
            on_session,
            unique,
            # Warnings: a VWAP outside the day's range is arithmetically impossible for one
            # set of trades, but vendors compute VWAP and OHLC under different trade-eligibility
            # rules (Polygon excludes some conditions from OHLC): flagged, kept.
            *[
                e.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=a, column_B=b, or_equal=True, **either, **warning
                )
                for a, b in (("high_bound", "vwap"), ("vwap", "low_bound"))
            ],
        ]
    if entity == "iv_surfaces":
        from loaders.vendor import QMOMS_PERMNO_SYMBOLS

        return [
            # first: a PERMNO the layout cannot name is rejected under this rule (its
            # underlying_symbol is null too), with the id kept in the row
            e.ExpectColumnValuesToNotBeNull(column="permno"),
            e.ExpectColumnValuesToBeInSet(column="permno", value_set=sorted(QMOMS_PERMNO_SYMBOLS)),
            *[
                e.ExpectColumnValuesToNotBeNull(column=c)
                for c in (
                    "underlying_symbol",
                    "quote_date",
                    "days",
                    "delta",
                    "strike",
                    "implied_volatility",
                    "forward_price",
                    "spot_price",
                )
            ],
            # decimal; above 500 % it is a solver artefact (IV_PLAUSIBLE_MAX), 0 is no fit
            e.ExpectColumnValuesToBeBetween(
                column="implied_volatility",
                min_value=0,
                max_value=IV_PLAUSIBLE_MAX,
                strict_min=True,
            ),
            e.ExpectColumnValuesToBeBetween(column="days", min_value=0, strict_min=True),
            # |delta| in (0, 1]: the sign is the option type (abs_delta, _with_derived_columns)
            e.ExpectColumnValuesToBeBetween(
                column="abs_delta", min_value=0, max_value=1, strict_min=True
            ),
            # after |delta|: a delta of 0 has no type, and is rejected under the |delta| rule
            e.ExpectColumnValuesToNotBeNull(column="option_type"),
            e.ExpectColumnValuesToBeInSet(column="option_type", value_set=["call", "put"]),
            *[
                e.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True)
                for c in ("strike", "forward_price", "spot_price")
            ],
            on_session,
            unique,
        ]
    raise KeyError(
        f"no validation suite for entity {entity!r}; known: {sorted(schemas.ENTITY_KEYS)}"
    )


@cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@dataclass(frozen=True)
class ValidationOutcome:
    """Result of validating one entity's batch.

    Attributes
    ----------
    landed
        Rows that passed every error-severity expectation (input schema and order).
    rejects
        :data:`loaders.schemas.REJECTS` rows (``severity='error'``) for the others.
    warnings
        :data:`loaders.schemas.REJECTS` rows (``severity='warning'``), one per landed row per
        warning rule it broke.
    rule_counts
        Failing rows per expectation (a row counts under every rule it broke).
    suite_result
        great-expectations' own JSON description of the run, for the load report.
    """

    landed: pl.DataFrame
    rejects: pl.DataFrame
    warnings: pl.DataFrame
    rule_counts: dict[str, int]
    suite_result: dict[str, Any]


_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def _columns_read(expectations: list[Any]) -> list[str] | None:
    """The columns a suite's expectations read, in first-use order; None (hand over every
    column) when one may read others: a table-level expectation, a row condition, or a column
    argument this does not know."""
    columns: list[str] = []
    for expectation in expectations:
        config = expectation.configuration
        kwargs = config.kwargs
        unknown = [k for k in kwargs if "column" in k.lower() and k not in _COLUMN_KWARGS]
        if config.type.startswith("expect_table_") or kwargs.get("row_condition") or unknown:
            return None
        for key in _COLUMN_KWARGS:
            value = kwargs.get(key)
            for column in value if isinstance(value, list) else [] if value is None else [value]:
                if column not in columns:
                    columns.append(column)
    return columns


def rule_name(config: Any) -> str:
    """``<expectation type>:<columns>``, e.g. ``expect_column_values_to_be_between:strike``."""
    kwargs = config.kwargs
    columns = (
        kwargs.get("column")
        or kwargs.get("column_list")
        or [kwargs.get("column_A"), kwargs.get("column_B")]
    )
    columns = columns if isinstance(columns, list) else [columns]
    return f"{config.type}:{','.join(str(c) for c in columns)}"


def _with_derived_columns(entity: str, frame: pl.DataFrame) -> pl.DataFrame:
    # great-expectations reads pandas: give it naive UTC timestamps (tz-aware ones warn).
    derived = frame.with_columns(
        pl.col(c).dt.replace_time_zone(None)
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime) and t.time_zone is not None
    )
    if entity == "option_quotes":
        # The terms the vendor's OCC symbol means, to compare with the row's own. Conventions
        # that name the same contract agree: the symbol's expiration is normalised to its last
        # trading session as the row's is (a pre-2015 Saturday -> its Friday, in the symbol or
        # the column), and a strike agrees in exact decimal at OSI's precision (00065710 is
        # 65.710: contracts.strike_agrees_with_symbol). Only a real disagreement fails.
        occ = (
            contracts.with_occ_terms(derived.select("vendor_symbol"), alias="occ")
            .select("occ")
            .unnest("occ")
        )
        derived = (
            derived.with_columns(
                calendar.last_session_on_or_before(occ["expiration"]).alias(
                    "vendor_symbol_expiration"
                ),
                occ["option_type"].alias("vendor_symbol_option_type"),
                occ["strike_thousandths"].alias("_osi_strike"),
                occ["strike"].alias("_osi_strike_value"),
            )
            .with_columns(
                pl.when(
                    contracts.strike_agrees_with_symbol(pl.col("strike"), pl.col("_osi_strike"))
                )
                .then(pl.col("strike"))
                .otherwise(pl.col("_osi_strike_value"))
                .alias("vendor_symbol_strike")
            )
            .drop("_osi_strike", "_osi_strike_value")
        )
    if entity in ("index_bars", "equity_bars", "option_day_bars"):
        derived = derived.with_columns(
            (pl.col("high") * (1 + OHLC_TOLERANCE)).alias("high_bound"),
            (pl.col("low") * (1 - OHLC_TOLERANCE)).alias("low_bound"),
        )
    if entity == "iv_surfaces":
        derived = derived.with_columns(pl.col("delta").abs().alias("abs_delta"))
    if entity in CALENDAR_COLUMN:
        column = CALENDAR_COLUMN[entity]
        dates = frame[column].drop_nulls()
        days = calendar.sessions_covering(dates.min(), dates.max()) if dates.len() else ()
        derived = derived.with_columns(
            pl.col(column)
            .is_in(pl.Series(days, dtype=pl.Date).implode())
            .alias("is_exchange_session")
        )
    return derived


def validate(entity: str, frame: pl.DataFrame) -> ValidationOutcome:
    """Validate one entity's rows with its great-expectations suite.

    Parameters
    ----------
    entity
        A key of :data:`loaders.schemas.ENTITY_SCHEMAS`.
    frame
        Rows in the entity's canonical schema, lineage columns included.

    Raises
    ------
    KeyError
        For an entity without a suite; the message lists the known ones.
    RuntimeError
        If great-expectations reports failures without the indices of the failing rows (rows
        could then not be kept apart; never silently landed).
    """
    import great_expectations as gx

    expectations = _suite_specs(entity)
    context = _context()
    name = f"landing_{entity}"
    try:
        context.suites.delete(name)
    except Exception:  # great-expectations raises its own not-found error type
        pass
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    try:
        datasource = context.data_sources.get("landing")
    except Exception:
        datasource = context.data_sources.add_pandas("landing")
    try:
        asset = datasource.get_asset(entity)
    except Exception:
        asset = datasource.add_dataframe_asset(entity)
    batch_definition = asset.add_batch_definition_whole_dataframe(
        f"{entity}_{len(asset.batch_definitions)}"
    )

    # great-expectations gets only the columns its expectations read (it converts and
    # fingerprints every column it is given), and one batch: Batch.validate would build the
    # batch, and fingerprint the frame, a second time.
    from great_expectations.execution_engine import pandas_execution_engine
    from great_expectations.validator.v1_validator import Validator

    # great-expectations fingerprints a pandas batch (a hash of every cell, a batch marker it
    # stores, not a check) unless the frame is over HASH_THRESHOLD bytes, when it skips it by
    # itself; nothing here reads the marker, so it is skipped always (0.3 s of 1.5 s on the
    # 56-day chain). Every expectation runs as before.
    pandas_execution_engine.HASH_THRESHOLD = 0

    derived = _with_derived_columns(entity, frame)
    pdf = derived.select(_columns_read(expectations) or derived.columns).to_pandas()
    result = Validator(
        batch_definition=batch_definition,
        batch_parameters={"dataframe": pdf},
        result_format={
            "result_format": "COMPLETE",
            # the row indices are what is read; values, index queries and long example lists
            # are not (serialising them cost a third of the suite's time on the chain)
            "partial_unexpected_count": 3,
            "exclude_unexpected_values": True,
            "return_unexpected_index_query": False,
        },
    ).validate_expectation_suite(suite)

    rule_counts: dict[str, int] = {}
    error_rule: dict[int, str] = {}
    warnings: list[tuple[int, str]] = []
    for res in result.results:
        config = res.expectation_config
        rule = rule_name(config)
        indices = [] if res.success else (res.result.get("unexpected_index_list") or [])
        if not res.success and not indices and res.result.get("unexpected_count"):
            raise RuntimeError(f"{rule} failed without row indices: cannot keep rows apart")
        rule_counts[rule] = len(indices)
        if (
            str(config.severity.value if hasattr(config.severity, "value") else config.severity)
            == "warning"
        ):
            warnings.extend((int(i), rule) for i in indices)
        else:
            for i in indices:
                error_rule.setdefault(int(i), rule)
        # the row lists are read: the report keeps counts and examples (serialising 70k
        # indices per warning rule cost a third of a second on the chain)
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            res.result.pop(key, None)

    indexed = frame.with_row_index("_row")
    first_rule = indexed.select("_row").join(
        pl.DataFrame(
            {"_row": list(error_rule), "rule": list(error_rule.values())},
            schema={"_row": pl.UInt32, "rule": pl.String},
        ),
        on="_row",
        how="left",
        maintain_order="left",
    )["rule"]
    bad = first_rule.is_not_null()
    warned = pl.DataFrame(
        {"_row": [i for i, _ in warnings], "rule": [r for _, r in warnings]},
        schema={"_row": pl.UInt32, "rule": pl.String},
    )
    flagged = (
        indexed.filter(~bad)
        .join(warned, on="_row", how="inner")
        .sort("_row", "rule")
        .with_columns(pl.lit("warning").alias("severity"))
    )
    rejected = indexed.filter(bad).with_columns(
        first_rule.filter(bad).alias("rule"), pl.lit("error").alias("severity")
    )
    summary = json.loads(json.dumps(result.describe_dict(), default=str))
    return ValidationOutcome(
        landed=frame.filter(~bad),
        rejects=as_issue_rows(entity, rejected),
        warnings=as_issue_rows(entity, flagged),
        rule_counts=rule_counts,
        suite_result=summary,
    )


def as_issue_rows(entity: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows with ``rule`` and ``severity`` columns as :data:`loaders.schemas.REJECTS` rows."""
    data_columns = [
        c
        for c in rows.columns
        if c not in schemas.LINEAGE and c not in ("_row", "rule", "severity")
    ]
    return rows.select(
        pl.lit(entity).alias("entity"),
        "rule",
        "severity",
        "source",
        "source_file",
        "source_line",
        "load_id",
        pl.struct(pl.col(data_columns).cast(pl.String)).struct.json_encode().alias("row_json"),
    )
