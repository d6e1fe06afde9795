"""The benchmark replication marts (``rpt_benchmark_replication``, ``_summary``, ``_cycles``),
their SQL run on an in-memory DuckDB over ``backtest.*`` rows and the REAL published BXM history
(warehouse/vendor/benchmarks/BXM_History.csv, through the loader): a run that *is* the index
tracks it exactly, a perturbed run's figures equal an independent NumPy computation, the cycles
compound to the whole, and nothing depends on row order. The hand-computed SYNTHETIC cases are
the dbt unit tests in the models' yml (``dbt build --select rpt_benchmark_replication+``)."""

from __future__ import annotations

import datetime as dt

import duckdb
import jinja2
import numpy as np
import polars as pl
import pytest

from loaders.vendor import FORMATS, parse_file
from warehouse.paths import REPO_ROOT

MODELS = REPO_ROOT / "models_sql" / "models" / "forecasts"
VENDOR = REPO_ROOT / "warehouse" / "vendor"
BXM_FILE = VENDOR / "benchmarks" / "BXM_History.csv"
MARTS = (
    "rpt_benchmark_replication",
    "rpt_benchmark_replication_summary",
    "rpt_benchmark_replication_cycles",
)
KEYS = {
    "rpt_benchmark_replication": ["benchmark_symbol", "chain_source", "quote_date"],
    "rpt_benchmark_replication_summary": ["benchmark_symbol", "chain_source", "period"],
    "rpt_benchmark_replication_cycles": ["benchmark_symbol", "chain_source", "cycle_start_date"],
}
START, END = dt.date(2007, 1, 19), dt.date(2022, 12, 28)  # the modeled chain's BXM window


def _sql(model: str) -> str:
    """The model with its Jinja resolved: ``source(s, t)`` -> ``s.t``, ``ref(m)`` -> ``m``,
    ``var`` -> its default."""
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string((MODELS / f"{model}.sql").read_text())
        .render(
            source=lambda s, t: f"{s}.{t}",
            ref=lambda m: m,
            var=lambda name, default=None: default,
        )
    )


@pytest.fixture(scope="module")
def bxm_levels() -> pl.DataFrame:
    """The REAL published BXM closes (fct_benchmark_index_levels' shape), 2007-01-19 → 2022-12-28."""
    (fmt,) = [f for f in FORMATS if f.source == "cboe_benchmark_index_history"]
    rows, rejects = parse_file(fmt, BXM_FILE, VENDOR)
    assert rejects.is_empty()
    return (
        rows.filter(pl.col("date").is_between(START, END))
        .select("index_symbol", pl.col("date").alias("trade_date"), pl.col("close").alias("level"))
        .sort("trade_date")
    )


def _roll_dates(sessions: pl.Series) -> list[dt.date]:
    """BXM's roll dates among ``sessions``: the third Friday of each month, or the session
    before it when it is not one (Cboe BXM methodology, 2010-11-19)."""
    days = set(sessions.to_list())
    rolls = []
    for year in range(START.year, END.year + 1):
        for month in range(1, 13):
            first = dt.date(year, month, 1)
            friday = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)
            while friday not in days and friday >= START:
                friday -= dt.timedelta(days=1)
            if START <= friday <= END:
                rolls.append(friday)
    return rolls


def _run_marts(
    levels: pl.DataFrame,
    runs: list[dict],
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    *,
    threads: int = 1,
    shuffle_seed: int | None = None,
) -> dict[str, pl.DataFrame]:
    """The three marts over the given inputs (inserted in a shuffled order with
    ``shuffle_seed``), each sorted by its key."""

    def order(frame: pl.DataFrame) -> pl.DataFrame:
        if shuffle_seed is None:
            return frame
        return frame.sample(fraction=1.0, shuffle=True, seed=shuffle_seed)

    con = duckdb.connect(config={"threads": threads})
    try:
        con.execute("create schema backtest")
        inputs = {
            "backtest.runs": pl.DataFrame(runs),
            "backtest.equity_daily": equity,
            "backtest.trades": trades,
            "fct_benchmark_index_levels": levels,
        }
        for name, frame in inputs.items():
            rows = order(frame)  # noqa: F841 - read by the replacement scan below
            con.execute(f"create table {name} as select * from rows")
        out = {}
        for model in MARTS:
            con.execute(f"create table {model} as {_sql(model)}")
            out[model] = con.sql(f"select * from {model}").pl().sort(KEYS[model])
        return out
    finally:
        con.close()


