"""``rpt_modeled_chain_backtest_agreement``: real and modeled backtest runs paired by config,
their trades matched by entry session, P&L correlation and bias. The model's SQL runs on an
in-memory DuckDB over hand-written ``backtest.*`` rows (SYNTHETIC, arithmetic in the docstrings);
the last tests read the real validation configs of ``engine/configs/validation/``."""

from __future__ import annotations

import datetime as dt
import json
import math

import duckdb
import jinja2
import numpy as np
import polars as pl
import pytest
import yaml

from engine.config import load_config
from engine.schema import LEGS_SCHEMA, RUNS_SCHEMA, TRADES_SCHEMA
from warehouse.paths import REPO_ROOT

MODEL_SQL = (
    REPO_ROOT / "models_sql" / "models" / "forecasts" / "rpt_modeled_chain_backtest_agreement.sql"
)
MACRO_SQL = REPO_ROOT / "models_sql" / "macros" / "matched_correlation.sql"
CONFIG_DIR = REPO_ROOT / "engine" / "configs" / "validation"
STRATEGIES = {"long_straddle", "iron_condor", "short_put", "bull_put_spread", "long_call_calendar"}


def _sql() -> str:
    """The model with its Jinja resolved: ``source(s, t)`` -> ``s.t``, ``var`` -> its default,
    its macro (``matched_correlation``) from the project's macros."""
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(MACRO_SQL.read_text() + MODEL_SQL.read_text())
        .render(source=lambda s, t: f"{s}.{t}", var=lambda name, default=None: default)
    )


