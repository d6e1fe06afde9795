"""Fills: what one unit of a leg trades at, always inside the quote.

The fill models (``execution.fill``) price a trade off the quote's mid and spread: ``mid``;
``touch`` (buy at the ask, sell at the bid); ``mid_slippage`` (mid × (1 ± slippage_bps / 1e4),
against the trader); ``spread_fraction`` (mid ± fraction × half the spread; 1 = touch). Whatever
the model, the price is clipped to ``[bid, ask]``: no one sells above the ask or buys under the
bid, and slippage never makes a price the market did not show.

A sell needs a bid: a sell where the bid is 0 fills at 0, whatever the model (no one pays
more). At entry a short leg needs ``bid > 0`` (the candidate filter), unless
``execution.zero_bid: trade`` lets it be written there for nothing; at exit a long leg whose bid
is 0 cannot be sold and is *abandoned* at 0 (its value, left to expire), with no commission:
:func:`is_abandoned`.
"""

from __future__ import annotations

import polars as pl

from engine.config import ExecutionConfig


def fill_price(buy: pl.Expr, x: ExecutionConfig) -> pl.Expr:
    """Fill of one unit in index points, in ``[bid, ask]``, from columns ``bid, ask, mid``; a
    sell at a zero bid fills at 0.

    Parameters
    ----------
    buy
        Boolean expression: True buys (pays up), False sells (receives less).
    x
        The execution section of the config.
    """
    mid, bid, ask = pl.col("mid"), pl.col("bid"), pl.col("ask")
    direction = pl.when(buy).then(1.0).otherwise(-1.0)
    if x.fill == "mid":
        raw = mid
    elif x.fill == "touch":
        raw = pl.when(buy).then(ask).otherwise(bid)
    elif x.fill == "mid_slippage":
        raw = mid * (1.0 + direction * x.slippage_bps / 1e4)
    else:
        raw = mid + direction * x.spread_fraction * (ask - bid) / 2.0
    raw = pl.when(~buy & (bid <= 0.0)).then(0.0).otherwise(raw)
    return raw.clip(lower_bound=bid, upper_bound=ask)


def is_abandoned(buy: pl.Expr) -> pl.Expr:
    """A closing sell of a leg without a bid: not tradable, abandoned at 0."""
    return ~buy & (pl.col("bid").fill_null(0.0) <= 0.0)
