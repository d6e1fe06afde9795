with

stg_polygon__option_day_bars as (

    select * from {{ ref('stg_polygon__option_day_bars') }}

),

fct_underlying_daily as (

    select * from {{ ref('fct_underlying_daily') }}

),

-- The underlying's raw close of the same session, where the warehouse has one (the embedded
-- 2023 data: SPY only, the raw close file). fct_underlying_daily is one row per underlying per
-- trade_date (primary key), so the left join keeps one row per bar.
bars_joined_to_underlying_close as (

    select
        stg_polygon__option_day_bars.contract_symbol,
        stg_polygon__option_day_bars.underlying_symbol,
        stg_polygon__option_day_bars.option_root,
        stg_polygon__option_day_bars.option_type,
        stg_polygon__option_day_bars.expiration,
        stg_polygon__option_day_bars.strike,
        stg_polygon__option_day_bars.trade_date,
        stg_polygon__option_day_bars.expiration - stg_polygon__option_day_bars.trade_date as dte,
        stg_polygon__option_day_bars.open,
        stg_polygon__option_day_bars.high,
        stg_polygon__option_day_bars.low,
        stg_polygon__option_day_bars.close,
        stg_polygon__option_day_bars.vwap,
        stg_polygon__option_day_bars.volume,
        stg_polygon__option_day_bars.transactions,
        stg_polygon__option_day_bars.bar_start_at,
        fct_underlying_daily.close as underlying_close,
        fct_underlying_daily.close / stg_polygon__option_day_bars.strike as moneyness,
        stg_polygon__option_day_bars.cycle_start,
        stg_polygon__option_day_bars.source,
    from stg_polygon__option_day_bars
    left join fct_underlying_daily
        on stg_polygon__option_day_bars.underlying_symbol = fct_underlying_daily.underlying_symbol
        and stg_polygon__option_day_bars.trade_date = fct_underlying_daily.trade_date

)

select * from bars_joined_to_underlying_close
