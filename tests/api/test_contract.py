"""The API's contract without the real warehouse: the error shape of every error code, the
bearer token, the body limit, bad configs (unknown keys, wrong types, alias bombs), path-like
and SQL-like parameters, UNAVAILABLE, a new publish seen without restart, concurrent reads.

Warehouses here are absent or SYNTHETIC (tests/api/conftest.py); the real one is in
test_real_warehouse.py.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from app.api import ApiSettings
from app.api.errors import BodyLimitMiddleware, bad_request
from app.api.params import RUN_ID_PATTERN
from app.api.process import V1
from tests.api.conftest import (
    AUTH,
    SYNTHETIC_RUN_ID,
    TOKEN,
    add_synthetic_run,
    files_under,
)
from tests.app.conftest import build_backtest_db, pipeline_elsewhere
from warehouse.paths import WarehousePaths

CONTRACT_KEYS = {"error_code", "message", "details"}
CONFIG = {"strategy": "iron_condor", "underlying_symbol": "SPX", "option_roots": ["SPXW"]}

#: Each read route with a valid value of its parameters.
READ_ROUTES = [
    "/health",
    "/models",
    "/models/xgb_direction_5d/latest",
    "/predictions?model=xgb_direction_5d",
    "/signals",
    "/backtests",
    f"/backtests/{SYNTHETIC_RUN_ID}",
    f"/backtests/{SYNTHETIC_RUN_ID}/trades",
    f"/backtests/{SYNTHETIC_RUN_ID}/legs",
    f"/backtests/{SYNTHETIC_RUN_ID}/equity",
    "/tables",
]

SQL_LIKE = ["x' or '1'='1", "1; drop table backtest.trades; --", "' union select * from x --"]
PATH_LIKE = ["../../etc/passwd", "..", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "C:\\x.duckdb"]


def assert_error(response, status: int, code: str, *needles: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == CONTRACT_KEYS, body
    assert body["error_code"] == code, body
    assert isinstance(body["details"], dict)
    for needle in needles:
        assert needle in body["message"], (needle, body["message"])
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_the_docs_need_no_network(no_warehouse) -> None:
    """/docs and /redoc load their scripts and styles from this server, not from a CDN (the
    product runs without network; FastAPI's default pages would be blank)."""
    for page in ("/docs", "/redoc"):
        html = no_warehouse.get(page)
        assert html.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert assets, html.text[:300]
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from another host"
            assert no_warehouse.get(asset).status_code == 200, asset
    assert no_warehouse.get("/openapi.json").json()["info"]["title"] == "Options warehouse API"


def test_bad_request_names_parameter_and_value() -> None:
    error = bad_request("top_k", 5000, "must be in [1, 1000]")
    assert (error.status_code, error.message) == (400, "top_k must be in [1, 1000], got 5000")


def test_run_id_pattern_takes_the_engine_ids() -> None:
    from engine.config import BacktestConfig

    cfg = BacktestConfig.from_mapping(dict(CONFIG))
    assert RUN_ID_PATTERN.fullmatch(cfg.run_id)
    assert not RUN_ID_PATTERN.fullmatch("synthetic-run-1")


@pytest.mark.parametrize("route", READ_ROUTES)
def test_every_read_route_is_unavailable_without_a_publish(no_warehouse, route: str) -> None:
    response = no_warehouse.get(V1 + route)
    assert_error(response, 503, "UNAVAILABLE", "make all")


def test_unknown_path_and_method_answer_the_contract(no_warehouse) -> None:
    assert_error(no_warehouse.get("/nowhere"), 404, "NOT_FOUND", "/nowhere")
    assert_error(no_warehouse.get(V1 + "/backtests/x-0123456789ab/nope"), 404, "NOT_FOUND")
    assert_error(no_warehouse.delete(V1 + "/backtests"), 405, "METHOD_NOT_ALLOWED", "DELETE")


def test_fastapi_validation_errors_answer_the_contract(no_warehouse) -> None:
    # the app declares its own checks; FastAPI's own (a RequestValidationError) is mapped too
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/n")
    def n(k: int) -> dict:
        return {"k": k}

    body = assert_error(TestClient(app).get("/n?k=abc"), 400, "BAD_REQUEST", "k", "'abc'")
    assert body["details"]["errors"][0]["parameter"] == "k"


def test_an_unexpected_exception_is_internal_without_a_traceback(synthetic, monkeypatch) -> None:
    import app.api.routes_backtests as routes

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail /root/.ssh")

    monkeypatch.setattr(routes.queries, "list_runs", boom)
    body = assert_error(synthetic.get(V1 + "/backtests"), 500, "INTERNAL", "server log")
    assert "secret" not in str(body) and "RuntimeError" not in str(body)


@pytest.mark.parametrize("value", PATH_LIKE + SQL_LIKE)
def test_path_and_sql_like_run_ids_are_bad_requests(synthetic, value: str) -> None:
    for suffix in ("", "/trades", "/legs", "/equity"):
        response = synthetic.get(f"{V1}/backtests/{value}{suffix}")
        if response.status_code == 404:  # '..' or '/x' normalised away by the client: no route
            assert_error(response, 404, "NOT_FOUND")
            continue
        assert_error(response, 400, "BAD_REQUEST", "run_id")


@pytest.mark.parametrize("value", SQL_LIKE)
def test_sql_like_strings_in_every_query_parameter_are_bad_requests(synthetic, value) -> None:
    cases = [
        ("/predictions", {"model": value}, "model"),
        ("/predictions", {"model": "m", "as_of_date": value}, "as_of_date"),
        ("/predictions", {"model": "m", "top_k": value}, "top_k"),
        ("/signals", {"as_of_date": value}, "as_of_date"),
        ("/signals", {"underlying": value}, "underlying"),
        (f"/backtests/{SYNTHETIC_RUN_ID}/trades", {"format": value}, "format"),
        ("/backtests", {value: "1"}, "query parameter"),
        (f"/models/{value}/latest", {}, "name"),
        (f"/backtests/jobs/{value}", {}, "job_id"),
    ]
    for route, params, name in cases:
        response = synthetic.get(V1 + route, params=params)
        if response.status_code == 404 and "/" in value:
            continue
        assert_error(response, 400, "BAD_REQUEST", name)


def test_bad_values_are_named(synthetic) -> None:
    assert_error(
        synthetic.get(V1 + "/predictions", params={"model": "m", "top_k": "0"}),
        400,
        "BAD_REQUEST",
        "top_k must be in [1, 1000], got 0",
    )
    assert_error(
        synthetic.get(V1 + "/signals", params={"as_of_date": "2019-02-30"}),
        400,
        "BAD_REQUEST",
        "'2019-02-30'",
    )
    assert_error(synthetic.get(V1 + "/predictions"), 400, "BAD_REQUEST", "model is required")


def test_synthetic_run_reads_in_every_format(synthetic) -> None:
    import io

    import polars as pl

    detail = synthetic.get(f"{V1}/backtests/{SYNTHETIC_RUN_ID}").json()
    assert detail["saved"] is True and detail["n_trades"] == 2
    # SYNTHETIC metrics of synthetic-run-1 (tests/app/conftest.py): total return 0.02
    assert detail["metrics"]["total_return"] == pytest.approx(0.02)
    trades = synthetic.get(f"{V1}/backtests/{SYNTHETIC_RUN_ID}/trades").json()
    assert [t["pnl_usd"] for t in trades["rows"]] == [3000.0, -1000.0]  # (60-30)x100, (0-10)x100
    arrow = synthetic.get(
        f"{V1}/backtests/{SYNTHETIC_RUN_ID}/legs",
        headers={"Accept": "application/vnd.apache.arrow.stream"},
    )
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    legs = pl.read_ipc_stream(io.BytesIO(arrow.content))
    assert legs.height == 4 and legs["entry_price"].sum() == pytest.approx(40.0)  # 14+16+4+6
    parquet = synthetic.get(f"{V1}/backtests/{SYNTHETIC_RUN_ID}/equity?format=parquet")
    equity = pl.read_parquet(io.BytesIO(parquet.content))
    assert equity["equity_usd"].to_list() == [100000, 101000, 99990, 102000]
    assert equity.schema["quote_date"] == pl.Date
    assert_error(
        synthetic.get(f"{V1}/backtests/{SYNTHETIC_RUN_ID}/trades?format=xml"),
        400,
        "BAD_REQUEST",
        "format",
    )
    assert_error(synthetic.get(f"{V1}/backtests/nosuch-0123456789ab"), 404, "NOT_FOUND")


# --- POST -------------------------------------------------------------------------------------


def test_post_without_the_token_variable_is_refused(no_warehouse, monkeypatch) -> None:
    monkeypatch.delenv("OPTIONS_API_TOKEN", raising=False)
    response = no_warehouse.post(V1 + "/backtests", json={"config": CONFIG}, headers=AUTH)
    assert_error(response, 401, "UNAUTHORIZED", "OPTIONS_API_TOKEN is not set")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"bearer{TOKEN}"],
)
def test_post_with_a_missing_or_wrong_token_is_refused(no_warehouse, token, header) -> None:
    headers = {"Authorization": header} if header else {}
    response = no_warehouse.post(V1 + "/backtests", json={"config": CONFIG}, headers=headers)
    body = assert_error(response, 401, "UNAUTHORIZED", "bearer token")
    assert TOKEN not in str(body)


