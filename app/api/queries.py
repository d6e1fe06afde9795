"""The few reads the API needs that :mod:`app.queries` has no function for.

Same rules as :mod:`app.queries`: each function opens the published file through
:func:`app.db.reader` (hardened, read-only), binds every value as a parameter and closes the
connection before returning; numerics come back as ``DOUBLE``. Identifiers never come from a
request: the only SQL built from names is :func:`table_row_counts`, whose names come from
DuckDB's own catalogue, quoted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from app.db import frame, reader
from app.queries import models as model_queries
from warehouse.paths import quote_identifier

# The current run of a model (ml.model_registry.is_current) and its rows of one as-of date
# (default: the run's latest). Contract models (rows with a contract_symbol: one score per
# contract) are ranked by score within the date, best first; $3 keeps the top_k of them.
_PREDICTIONS_SQL = """
with current_run as (
    select model_registry.run_id
    from ml.model_registry as model_registry
    where model_registry.model_name = $1 and model_registry.is_current
    order by model_registry.train_end_date desc, model_registry.run_id
    limit 1
),

run_predictions as (
    select predictions.*
    from ml.predictions as predictions
    inner join current_run on predictions.run_id = current_run.run_id
),

chosen_date as (
    select coalesce($2::date, max(run_predictions.as_of_date)) as as_of_date
    from run_predictions
),

ranked as (
    select
        run_predictions.run_id,
        run_predictions.model_name,
        run_predictions.model_version,
        run_predictions.family,
        run_predictions.task,
        run_predictions.underlying_symbol,
        run_predictions.contract_symbol,
        run_predictions.as_of_date,
        run_predictions.prediction_kind,
        cast(run_predictions.horizon_days as integer) as horizon_days,
        cast(run_predictions.score as double) as score,
        case when run_predictions.contract_symbol is not null then cast(row_number() over (
            partition by run_predictions.as_of_date
            order by run_predictions.score desc, run_predictions.contract_symbol
        ) as integer) end as score_rank,
        run_predictions.predicted_label,
        cast(run_predictions.decision_threshold as double) as decision_threshold,
        cast(run_predictions.p_up as double) as p_up,
        cast(run_predictions.yhat as double) as yhat,
        run_predictions.regime,
        cast(run_predictions.prob_low as double) as prob_low,
        cast(run_predictions.prob_normal as double) as prob_normal,
        cast(run_predictions.prob_high as double) as prob_high
    from run_predictions
    inner join chosen_date on run_predictions.as_of_date = chosen_date.as_of_date
)

select *
from ranked
where $3::integer is null or ranked.score_rank is null or ranked.score_rank <= $3::integer
order by ranked.score_rank nulls first, ranked.underlying_symbol
"""

_SIGNALS_SQL = """
with chosen_date as (
    select coalesce($1::date, max(fct_strategy_signals.as_of_date)) as as_of_date
    from forecasts.fct_strategy_signals as fct_strategy_signals
    where $2::varchar is null or fct_strategy_signals.underlying_symbol = $2::varchar
)

select
    fct_strategy_signals.underlying_symbol,
    fct_strategy_signals.as_of_date,
    fct_strategy_signals.strategy,
    fct_strategy_signals.size_tier,
    fct_strategy_signals.reason,
    fct_strategy_signals.matrix_column,
    fct_strategy_signals.direction_prediction_kind,
    fct_strategy_signals.direction_model_name,
    fct_strategy_signals.direction_run_id,
    cast(fct_strategy_signals.p_up as double) as p_up,
    fct_strategy_signals.direction_forecast,
    cast(fct_strategy_signals.direction_confidence as double) as direction_confidence,
    fct_strategy_signals.confidence_tier,
    fct_strategy_signals.regime_prediction_kind,
    fct_strategy_signals.regime_model_name,
    fct_strategy_signals.regime_run_id,
    fct_strategy_signals.regime_forecast,
    cast(fct_strategy_signals.regime_probability as double) as regime_probability
