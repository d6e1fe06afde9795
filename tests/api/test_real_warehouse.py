"""Every route on the real published warehouse (the session's end-to-end build, read-only), a
save through the API on a throwaway copy of it, and the end-to-end test: a real uvicorn process
(``python -m app.api``, what ``make api`` runs) answers a POSTed backtest whose trades equal
``python -m engine run`` of the same config.

Marked slow: ``real_warehouse`` builds the warehouse from the embedded real data (tests/conftest.py;
``OPTIONS_TEST_WAREHOUSE=warehouse`` reuses a built one, which these tests only read).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from app import queries
from app.api import ApiSettings
from app.api.process import V1, served
from engine.config import BacktestConfig
from tests.api.conftest import AUTH, TOKEN, client_for
from tests.api.test_contract import assert_error
from tests.app.test_browser_tasks import copy_warehouse
from warehouse.paths import REPO_ROOT, WarehousePaths

pytestmark = pytest.mark.slow

IRON_CONDOR = REPO_ROOT / "engine" / "configs" / "iron_condor_spx.yaml"
JOB_TIMEOUT_S = 300  # a save rebuilds the attribution models (dbt) and publishes
SERVER_START_S = 60


def _iron_condor(**exits) -> dict:
    """engine/configs/iron_condor_spx.yaml, with ``exits`` changed (a run id of its own), its
    dates as ISO strings (as a JSON client sends them)."""
    raw = yaml.safe_load(IRON_CONDOR.read_text())
    raw["exits"] = {**raw["exits"], **exits}
    return json.loads(json.dumps(raw, default=str))


def _run_id(config: dict) -> str:
    """The engine's run id of a JSON-shaped config (leg numbers back to ints, as the API does)."""
    overrides = {int(k): v for k, v in config.get("leg_overrides", {}).items()}
    return BacktestConfig.from_mapping({**config, "leg_overrides": overrides}).run_id


def _read(db: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql, params=params or []).pl()
    finally:
        con.close()


# --- reads ------------------------------------------------------------------------------------


def test_health(real, real_warehouse: Path) -> None:
    body = real.get(V1 + "/health").json()
    stat = (real_warehouse / "options.duckdb").stat()
    assert body["status"] == "ok"
    assert body["warehouse_version"] == f"{stat.st_ino}:{stat.st_mtime_ns}"
    assert body["published_at"].endswith("+00:00") and body["time"].endswith("+00:00")


def test_models_and_latest(real, real_warehouse: Path) -> None:
    rows = real.get(V1 + "/models").json()["rows"]
    names = {r["model_name"] for r in rows}
    assert {"xgb_direction_5d", "xgb_option_return_5d"} <= names
    latest = real.get(V1 + "/models/xgb_direction_5d/latest").json()
    assert latest["run"]["model_name"] == "xgb_direction_5d" and latest["run"]["is_current"]
    pooled = {r["metric"]: r for r in latest["pooled_metrics"]}
    assert "auc" in pooled and 0.0 <= pooled["auc"]["model"] <= 1.0
    assert pooled["auc"]["best_baseline"] is not None
    predictors = {r["predictor"] for r in latest["pooled_by_predictor"]}
    assert "model" in predictors and len(predictors) >= 2
    assert_error(real.get(V1 + "/models/no_such_model/latest"), 404, "NOT_FOUND", "no_such_model")


def test_predictions_rank_contract_models(real, real_warehouse: Path) -> None:
    body = real.get(
        V1 + "/predictions", params={"model": "xgb_option_return_5d", "top_k": 5}
    ).json()
    rows = body["rows"]
    assert body["n_rows"] == 5 and [r["score_rank"] for r in rows] == [1, 2, 3, 4, 5]
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["as_of_date"] == body["as_of_date"] and r["contract_symbol"] for r in rows)
    # the best score of that date in ml.predictions, read directly
    best = _read(
        real_warehouse / "options.duckdb",
        "select max(p.score) from ml.predictions p join ml.model_registry r using (run_id) "
        "where r.model_name = ? and r.is_current and p.as_of_date = ?",
        ["xgb_option_return_5d", body["as_of_date"]],
    ).item()
    assert scores[0] == pytest.approx(best)
    direction = real.get(V1 + "/predictions", params={"model": "xgb_direction_5d"}).json()
    assert direction["n_rows"] == 1 and 0.0 <= direction["rows"][0]["p_up"] <= 1.0
    assert direction["rows"][0]["score_rank"] is None
    assert_error(
        real.get(
            V1 + "/predictions", params={"model": "xgb_direction_5d", "as_of_date": "1900-01-02"}
        ),
        404,
        "NOT_FOUND",
        "1900-01-02",
    )
    assert_error(real.get(V1 + "/predictions?model=nope_model"), 404, "NOT_FOUND", "nope_model")


