"""Read routes: health, models, predictions, signals, the strategy catalogue and the tables.

Every route reads the published warehouse through :class:`app.api.state.Published` (a short
hardened read-only connection per request; results cached on the published version) and
validates each parameter (:mod:`app.api.params`); unknown query parameters are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import polars as pl
from fastapi import APIRouter, Request, Response

from app.api import params
from app.api.errors import ApiError, bad_request
from app.api.formats import Rendered, json_response, to_jsonable
from app.api.queries import current_predictions, model_latest, strategy_signals, table_row_counts
from app.api.state import ApiState
from app.queries import list_relations
from app.queries import models as model_queries
from app.queries.models import pooled_metric_table
from engine.strategies import load_catalogue

router = APIRouter()


def state_of(request: Request) -> ApiState:
    return request.app.state.api


def memo_response(request: Request, key: Any, build: Callable[[], Response]) -> Response:
    """``build()``'s response, rendered once per published version and ``key``."""
    published = state_of(request).published
    return published.memo(("body", key), lambda: Rendered.of(build())).response()


def allow_query(request: Request, *names: str) -> None:
    """Refuse query parameters other than ``names`` (``BAD_REQUEST`` naming the first)."""
    unknown = sorted(set(request.query_params.keys()) - set(names))
    if unknown:
        raise bad_request(
            "query parameter", unknown[0], f"is not one of {list(names)}", allowed=list(names)
        )


@router.get("/health", summary="Service and published-warehouse status")
def health(request: Request) -> dict[str, Any]:
    """``status`` (``ok``), ``time`` (now, UTC), ``published_at`` (the published file's
    publish time, UTC) and ``warehouse_version`` (``inode:mtime_ns`` of the file: changes with
    every publish). ``UNAVAILABLE`` (503) when nothing is published."""
    allow_query(request)
    published = state_of(request).published
    version = published.version()
    return {
        "status": "ok",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "published_at": published.published_at(version).isoformat(timespec="seconds"),
        "warehouse_version": version,
    }


@router.get("/models", summary="The model registry (ml.model_registry)")
def models(request: Request) -> Response:
    """One row per training run, current ones first (:func:`app.queries.models.list_runs`)."""
    allow_query(request)

    def build() -> Response:
        runs = state_of(request).published.cached("models", model_queries.list_runs)
        return json_response({"n_rows": runs.height}, {"rows": runs})

    return memo_response(request, "models", build)


@router.get(
    "/models/{name}/latest", summary="A model's latest run and pooled out-of-sample metrics"
)
def model_latest_route(request: Request, name: str) -> Response:
    """The registry row of ``name``'s current run (else its last trained one) and its pooled
    walk-forward metrics (fold 0) beside the best naive baseline
    (:func:`app.queries.models.pooled_metric_table`), plus every predictor's pooled value.
    ``NOT_FOUND`` when the registry has no such model."""
    allow_query(request)
    name = params.model_name(name, "name")

    def build() -> Response:
        run, metrics = state_of(request).published.cached(("model", name), model_latest, name)
        if run.is_empty():
            raise ApiError("NOT_FOUND", f"no model {name!r} in ml.model_registry", {"model": name})
        pooled = pooled_metric_table(metrics) if metrics.height else pl.DataFrame()
        by_predictor = (
            metrics.filter(pl.col("fold_id") == 0).select("predictor", "metric", "value", "n_rows")
            if metrics.height
            else pl.DataFrame()
        )
        return json_response(
            {"model": name, "run": to_jsonable(run)[0]},
            {"pooled_metrics": pooled, "pooled_by_predictor": by_predictor},
        )

    return memo_response(request, ("latest", name), build)


@router.get("/predictions", summary="Rows of a model's current run for one as-of date")
def predictions(
    request: Request,
    model: str | None = None,
    as_of_date: str | None = None,
    top_k: str | None = None,
) -> Response:
    """The current run's predictions of ``model`` on ``as_of_date`` (default: its latest
    date); contract models are ranked by score (``score_rank`` 1 = best) and cut to ``top_k``
    (1-1000, default 20). ``NOT_FOUND`` for an unknown model or a date without rows."""
    allow_query(request, "model", "as_of_date", "top_k")
    if model is None:
        raise bad_request("model", None, "is required (a model name like xgb_direction_5d)")
    name = params.model_name(model)
    day = params.iso_date(as_of_date)
    k = params.top_k(_integer("top_k", top_k))
    k = params.DEFAULT_TOP_K if k is None else k
    return memo_response(
        request, ("predictions", name, day, k), lambda: _predictions(request, name, day, k)
    )


