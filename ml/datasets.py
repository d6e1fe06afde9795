"""What each model family reads from the marts: features, label, label window, baseline state.

Features are read as the marts compute them and never re-derived here (STYLE.md, 11); the SQL
only joins a feature mart to its target mart, renames to the common layout below and encodes
two categoricals (``option_type = 'call'``, ``is_vix_contango``) as 0/1.

Common layout of a dataset frame (one row per underlying × contract × as_of_date)
-------------------------------------------------------------------------------
``underlying_symbol``, ``contract_symbol`` (NULL for underlying models), ``as_of_date``
    The key; features are known at ``as_of_date``'s close.
``label_class`` (VARCHAR) / ``label_value`` (DOUBLE)
    The classification label (UP/DOWN, LOW/NORMAL/HIGH) and the realized forward return; NULL
    when the row has no usable label (ambiguous move, contract expired, no exit quote, or the
    horizon runs past the data).
``label_end_date``
    Last date the label looks at (target or exit quote date); used to purge training rows
    whose label overlaps a test block (López de Prado, *Advances in Financial Machine
    Learning*, 2018, §7.4.1).
``is_beyond_data``
    The horizon runs past the last date of the data: these rows are the live block.
``persistence_state``
    The state a persistence baseline carries forward (sign of the trailing 5-day return; the
    current IV regime); NULL for option models.
``persistence_value``
    Option models: the contract's last realized 5-session mid return (the
    ``forward_mid_return_5d`` of its row whose exit quote is this date), the persistence
    forecast of the regression; NULL when the contract has no such row, and for underlying
    models.
``<features>``
    DOUBLE columns listed in the family's :attr:`DatasetSpec.feature_columns`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

UNDERLYING_FEATURES: tuple[str, ...] = (
    "return_1d",
    "return_5d",
    "return_10d",
    "return_21d",
    "return_63d",
    "return_252d",
    "realized_vol_5d",
    "realized_vol_10d",
    "realized_vol_21d",
    "realized_vol_63d",
    "realized_vol_126d",
    "parkinson_vol_5d",
    "parkinson_vol_10d",
    "parkinson_vol_21d",
    "parkinson_vol_63d",
    "parkinson_vol_126d",
    "realized_vol_ratio_5d_21d",
    "realized_vol_ratio_21d_63d",
    "realized_vol_ratio_21d_126d",
    "rsi_14d_points",
    "rsi_28d_points",
    "macd_line_to_close",
    "macd_signal_to_close",
    "macd_histogram_to_close",
    "bollinger_percent_b_20d",
    "bollinger_width_20d",
    "atr_14d_to_close",
    "distance_to_sma_20d",
    "distance_to_sma_50d",
    "distance_to_sma_200d",
    "distance_to_high_252d",
    "distance_to_low_252d",
    "vix",
    "vix_rank_252d",
    "vix_percentile_252d",
    "vix_zscore_60d",
    "vix_change_1d",
    "vix_change_5d",
    "vix_9d_to_vix_ratio",
    "vix_term_slope",
    "is_vix_contango",
    "vvix",
    "skew_points",
    "vol_risk_premium_21d",
    "rate_3m",
    "rate_2y",
    "rate_10y",
    "rate_10y_2y_spread",
    "rate_3m_change_5d",
    "rate_3m_change_20d",
    "rate_3m_change_60d",
    "rate_2y_change_5d",
    "rate_2y_change_20d",
    "rate_10y_change_5d",
    "rate_10y_change_20d",
    "rate_10y_2y_spread_change_5d",
    "rate_10y_2y_spread_change_20d",
    "day_of_week_iso",
    "month_of_year",
    "trading_days_to_month_end",
    "trading_days_to_monthly_expiration",
)
"""Stationary columns of ``marts.fct_underlying_features`` (price levels such as ``atr_14d_usd``
and dates are left out: a walk-forward model cannot extrapolate a level it has not seen)."""

OPTION_FEATURES: tuple[str, ...] = (
    "is_call",
    "dte",
    "moneyness",
    "log_moneyness",
    "spread_pct",
    "implied_volatility",
    "delta",
    "gamma",
    "theta",
    "vega",
    "expiry_atm_iv",
    "expiry_risk_reversal_25d",
    "expiry_butterfly_25d",
    "atm_iv_30d",
    "risk_reversal_25d_30d",
    "butterfly_25d_30d",
    "atm_iv_30d_rank",
    "volume",
    "open_interest",
    "open_interest_change",
    "risk_free_rate",
)
"""Columns of ``marts.fct_option_quotes_universe`` (the engine's default universe)."""

_UNDERLYING_SQL = """
select
    fct_underlying_features.underlying_symbol,
    cast(null as varchar) as contract_symbol,
    fct_underlying_features.trade_date as as_of_date,
    {label_class} as label_class,
    fct_underlying_targets.forward_return_5d as label_value,
    fct_underlying_targets.target_date_5d as label_end_date,
    fct_underlying_targets.target_date_5d is null as is_beyond_data,
    {persistence_state} as persistence_state,
    cast(null as double) as persistence_value,
    {features}
from marts.fct_underlying_features
inner join marts.fct_underlying_targets
    on fct_underlying_features.underlying_symbol = fct_underlying_targets.underlying_symbol
    and fct_underlying_features.trade_date = fct_underlying_targets.trade_date
where fct_underlying_features.underlying_symbol = $underlying_symbol
order by as_of_date
"""

_OPTION_SQL = """
with trailing_returns as (
    -- the contract's last realized 5-session mid return, known at the close of its exit date:
    -- the persistence forecast of the next one
    select
        fct_option_targets.contract_symbol,
        fct_option_targets.exit_quote_date_5d as as_of_date,
        fct_option_targets.forward_mid_return_5d as trailing_mid_return_5d,
    from marts.fct_option_targets
    where fct_option_targets.underlying_symbol = $underlying_symbol
        and fct_option_targets.forward_mid_return_5d is not null
    qualify row_number() over (
        partition by fct_option_targets.contract_symbol, fct_option_targets.exit_quote_date_5d
        order by fct_option_targets.quote_date desc
    ) = 1
)

select
    fct_option_quotes_universe.underlying_symbol,
    fct_option_quotes_universe.contract_symbol,
    fct_option_quotes_universe.quote_date as as_of_date,
    case
        when fct_option_targets.forward_mid_return_5d > 0 then 'UP'
        when fct_option_targets.forward_mid_return_5d <= 0 then 'DOWN'
    end as label_class,
    fct_option_targets.forward_mid_return_5d as label_value,
    coalesce(fct_option_targets.exit_quote_date_5d, fct_option_targets.target_date_5d)
        as label_end_date,
    fct_option_targets.forward_status_5d = 'beyond_data' as is_beyond_data,
    cast(null as varchar) as persistence_state,
    trailing_returns.trailing_mid_return_5d as persistence_value,
    {features}
from marts.fct_option_quotes_universe
inner join marts.fct_option_targets
    on fct_option_quotes_universe.contract_symbol = fct_option_targets.contract_symbol
    and fct_option_quotes_universe.quote_date = fct_option_targets.quote_date
left join trailing_returns
    on fct_option_quotes_universe.contract_symbol = trailing_returns.contract_symbol
    and fct_option_quotes_universe.quote_date = trailing_returns.as_of_date
where fct_option_quotes_universe.underlying_symbol = $underlying_symbol
    -- models of option returns learn from REAL quotes only: one trained on modeled quotes would
    -- learn the model (the universe view holds modeled quotes when its liquidity floors are 0)
    and fct_option_quotes_universe.chain_source = 'real'
order by as_of_date, contract_symbol
"""


@dataclass(frozen=True)
class DatasetSpec:
    """How a family's dataset is read: the SQL, its features and its classes.

    Attributes
    ----------
    family
        Model family the spec serves.
    feature_columns
        Candidate features, in a fixed order.
    class_labels
        Class order of the probabilities (``()`` for a regression-only family); for binary
        tasks the second class is the positive one (``p_up``).
    sql
        Query with one named parameter ``$underlying_symbol``.
    """

    family: str
    feature_columns: tuple[str, ...]
    class_labels: tuple[str, ...]
    sql: str


def _select(columns: tuple[str, ...], table: str, encoded: dict[str, str]) -> str:
    return ",\n    ".join(
        f"cast({encoded.get(c, f'{table}.{c}')} as double) as {c}" for c in columns
    )


SPECS: dict[str, DatasetSpec] = {
    "direction": DatasetSpec(
        family="direction",
        feature_columns=UNDERLYING_FEATURES,
        class_labels=("DOWN", "UP"),
        sql=_UNDERLYING_SQL.format(
            # direction_5d is NULL inside the +/-1 % band: those rows are excluded from
            # training and scoring but still get a prediction
            label_class="fct_underlying_targets.direction_5d",
            persistence_state=(
                "case when fct_underlying_features.return_5d > 0 then 'UP' "
                "when fct_underlying_features.return_5d <= 0 then 'DOWN' end"
            ),
            features=_select(UNDERLYING_FEATURES, "fct_underlying_features", {}),
        ),
    ),
    "iv_regime": DatasetSpec(
        family="iv_regime",
        feature_columns=UNDERLYING_FEATURES,
        class_labels=("LOW", "NORMAL", "HIGH"),
        sql=_UNDERLYING_SQL.format(
            label_class="fct_underlying_targets.iv_regime_5d",
            persistence_state="fct_underlying_features.iv_regime",
            features=_select(UNDERLYING_FEATURES, "fct_underlying_features", {}),
        ),
    ),
    "option_return": DatasetSpec(
        family="option_return",
        feature_columns=OPTION_FEATURES,
        class_labels=("DOWN", "UP"),
        sql=_OPTION_SQL.format(
            features=_select(
                OPTION_FEATURES,
                "fct_option_quotes_universe",
                {"is_call": "fct_option_quotes_universe.option_type = 'call'"},
            )
        ),
    ),
}

KEY_COLUMNS: tuple[str, ...] = ("underlying_symbol", "contract_symbol", "as_of_date")
FRAME_COLUMNS: tuple[str, ...] = (
    *KEY_COLUMNS,
    "label_class",
    "label_value",
    "label_end_date",
    "is_beyond_data",
    "persistence_state",
    "persistence_value",
)


def validate_dataset(frame: pl.DataFrame, feature_columns: tuple[str, ...]) -> pl.DataFrame:
    """Check a dataset frame before anything is trained or written.

    Parameters
    ----------
    frame
        Common layout (module docstring), any row order.
    feature_columns
        Features the model will be offered.

    Returns
    -------
    pl.DataFrame
        The frame sorted by (as_of_date, contract_symbol), so results never depend on row order.

    Raises
    ------
    ValueError
        Naming the missing columns, the features that are NULL on every row, or a key that
        repeats.
    """
    missing = [c for c in (*FRAME_COLUMNS, *feature_columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"dataset lacks column(s) {missing}")
    if frame.is_empty():
        raise ValueError("dataset has no rows")
    null_counts = frame.select(pl.col(feature_columns).null_count()).row(0)
    all_null = [c for c, n in zip(feature_columns, null_counts, strict=True) if n == frame.height]
    if all_null:
        raise ValueError(f"feature column(s) {all_null} are NULL on all {frame.height:,} rows")
    duplicated = frame.select(KEY_COLUMNS).is_duplicated()
    if duplicated.any():
        first = frame.filter(duplicated).row(0, named=True)
        raise ValueError(
            f"dataset key repeats, e.g. {first['underlying_symbol']!r} "
            f"{first['contract_symbol']!r} {first['as_of_date']}"
        )
    return frame.sort("as_of_date", "contract_symbol", nulls_last=False)
