{%- if var('iv_regime_low_max') | float >= var('iv_regime_high_min') | float -%}
    {{ exceptions.raise_compiler_error(
        "var iv_regime_low_max (" ~ var('iv_regime_low_max') ~ ") must be below iv_regime_high_min ("
        ~ var('iv_regime_high_min') ~ ")"
    ) }}
{%- endif -%}
-- A table, not the folder's view: the 252-day percentile builds a list per day, and the model is
-- read by fct_underlying_features and several tests.
{{ config(materialized='table') }}

with

int_volatility_indices_pivoted as (

    select * from {{ ref('int_volatility_indices_pivoted') }}

),

int_calendar_days_generated as (

    select * from {{ ref('int_calendar_days_generated') }}

),

-- Since 2022 Cboe prints a VIX on NYSE holidays (global trading hours); the windows below count
-- NYSE trading days, so those prints are dropped. The four trading days without a VIX close in
-- the file (1991-1999) are skipped: windows count VIX observations (ROWS), not calendar slots.
vix_on_trading_days as (

    select
        int_volatility_indices_pivoted.*,
    from int_volatility_indices_pivoted
    inner join int_calendar_days_generated
        on int_volatility_indices_pivoted.trade_date = int_calendar_days_generated.calendar_date
    where int_calendar_days_generated.is_trading_day
        and int_volatility_indices_pivoted.vix is not null

),

-- Rank and percentile over the trailing 252 observations (this day included), NULL until the
-- window is full: rank = (x − min) / (max − min) (the "IV rank" of option traders), percentile =
-- share of the other 251 days strictly below today (the "IV percentile"). z-score over 60 days
-- with the sample standard deviation.
vix_with_trailing_statistics as (

    select
        vix_on_trading_days.*,
        vix_on_trading_days.vix - lag(vix_on_trading_days.vix, 1) over by_day as vix_change_1d,
        vix_on_trading_days.vix - lag(vix_on_trading_days.vix, 5) over by_day as vix_change_5d,
        case
            when count(vix_on_trading_days.vix) over last_252_days = 252
                then (vix_on_trading_days.vix - min(vix_on_trading_days.vix) over last_252_days)
                    / nullif(
                        max(vix_on_trading_days.vix) over last_252_days
                        - min(vix_on_trading_days.vix) over last_252_days,
                        0.0
                    )
        end as vix_rank_252d,
        case
            when count(vix_on_trading_days.vix) over last_252_days = 252
                then len(list_filter(
                    list(vix_on_trading_days.vix) over last_252_days,
                    lambda trailing_vix: trailing_vix < vix_on_trading_days.vix
                )) / 251.0
        end as vix_percentile_252d,
        case
            when count(vix_on_trading_days.vix) over last_60_days = 60
                then (vix_on_trading_days.vix - avg(vix_on_trading_days.vix) over last_60_days)
                    / nullif(stddev_samp(vix_on_trading_days.vix) over last_60_days, 0.0)
        end as vix_zscore_60d,
    from vix_on_trading_days
    window
        by_day as (order by vix_on_trading_days.trade_date),
        last_252_days as (
            order by vix_on_trading_days.trade_date rows between 251 preceding and current row
        ),
        last_60_days as (
            order by vix_on_trading_days.trade_date rows between 59 preceding and current row
        )

),

final as (

    select
        vix_with_trailing_statistics.trade_date,
        vix_with_trailing_statistics.vix,
        vix_with_trailing_statistics.vix_9d,
        vix_with_trailing_statistics.vix_3m,
        vix_with_trailing_statistics.vix_6m,
        vix_with_trailing_statistics.vvix,
        vix_with_trailing_statistics.skew_points,
        vix_with_trailing_statistics.vix_change_1d,
        vix_with_trailing_statistics.vix_change_5d,
        vix_with_trailing_statistics.vix_rank_252d,
        vix_with_trailing_statistics.vix_percentile_252d,
        vix_with_trailing_statistics.vix_zscore_60d,
        vix_with_trailing_statistics.vix_9d / nullif(vix_with_trailing_statistics.vix, 0.0)
            as vix_9d_to_vix_ratio,
        vix_with_trailing_statistics.vix_3m > vix_with_trailing_statistics.vix as is_vix_contango,
        -- bounds inclusive on the extreme side: rank 0.25 is LOW, 0.75 is HIGH (vars)
        case
            when vix_with_trailing_statistics.vix_rank_252d <= {{ var('iv_regime_low_max') }} then 'LOW'
            when vix_with_trailing_statistics.vix_rank_252d >= {{ var('iv_regime_high_min') }} then 'HIGH'
            when vix_with_trailing_statistics.vix_rank_252d is not null then 'NORMAL'
        end as iv_regime,
    from vix_with_trailing_statistics

)

select * from final
