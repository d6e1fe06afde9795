-- What the warehouse holds, by dataset, source and symbol: first and last date, rows, dates.
with

int_underlying_bars_unioned as (

    select * from {{ ref('int_underlying_bars_unioned') }}

),

fct_option_quotes_daily as (

    select * from {{ ref('fct_option_quotes_daily') }}

),

stg_cboe__volatility_indices as (

    select * from {{ ref('stg_cboe__volatility_indices') }}

),

stg_fred__rates as (

    select * from {{ ref('stg_fred__rates') }}

),

fct_option_day_bars as (

    select * from {{ ref('fct_option_day_bars') }}

),

fct_iv_surfaces as (

    select * from {{ ref('fct_iv_surfaces') }}

),

underlying_bars as (

    {{ dataset_coverage('underlying_bars', 'int_underlying_bars_unioned',
        'int_underlying_bars_unioned.source', 'underlying_symbol', 'trade_date') }}

),

option_quotes as (

    {{ dataset_coverage('option_quotes', 'fct_option_quotes_daily',
        'fct_option_quotes_daily.source', 'underlying_symbol', 'quote_date') }}

),

volatility_indices as (

    {{ dataset_coverage('volatility_indices', 'stg_cboe__volatility_indices',
        "'cboe'", 'index_symbol', 'trade_date') }}

),

rates as (

    {{ dataset_coverage('rates', 'stg_fred__rates', "'fred'", 'series_id', 'observation_date') }}

),

-- traded option day bars (Polygon): trades, not quotes
option_day_bars as (

    {{ dataset_coverage('option_day_bars', 'fct_option_day_bars',
        'fct_option_day_bars.source', 'underlying_symbol', 'trade_date') }}

),

-- vendor-smoothed implied-volatility surfaces (qmoms): interpolated points, not quotes
iv_surfaces as (

    {{ dataset_coverage('iv_surfaces', 'fct_iv_surfaces',
        'fct_iv_surfaces.source', 'underlying_symbol', 'quote_date') }}

),

final as (

    select * from underlying_bars
    union all
    select * from option_quotes
    union all
    select * from volatility_indices
    union all
    select * from rates
    union all
    select * from option_day_bars
    union all
    select * from iv_surfaces

)

select * from final
