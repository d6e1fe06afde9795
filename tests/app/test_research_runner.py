"""app.research_runner: sweep grids, saved configs, scan folding and bounds; runs on real data.

Tests named ``synthetic`` use hand-written values (the arithmetic is in the comments); the others
read the committed configs or the published warehouse (``warehouse/options.duckdb``, or the
warehouse directory in ``OPTIONS_TEST_WAREHOUSE``), read-only, and skip when it is absent.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import threading
from pathlib import Path

import polars as pl
import pytest

from app import backtest_runner
from app import research_runner as runner
from engine.config import ConfigError, load_config
from engine.scan import ScanConfig, ScanConfigError
from warehouse.paths import REPO_ROOT


@pytest.fixture
def published(real_warehouse: Path) -> Path:
    """The real published warehouse file (read-only here): the session's end-to-end build
    (tests/conftest.py ``real_warehouse``), or ``OPTIONS_TEST_WAREHOUSE``'s."""
    return real_warehouse / "options.duckdb"


def test_doctests() -> None:
    assert doctest.testmod(runner).failed == 0


# ---- axes and grids -----------------------------------------------------------------------------


def test_parse_axis_values_synthetic() -> None:
    assert runner.parse_axis_values("take_profit_pct", " 25, 50.5 ,NONE") == (25.0, 50.5, None)
    assert runner.parse_axis_values("stop_loss_pct", "off,100") == (None, 100.0)
    # whole numbers for sessions and calendar days; "5.0" is 5
    assert runner.parse_axis_values("holding_days", "3, 5.0") == (3, 5)
    assert runner.parse_axis_values("exit_dte", "none,7") == (None, 7)


@pytest.mark.parametrize(
    ("key", "text", "named"),
    [
        ("take_profit_pct", "25, abc", "'abc' is not a number"),
        ("take_profit_pct", "25,,50", "empty value"),
        ("take_profit_pct", "", "at least one value"),
        ("take_profit_pct", "inf", "not a finite number"),
        ("holding_days", "2.5", "'2.5' is not a whole number"),
        ("stop_loss_pct", "100, 100.0", "'100.0' is given twice"),
        ("take_profit_pct", "1,2,3,4,5,6,7,8", "8 values, at most 7"),
        ("delta", "0.1", "sweep axes must be among"),
        ("take_profit_pct", "x" * 10_000, "is not a number"),
    ],
)
def test_parse_axis_values_refuses_synthetic(key: str, text: str, named: str) -> None:
    with pytest.raises(runner.GridError, match=named) as caught:
        runner.parse_axis_values(key, text)
    assert len(str(caught.value)) < 300  # a huge value is quoted as an excerpt


def test_sweep_configs_lay_each_cell_over_the_base() -> None:
    base = runner.config_file_mapping("iron_condor_spx.yaml")
    configs = runner.sweep_configs(
        base, {"take_profit_pct": (25.0, 50.0), "stop_loss_pct": (None, 200.0, 300.0)}
    )
    # the first axis varies slowest, as engine.backtest.sweep_grid and itertools.product
    cells = [(c.exits.take_profit_pct, c.exits.stop_loss_pct) for c in configs]
    assert cells == [(25, None), (25, 200), (25, 300), (50, None), (50, 200), (50, 300)]
    assert len({c.run_id for c in configs}) == 6
    # the unswept exit key and every other key stay the base's
    assert {c.exits.exit_dte for c in configs} == {7}
    file_cfg = load_config(REPO_ROOT / "engine/configs/iron_condor_spx.yaml")
    assert {dataclasses.replace(c, exits=file_cfg.exits) for c in configs} == {file_cfg}
    # the cell equal to the file's exits (50 / 200) is the file's run: same run id as the CLI's
    assert configs[4].run_id == file_cfg.run_id