def test_signals(real) -> None:
    body = real.get(V1 + "/signals").json()
    assert body["n_rows"] >= 1 and body["rows"][0]["strategy"]
    again = real.get(
        V1 + "/signals", params={"as_of_date": body["as_of_date"], "underlying": "SPX"}
    )
    assert again.json()["rows"][0]["strategy"] == body["rows"][0]["strategy"]
    assert_error(real.get(V1 + "/signals?as_of_date=1900-01-02"), 404, "NOT_FOUND")


def test_strategies_and_tables(real, real_warehouse: Path) -> None:
    strategies = {s["name"]: s for s in real.get(V1 + "/strategies").json()["rows"]}
    assert len(strategies["iron_condor"]["legs"]) == 4
    tables = {
        f"{r['schema_name']}.{r['table_name']}": r for r in real.get(V1 + "/tables").json()["rows"]
    }
    n_trades = _read(
        real_warehouse / "options.duckdb", "select count(*) from backtest.trades"
    ).item()
    assert tables["backtest.trades"]["row_count"] == n_trades
    assert tables["marts.fct_option_features"]["row_count"] > 0
    assert not any(name.startswith("dq_failures.") for name in tables)


def test_backtests_match_the_app_queries(real, real_warehouse: Path) -> None:
    db = real_warehouse / "options.duckdb"
    listed = real.get(V1 + "/backtests").json()["rows"]
    expected = queries.list_runs(db)
    assert [r["run_id"] for r in listed] == expected["run_id"].to_list()
    run_id = next(r for r in expected["run_id"] if r.startswith("iron_condor-"))
    detail = real.get(f"{V1}/backtests/{run_id}").json()
    assert detail["saved"] and detail["config"]["strategy"]["name"] == "iron_condor"
    assert detail["metrics"]["n_trades"] == queries.run_metrics(db, run_id).item(0, "n_trades")
    for table, query in (
        ("trades", queries.trades),
        ("legs", queries.legs),
        ("equity", queries.equity_curve),
    ):
        want = query(db, run_id)
        as_json = pl.DataFrame(real.get(f"{V1}/backtests/{run_id}/{table}").json()["rows"])
        assert as_json.height == want.height
        arrow = real.get(f"{V1}/backtests/{run_id}/{table}?format=arrow")
        assert_frame_equal(pl.read_ipc_stream(io.BytesIO(arrow.content)), want)
        parquet = real.get(
            f"{V1}/backtests/{run_id}/{table}", headers={"Accept": "application/vnd.apache.parquet"}
        )
        assert_frame_equal(pl.read_parquet(io.BytesIO(parquet.content)), want)


# --- POST -------------------------------------------------------------------------------------


