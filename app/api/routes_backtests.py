"""Backtest routes: runs, their trades/legs/equity, ``POST /backtests`` and save jobs.

Reads use the app's query functions (:mod:`app.queries`: ``list_runs``, ``run_detail``;
:func:`app.backtest_runner.saved_run_extras`) on the published warehouse. A run computed by
``POST /backtests`` and not saved is kept in memory (the last
:data:`app.api.state.RECENT_RUNS`), so its trades, legs and equity can be read back at once;
``saved`` says which one a response comes from (the published file wins when both have the id,
and then they are the same run: the id is the config's hash).

``POST /backtests`` (bearer token) takes a config as JSON ``{"config_yaml": "..."}`` or
``{"config": {...}}``, or as a raw YAML body (``Content-Type: application/x-yaml``), checked by
:mod:`app.api.bodies` (safe YAML, the engine's own config validation). The run is
:func:`app.backtest_runner.run_on_published` (what the app's Run button calls), one at a time,
within ``run_timeout_s``. ``?save=true`` then answers 202 and saves in the background through
:func:`app.backtest_runner.save_run` (the app's locked write → attribution → publish path);
``GET /backtests/jobs/{job_id}`` reports ``queued``/``running``/``done``/``failed``.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import duckdb
import polars as pl
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app import queries
from app.api import params
from app.api.bodies import config_mapping, require_token, validated_config
from app.api.errors import ApiError
from app.api.formats import frame_response, json_response, negotiate, to_jsonable
from app.api.routes_read import allow_query, memo_response, state_of
from app.api.state import ApiState, SaveJob, now_utc, unavailable
from app.backtest_runner import (
    RunOutcome,
    SaveError,
    WarehouseBusyError,
    detail_of,
    run_on_published,
    save_refusal,
    save_run,
    saved_run_extras,
    skipped_by_reason,
)
from engine.config import BacktestConfig
from engine.io import MissingTableError
from warehouse.pipeline import running_pipeline

LOG = logging.getLogger("app.api")
PREFIX = "/api/v1"
router = APIRouter()


# --- reading runs ---------------------------------------------------------------------------------


def _saved(db, run_id: str) -> tuple[queries.RunDetail, Any]:
    return queries.run_detail(db, run_id), saved_run_extras(db, run_id)


def _is_saved(request: Request, run_id: str) -> bool:
    """Whether the published warehouse has run ``run_id`` (its run ids cached per version)."""
    published = state_of(request).published
    return run_id in published.cached("run_ids", lambda db: set(queries.list_runs(db)["run_id"]))


def _run(
    request: Request, run_id: str
) -> tuple[queries.RunDetail, pl.DataFrame, pl.DataFrame, bool]:
    """The run ``run_id``: its detail, every metrics column, skipped entries, and whether it is
    saved (published) or a recent unsaved ``POST``. ``NOT_FOUND`` when neither has it."""
    run_id = params.run_id(run_id)
    state = state_of(request)
    if _is_saved(request, run_id):
        detail, extras = state.published.cached(("run", run_id), _saved, run_id)
        skipped = extras.skipped if extras.skipped is not None else pl.DataFrame()
        return detail, extras.metrics, skipped, True
    outcome = state.recent_run(run_id)
    if outcome is None:
        raise ApiError(
            "NOT_FOUND",
            f"no backtest run {run_id!r} in the published warehouse or among the recent "
            "unsaved runs of this server",
            {"run_id": run_id},
        )
    result = outcome.result
    return detail_of(result), result.metrics, result.skipped_entries, False


@router.get("/backtests", summary="Backtest runs of the published warehouse")
def list_backtests(request: Request) -> Response:
    """One row per run (:func:`app.queries.list_runs`): ``run_id``, ``strategy``,
    ``underlying_symbol``, ``forecast_model``, ``model_version``, ``first_date``, ``last_date``."""
    allow_query(request)

    def build() -> Response:
        runs = state_of(request).published.cached("runs", queries.list_runs)
        return json_response({"n_rows": runs.height}, {"rows": runs})

    return memo_response(request, "backtests", build)


@router.get("/backtests/{run_id}", summary="One run: config, metrics, skipped entries")
def backtest(request: Request, run_id: str) -> Response:
    """The run's ``config`` (as the engine stored it), ``metrics`` (every column of
    ``backtest.metrics``: returns and drawdown decimal, Sharpe/Sortino annualised), the chain
    it traded, ``n_trades`` and ``skipped_by_reason``; ``saved`` false for an unsaved POST."""
    allow_query(request)
    run_id = params.run_id(run_id)
    if _is_saved(request, run_id):
        return memo_response(request, ("detail", run_id), lambda: _detail(request, run_id))
    return _detail(request, run_id)


def _detail(request: Request, run_id: str) -> Response:
    detail, metrics, skipped, saved = _run(request, run_id)
    return json_response(
        {
            "run_id": run_id,
            "saved": saved,
            "chain_source": detail.chain_source,
            "chain_model_version": detail.chain_model_version,
            "config": json.loads(detail.config_json) if detail.config_json else None,
            "metrics": (to_jsonable(metrics) or [None])[0],
            "n_trades": detail.trades.height,
            "links": _links(run_id),
        },
        {"skipped_by_reason": skipped_by_reason(skipped) if skipped.width else pl.DataFrame()},
    )


def _rows_route(request: Request, run_id: str, format_: str | None, table: str) -> Response:
    allow_query(request, "format")
    fmt = negotiate(request, format_)
    run_id = params.run_id(run_id)

    def build() -> Response:
        detail, _, _, saved = _run(request, run_id)
        frame = {"trades": detail.trades, "legs": detail.legs, "equity": detail.equity}[table]
        return frame_response(frame, fmt, {"run_id": run_id, "saved": saved}, f"{run_id}-{table}")

    if _is_saved(request, run_id):
        return memo_response(request, ("rows", run_id, table, fmt), build)
    return build()


@router.get("/backtests/{run_id}/trades", summary="A run's trades (JSON, Arrow or Parquet)")
def trades(request: Request, run_id: str, format: str | None = None) -> Response:
    """One row per trade (:func:`app.queries.trades`), ordered by ``entry_date``, ``trade_id``."""
    return _rows_route(request, run_id, format, "trades")


@router.get("/backtests/{run_id}/legs", summary="A run's legs (JSON, Arrow or Parquet)")
def legs(request: Request, run_id: str, format: str | None = None) -> Response:
    """One row per trade and leg (:func:`app.queries.legs`)."""
    return _rows_route(request, run_id, format, "legs")


@router.get("/backtests/{run_id}/equity", summary="A run's daily equity (JSON, Arrow or Parquet)")
def equity(request: Request, run_id: str, format: str | None = None) -> Response:
    """One row per ``quote_date`` (:func:`app.queries.equity_curve`)."""
    return _rows_route(request, run_id, format, "equity")


def _links(run_id: str) -> dict[str, str]:
    base = f"{PREFIX}/backtests/{run_id}"
    return {
        "self": base,
        "trades": f"{base}/trades",
        "legs": f"{base}/legs",
        "equity": f"{base}/equity",
    }


# --- running --------------------------------------------------------------------------------------


def _run_backtest(state: ApiState, cfg: BacktestConfig) -> RunOutcome:
    """Run ``cfg`` on the single run worker within ``run_timeout_s``.

    Raises
    ------
    ApiError
        ``CONFLICT`` (a run is under way), ``TIMEOUT``, ``UNAVAILABLE`` (no or partial
        published warehouse), ``BAD_REQUEST`` (the engine's ValueError: no predictions of the
        signal's model, no trading day in the window).
    """
    if not state.run_slot.acquire(blocking=False):
        raise ApiError("CONFLICT", "another backtest is running on this server; retry when it ends")
    db = state.settings.paths.published_db
    try:
        state.published.version()
        future = state.run_executor.submit(run_on_published, cfg, db)
    except BaseException:
        state.run_slot.release()
        raise
    future.add_done_callback(lambda _: state.run_slot.release())
    try:
        return future.result(timeout=state.settings.run_timeout_s)
    except FutureTimeout:
        raise ApiError(
            "TIMEOUT",
            f"the backtest took longer than {state.settings.run_timeout_s:g} s and was abandoned",
            {"run_id": cfg.run_id, "run_timeout_s": state.settings.run_timeout_s},
        ) from None
    except FileNotFoundError as exc:
        raise unavailable(db) from exc
    except MissingTableError as exc:
        raise ApiError("UNAVAILABLE", str(exc)[:500], {"run_id": cfg.run_id}) from None
    except duckdb.IOException:
        raise ApiError(
            "UNAVAILABLE", "the published file is locked or being replaced; retry"
        ) from None
    except ValueError as exc:
        raise ApiError("BAD_REQUEST", str(exc)[:1000], {"run_id": cfg.run_id}) from None


def _save(state: ApiState, job: SaveJob, outcome: RunOutcome) -> None:
    job.status = "running"
    settings = state.settings
    try:
        report = save_run(
            outcome,
            settings.paths,
            run_results=settings.save_run_results,
            rebuild_reports=settings.rebuild_reports,
        )
        job.timings_s = {k: round(v, 3) for k, v in report.timings_s.items()}
        job.message = f"run {report.run_id} saved and published"
        job.written = True
        job.status = "done"
    except WarehouseBusyError as exc:
        job.error_code, job.message, job.status = "CONFLICT", str(exc), "failed"
    except SaveError as exc:
        job.error_code, job.message, job.written = "CONFLICT", str(exc), exc.written
        job.status = "failed"
    except Exception:  # logged; the job says INTERNAL without the traceback
        LOG.exception("save job %s of %s failed", job.job_id, job.run_id)
        job.error_code = "INTERNAL"
        job.message = "the save failed unexpectedly; the details are in the server log"
        job.status = "failed"
    finally:
        job.finished_at = now_utc()


@router.post("/backtests", summary="Run a backtest config on the published warehouse")
async def post_backtest(request: Request) -> Response:
    """Validate and run a config (see the module docstring); answer its run id, metrics and
    skipped entries by reason (200), or with ``?save=true`` also a save job (202,
    ``Location`` = its status URL). Needs ``Authorization: Bearer $OPTIONS_API_TOKEN``."""
    state = state_of(request)
    allow_query(request, "save")
    require_token(request, state.settings.token_env)
    save = params.boolean(request.query_params.get("save"), "save")
    body = await request.body()
    mapping, source = config_mapping(request.headers.get("content-type", ""), body)
    cfg = validated_config(mapping, source)
    if save and (pid := running_pipeline(state.settings.paths.root)) is not None:
        raise ApiError(
            "CONFLICT",
            f"the warehouse is being rebuilt (make all, pid {pid}); save again when it finishes",
            {"pid": pid},
        )
    outcome = await run_in_threadpool(_run_backtest, state, cfg)  # not on the event loop
    state.remember_run(outcome)
    result = outcome.result
    payload: dict[str, Any] = {
        "run_id": result.run_id,
        "saved": False,
        "strategy": cfg.strategy.name,
        "config": cfg.to_dict(),
        "metrics": (to_jsonable(result.metrics) or [None])[0],
        "n_trades": result.trades.height,
        "n_skipped_entries": result.skipped_entries.height,
        "published_version": outcome.published_version,
        "timings_s": {k: round(v, 3) for k, v in outcome.timings_s.items()},
        "links": _links(result.run_id),
    }
    rows = {"skipped_by_reason": skipped_by_reason(result.skipped_entries)}
    if not save:
        return json_response(payload, rows)
    refusal = save_refusal(outcome)
    if refusal is not None:
        raise ApiError("BAD_REQUEST", refusal + " Nothing was written.", {"run_id": result.run_id})
    job = state.new_job(result.run_id)
    state.save_executor.submit(_save, state, job, outcome)
    status_url = f"{PREFIX}/backtests/jobs/{job.job_id}"
    response = json_response({**payload, "job_id": job.job_id, "status_url": status_url}, rows)
    response.status_code = 202
    response.headers["Location"] = status_url
    return response


@router.get("/backtests/jobs/{job_id}", summary="Status of a save job")
def save_job(request: Request, job_id: str) -> dict[str, Any]:
    """``status``: ``queued``, ``running``, ``done`` or ``failed`` (then ``error_code``:
    ``CONFLICT`` when the pipeline held the lock or the save was refused, ``INTERNAL``; and
    ``written``: whether the build database was changed)."""
    allow_query(request)
    job = state_of(request).job(params.job_id(job_id))
    if job is None:
        raise ApiError("NOT_FOUND", f"no save job {job_id!r} on this server", {"job_id": job_id})
    return job.as_dict()