def test_sweep_configs_bounds_and_engine_ranges() -> None:
    base = runner.config_file_mapping("iron_condor_spx.yaml")
    with pytest.raises(runner.GridError, match="one or two axes"):
        runner.sweep_configs(
            base, {"take_profit_pct": (25,), "stop_loss_pct": (100,), "exit_dte": (7,)}
        )
    with pytest.raises(runner.GridError, match="at most 7 an axis"):
        runner.sweep_configs(base, {"take_profit_pct": tuple(range(1, 9))})
    with pytest.raises(runner.GridError, match="no value"):
        runner.sweep_configs(base, {"take_profit_pct": ()})
    with pytest.raises(runner.GridError, match="sweep axes must be among"):
        runner.sweep_configs(base, {"sizing.contracts": (1, 2)})
    # the engine's own range check, named with the cell
    with pytest.raises(ConfigError, match=r"grid cell take_profit_pct=-5.*take_profit_pct"):
        runner.sweep_configs(base, {"take_profit_pct": (25, -5)})
    # holding_days must be >= 1 (engine.config)
    with pytest.raises(ConfigError, match="holding_days"):
        runner.sweep_configs(base, {"holding_days": (0,)})


def test_config_files_and_names() -> None:
    files = runner.config_files()
    assert runner.DEFAULT_SWEEP_CONFIG in files
    # the top level first, then the sub-folders
    first_nested = next(i for i, f in enumerate(files) if "/" in f)
    assert all("/" not in f for f in files[:first_nested])
    assert "benchmarks/bxm.yaml" in files and "validation/iron_condor_real.yaml" in files
    with pytest.raises(ConfigError, match=r"no config '\.\./strategies\.yaml'"):
        runner.config_file_mapping("../strategies.yaml")


@pytest.mark.parametrize("name", runner.config_files())
def test_a_config_round_trips_through_its_config_json(name: str) -> None:
    """What a run stores in backtest.runs.config_json rebuilds the same config (same run id)."""
    cfg = load_config(REPO_ROOT / "engine/configs" / name)
    mapping, description = runner.saved_config_mapping(json.dumps(cfg.to_dict()))
    assert runner.build_config(mapping, description) == cfg


def test_saved_config_mapping_refuses_garbage_synthetic() -> None:
    with pytest.raises(ConfigError, match="not JSON"):
        runner.saved_config_mapping("{not json")
    with pytest.raises(ConfigError, match="no strategy with legs"):
        runner.saved_config_mapping('{"strategy": "iron_condor"}')
    with pytest.raises(ConfigError, match="malformed leg"):
        runner.saved_config_mapping('{"strategy": {"name": "x", "legs": [{"side": "long"}]}}')


@pytest.mark.slow
def test_every_saved_run_rebuilds_to_its_run_id(published: Path) -> None:
    runs = runner.saved_runs(published)
    if runs.is_empty():
        pytest.skip("the published warehouse has no saved run")
    for row in runs.iter_rows(named=True):
        mapping, description = runner.saved_config_mapping(row["config_json"])
        assert runner.build_config(mapping, description).run_id == row["run_id"]


# ---- one job at a time --------------------------------------------------------------------------


def test_exclusive_job_refuses_a_second_one_synthetic() -> None:
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with runner.exclusive_job("a 9-cell sweep of iron_condor"):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(10)
        with pytest.raises(runner.ResearchBusyError, match="a 9-cell sweep of iron_condor"):
            with runner.exclusive_job("a scan"):
                pass
    finally:
        release.set()
        holder.join(10)
    with runner.exclusive_job("a scan"):  # free again
        pass


# ---- scans --------------------------------------------------------------------------------------


def test_scan_config_bounds() -> None:
    cfg = runner.scan_config({"structure": "vertical", "side": "short", "option_type": "put"})
    assert cfg == ScanConfig(structure="vertical", side="short", option_type="put")
    with pytest.raises(ScanConfigError, match="max_entry_dte must be <= 120 in the app, got 121"):
        runner.scan_config({"max_entry_dte": 121})
    with pytest.raises(ScanConfigError, match="equal_wings must be true in the app"):
        runner.scan_config({"structure": "iron_condor", "equal_wings": False})
    with pytest.raises(ScanConfigError, match="exit_dte must be < max_entry_dte"):
        runner.scan_config({"max_entry_dte": 10, "exit_dte": 10})


