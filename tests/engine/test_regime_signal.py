"""The ``regime_in`` entry signal: an iv_regime model's class probabilities gate entries.

SYNTHETIC hand-computed forecasts on the two-day straddle chain of test_backtest.
"""

from __future__ import annotations

import hashlib
import json
import re

import duckdb
import polars as pl
import pytest

from engine.backtest import run_backtest
from engine.cli import main
from engine.config import ConfigError
from engine.entries import regime_signals

from .conftest import Chain, make_config
from .test_backtest import D1, D2, D3, _two_day_straddle
from .test_io import CONFIG, build_db


def _regime_config(**entry):
    return make_config(
        "long_straddle",
        entry={"signal": "regime_in", "forecast_model": "xgb_iv_regime_5d", **entry},
        exits={"holding_days": 1},
    )


def test_the_signal_is_the_summed_probability_of_the_listed_regimes():
    # SYNTHETIC: P(NORMAL) + P(HIGH) = 0.7, 0.45, null (a missing class probability: off)
    forecasts = pl.LazyFrame(
        {
            "as_of_date": [D1, D2, D3],
            "prob_low": [0.3, 0.55, 0.2],
            "prob_normal": [0.5, 0.25, None],
            "prob_high": [0.2, 0.2, 0.8],
        }
    )
    cfg = _regime_config(regimes=["NORMAL", "HIGH"], threshold=0.6)
    out = regime_signals(forecasts, cfg).collect()
    assert out["signal_value"].to_list() == pytest.approx([0.7, 0.45, None], nan_ok=True)
    assert out["signal_on"].to_list() == [True, False, False]


def test_a_regime_gate_enters_only_on_its_days_after_the_forecast_exists():
    # SYNTHETIC: day 1 forecasts HIGH (0.8 >= 0.5), day 2 LOW: one entry, on day 2's quotes
    # (the first taken after day 1's close), exited after one session
    forecasts = pl.LazyFrame(
        {
            "as_of_date": [D1, D2, D3],
            "prob_low": [0.1, 0.8, 0.8],
            "prob_normal": [0.1, 0.1, 0.1],
            "prob_high": [0.8, 0.1, 0.1],
        }
    )
    cfg = _regime_config(regimes=["HIGH"])
    res = run_backtest(**Chain.frames(_two_day_straddle()), cfg=cfg, forecasts=forecasts)
    assert res.trades.select("signal_date", "entry_date", "exit_date").rows() == [(D1, D2, D3)]
    assert res.trades["signal_value"][0] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"signal": "regime_in", "forecast_model": "m"}, "entry.regimes must list distinct"),
        (
            {"signal": "regime_in", "forecast_model": "m", "regimes": ["HIGH", "MEDIUM"]},
            "got ['HIGH', 'MEDIUM']",
        ),
        (
            {"signal": "regime_in", "forecast_model": "m", "regimes": ["HIGH", "HIGH"]},
            "entry.regimes must list distinct",
        ),
        ({"regimes": ["HIGH"]}, "entry.regimes ['HIGH'] needs entry.signal 'regime_in'"),
        ({"signal": "regime_in", "forecast_model": "m", "regimes": "HIGH"}, "must be a list"),
        ({"signal": "regime_in", "regimes": ["HIGH"]}, "needs entry.forecast_model"),
    ],
)
def test_bad_regime_gates_are_named(entry, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config("long_straddle", entry=entry)


def test_a_config_without_regimes_keeps_its_run_id():
    """entry.regimes is hashed only when set: every existing run keeps its id."""
    plain = make_config("long_straddle")
    assert "regimes" in plain.to_dict()["entry"]
    gated = _regime_config(regimes=["HIGH"])
    assert plain.run_id != gated.run_id
    canonical = plain.to_dict()
    del canonical["entry"]["regimes"]
    del canonical["entry"]["back_expiry_months"], canonical["entry"]["back_strike"]
    del canonical["execution"]["zero_bid"]
    for key in ("chain_source", "stock_dividends", "cash_interest"):
        canonical.pop(key)
    canonical["execution"].pop("stock_exit_price")
    expected = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    assert plain.config_hash == expected


def test_the_cli_reads_the_regime_models_current_run(tmp_path, capsys):
    """SYNTHETIC warehouse of test_io with regime probabilities on the current run: day 1 HIGH
    (0.7) opens on day 2's quotes and exits after one session (50 USD at mid); a direction
    model's rows (no class probabilities) are refused by name."""
    db = tmp_path / "build.duckdb"
    build_db(db)
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "alter table ml.predictions add column prob_low double;"
            "alter table ml.predictions add column prob_normal double;"
            "alter table ml.predictions add column prob_high double;"
        )
        config = tmp_path / "regime.yaml"
        regime_yaml = CONFIG.replace(
            "  signal: prob_up_at_most\n", "  signal: regime_in\n  regimes: [HIGH]\n"
        ).replace("  threshold: 0.55\n", "  threshold: 0.6\n")
        config.write_text(regime_yaml)
        assert main(["run", "--config", str(config), "--db", str(db)]) == 1
        assert "needs an iv_regime model" in capsys.readouterr().err
        con.execute(
            "update ml.predictions set prob_low = 0.1, prob_normal = 0.2, prob_high = 0.7 "
            "where as_of_date = (select min(as_of_date) from ml.predictions);"
            "update ml.predictions set prob_low = 0.8, prob_normal = 0.1, prob_high = 0.1 "
            "where prob_low is null"
        )
    finally:
        con.close()
    assert main(["run", "--config", str(config), "--db", str(db)]) == 0
    assert "1 closed trades" in capsys.readouterr().out