from forecasts.fct_strategy_signals as fct_strategy_signals
inner join chosen_date on fct_strategy_signals.as_of_date = chosen_date.as_of_date
where $2::varchar is null or fct_strategy_signals.underlying_symbol = $2::varchar
order by fct_strategy_signals.underlying_symbol
"""

_TABLES_SQL = """
select tables.schema_name, tables.table_name
from duckdb_tables() as tables
where tables.database_name = current_database() and tables.schema_name <> 'dq_failures'
order by tables.schema_name, tables.table_name
"""


def current_predictions(
    db: Path | str, model_name: str, as_of_date: dt.date | None, top_k: int | None
) -> pl.DataFrame:
    """The predictions of the current run of ``model_name`` for one as-of date.

    Parameters
    ----------
    db
        Published DuckDB file.
    model_name
        A model of ``ml.model_registry`` (bound as a parameter).
    as_of_date
        The date; ``None``: the run's latest as-of date.
    top_k
        Contract models (one row per contract): the ``top_k`` best-scored contracts;
        ``None``: all. Ignored for underlying-level models (one row per date).

    Returns
    -------
    polars.DataFrame
        One row per contract (contract models, ordered by ``score_rank``, 1 = highest
        ``score``) or per underlying (``score_rank`` null): the columns of ``ml.predictions``
        (``p_up`` and the ``prob_*`` class probabilities as decimals, ``yhat`` a decimal
        5-day return for return models). Empty when the model has no current run or no row
        on the date.
    """
    with reader(db) as con:
        return frame(con, _PREDICTIONS_SQL, [model_name, as_of_date, top_k])


def strategy_signals(
    db: Path | str, as_of_date: dt.date | None, underlying: str | None
) -> pl.DataFrame:
    """The strategy selector's rows (``forecasts.fct_strategy_signals``) of one as-of date.

    Returns
    -------
    polars.DataFrame
        One row per underlying (grain of the mart: underlying × as_of_date): the strategy
        picked, its size tier and reason, and the direction and regime forecasts behind it
        (probabilities decimal). ``as_of_date`` ``None``: the latest date.
    """
    with reader(db) as con:
        return frame(con, _SIGNALS_SQL, [as_of_date, underlying])


def model_latest(db: Path | str, model_name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest registry row of ``model_name`` (its current run, else its last trained) and
    that run's fold metrics, in one connection.

    Returns
    -------
    tuple[polars.DataFrame, polars.DataFrame]
        Zero or one registry row (columns of :func:`app.queries.models.list_runs`), and the
        run's metrics (:func:`app.queries.models.run_metrics`: fold × predictor × metric).
    """
    runs = model_queries.list_runs(db).filter(pl.col("model_name") == model_name)
    run = runs.sort(["is_current", "train_end_date", "run_id"], descending=True).head(1)
    if run.is_empty():
        return run, pl.DataFrame()
    with reader(db) as con:
        return run, model_queries.run_metrics(con, run.item(0, "run_id"))


def table_row_counts(db: Path | str) -> pl.DataFrame:
    """Exact row counts of the published tables (views left out; ``dq_failures`` too).

    DuckDB's ``estimated_size`` is not exact after deletes (``backtest.trades``: 4,906
    estimated, 3,607 rows), so each table is counted.

    Returns
    -------
    polars.DataFrame
        One row per table, ordered: ``schema_name``, ``table_name``, ``row_count`` (int).
    """
    schema = {"schema_name": pl.String, "table_name": pl.String, "row_count": pl.Int64}
    with reader(db) as con:
        tables = frame(con, _TABLES_SQL)
        if tables.is_empty():
            return pl.DataFrame(schema=schema)
        # names from DuckDB's catalogue, quoted; the values are bound
        sql = "\nunion all\n".join(
            f"select ? as schema_name, ? as table_name, count(*) as row_count "
            f"from {quote_identifier(s)}.{quote_identifier(t)}"
            for s, t in tables.iter_rows()
        )
        params = [v for row in tables.iter_rows() for v in row]
        return frame(con, sql, params).cast(schema).sort("schema_name", "table_name")