def _strangle_summary() -> pl.DataFrame:
    # SYNTHETIC summary of a strangle (two bucketed legs) with DTE buckets (7, 14] and (14, 21].
    return pl.DataFrame(
        {
            "dte_bucket": ["(14, 21]", "(7, 14]", "(7, 14]", "(7, 14]"],
            "moneyness_bucket_leg1": ["[0.9, 1.1)", "[1.1, inf)", "[0.9, 1.1)", "[0.9, 1.1)"],
            "moneyness_bucket_leg2": ["[0.9, 1.1)", "[0.9, 1.1)", "(-inf, 0.9)", "[0.9, 1.1)"],
            "n_trades": [2, 5, 1, 3],
            "n_exact_exit": [2, 4, 1, 2],
            "return_mean": [0.5, -0.2, 0.4, float("nan")],
            "return_median": [0.5, -0.2, 0.4, 0.0],
            "win_rate": [1.0, 0.2, 1.0, 0.0],
            "pnl_points_mean": [3.0, -1.0, 2.0, -2.0],
        }
    )


def test_scan_cells_pool_the_other_legs_synthetic() -> None:
    cfg = ScanConfig(structure="strangle", bucket_edges=(0.9, 1.1), max_entry_dte=21)
    cells = runner.scan_cells(_strangle_summary(), cfg, leg=1)
    # Sorted by DTE bucket then moneyness bucket, as on the axes (not by the summary's row order).
    assert cells.select("dte_bucket", "bucket").rows() == [
        ("(7, 14]", "[0.9, 1.1)"),
        ("(7, 14]", "[1.1, inf)"),
        ("(14, 21]", "[0.9, 1.1)"),
    ]
    pooled = cells.row(0, named=True)
    # leg 1 in [0.9, 1.1) at (7, 14]: rows of 1 and 3 trades.
    assert pooled["n_trades"] == 4 and pooled["n_exact_exit"] == 3
    # the NaN mean (3 trades) has no return: mean over the known one only = 0.4
    assert pooled["return_mean"] == pytest.approx(0.4)
    # win rate (1 x 1 + 3 x 0) / 4 = 0.25; P&L (2 - 6) / 4 = -1
    assert pooled["win_rate"] == pytest.approx(0.25)
    assert pooled["pnl_points_mean"] == pytest.approx(-1.0)
    assert pooled["return_median"] is None  # medians do not pool
    assert cells["n_trades"].sum() == _strangle_summary()["n_trades"].sum()
    # leg 2's buckets: the same trades, folded the other way
    by_leg2 = runner.scan_cells(_strangle_summary(), cfg, leg=2)
    assert by_leg2.filter(pl.col("dte_bucket") == "(7, 14]")["bucket"].to_list() == [
        "(-inf, 0.9)",
        "[0.9, 1.1)",
    ]
    with pytest.raises(ValueError, match="leg must be one of \\[1, 2\\] for a strangle, got 3"):
        runner.scan_cells(_strangle_summary(), cfg, leg=3)
    with pytest.raises(ValueError, match="lacks columns \\['win_rate'\\]"):
        runner.scan_cells(_strangle_summary().drop("win_rate"), cfg, leg=1)


def test_scan_cells_keep_the_median_and_name_a_null_delta_synthetic() -> None:
    cfg = ScanConfig(structure="single", bucket_by="delta", bucket_edges=(0.0, 0.5, 1.0))
    summary = pl.DataFrame(
        {
            "dte_bucket": ["(7, 14]", "(7, 14]"],
            "delta_bucket_leg1": ["[0.0, 0.5)", None],
            "n_trades": [4, 2],
            "n_exact_exit": [4, 2],
            "return_mean": [0.1, 0.2],
            "return_median": [0.05, 0.2],
            "win_rate": [0.5, 1.0],
            "pnl_points_mean": [1.0, 2.0],
        }
    )
    cells = runner.scan_cells(summary, cfg)
    assert cells["bucket"].to_list() == ["[0.0, 0.5)", runner.NO_BUCKET]
    assert cells["return_median"].to_list() == [0.05, 0.2]


