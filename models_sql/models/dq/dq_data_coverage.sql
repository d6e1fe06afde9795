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

    select
        'underlying_bars' as dataset,
        int_underlying_bars_unioned.source,
        int_underlying_bars_unioned.underlying_symbol as symbol,
        min(int_underlying_bars_unioned.trade_date) as first_date,
        max(int_underlying_bars_unioned.trade_date) as last_date,
        count(*) as n_rows,
        count(distinct int_underlying_bars_unioned.trade_date) as n_dates,
    from int_underlying_bars_unioned
    group by all

),

option_quotes as (

    select
        'option_quotes' as dataset,
        fct_option_quotes_daily.source,
        fct_option_quotes_daily.underlying_symbol as symbol,
        min(fct_option_quotes_daily.quote_date) as first_date,
        max(fct_option_quotes_daily.quote_date) as last_date,
        count(*) as n_rows,
        count(distinct fct_option_quotes_daily.quote_date) as n_dates,
    from fct_option_quotes_daily
    group by all

),

volatility_indices as (

    select
        'volatility_indices' as dataset,
        'cboe' as source,
        stg_cboe__volatility_indices.index_symbol as symbol,
        min(stg_cboe__volatility_indices.trade_date) as first_date,
        max(stg_cboe__volatility_indices.trade_date) as last_date,
        count(*) as n_rows,
        count(distinct stg_cboe__volatility_indices.trade_date) as n_dates,
    from stg_cboe__volatility_indices
    group by all

),

rates as (

    select
        'rates' as dataset,
        'fred' as source,
        stg_fred__rates.series_id as symbol,
        min(stg_fred__rates.observation_date) as first_date,
        max(stg_fred__rates.observation_date) as last_date,
        count(*) as n_rows,
        count(distinct stg_fred__rates.observation_date) as n_dates,
    from stg_fred__rates
    group by all

),

-- traded option day bars (Polygon): trades, not quotes
option_day_bars as (

    select
        'option_day_bars' as dataset,
        fct_option_day_bars.source,
        fct_option_day_bars.underlying_symbol as symbol,
        min(fct_option_day_bars.trade_date) as first_date,
        max(fct_option_day_bars.trade_date) as last_date,
        count(*) as n_rows,
        count(distinct fct_option_day_bars.trade_date) as n_dates,
    from fct_option_day_bars
    group by all

),

-- vendor-smoothed implied-volatility surfaces (qmoms): interpolated points, not quotes
iv_surfaces as (

    select
        'iv_surfaces' as dataset,
        fct_iv_surfaces.source,
        fct_iv_surfaces.underlying_symbol as symbol,
        min(fct_iv_surfaces.quote_date) as first_date,
        max(fct_iv_surfaces.quote_date) as last_date,
        count(*) as n_rows,
        count(distinct fct_iv_surfaces.quote_date) as n_dates,
    from fct_iv_surfaces
    group by all

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
