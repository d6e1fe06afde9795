with

stg_yahoo__index_bars as (

    select * from {{ ref('stg_yahoo__index_bars') }}

),

stg_yahoo__equity_bars as (

    select * from {{ ref('stg_yahoo__equity_bars') }}

),

stg_quantconnect__equity_bars as (

    select * from {{ ref('stg_quantconnect__equity_bars') }}

),

bars_unioned as (

    select * from stg_yahoo__index_bars
    union all by name
    select * from stg_yahoo__equity_bars
    union all by name
    select * from stg_quantconnect__equity_bars

),

-- Source precedence, per underlying and day: a full OHLC bar beats a close-only one (it feeds
-- range-based estimators later); among equals, the source name decides, so the choice never
-- depends on row order.
bars_deduplicated as (

    select *
    from bars_unioned
    qualify row_number() over (
        partition by bars_unioned.underlying_symbol, bars_unioned.trade_date
        order by (bars_unioned.open is null), bars_unioned.source
    ) = 1

)

select * from bars_deduplicated
