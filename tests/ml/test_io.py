"""Writing runs to the ml schema: one transaction, re-runs replace, the registry's hash gates
every load (SYNTHETIC runs into a throwaway DuckDB file)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ml.cli import main
from ml.estimators import ModelIntegrityError
from ml.io import current_runs, ensure_tables, load_registered, write_run
from ml.training import train

from .conftest import fast, synthetic_dataset


def _count(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> int:
    return con.sql(f"select count(*) from ml.{table} where run_id = ?", params=[run_id]).fetchall()[
        0
    ][0]


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path))
    db = tmp_path / "build.duckdb"
    con = duckdb.connect(db)
    ensure_tables(con)
    run = train(synthetic_dataset("direction", n_dates=120), fast("xgb_direction_5d"))
    registry = write_run(con, run, tmp_path / "models")
    yield con, db, run, registry, tmp_path / "models"
    con.close()


def test_rerunning_a_run_id_replaces_it(written) -> None:
    con, _, run, _, models = written
    before = {
        t: _count(con, t, run.run_id)
        for t in (
            "predictions",
            "model_metrics",
            "feature_importance",
            "prediction_contributions",
            "feature_drift",
            "model_registry",
        )
    }
    assert before["predictions"] == run.predictions.height and before["model_registry"] == 1
    write_run(con, run, models)
    assert {t: _count(con, t, run.run_id) for t in before} == before


def test_a_new_run_becomes_current_and_the_old_one_stays_registered(written) -> None:
    con, _, run, _, models = written
    other = train(synthetic_dataset("direction", n_dates=130), fast("xgb_direction_5d"))
    assert other.run_id != run.run_id
    write_run(con, other, models)
    assert [r["run_id"] for r in current_runs(con, ["xgb_direction_5d"])] == [other.run_id]
    flags = con.sql(
        "select run_id, is_current from ml.model_registry order by is_current"
    ).fetchall()
    assert flags == [(run.run_id, False), (other.run_id, True)]


def test_the_registry_hash_gates_the_load(written) -> None:
    _con, _, _, registry, models = written
    assert load_registered(registry, models).features == tuple(
        json.loads(registry["selected_features_json"])
    )
    path = models / registry["model_file"]
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelIntegrityError, match="refusing to load it"):
        load_registered(registry, models)


def test_predict_refuses_a_tampered_model_before_writing(written, capsys) -> None:
    con, db, run, registry, models = written
    path = models / registry["model_file"]
    path.write_bytes(b"not the model")
    con.close()
    assert main(["predict", "--model", "xgb_direction_5d", "--db", str(db)]) == 2
    assert f"model file {path} has SHA-256" in capsys.readouterr().err
    check = duckdb.connect(db, read_only=True)
    try:
        assert _count(check, "predictions", run.run_id) == run.predictions.height
        assert (
            check.sql(
                "select count(*) from ml.predictions where prediction_kind = 'live'"
            ).fetchall()[0][0]
            == 0
        )
    finally:
        check.close()


def test_predict_without_a_trained_model_says_so(tmp_path: Path, capsys) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(db).close()
    assert main(["predict", "--model", "xgb_iv_regime_5d", "--db", str(db)]) == 2
    assert "run `python -m ml train` first" in capsys.readouterr().err


def test_unknown_model_name_lists_the_known_ones(tmp_path: Path, capsys) -> None:
    assert main(["train", "--model", "xgb_moon_5d", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'xgb_moon_5d'" in err and "xgb_direction_5d" in err


def test_tables_of_an_older_layout_are_replaced(tmp_path: Path) -> None:
    con = duckdb.connect(tmp_path / "old.duckdb")
    con.execute(
        "create schema ml; create table ml.predictions (model_name varchar, "
        "prob_up double); create table ml.model_runs (model_name varchar)"
    )
    assert sorted(ensure_tables(con)) == ["ml.model_runs", "ml.predictions"]
    assert ensure_tables(con) == []
    con.close()


def test_every_cli_command_has_help(capsys) -> None:
    for command in ("train", "predict", "report"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "--model" in capsys.readouterr().out
