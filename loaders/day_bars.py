"""Option day bars: the derived canonical columns of a traded daily aggregate, whatever the layout.

A day bar (Polygon.io's ``/v2/aggs`` day aggregate of one option contract) summarises the day's
*trades*: open, high, low, close, volume-weighted average price (VWAP), volume and the number of
trades. It is not a quote: a bar exists only on days the contract traded, and its close is the
last trade's price, which may be hours older than the close of the underlying.

:func:`complete_option_day_bars` fills what a layout does not deliver as such:

- ``option_root``: the underlying's symbol, where the file has no root (standard equity and ETF
  options are listed under the underlying's ticker; an adjusted contract's root, ``AAPL1``, would
  have to come from the file);
- ``contract_symbol``: the unpadded OCC symbol of root, expiration, type and strike
  (:func:`loaders.contracts.occ_symbol`), the key the bars share with option quotes;
- ``bar_start_at``: the vendor's bar timestamp, text ``YYYY-MM-DD HH:MM:SS`` in UTC, as a UTC
  datetime. Polygon stamps a day aggregate with the *start* of its window, midnight New York time
  (``2023-01-03 05:00:00`` UTC under EST, ``2023-06-05 04:00:00`` under EDT): a label of the
  bar, not the time of any trade. A value that does not parse becomes null and is rejected at
  landing (not-null rule on ``bar_start_at``).
"""

from __future__ import annotations

import polars as pl

from loaders import contracts, schemas

__all__ = ["BAR_START_FORMATS", "complete_option_day_bars"]

#: Layouts of the vendor's bar timestamp (UTC), tried in order.
BAR_START_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ")


def _bar_start_expr(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):  # absent from the file (typed null) or already parsed
        return column.cast(pl.Datetime("us", "UTC"))
    text = column.str.strip_chars()
    return pl.coalesce(
        text.str.strptime(pl.Datetime("us"), f, strict=False) for f in BAR_START_FORMATS
    ).dt.replace_time_zone("UTC")


def complete_option_day_bars(bars: pl.DataFrame) -> pl.DataFrame:
    """Fill the derived canonical columns of option day bars.

    Parameters
    ----------
    bars
        One row per contract per trade_date with :data:`loaders.schemas.OPTION_DAY_BARS`'
        columns, as :func:`loaders.vendor.parse_file` casts them; ``bar_start_at`` may still be
        the vendor's text (UTC, ``YYYY-MM-DD HH:MM:SS``), ``option_type`` is ``'call'``/``'put'``.

    Returns
    -------
    polars.DataFrame
        The same rows in the same order with exactly :data:`loaders.schemas.OPTION_DAY_BARS`'
        columns and dtypes: ``underlying_symbol`` upper-cased, ``option_root`` (the underlying
        where the file gives none), ``contract_symbol`` (unpadded OCC; null when a term is
        null, rejected at landing) and ``bar_start_at`` (UTC). Idempotent.

    Examples
    --------
    >>> import datetime as dt
    >>> terms = {"underlying_symbol": "aapl", "option_type": "call", "strike": 95.0,
    ...          "expiration": dt.date(2023, 2, 17), "bar_start_at": "2023-01-03 05:00:00"}
    >>> bar = pl.DataFrame(
    ...     [{c: terms.get(c) for c in schemas.OPTION_DAY_BARS}],
    ...     schema={**schemas.OPTION_DAY_BARS, "bar_start_at": pl.String},
    ... )
    >>> done = complete_option_day_bars(bar)
    >>> done.select("contract_symbol", "option_root").row(0)
    ('AAPL230217C00095000', 'AAPL')
    >>> done["bar_start_at"].dt.strftime("%Y-%m-%d %H:%M %Z").item()
    '2023-01-03 05:00 UTC'
    """
    underlying = pl.col("underlying_symbol").str.strip_chars().str.to_uppercase()
    root = pl.col("option_root").str.strip_chars().str.to_uppercase()
    completed = bars.with_columns(
        underlying.alias("underlying_symbol"),
        pl.coalesce(pl.when(root != "").then(root), underlying).alias("option_root"),
        _bar_start_expr(pl.col("bar_start_at"), bars.schema["bar_start_at"]).alias("bar_start_at"),
    ).with_columns(
        contracts.occ_symbol(
            pl.col("option_root"), pl.col("expiration"), pl.col("option_type"), pl.col("strike")
        ).alias("contract_symbol")
    )
    return completed.select(pl.col(c).cast(dtype) for c, dtype in schemas.OPTION_DAY_BARS.items())
