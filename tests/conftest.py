"""Test-wide guards: no test can reach the internet, and no test depends on the machine's clock
zone or the developer's warehouse."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse.paths import REPO_ROOT, WarehousePaths

# yfinance talks through curl_cffi, which socket patches cannot see; with this set before it is
# imported it uses `requests`, which goes through the guarded socket module (FIELD_NOTES.md).
os.environ["YF_DISABLE_CURL_CFFI"] = "1"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


class NetworkBlockedError(OSError):
    """Raised by the socket guard when a test tries to reach a non-loopback address."""


def _is_local(host: object) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):  # type: ignore[index]
        raise NetworkBlockedError(f"tests may not reach the network: connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):  # type: ignore[index]
        raise NetworkBlockedError(f"tests may not reach the network: connect to {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if not _is_local(host):
        raise NetworkBlockedError(f"tests may not reach the network: resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


# ---- the real warehouse: the same commands `make all` runs, on the embedded real data ----------

BIN = Path(sys.executable).parent
#: The backtests `make all` runs (Makefile STRATEGY_CONFIGS).
DEFAULT_STRATEGY_CONFIGS = (
    "engine/configs/long_straddle_spx.yaml",
    "engine/configs/iron_condor_spx.yaml",
    "engine/configs/long_straddle_spx_modeled.yaml",
    "engine/configs/iron_condor_spx_modeled.yaml",
    "engine/configs/iron_condor_spx_modeled_regime.yaml",
    "engine/configs/benchmarks/bxm.yaml",
    "engine/configs/benchmarks/bxmd.yaml",
    "engine/configs/benchmarks/put.yaml",
    "engine/configs/benchmarks/pput.yaml",
    "engine/configs/benchmarks/cndr.yaml",
    "engine/configs/benchmarks/bfly.yaml",
    "engine/configs/benchmarks/cll.yaml",
    "engine/configs/benchmarks/bxm_real_2019.yaml",
    "engine/configs/benchmarks/bxmd_real_2019.yaml",
    "engine/configs/benchmarks/put_real_2019.yaml",
    "engine/configs/benchmarks/pput_real_2019.yaml",
    "engine/configs/benchmarks/cndr_real_2019.yaml",
    "engine/configs/benchmarks/bfly_real_2019.yaml",
    "engine/configs/benchmarks/cll_real_2019.yaml",
)
#: The modeled chain's validation backtests `make all` runs after them (Makefile VALIDATION_CONFIGS).
VALIDATION_CONFIGS = tuple(
    str(p.relative_to(REPO_ROOT))
    for p in sorted((REPO_ROOT / "engine/configs/validation").glob("*.yaml"))
)


def run_command(args: list[str], env: dict[str, str]) -> str:
    """Run a pipeline command from the repository root; fail the test with its output tail."""
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


#: A file of the session's vendor folder (a copy of the embedded one) that no layout claims.
REFUSED_IN_PIPELINE = "misc/unknown_layout.csv"


@pytest.fixture(scope="session")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], dict[str, str]]]:
    root = tmp_path_factory.mktemp("warehouse")
    env = {
        **os.environ,
        "WAREHOUSE_DIR": str(root),
        "DBT_TARGET_PATH": str(root / "target"),
        "DBT_LOG_PATH": str(root / "logs"),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
        # a time zone far from UTC: results must not depend on it
        "TZ": "Asia/Tokyo",
        # refused vendor files (one below) stop nothing, whatever the developer's shell says
        "STRICT": "",
    }
    (root / "build").mkdir()
    # A copy of the embedded vendor files (23 MB) plus one file no layout claims: a refused file
    # must not stop the pipeline (issue 16); it is recorded, and the warehouse still publishes.
    vendor = root / "vendor"
    shutil.copytree(WarehousePaths.from_env().vendor_dir, vendor)
    (vendor / REFUSED_IN_PIPELINE).parent.mkdir(parents=True)
    (vendor / REFUSED_IN_PIPELINE).write_text("Strike,CallBid,CallAsk,PutBid,PutAsk\n100,1,2,3,4\n")
    env["WAREHOUSE_VENDOR_DIR"] = str(vendor)

    # Each writer runs as a stage of one pipeline run, recorded in build/run_manifest.json,
    # which publish checks (Makefile `pipeline`, warehouse/manifest.py).
    def stage(name: str, *command: str, new_run: bool = False) -> str:
        first = ["--new-run"] if new_run else []
        args = [sys.executable, "-m", "warehouse", "stage", *first, name, "--", *command]
        return run_command(args, env)

    python, dbt = sys.executable, str(BIN / "dbt")
    out = {
        "load": stage("load", python, "-m", "loaders", "load", new_run=True),
        # the default selector (selectors.yml) leaves out tag:forecasts, built after ml and engine
        "build": stage("build", dbt, "build", "--no-use-colors"),
        "train": stage("train", python, "-m", "ml", "train"),
        "predict": stage("predict", python, "-m", "ml", "predict"),
        "backtest": "".join(
            stage("backtest", python, "-m", "engine", "run", "--config", config)
            for config in (*DEFAULT_STRATEGY_CONFIGS, *VALIDATION_CONFIGS)
        ),
        "attribute": stage(
            "attribute", dbt, "build", "--no-use-colors", "--select", "tag:forecasts"
        ),
        "publish": run_command([sys.executable, "-m", "warehouse", "publish"], env),
        "report": run_command([sys.executable, "-m", "ml", "report"], env),
        # the last step of `make all`: exit 0 although a file was refused (STRICT unset)
        "refused": run_command([sys.executable, "-m", "loaders", "refused"], env),
    }
    # After publishing: `docs generate` rewrites run_results.json, which publish reads.
    out["docs"] = run_command([str(BIN / "dbt"), "docs", "generate", "--no-use-colors"], env)
    yield root, env, out


@pytest.fixture(scope="session")
def real_warehouse(request: pytest.FixtureRequest) -> Path:
    """Directory of a warehouse built and published from the embedded real data.

    Built once per session by :func:`pipeline` (about two minutes). For a quick local loop over
    tests that only read it, point ``OPTIONS_TEST_WAREHOUSE`` at an existing warehouse directory
    (``OPTIONS_TEST_WAREHOUSE=warehouse`` after ``make all``); such tests must not write to it.
    """
    override = os.environ.get("OPTIONS_TEST_WAREHOUSE")
    if override:
        return Path(override).resolve()
    return request.getfixturevalue("pipeline")[0]


@pytest.fixture
def real_published(real_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real published database, made the active warehouse through ``WAREHOUSE_DIR``."""
    monkeypatch.setenv("WAREHOUSE_DIR", str(real_warehouse))
    return real_warehouse / "options.duckdb"