def test_a_10_mb_body_is_refused_before_it_is_read(no_warehouse, token, empty_root) -> None:
    before = files_under(empty_root)
    big = b"a: " + b"x" * (10 * 1024 * 1024)
    for headers in ({**AUTH, "Content-Type": "application/x-yaml"}, {}):
        response = no_warehouse.post(V1 + "/backtests", content=big, headers=headers)
        assert_error(response, 413, "BAD_REQUEST", "1,000,000 bytes")
    assert files_under(empty_root) == before


def test_a_streamed_body_over_the_limit_is_refused() -> None:
    # SYNTHETIC: a chunked body (no Content-Length) is counted as it arrives
    import asyncio

    received: list[bytes] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message.get("body", b""))
            if not message.get("more_body"):
                break

    chunks = [b"x" * 600, b"y" * 600]
    sent: list[dict] = []

    async def receive():
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [], "method": "POST", "path": "/"}
    asyncio.run(BodyLimitMiddleware(app, max_bytes=1000)(scope, receive, send))
    assert sent[0]["status"] == 413 and b'"error_code":"BAD_REQUEST"' in sent[1]["body"]


ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        (
            {"content": ALIAS_BOMB, "headers": {"Content-Type": "application/x-yaml"}},
            ["body:1:4", "anchors are not allowed"],
        ),
        ({"json": {"config_yaml": ALIAS_BOMB}}, ["config_yaml:1:4", "anchors"]),
        ({"json": {"config": {**CONFIG, "bogus_key": 1}}}, ["unknown config key(s) ['bogus_key']"]),
        (
            {
                "json": {
                    "config": {
                        **CONFIG,
                        "entry": {
                            "signal": "prob_up_at_least",
                            "forecast_model": "m",
                            "threshold": 2.0,
                        },
                    }
                }
            },
            ["entry.threshold must be in [0.0, 1.0], got 2.0"],
        ),
        ({"json": {"config": {**CONFIG, "entry": {"target_dte": "thirty"}}}}, ["target_dte"]),
        ({"json": {"config": {**CONFIG, "initial_capital_usd": [1]}}}, ["initial_capital_usd"]),
        ({"json": {"config": {**CONFIG, "start_date": "2019-02-30"}}}, ["start_date"]),
        ({"json": {"config": {**CONFIG, "strategy": "../../etc/passwd"}}}, ["strategy"]),
        ({"json": {"config": {**CONFIG, "strategy": "x'; drop table t; --"}}}, ["strategy"]),
        ({"json": {"config": {**CONFIG, "universe": "x; drop"}}}, ["universe"]),
        ({"json": {"config": {**CONFIG, "strategy": "no_such_strategy"}}}, ["unknown strategy"]),
        ({"json": {"config": CONFIG, "extra": 1}}, ["'extra'"]),
        ({"json": {"config": CONFIG, "config_yaml": "a: 1"}}, ["exactly one"]),
        ({"json": {}}, ["exactly one"]),
        ({"json": [1, 2]}, ["JSON object"]),
        ({"json": {"config_yaml": 5}}, ["config_yaml must be a string"]),
        ({"json": {"config_yaml": ""}}, ["not empty"]),
        ({"json": {"config_yaml": "- a\n- b"}}, ["mapping"]),
        ({"json": {"config_yaml": "a: [1"}}, ["config_yaml:"]),
        ({"content": "{not json", "headers": {"Content-Type": "application/json"}}, ["JSON"]),
        ({"content": "[" * 100_000, "headers": {"Content-Type": "application/json"}}, ["JSON"]),
        ({"content": b"a: \xff", "headers": {"Content-Type": "application/x-yaml"}}, ["UTF-8"]),
        ({"json": {"config": CONFIG}, "params": {"save": "maybe"}}, ["save"]),
        ({"json": {"config": CONFIG}, "params": {"path": "/etc/passwd"}}, ["'path'"]),
    ],
)
def test_bad_configs_are_bad_requests_naming_the_value_and_write_nothing(
    no_warehouse, token, empty_root, kwargs, needles
) -> None:
    before = files_under(empty_root)
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = no_warehouse.post(V1 + "/backtests", headers=headers, **kwargs)
    assert_error(response, 400, "BAD_REQUEST", *needles)
    assert files_under(empty_root) == before


