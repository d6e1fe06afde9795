with

stg_cboe__volatility_indices as (

    select * from {{ ref('stg_cboe__volatility_indices') }}

),

closes_pivoted as (

    select
        stg_cboe__volatility_indices.trade_date,
        -- vol indices are quoted in percentage points; the house unit is the decimal fraction
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'VIX') / 100.0 as vix,
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'VIX9D') / 100.0 as vix_9d,
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'VIX3M') / 100.0 as vix_3m,
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'VIX6M') / 100.0 as vix_6m,
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'VVIX') / 100.0 as vvix,
        -- Cboe Equity VIX on Apple: AAPL's 30-day variance-swap level (level of the modeled AAPL chain)
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'VXAPL') / 100.0 as vxapl,
        -- SKEW is an index level (100 = lognormal), not a volatility: kept in points
        max(stg_cboe__volatility_indices.close) filter (where stg_cboe__volatility_indices.index_symbol = 'SKEW') as skew_points,
    from stg_cboe__volatility_indices
    group by stg_cboe__volatility_indices.trade_date

)

select * from closes_pivoted