# ---- on the published warehouse (read-only) ------------------------------------------------------


@pytest.mark.slow
def test_a_3x3_sweep_on_the_real_chain(published: Path) -> None:
    before = published.stat().st_mtime_ns
    base = runner.config_file_mapping("iron_condor_spx.yaml")
    axes = {
        "take_profit_pct": runner.parse_axis_values("take_profit_pct", "25, 50, 75"),
        "stop_loss_pct": runner.parse_axis_values("stop_loss_pct", "100, 200, none"),
    }
    configs = runner.sweep_configs(base, axes)
    steps: list[str] = []
    outcome = runner.run_sweep_on_published(
        configs, axes, published, progress=lambda step, message: steps.append(step)
    )
    assert steps == list(runner.SWEEP_STEPS)
    table = outcome.table
    assert table.columns == list(runner.SWEEP_COLUMNS)
    assert table["cell_no"].to_list() == list(range(9))
    assert table["run_id"].to_list() == [c.run_id for c in configs]
    assert table["take_profit_pct"].to_list() == [25.0] * 3 + [50.0] * 3 + [75.0] * 3
    assert table["stop_loss_pct"].to_list() == [100.0, 200.0, None] * 3
    assert (table["n_closed_trades"] > 0).all()
    assert outcome.chain_source == "real"
    assert set(outcome.equity["run_id"]) == set(table["run_id"])
    assert (outcome.equity["drawdown"] <= 0).all()
    assert published.stat().st_mtime_ns == before  # nothing written

    # The sweep's cell is the single run of the same config (the Backtest page's runner).
    single = backtest_runner.run_on_published(configs[4], published)
    cell = table.row(4, named=True)
    metrics = single.result.metrics.row(0, named=True)
    assert cell["run_id"] == single.result.run_id
    for column in ("n_closed_trades", "n_open_trades", "total_return", "max_drawdown"):
        assert cell[column] == pytest.approx(metrics[column], nan_ok=True), column


@pytest.mark.slow
def test_a_sweep_of_a_saved_run(published: Path) -> None:
    real = [
        config_json
        for run_id, config_json in runner.saved_runs(published)
        .select("run_id", "config_json")
        .rows()
        if run_id.startswith("iron_condor-") and json.loads(config_json)["chain_source"] == "real"
    ]
    if not real:
        pytest.skip("no saved real-chain iron condor run")
    mapping, description = runner.saved_config_mapping(real[0])
    axes = {"exit_dte": (None, 7)}
    configs = runner.sweep_configs(mapping, axes, description=description)
    outcome = runner.run_sweep_on_published(configs, axes, published)
    assert outcome.table["exit_dte"].to_list() == [None, 7]
    assert outcome.table.height == 2


@pytest.mark.slow
def test_scan_on_the_real_chain_long_and_short(published: Path) -> None:
    outcomes = {
        side: runner.run_scan_on_published(
            runner.scan_config({"structure": "straddle", "side": side}),
            published,
            "SPX",
            ["SPX", "SPXW"],
        )
        for side in ("long", "short")
    }
    long, short = outcomes["long"], outcomes["short"]
    assert long.n_trades > 10_000 and long.n_trades == short.n_trades
    assert long.n_exact_exit <= long.n_trades
    cells_long = runner.scan_cells(long.summary, long.config)
    cells_short = runner.scan_cells(short.summary, short.config)
    assert cells_long["n_trades"].sum() == long.n_trades
    # long and short of one candidate have opposite P&L and return (engine.scan)
    assert cells_long["return_mean"].to_numpy() == pytest.approx(
        -cells_short["return_mean"].to_numpy()
    )
    assert set(long.timings_s) == {"load", "scan", "total"}
    with pytest.raises(ValueError, match=r"no quote of 'SPX' roots \['NOPE'\]"):
        runner.run_scan_on_published(long.config, published, "SPX", ["NOPE"])
    with pytest.raises(ValueError, match="at least one option root"):
        runner.run_scan_on_published(long.config, published, "SPX", [])