def test_a_body_that_is_neither_json_nor_yaml_is_refused(no_warehouse, token) -> None:
    response = no_warehouse.post(
        V1 + "/backtests", content="strategy: x", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA", "text/plain")


def test_a_valid_config_without_a_publish_is_unavailable(no_warehouse, token) -> None:
    response = no_warehouse.post(V1 + "/backtests", json={"config": CONFIG}, headers=AUTH)
    assert_error(response, 503, "UNAVAILABLE", "make all")


def test_save_while_the_pipeline_holds_the_lock_is_a_conflict(no_warehouse, token, empty_root):
    before = files_under(empty_root)
    with pipeline_elsewhere(empty_root) as pid:
        response = no_warehouse.post(
            V1 + "/backtests?save=true", json={"config": CONFIG}, headers=AUTH
        )
        assert_error(response, 409, "CONFLICT", f"pid {pid}")
    after = files_under(empty_root)
    assert {k: v for k, v in after.items() if k != ".pipeline.lock"} == {
        k: v for k, v in before.items() if k != ".pipeline.lock"
    }


def test_unknown_save_job_is_not_found(no_warehouse) -> None:
    assert_error(no_warehouse.get(V1 + "/backtests/jobs/save-999"), 404, "NOT_FOUND", "save-999")


# --- publishes and concurrency ----------------------------------------------------------------


def test_a_new_publish_is_seen_without_restart(synthetic, synthetic_root: Path, tmp_path) -> None:
    first = synthetic.get(V1 + "/health").json()
    runs = synthetic.get(V1 + "/backtests").json()["rows"]
    assert SYNTHETIC_RUN_ID in {r["run_id"] for r in runs}
    new_id = "long_call-fedcba987654"
    assert_error(synthetic.get(f"{V1}/backtests/{new_id}/trades"), 404, "NOT_FOUND")
    # publish as warehouse/publish.py does: a complete new file os.replace'd over the old one
    staged = build_backtest_db(tmp_path / "staged.duckdb")
    add_synthetic_run(staged)
    add_synthetic_run(staged, new_id)
    os.replace(staged, synthetic_root / "options.duckdb")
    second = synthetic.get(V1 + "/health").json()
    assert second["warehouse_version"] != first["warehouse_version"]
    assert new_id in {r["run_id"] for r in synthetic.get(V1 + "/backtests").json()["rows"]}
    assert synthetic.get(f"{V1}/backtests/{new_id}/trades").json()["n_rows"] == 2


def test_concurrent_reads_all_succeed(synthetic) -> None:
    """32 threads x 10 requests at once, without a lock: each hardened connection is a DuckDB
    instance of its own (warehouse.paths.connect_hardened), so overlapping readers all succeed;
    a shared instance refused them (31 of 320, issue 20)."""
    errors: list[str] = []
    routes = [V1 + r for r in READ_ROUTES if "models" not in r and "predictions" not in r]
    routes = [r for r in routes if "signals" not in r]

    def worker(n: int) -> None:
        for i in range(10):
            route = routes[(n + i) % len(routes)]
            response = synthetic.get(route)
            if response.status_code != 200:
                errors.append(f"{route}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_settings_refuse_bad_limits(empty_root) -> None:
    with pytest.raises(ValueError, match="max_body_bytes must be >= 1, got 0"):
        ApiSettings(paths=WarehousePaths(empty_root), max_body_bytes=0)
    with pytest.raises(ValueError, match="run_timeout_s must be > 0"):
        ApiSettings(paths=WarehousePaths(empty_root), run_timeout_s=0)


def test_main_help_names_the_defaults() -> None:
    from app.api.__main__ import build_parser

    text = build_parser().format_help()
    assert "127.0.0.1" in text and "8000" in text and "OPTIONS_API_TOKEN" in text


def test_doctests() -> None:
    import doctest

    import app.api.errors
    import app.api.params

    for module in (app.api.errors, app.api.params):
        assert doctest.testmod(module).failed == 0


def test_models_route_on_a_warehouse_without_ml_is_unavailable(synthetic) -> None:
    assert_error(synthetic.get(V1 + "/models"), 503, "UNAVAILABLE", "missing")


def test_concurrent_json_of_one_frame_does_not_hang(synthetic) -> None:
    """16 threads read one run's trades (one cached frame) at once: with polars 2.1.0's
    ``write_json`` this deadlocked (app/api/formats.py ``rows_json``); each must answer."""
    route = f"{V1}/backtests/{SYNTHETIC_RUN_ID}/trades"
    assert synthetic.get(route).status_code == 200  # cached from here on
    codes: list[int] = []

    def worker() -> None:
        for _ in range(20):
            codes.append(synthetic.get(route).status_code)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "requests hung"
    assert codes == [200] * 320


def test_doctest_of_formats() -> None:
    import doctest

    import app.api.formats

    assert doctest.testmod(app.api.formats).failed == 0


def test_openapi_docs_are_served(no_warehouse) -> None:
    assert no_warehouse.get("/docs").status_code == 200
    spec = no_warehouse.get("/openapi.json").json()
    assert {f"{V1}/health", f"{V1}/backtests", f"{V1}/backtests/jobs/{{job_id}}"} <= set(
        spec["paths"]
    )


def test_strategies_need_no_warehouse(no_warehouse) -> None:
    rows = no_warehouse.get(V1 + "/strategies").json()["rows"]
    assert "iron_condor" in {r["name"] for r in rows}


def test_make_api_serves_on_loopback_with_overrides() -> None:
    import subprocess

    from warehouse.paths import REPO_ROOT

    def dry(*overrides: str) -> str:
        done = subprocess.run(
            ["make", "-n", "--no-print-directory", "api", *overrides],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    assert dry().endswith("python -m app.api --host 127.0.0.1 --port 8000")
    assert dry("API_PORT=8123", "API_HOST=127.0.0.2").endswith(
        "python -m app.api --host 127.0.0.2 --port 8123"
    )