def _predictions(request: Request, name: str, day: date | None, k: int) -> Response:
    rows = state_of(request).published.cached(
        ("predictions", name, day, k), current_predictions, name, day, k
    )
    if rows.is_empty():
        known = state_of(request).published.cached("models", model_queries.list_runs)
        if name not in set(known["model_name"].to_list()):
            raise ApiError("NOT_FOUND", f"no model {name!r} in ml.model_registry", {"model": name})
        raise ApiError(
            "NOT_FOUND",
            f"model {name!r} has no prediction on {day or 'its latest date'}",
            {"model": name, "as_of_date": str(day) if day else None},
        )
    return json_response(
        {
            "model": name,
            "as_of_date": str(rows.item(0, "as_of_date")),
            "run_id": rows.item(0, "run_id"),
            "top_k": k,
            "n_rows": rows.height,
        },
        {"rows": rows},
    )


@router.get("/signals", summary="The strategy selector's rows (forecasts.fct_strategy_signals)")
def signals(
    request: Request, as_of_date: str | None = None, underlying: str | None = None
) -> Response:
    """One row per underlying for ``as_of_date`` (default: the latest date), optionally one
    ``underlying``; ``NOT_FOUND`` when the date has no row."""
    allow_query(request, "as_of_date", "underlying")
    day = params.iso_date(as_of_date)
    symbol = params.symbol(underlying) if underlying is not None else None
    return memo_response(request, ("signals", day, symbol), lambda: _signals(request, day, symbol))


def _signals(request: Request, day: date | None, symbol: str | None) -> Response:
    rows = state_of(request).published.cached(
        ("signals", day, symbol), strategy_signals, day, symbol
    )
    if rows.is_empty():
        raise ApiError(
            "NOT_FOUND",
            f"the strategy selector has no row on {day or 'any date'}"
            + (f" for {symbol}" if symbol else ""),
            {"as_of_date": str(day) if day else None, "underlying": symbol},
        )
    return json_response(
        {"as_of_date": str(rows.item(0, "as_of_date")), "n_rows": rows.height}, {"rows": rows}
    )


@cache
def _catalogue() -> list[dict[str, Any]]:
    """The catalogue as JSON-able rows, read once per process (as ``app.run_form.catalogue``)."""
    return [
        {
            "name": name,
            "description": spec.description,
            "cash_secured": spec.cash_secured,
            "legs": [
                {
                    "leg_no": i,
                    "type": leg.leg_type,
                    "side": leg.side,
                    "ratio": leg.ratio,
                    "expiry": leg.expiry,
                    "rule": leg.rule,
                    "value": leg.value,
                    "of": leg.of,
                }
                for i, leg in enumerate(spec.legs, start=1)
            ],
        }
        for name, spec in sorted(load_catalogue().items())
    ]


@router.get("/strategies", summary="The strategy catalogue (engine/strategies.yaml)")
def strategies(request: Request) -> dict[str, Any]:
    """Every catalogue strategy with its legs (side, ratio, type, expiry, strike rule); a
    ``POST /backtests`` config names one as ``strategy:``."""
    allow_query(request)
    rows = _catalogue()
    return {"n_rows": len(rows), "rows": rows}


def _tables(db) -> pl.DataFrame:
    counts = table_row_counts(db)
    relations = list_relations(db).select(
        pl.col("schema_name"), pl.col("relation").alias("table_name"), "kind", "n_columns"
    )
    return relations.join(counts, on=["schema_name", "table_name"], how="left").sort(
        "schema_name", "table_name"
    )


@router.get("/tables", summary="Published tables and views with row counts")
def tables(request: Request) -> Response:
    """One row per relation of the published warehouse (``dq_failures`` left out):
    ``schema_name``, ``table_name``, ``kind`` (table/view), ``n_columns``, ``row_count``
    (exact for tables, null for views)."""
    allow_query(request)

    def build() -> Response:
        rows = state_of(request).published.cached("tables", _tables)
        return json_response({"n_rows": rows.height}, {"rows": rows})

    return memo_response(request, "tables", build)


def _integer(parameter: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.lstrip("-").isdigit() or len(value) > 12:
        raise bad_request(parameter, value, "must be an integer")
    return int(value)