def _frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``rows`` with every column of ``schema`` (missing ones NULL), in its dtypes."""
    return pl.DataFrame(
        [{name: row.get(name) for name in schema} for row in rows], schema=schema, orient="row"
    )


def _config(chain_source: str, strategy: str = "long_straddle", holding_days: int = 5) -> str:
    return json.dumps(
        {
            "chain_source": chain_source,
            "entry": {"schedule": "weekly"},
            "execution": {"fill": "mid"},
            "exits": {"holding_days": holding_days},
            "strategy": strategy,
        },
        sort_keys=True,
    )


def _run(run_id: str, chain_source: str, **config) -> dict:
    return {
        "run_id": run_id,
        "strategy": config.get("strategy", "long_straddle"),
        "underlying_symbol": "SPX",
        "chain_source": chain_source,
        "chain_model_version": "ssvi-1" if chain_source == "modeled" else None,
        "first_date": dt.date(2019, 1, 2),
        "last_date": dt.date(2019, 1, 31),
        "config_json": _config(chain_source, **config),
    }


def _trade(run_id: str, trade_id: int, entry: int, pnl: float, exit_day: int | None = None):
    """A trade entered 2019-01-<entry>, closed 5 days later (or on ``exit_day``); a NaN pnl
    marks it open."""
    is_open = math.isnan(pnl)
    return {
        "run_id": run_id,
        "trade_id": trade_id,
        "entry_date": dt.date(2019, 1, entry),
        "exit_date": None if is_open else dt.date(2019, 1, exit_day or entry + 5),
        "status": "open" if is_open else "closed",
        "pnl_usd": 0.0 if is_open else pnl,
    }


def _agreement(runs: list[dict], trades: list[dict], legs: list[dict], threads: int = 1):
    con = duckdb.connect(config={"threads": threads})
    try:
        con.execute("create schema backtest")
        for name, rows, schema in (
            ("runs", runs, RUNS_SCHEMA),
            ("trades", trades, TRADES_SCHEMA),
            ("legs", legs, LEGS_SCHEMA),
        ):
            frame = _frame(rows, schema)  # noqa: F841 - read by the replacement scan below
            con.execute(f"create table backtest.{name} as select * from frame")
        return con.sql(_sql()).pl()
    finally:
        con.close()


def _by_strategy(frame: pl.DataFrame) -> dict[str, dict]:
    return {row["strategy"]: row for row in frame.iter_rows(named=True)}


def test_matching_counts_and_bias_hand_computed_SYNTHETIC():
    """SYNTHETIC. r1/m1 differ only in chain_source: one comparison; m2 (holding_days 6) pairs
    with nothing; r3/m3 (short_put) a second one. Comparison 1: real 01-02 +100, 01-09 −50,
    01-16 +30 (no modeled trade that day: real only), 01-23 open; modeled 01-02 +120 (same
    contract), 01-09 −40 (another strike), 01-10 +5 (modeled only), 01-23 open. Matched
    (100, 120) and (−50, −40): bias (20 + 10) / 2 = 15, mean |real| (100 + 50) / 2 = 75, share
    0.2, sums 50 and 80; two points give no correlation. Comparison 2: real closed 01-02 +10,
    its modeled twin open: real only 1, open 1."""
    nan = float("nan")
    runs = [
        _run("r1", "real"),
        _run("m1", "modeled"),
        _run("m2", "modeled", holding_days=6),
        _run("r3", "real", strategy="short_put"),
        _run("m3", "modeled", strategy="short_put"),
    ]
    trades = [
        _trade("r1", 1, 2, 100.0),
        _trade("r1", 2, 9, -50.0),
        _trade("r1", 3, 16, 30.0),
        _trade("r1", 4, 23, nan),
        _trade("m1", 1, 2, 120.0),
        _trade("m1", 2, 9, -40.0, exit_day=15),
        _trade("m1", 3, 10, 5.0),
        _trade("m1", 4, 23, nan),
        _trade("m2", 1, 2, 999.0),
        _trade("r3", 1, 2, 10.0),
        _trade("m3", 1, 2, nan),
    ]
    legs = [
        {"run_id": "r1", "trade_id": 1, "leg_no": 1, "contract_symbol": "SPXW190201C02500000"},
        {"run_id": "m1", "trade_id": 1, "leg_no": 1, "contract_symbol": "SPXW190201C02500000"},
        {"run_id": "r1", "trade_id": 2, "leg_no": 1, "contract_symbol": "SPXW190208C02500000"},
        {"run_id": "m1", "trade_id": 2, "leg_no": 1, "contract_symbol": "SPXW190208C02505000"},
    ]
    out = _agreement(runs, trades, legs)
    assert out.height == 3 and out["comparison_id"].n_unique() == 3
    rows = _by_strategy(out)
    straddle = rows["long_straddle"]
    assert (straddle["real_run_id"], straddle["modeled_run_id"]) == ("r1", "m1")
    assert {
        k: straddle[k]
        for k in (
            "n_real_closed_trades",
            "n_modeled_closed_trades",
            "n_matched_trades",
            "n_real_only_trades",
            "n_modeled_only_trades",
            "n_open_trades",
            "n_matched_same_legs",
            "n_matched_same_exit_date",
            "n_matched_like_for_like",
        )
    } == {
        "n_real_closed_trades": 3,
        "n_modeled_closed_trades": 3,
        "n_matched_trades": 2,
        "n_real_only_trades": 1,
        "n_modeled_only_trades": 1,
        "n_open_trades": 2,
        "n_matched_same_legs": 1,
        "n_matched_same_exit_date": 1,
        "n_matched_like_for_like": 1,
    }
    assert straddle["pnl_correlation"] is None and straddle["meets_target"] is None
    assert straddle["mean_bias_usd"] == pytest.approx(15.0)
    assert straddle["mean_abs_real_pnl_usd"] == pytest.approx(75.0)
    assert straddle["mean_bias_share"] == pytest.approx(0.2)
    assert straddle["mean_abs_pnl_difference_usd"] == pytest.approx(15.0)
    assert (straddle["sum_real_pnl_usd"], straddle["sum_modeled_pnl_usd"]) == (50.0, 80.0)
    put = rows["short_put"]
    assert (put["n_matched_trades"], put["n_real_only_trades"], put["n_open_trades"]) == (0, 1, 1)
    assert put["mean_bias_usd"] is None and put["sum_real_pnl_usd"] is None
    pooled = rows["all"]
    assert pooled["is_pooled"] and pooled["n_pairs"] == 2 and pooled["real_run_id"] is None
    assert (pooled["n_matched_trades"], pooled["n_real_only_trades"]) == (2, 2)
    assert (pooled["n_modeled_only_trades"], pooled["n_open_trades"]) == (1, 3)
    assert pooled["mean_bias_usd"] == pytest.approx(15.0)


def test_correlation_and_target_hand_computed_SYNTHETIC():
    """SYNTHETIC. Real P&L 100..500, modeled 110, 190, 330, 380, 565. Deviations −200, −100, 0,
    100, 200 and −205, −125, 15, 65, 250: r = 110000 / sqrt(100000 · 124600) = 0.98545. Bias
    (10 − 10 + 30 − 20 + 65) / 5 = 15, mean |real| 300: share 0.05. Four trades are too few
    for a correlation; a constant modeled P&L has none (NULL, not NaN)."""
    runs = [
        _run("r1", "real", strategy="iron_condor"),
        _run("m1", "modeled", strategy="iron_condor"),
    ]
    real = [_trade("r1", i + 1, 2 + 6 * i, 100.0 * (i + 1)) for i in range(5)]
    values = (110.0, 190.0, 330.0, 380.0, 565.0)
    modeled = [_trade("m1", i + 1, 2 + 6 * i, p) for i, p in enumerate(values)]
    row = _by_strategy(_agreement(runs, real + modeled, []))["iron_condor"]
    assert row["pnl_correlation"] == pytest.approx(110000 / math.sqrt(100000 * 124600), abs=1e-12)
    assert row["pnl_correlation_same_exit_date"] == pytest.approx(row["pnl_correlation"])
    assert row["pnl_correlation_like_for_like"] is None  # no legs: never the same legs
    assert row["mean_bias_usd"] == pytest.approx(15.0)
    assert row["mean_bias_share"] == pytest.approx(0.05)
    assert row["meets_target"] is True and row["target_pnl_correlation"] == 0.8
    row = _by_strategy(_agreement(runs, real[:4] + modeled[:4], []))["iron_condor"]
    assert row["n_matched_trades"] == 4 and row["pnl_correlation"] is None
    flat = [_trade("m1", i + 1, 2 + 6 * i, 50.0) for i in range(5)]
    row = _by_strategy(_agreement(runs, real + flat, []))["iron_condor"]
    assert row["pnl_correlation"] is None and row["meets_target"] is None
    assert row["mean_bias_usd"] == pytest.approx(-250.0)  # 50 − 300


def test_independent_of_row_order_and_threads_SYNTHETIC():
    """SYNTHETIC. Two comparisons of 40 trades with random P&L: the output is bit-identical
    whatever order the rows are inserted in and with 1 or 4 threads (two builds must agree)."""
    rng = np.random.default_rng(6)
    runs = [
        _run("r1", "real"),
        _run("m1", "modeled"),
        _run("r2", "real", strategy="short_put"),
        _run("m2", "modeled", strategy="short_put"),
    ]
    trades, legs = [], []
    for run_id in ("r1", "m1", "r2", "m2"):
        for i in range(40):
            entry = dt.date(2019, 1, 1) + dt.timedelta(days=i)
            trades.append(
                {
                    **_trade(run_id, i + 1, 1, rng.normal(0, 500)),
                    "entry_date": entry,
                    "exit_date": entry + dt.timedelta(days=7),
                }
            )
            legs.append(
                {
                    "run_id": run_id,
                    "trade_id": i + 1,
                    "leg_no": 1,
                    "contract_symbol": f"C{rng.integers(0, 2)}",
                }
            )
    key = ["comparison_id"]
    first = _agreement(runs, trades, legs).sort(key)
    order = rng.permutation(len(trades))
    shuffled = _agreement(runs[::-1], [trades[i] for i in order], legs[::-1], threads=4).sort(key)
    assert first.equals(shuffled)
    assert first["pnl_correlation"].is_not_null().all()


def _validation_pairs() -> dict[str, dict[str, object]]:
    pairs: dict[str, dict[str, object]] = {}
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        cfg = load_config(path)
        pairs.setdefault(cfg.strategy.name, {})[cfg.chain_source] = cfg
    return pairs


def test_validation_configs_form_five_pairs_the_model_matches():
    """The ten real config files: five strategies, each on both chains, identical but for
    chain_source (the model's pairing key, computed by its own SQL expression, agrees), ungated,
    on the wide universe, over the real 2019 window, with mid fills and 5-session holds."""
    pairs = _validation_pairs()
    assert set(pairs) == STRATEGIES
    con = duckdb.connect()
    keys = set()
    for name, sides in pairs.items():
        assert set(sides) == {"real", "modeled"}, name
        real, modeled = sides["real"], sides["modeled"]
        assert real.run_id != modeled.run_id
        texts = [json.dumps(c.to_dict(), sort_keys=True) for c in (real, modeled)]
        pair_keys = {
            con.sql(
                "select md5(json_merge_patch(?, '{\"chain_source\": null}'))[:16]", params=[t]
            ).fetchall()[0][0]
            for t in texts
        }
        assert len(pair_keys) == 1, f"{name}: the two configs differ beyond chain_source"
        keys |= pair_keys
        assert real.entry.signal == "none" and real.universe == "wide"
        assert (real.start_date, real.end_date) == ("2019-04-25", "2019-07-22")
        assert real.execution.fill == "mid" and real.exits.holding_days == 5
    assert len(keys) == 5


def test_calendar_back_month_fits_the_wide_universe():
    """The calendar's back expiration must be one the wide universe selects (its max_dte), or
    the engine finds no back leg on either chain."""
    universe = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())["vars"]["universe_wide"]
    entry = _validation_pairs()["long_call_calendar"]["real"].entry
    assert universe["min_dte"] <= entry.min_dte
    assert entry.max_dte < entry.back_min_dte <= entry.back_target_dte
    assert entry.back_max_dte <= universe["max_dte"]
