"""Implied-volatility benchmark: warehouse.pricing.implied_volatility on ≥ 1M real option quotes.

Target (issue 4): at least 1,000,000 IV solves per second on the 2-core machine. Input: the real
SPX/SPXW 2019 chain (mid, parity forward, strike, time, rate) from the build database's
``int_option_pricing_inputs``, tiled to ``--n`` rows; without a build database, a deterministic
SYNTHETIC grid of SPX-like quotes (labelled so in the output). Timed beside a peer in the same
run on the same quotes: ``scipy.optimize.brentq`` called once per option on Black-76 with the
same forward and discounting, the normal CDF from ``math.erfc`` (what a careful notebook
does), on a random subset of ``--peer-n``
options and scaled to per-second rates. Every run prints the count per status, the accuracy
of both against each other, and the ratio.

Run: ``.venv/bin/python bench/bench_iv.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from warehouse.paths import WarehousePaths, connect
from warehouse.pricing import IV_STATUS_LABELS, IV_STATUS_OK, implied_volatility

TARGET_SOLVES_PER_S = 1_000_000

CHAIN_SQL = """
select mid, forward_price, strike, tte_years, risk_free_rate, option_type = 'call' as is_call
from intermediate.int_option_pricing_inputs
where underlying_symbol = 'SPX' and source = 'cboe_eod_chain'
    and mid is not null and forward_price is not null