def test_post_runs_the_config_and_its_trades_read_back(real, token) -> None:
    text = IRON_CONDOR.read_text()
    response = real.post(
        V1 + "/backtests", content=text, headers={**AUTH, "Content-Type": "application/x-yaml"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    cfg = BacktestConfig.from_mapping(yaml.safe_load(text))
    assert body["run_id"] == cfg.run_id and body["saved"] is False
    assert body["metrics"]["n_trades"] + body["metrics"]["n_open_trades"] == body["n_trades"]
    assert sum(r["n_skipped"] for r in body["skipped_by_reason"]) == body["n_skipped_entries"]
    trades = real.get(body["links"]["trades"]).json()
    assert trades["n_rows"] == body["n_trades"]
    # the same config as JSON, both body shapes: the same run
    for payload in ({"config_yaml": text}, {"config": yaml.safe_load(text)}):
        again = real.post(
            V1 + "/backtests",
            content=json.dumps(payload, default=str),  # YAML dates as JSON strings
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert again.json()["run_id"] == body["run_id"]
        assert again.json()["metrics"] == body["metrics"]


def test_post_maps_engine_errors_to_bad_request(real, token) -> None:
    config = {
        **_iron_condor(),
        "entry": {
            "signal": "prob_up_at_least",
            "forecast_model": "no_such_model",
            "threshold": 0.5,
        },
    }
    response = real.post(V1 + "/backtests", json={"config": config}, headers=AUTH)
    assert_error(response, 400, "BAD_REQUEST", "no_such_model")


def test_post_over_the_time_limit_times_out_then_conflicts(real_warehouse: Path, token) -> None:
    settings = ApiSettings(paths=WarehousePaths(real_warehouse), run_timeout_s=0.05)
    with client_for(settings) as client:
        config = {"config": _iron_condor(take_profit_pct=55)}
        first = client.post(V1 + "/backtests", json=config, headers=AUTH)
        assert_error(first, 504, "TIMEOUT", "0.05 s")
        second = client.post(V1 + "/backtests", json=config, headers=AUTH)
        assert_error(second, 409, "CONFLICT", "another backtest")


def test_save_through_the_api_publishes_the_run(
    real_warehouse: Path, tmp_path: Path, token
) -> None:
    root = copy_warehouse(real_warehouse, tmp_path / "warehouse")
    settings = ApiSettings(
        paths=WarehousePaths(root), save_run_results=root / "target" / "run_results.json"
    )
    config = _iron_condor(take_profit_pct=65)
    run_id = _run_id(config)
    with client_for(settings) as client:
        version = client.get(V1 + "/health").json()["warehouse_version"]
        assert_error(client.get(f"{V1}/backtests/{run_id}/trades?format=json"), 404, "NOT_FOUND")
        response = client.post(V1 + "/backtests?save=true", json={"config": config}, headers=AUTH)
        assert response.status_code == 202, response.text
        status_url = response.headers["location"]
        assert status_url == response.json()["status_url"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while (job := client.get(status_url).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["status"] == "done", job
        assert job["written"] and job["error_code"] is None
        assert client.get(V1 + "/health").json()["warehouse_version"] != version
        detail = client.get(f"{V1}/backtests/{run_id}").json()
        assert detail["saved"] is True
        assert detail["n_trades"] == response.json()["n_trades"]


# --- end to end: a real uvicorn process -------------------------------------------------------


def test_end_to_end_uvicorn_post_equals_engine_run(real_warehouse: Path, tmp_path: Path) -> None:
    """``python -m app.api`` (the command of ``make api``) on a copy of the real warehouse: POST
    a config, GET its trades (JSON and Arrow), stop the server, then ``python -m engine run``
    the same config into the copy's build database: the trades are equal."""
    root = copy_warehouse(real_warehouse, tmp_path / "warehouse")
    text = IRON_CONDOR.read_text()
    assert text.count("take_profit_pct: 50 ") == 1
    config_path = tmp_path / "iron_condor_tp60.yaml"
    config_path.write_text(text.replace("take_profit_pct: 50 ", "take_profit_pct: 60 "))
    run_id = _run_id(_iron_condor(take_profit_pct=60))
    env = {**os.environ, "WAREHOUSE_DIR": str(root), "OPTIONS_API_TOKEN": TOKEN}
    with (
        (tmp_path / "server.log").open("w") as log,
        served(env, log=log, start_timeout_s=SERVER_START_S) as url,
        httpx.Client(base_url=url + V1, timeout=120, trust_env=False) as client,
    ):
        posted = client.post(
            "/backtests",
            content=config_path.read_bytes(),
            headers={**AUTH, "Content-Type": "application/x-yaml"},
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["run_id"] == run_id
        as_json = client.get(f"/backtests/{run_id}/trades").json()
        assert as_json["saved"] is False
        arrow = client.get(f"/backtests/{run_id}/trades?format=arrow")
        from_api = pl.read_ipc_stream(io.BytesIO(arrow.content))
        assert from_api.height == as_json["n_rows"] > 0
        assert_error(client.get("/backtests/../../etc/passwd"), 404, "NOT_FOUND")

    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--config", str(config_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "WAREHOUSE_DIR": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"run_id={run_id}" in done.stdout
    engine_trades = queries.trades(root / "build" / "build.duckdb", run_id)
    assert_frame_equal(from_api, engine_trades)
    rows = as_json["rows"]
    assert [r["trade_id"] for r in rows] == engine_trades["trade_id"].to_list()
    assert [r["pnl_usd"] for r in rows] == engine_trades["pnl_usd"].fill_nan(None).to_list()


def test_a_save_refused_by_the_pipeline_lock_fails_its_job_with_conflict(
    real_warehouse: Path, token, monkeypatch
) -> None:
    """The lock is taken between the 202 and the save (simulated: ``save_run`` raises what it
    raises then); the job reports CONFLICT and that nothing was written."""
    import app.api.routes_backtests as routes
    from app.backtest_runner import WarehouseBusyError

    def busy(*args, **kwargs):
        raise WarehouseBusyError(4242)

    monkeypatch.setattr(routes, "save_run", busy)
    with client_for(ApiSettings(paths=WarehousePaths(real_warehouse))) as client:
        response = client.post(
            V1 + "/backtests?save=true", json={"config": _iron_condor()}, headers=AUTH
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 60
        while (job := client.get(response.headers["location"]).json())["status"] != "failed":
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.2)
    assert job["error_code"] == "CONFLICT" and "pid 4242" in job["message"]
    assert job["written"] is False