def _bxm_run(run_id: str, chain_source: str = "modeled") -> dict:
    return {
        "run_id": run_id,
        "strategy": "bxm",
        "chain_source": chain_source,
        "first_date": START,
        "last_date": END,
        "write_seq": 1,  # written together: the window and the run_id decide
    }


def _trades(run_id: str, rolls: list[dt.date]) -> pl.DataFrame:
    return pl.DataFrame(
        {"run_id": run_id, "trade_id": range(1, len(rolls) + 1), "entry_date": rolls},
        schema={"run_id": pl.String, "trade_id": pl.Int64, "entry_date": pl.Date},
    )


def _perturbed_equity(levels: pl.DataFrame, run_id: str, seed: int = 18) -> pl.DataFrame:
    """Equity (USD) that follows BXM with a small independent daily error (0.2 % a day),
    SYNTHETIC noise on the REAL index path."""
    rng = np.random.default_rng(seed)
    daily = levels["level"].pct_change().fill_null(0.0).to_numpy()
    noise = rng.normal(0.0, 0.002, len(daily))
    noise[0] = 0.0
    return pl.DataFrame(
        {
            "run_id": run_id,
            "quote_date": levels["trade_date"],
            "equity_usd": 1e9 * np.cumprod(1.0 + daily + noise),
        }
    )


def test_a_run_that_is_the_index_tracks_it_exactly(bxm_levels: pl.DataFrame) -> None:
    """A run whose equity is the REAL BXM level × 1e6 USD: replicated = published to float
    precision, every return difference 0, correlation 1, tracking error 0, every cycle on
    target."""
    equity = bxm_levels.select(
        pl.lit("same").alias("run_id"),
        pl.col("trade_date").alias("quote_date"),
        (pl.col("level") * 1e6).alias("equity_usd"),
    )
    rolls = _roll_dates(bxm_levels["trade_date"])
    out = _run_marts(bxm_levels, [_bxm_run("same")], equity, _trades("same", rolls))

    daily = out["rpt_benchmark_replication"]
    assert daily.height == bxm_levels.height
    assert daily["is_normalised_to_published"].all()
    assert daily["replicated_level"].to_numpy() == pytest.approx(
        daily["published_level"].to_numpy(), rel=1e-12
    )
    # the normalisation base is the first common session: equal to the last bit there
    assert (
        daily.row(0, named=True)["replicated_level"] == daily.row(0, named=True)["published_level"]
    )
    summary = out["rpt_benchmark_replication_summary"]
    assert summary.height == (END.year - START.year + 1) + 1  # every year and 'all'
    assert summary["return_difference"].abs().max() == pytest.approx(0.0, abs=1e-9)
    assert summary["monthly_return_correlation"].to_list() == pytest.approx([1.0] * summary.height)
    assert summary["tracking_error_annualised"].max() == pytest.approx(0.0, abs=1e-9)
    cycles = out["rpt_benchmark_replication_cycles"]
    assert cycles.height == len(rolls)  # the last roll (2022-12-16) is before the last session
    assert cycles["is_within_target"].all()
    assert cycles["return_difference"].abs().max() == pytest.approx(0.0, abs=1e-9)


def test_summary_equals_an_independent_computation(bxm_levels: pl.DataFrame) -> None:
    """A perturbed run against the REAL BXM: the summary's 'all' row equals NumPy's monthly
    returns (month-end sessions both series have), their correlation and stdev_samp × √12."""
    equity = _perturbed_equity(bxm_levels, "noisy")
    rolls = _roll_dates(bxm_levels["trade_date"])
    out = _run_marts(bxm_levels, [_bxm_run("noisy")], equity, _trades("noisy", rolls))

    joined = bxm_levels.join(
        equity.rename({"quote_date": "trade_date"}), on="trade_date", how="inner"
    )
    month_ends = (
        joined.group_by(pl.col("trade_date").dt.month_start().alias("month"))
        .agg(pl.all().sort_by("trade_date").last())
        .sort("month")
    )
    anchors = pl.concat([joined.head(1).select(month_ends.columns[1:]), month_ends.drop("month")])
    replicated = np.diff(anchors["equity_usd"].to_numpy()) / anchors["equity_usd"].to_numpy()[:-1]
    published = np.diff(anchors["level"].to_numpy()) / anchors["level"].to_numpy()[:-1]
    row = (
        out["rpt_benchmark_replication_summary"]
        .filter(pl.col("period") == "all")
        .row(0, named=True)
    )

    assert row["n_months"] == len(replicated) == 192
    assert row["replicated_return"] == pytest.approx(np.prod(1 + replicated) - 1, abs=1e-9)
    assert row["published_return"] == pytest.approx(
        anchors["level"][-1] / anchors["level"][0] - 1, abs=1e-9
    )
    assert row["monthly_return_correlation"] == pytest.approx(
        np.corrcoef(replicated, published)[0, 1], abs=1e-9
    )
    assert row["tracking_error_annualised"] == pytest.approx(
        np.std(replicated - published, ddof=1) * np.sqrt(12), abs=1e-9
    )