order by quote_date, contract_symbol
"""


def load_quotes(db: Path) -> tuple[dict[str, np.ndarray], str]:
    """Real SPX quotes from ``db`` if it has the pricing inputs, else a synthetic grid.

    Returns the input arrays (each shape ``(m,)``: ``price``, ``forward``, ``strike``, ``tte``
    in years, ``rate`` decimal continuous, ``is_call`` bool) and a label naming the source.
    """
    if db.exists():
        con = connect(db, read_only=True)
        try:
            columns = con.sql(CHAIN_SQL).fetchnumpy()
        except Exception:  # no such table yet: fall through to the synthetic grid
            columns = None
        finally:
            con.close()
        if columns is not None and len(columns["mid"]) > 0:
            arrays = {
                "price": np.asarray(columns["mid"], dtype=np.float64),
                "forward": np.asarray(columns["forward_price"], dtype=np.float64),
                "strike": np.asarray(columns["strike"], dtype=np.float64),
                "tte": np.asarray(columns["tte_years"], dtype=np.float64),
                "rate": np.asarray(columns["risk_free_rate"], dtype=np.float64),
                "is_call": np.asarray(columns["is_call"], dtype=bool),
            }
            return arrays, f"REAL SPX/SPXW 2019 chain from {db} ({len(arrays['price']):,} quotes)"
    # SYNTHETIC: strikes 70 %–115 % of F = 2900, 1–365 days, vols 8 %–60 %, mids rounded to
    # the 0.05 tick like a quote.
    rng = np.random.default_rng(20190425)
    m = 500_000
    strike = np.round(2900.0 * rng.uniform(0.70, 1.15, m) / 5) * 5
    tte = rng.integers(1, 366, m) / 365
    vol = rng.uniform(0.08, 0.60, m)
    is_call = rng.random(m) < 0.5
    forward = np.full(m, 2900.0)
    rate = np.full(m, 0.024)
    price = np.maximum(
        np.round(_black(forward, strike, tte, rate, vol, is_call) / 0.05) * 0.05, 0.05
    )
    arrays = {
        "price": price,
        "forward": forward,
        "strike": strike,
        "tte": tte,
        "rate": rate,
        "is_call": is_call,
    }
    return arrays, f"SYNTHETIC SPX-like grid ({m:,} quotes; no build database at {db})"


def _black(forward, strike, tte, rate, vol, is_call):
    """Black-76 price (scalar or array), the same formula as warehouse.pricing.black_price."""
    total_vol = vol * np.sqrt(tte)
    d1 = np.log(forward / strike) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    sign = np.where(is_call, 1.0, -1.0)
    return np.exp(-rate * tte) * sign * (forward * ndtr(sign * d1) - strike * ndtr(sign * d2))


def _black_scalar(forward, strike, tte, rate, vol, is_call) -> float:
    """Black-76 price of one option with ``math`` (no numpy call overhead per evaluation)."""
    total_vol = vol * math.sqrt(tte)
    d1 = math.log(forward / strike) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    sign = 1.0 if is_call else -1.0
    cdf_d1 = 0.5 * math.erfc(-sign * d1 / math.sqrt(2.0))
    cdf_d2 = 0.5 * math.erfc(-sign * d2 / math.sqrt(2.0))
    return math.exp(-rate * tte) * sign * (forward * cdf_d1 - strike * cdf_d2)


def brentq_peer(arrays: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The peer: one ``scipy.optimize.brentq`` root search per option, vol in [1e-6, 10]."""
    out = np.full(rows.size, np.nan)
    for j, i in enumerate(rows):
        price, forward, strike = (float(arrays[k][i]) for k in ("price", "forward", "strike"))
        tte, rate, is_call = float(arrays["tte"][i]), float(arrays["rate"][i]), arrays["is_call"][i]
        out[j] = brentq(
            lambda v, p=price, f=forward, k=strike, t=tte, r=rate, c=is_call: (
                _black_scalar(f, k, t, r, v, c) - p
            ),
            1e-6,
            10.0,
            xtol=1e-12,
            rtol=1e-12,
            maxiter=200,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Benchmark warehouse.pricing.implied_volatility (target ≥ 1M solves/s) "
        "against scipy brentq per option, on the real SPX chain when the build database has it."
    )
    parser.add_argument(
        "--n",
        type=int,
        default=2_000_000,
        help="IVs to solve per timed run (the chain is tiled up to it; ≥ 1M)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument(
        "--peer-n",
        type=int,
        default=3_000,
        help="options the brentq peer solves (its rate is scaled from these)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=WarehousePaths.from_env().build_db,
        help="build database holding int_option_pricing_inputs",
    )
    args = parser.parse_args(argv)
    if args.n < 1_000_000:
        parser.error(f"--n must be >= 1,000,000, got {args.n}")
    if args.repeats < 1 or args.peer_n < 1:
        parser.error("--repeats and --peer-n must be >= 1")

    arrays, label = load_quotes(args.db)
    m = arrays["price"].size
    tiled = {k: np.resize(v, args.n) for k, v in arrays.items()}  # repeats the chain in order

    def solve():
        return implied_volatility(
            tiled["price"],
            tiled["forward"],
            tiled["strike"],
            tiled["tte"],
            tiled["rate"],
            tiled["is_call"],
        )

    vol, status = solve()  # warm-up (page faults, scipy ufunc loops)
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        vol, status = solve()
        timings.append(time.perf_counter() - started)
    seconds = statistics.median(timings)
    counts = np.bincount(status, minlength=len(IV_STATUS_LABELS))

    rng = np.random.default_rng(0)
    solvable = np.flatnonzero(status[:m] == IV_STATUS_OK)
    rows = rng.choice(solvable, size=min(args.peer_n, solvable.size), replace=False)
    started = time.perf_counter()
    peer_vol = brentq_peer(arrays, rows)
    peer_seconds = time.perf_counter() - started
    ours_rate, peer_rate = args.n / seconds, rows.size / peer_seconds

    print(f"input: {label}, tiled to {args.n:,} solves per run; 2-core machine")
    print(
        "  status: " + ", ".join(f"{IV_STATUS_LABELS[i]} {c:,}" for i, c in enumerate(counts) if c)
    )
    print(
        f"  ours, warehouse.pricing.implied_volatility (vectorised Halley): "
        f"median {seconds:.3f} s of {args.repeats} (min {min(timings):.3f}) = "
        f"{ours_rate:,.0f} solves/s  target >= {TARGET_SOLVES_PER_S:,}: "
        f"{'PASS' if ours_rate >= TARGET_SOLVES_PER_S else 'FAIL'}"
    )
    print(
        f"  peer, scipy.optimize.brentq per option: {rows.size:,} solves in {peer_seconds:.2f} s"
        f" = {peer_rate:,.0f} solves/s (scaled: {args.n / peer_rate:,.0f} s for {args.n:,})"
    )
    print(f"  ratio ours/peer = {ours_rate / peer_rate:,.0f}x")
    print(
        f"  agreement on the peer's {rows.size:,} options: max |ours − brentq| = "
        f"{np.nanmax(np.abs(vol[rows] - peer_vol)):.1e}"
    )


if __name__ == "__main__":
    main()
