"""Landing validation with great-expectations: one suite per entity, row-level rejects.

great-expectations runs on pandas batches (its SQL datasource does not work with DuckDB, see
../shared/FIELD_NOTES.md). Each expectation is asked for ``COMPLETE`` results so that the index
of every failing row comes back: those rows go to the rejects with the expectation as their rule,
the others land. A row breaking several rules is rejected once, under the first rule it broke.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl

from loaders import schemas

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _suite_specs() -> dict[str, list[Any]]:
    """Expectations per entity, built lazily: importing great-expectations takes ~2 s."""
    import great_expectations as gx

    e = gx.expectations
    return {
        "option_quotes": [
            *[
                e.ExpectColumnValuesToNotBeNull(column=c)
                for c in (
                    "underlying_symbol",
                    "contract_symbol",
                    "quote_date",
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
            # Crossed markets: ask < bid. Both zero (no market) is kept: ask = bid passes.
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="ask", column_B="bid", or_equal=True
            ),
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="expiration", column_B="quote_date", or_equal=True
            ),
            e.ExpectCompoundColumnsToBeUnique(column_list=["quote_date", "contract_symbol"]),
        ],
        "index_bars": _bar_expectations(e),
        "equity_bars": _bar_expectations(e),
        "volatility_indices": [
            e.ExpectColumnValuesToNotBeNull(column="date"),
            e.ExpectColumnValuesToNotBeNull(column="close"),
            e.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True),
            e.ExpectCompoundColumnsToBeUnique(column_list=["index_symbol", "date"]),
        ],
        "rates": [
            e.ExpectColumnValuesToNotBeNull(column="date"),
            # Percent; negative T10Y2Y spreads are real, a yield of ±100 % is not.
            e.ExpectColumnValuesToBeBetween(column="value_pct", min_value=-100, max_value=100),
            e.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "date"]),
        ],
    }


def _bar_expectations(e: Any) -> list[Any]:
    return [
        e.ExpectColumnValuesToNotBeNull(column="date"),
        e.ExpectColumnValuesToNotBeNull(column="close"),
        e.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="low", or_equal=True),
        e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        e.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "date", "source"]),
    ]


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
        Rows that passed every expectation (input schema and order).
    rejects
        :data:`loaders.schemas.REJECTS` rows for the others.
    rule_counts
        Failing rows per expectation (a row counts under every rule it broke).
    suite_result
        great-expectations' own JSON description of the run, for the load report.
    """

    landed: pl.DataFrame
    rejects: pl.DataFrame
    rule_counts: dict[str, int]
    suite_result: dict[str, Any]


def _rule_name(config: Any) -> str:
    kwargs = config.kwargs
    columns = (
        kwargs.get("column")
        or kwargs.get("column_list")
        or [kwargs.get("column_A"), kwargs.get("column_B")]
    )
    columns = columns if isinstance(columns, list) else [columns]
    return f"{config.type}:{','.join(str(c) for c in columns)}"


def validate(entity: str, frame: pl.DataFrame) -> ValidationOutcome:
    """Validate one entity's rows with its great-expectations suite.

    Parameters
    ----------
    entity
        Key of the suite (``option_quotes``, ``index_bars``, ``equity_bars``,
        ``volatility_indices``, ``rates``).
    frame
        Rows in the entity's canonical schema, lineage columns included.

    Raises
    ------
    KeyError
        For an entity without a suite; the message lists the known ones.
    """
    import great_expectations as gx

    specs = _suite_specs()
    if entity not in specs:
        raise KeyError(f"no validation suite for entity {entity!r}; known: {sorted(specs)}")
    context = _context()
    name = f"landing_{entity}"
    try:
        suite = context.suites.get(name)
    except Exception:  # great-expectations raises its own not-found error type
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=specs[entity]))
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

    pdf = frame.to_pandas()
    batch = batch_definition.get_batch(batch_parameters={"dataframe": pdf})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})

    first_rule = pl.Series("rule", [None] * frame.height, dtype=pl.String)
    rule_counts: dict[str, int] = {}
    rule_index = {}
    for res in result.results:
        rule = _rule_name(res.expectation_config)
        indices = [] if res.success else (res.result.get("unexpected_index_list") or [])
        if not res.success and not indices and res.result.get("unexpected_count"):
            raise RuntimeError(f"{rule} failed without row indices: cannot keep rows apart")
        rule_counts[rule] = len(indices)
        for i in indices:
            rule_index.setdefault(int(i), rule)
    if rule_index:
        idx = pl.DataFrame(
            {"row": list(rule_index), "rule": list(rule_index.values())},
            schema={"row": pl.UInt32, "rule": pl.String},
        )
        first_rule = (
            frame.with_row_index("row").select("row").join(idx, on="row", how="left")["rule"]
        )
    bad = first_rule.is_not_null()
    data_columns = [c for c in frame.columns if c not in schemas.LINEAGE]
    rejects = frame.filter(bad).select(
        pl.lit(entity).alias("entity"),
        first_rule.filter(bad).alias("rule"),
        "source",
        "source_file",
        "source_line",
        pl.struct(pl.col(data_columns).cast(pl.String)).struct.json_encode().alias("row_json"),
    )
    summary = json.loads(json.dumps(result.describe_dict(), default=str))
    return ValidationOutcome(frame.filter(~bad), rejects, rule_counts, summary)