def test_cycles_compound_to_the_whole_run(bxm_levels: pl.DataFrame) -> None:
    """The cycles tile the run from its first roll to its last session: their returns compound
    to the replicated (and published) return over that span, and each cycle's sessions add up
    to the sessions after the first roll."""
    equity = _perturbed_equity(bxm_levels, "noisy")
    rolls = _roll_dates(bxm_levels["trade_date"])
    out = _run_marts(bxm_levels, [_bxm_run("noisy")], equity, _trades("noisy", rolls))

    cycles = out["rpt_benchmark_replication_cycles"]
    daily = out["rpt_benchmark_replication"]
    first, last = daily.filter(pl.col("quote_date") == rolls[0]), daily.tail(1)
    assert cycles["cycle_no"].to_list() == list(range(1, len(rolls) + 1))
    assert cycles["is_complete_cycle"].to_list() == [True] * (len(rolls) - 1) + [False]
    assert cycles["n_sessions"].sum() == daily.filter(pl.col("quote_date") > rolls[0]).height
    for side in ("replicated", "published"):
        whole = last[f"{side}_level"][0] / first[f"{side}_level"][0] - 1
        compounded = (1 + cycles[f"{side}_return"]).product() - 1
        assert compounded == pytest.approx(whole, abs=1e-7)  # 192 returns rounded to 1e-10
    assert (cycles["daily_tracking_error_annualised"] > 0).all()


def test_marts_are_independent_of_row_order(bxm_levels: pl.DataFrame) -> None:
    """Two BXM runs of one chain written together (the longer window wins; equal windows fall to
    the smaller run_id), a PUT run with no published history; inputs inserted in two shuffled orders on four
    threads give bit-identical marts."""
    noisy = _perturbed_equity(bxm_levels, "b-noisy")
    shorter = _perturbed_equity(bxm_levels.head(300), "a-shorter", seed=1)
    twin = _perturbed_equity(bxm_levels, "c-twin", seed=2)
    put = _perturbed_equity(bxm_levels, "p-put", seed=3)
    runs = [
        _bxm_run("b-noisy"),
        {**_bxm_run("a-shorter"), "last_date": shorter["quote_date"].max()},
        _bxm_run("c-twin"),
        {**_bxm_run("p-put", "real"), "strategy": "put"},
    ]
    rolls = _roll_dates(bxm_levels["trade_date"])
    trades = pl.concat([_trades(r, rolls) for r in ("b-noisy", "c-twin", "p-put")])
    equity = pl.concat([noisy, shorter, twin, put])

    first = _run_marts(bxm_levels, runs, equity, trades, threads=4, shuffle_seed=1)
    second = _run_marts(bxm_levels, runs, equity, trades, threads=4, shuffle_seed=2)

    for model in MARTS:
        assert first[model].equals(second[model]), model
    daily = first["rpt_benchmark_replication"]
    assert daily.select("benchmark_symbol", "chain_source", "run_id").unique().sort(
        "benchmark_symbol"
    ).rows() == [("BXM", "modeled", "b-noisy"), ("PUT", "real", "p-put")]
    put_rows = daily.filter(pl.col("benchmark_symbol") == "PUT")
    assert not put_rows["is_normalised_to_published"].any()
    assert put_rows["published_level"].null_count() == put_rows.height
    assert put_rows["replicated_level"][0] == 100.0
    put_all = first["rpt_benchmark_replication_summary"].filter(
        (pl.col("benchmark_symbol") == "PUT") & (pl.col("period") == "all")
    )
    assert put_all["published_return"][0] is None
    assert put_all["monthly_return_correlation"][0] is None
