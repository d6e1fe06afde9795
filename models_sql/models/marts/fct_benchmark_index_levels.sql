with

stg_cboe__benchmark_indices as (

    select * from {{ ref('stg_cboe__benchmark_indices') }}

),

levels as (

    select
        stg_cboe__benchmark_indices.index_symbol,
        stg_cboe__benchmark_indices.trade_date,
        -- a total-return level in index points: returns are ratios of levels
        stg_cboe__benchmark_indices.level,
    from stg_cboe__benchmark_indices

)

select * from levels
