"""Walk-forward error of the modeled SSVI surface on the real SPX chains (2011 week + 2019 Q2).

For each real SPX quote_date d (roots SPX and SPXW, and the 2011 SPXPM), the surface's shape is
calibrated on the earlier real days only, its ATM term structure is solved from d's real
VIX9D/VIX/VIX3M/VIX6M closes (never from d's chain), and the model IV is compared with every real
quote's IV (``warehouse.modeled_chain.calibration.walk_forward_iv_error``). Prints median and
90th-percentile |model − real| IV in vol points by tenor × call-equivalent delta bucket and
overall, for 10–90 delta and 7–90 dte (target: overall median ≤ 1.5 vol points).

Data: the published warehouse, read-only: ``marts.fct_option_features`` joined to
``intermediate.int_volatility_indices_pivoted`` on quote_date = trade_date. The 2019 quotes are
a 15:45 ET snapshot and the indices are closes (16:15 ET), a timing gap the level bias absorbs
only on average.

Run: ``.venv/bin/python bench/bench_surface_error.py`` (``--help`` for the variants).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from warehouse.modeled_chain.calibration import (
    CalibrationConfig,
    summarize_iv_error,
    walk_forward_iv_error,
)
from warehouse.paths import WarehousePaths, connect

TARGET_MEDIAN_VOL_PTS = 1.5

QUOTES_SQL = """
select
    quote_date, underlying_symbol, option_root, option_type, expiration, strike, dte, tte_years,
    log_moneyness, implied_volatility, delta
from marts.fct_option_features
where underlying_symbol = 'SPX' and option_root in ('SPX', 'SPXW', 'SPXPM')
    and implied_volatility is not null and log_moneyness is not null
order by quote_date, option_root, expiration, strike, option_type
"""

INDICES_SQL = """
select trade_date as quote_date, vix_9d, vix, vix_3m, vix_6m, skew_points
from intermediate.int_volatility_indices_pivoted
where trade_date between ? and ?
order by trade_date
"""


def load(db: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Real SPX quotes (one row per contract per quote_date) and daily index closes (decimal)."""
    con = connect(db, read_only=True)
    try:
        quotes = con.sql(QUOTES_SQL).pl()
        first, last = quotes["quote_date"].min(), quotes["quote_date"].max()
        indices = con.sql(INDICES_SQL, params=[first, last]).pl()
    finally:
        con.close()
    return quotes, indices


def _print_table(summary: pl.DataFrame, title: str) -> None:
    print(f"\n{title}")
    print(
        f"{'tenor (dte)':<12}{'delta':<8}{'quotes':>8}{'days':>6}{'median':>9}{'p90':>8}{'bias':>8}"
    )
    for row in summary.iter_rows(named=True):
        print(
            f"{row['tenor_bucket']:<12}{row['delta_bucket']:<8}{row['n_quotes']:>8}"
            f"{row['n_days']:>6}{row['median_abs_error_vol_pts']:>9.3f}"
            f"{row['p90_abs_error_vol_pts']:>8.3f}{row['median_error_vol_pts']:>8.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=WarehousePaths.from_env().published_db)
    parser.add_argument("--min-fit-days", type=int, default=5)
    parser.add_argument("--window-days", type=int, default=None, help="default: all past days")
    parser.add_argument("--weighting", choices=("vega", "uniform"), default="uniform")
    parser.add_argument("--skew", action="store_true", help="condition rho on the SKEW index")
    parser.add_argument("--no-level-bias", action="store_true")
    parser.add_argument(
        "--bias-on-vix",
        action="store_true",
        help="level bias moves with ln(VIX/0.15) (default: constant per tenor)",
    )
    parser.add_argument("--otm-only", action="store_true", help="score OTM quotes only")
    args = parser.parse_args()

    quotes, indices = load(args.db)
    config = CalibrationConfig(
        weighting=args.weighting,
        condition_on_skew=args.skew,
        fit_level_bias=not args.no_level_bias,
        level_bias_on_vix=args.bias_on_vix,
    )
    started = time.perf_counter()
    errors = walk_forward_iv_error(
        quotes, indices, args.min_fit_days, window_days=args.window_days, config=config
    )
    elapsed = time.perf_counter() - started
    print(
        f"SPX walk-forward: {quotes['quote_date'].n_unique()} real days, "
        f"{errors['quote_date'].n_unique()} tested, {errors.height:,} quotes scored, "
        f"{elapsed:.1f} s; config {config}, window {args.window_days or 'all past days'}"
    )
    summary = summarize_iv_error(errors, otm_only=args.otm_only)
    scope = "OTM quotes" if args.otm_only else "all quotes (calls and puts)"
    _print_table(summary, f"|model - real| IV, vol points; 10-90 call delta, 7-90 dte, {scope}")
    overall = summary.filter(pl.col("tenor_bucket") == "all")["median_abs_error_vol_pts"][0]
    verdict = "meets" if overall <= TARGET_MEDIAN_VOL_PTS else "MISSES"
    print(
        f"\noverall median {overall:.3f} vol points: {verdict} the {TARGET_MEDIAN_VOL_PTS} target"
    )


if __name__ == "__main__":
    main()
