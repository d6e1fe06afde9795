with

stg_quantconnect__equity_bars as (

    select * from {{ ref('stg_quantconnect__equity_bars') }}

),

stg_quantconnect__adjustment_factors as (

    select * from {{ ref('stg_quantconnect__adjustment_factors') }}

),

-- A factor-file row applies to every bar up to and including its date (QuantConnect/Lean
-- factor files), so each bar takes the first factor row on or after its own date.
bars_with_factors as (

    select
        stg_quantconnect__equity_bars.underlying_symbol,
        stg_quantconnect__equity_bars.trade_date,
        stg_quantconnect__equity_bars.open,
        stg_quantconnect__equity_bars.high,
        stg_quantconnect__equity_bars.low,
        stg_quantconnect__equity_bars.close,
        stg_quantconnect__equity_bars.volume,
        coalesce(stg_quantconnect__adjustment_factors.price_factor, 1.0) as price_factor,
        coalesce(stg_quantconnect__adjustment_factors.split_factor, 1.0) as split_factor,
    from stg_quantconnect__equity_bars
    asof left join stg_quantconnect__adjustment_factors
        on stg_quantconnect__equity_bars.underlying_symbol
            = stg_quantconnect__adjustment_factors.underlying_symbol
        and stg_quantconnect__equity_bars.trade_date
            <= stg_quantconnect__adjustment_factors.factor_date

),

bars_adjusted as (

    select
        bars_with_factors.*,
        bars_with_factors.open * bars_with_factors.price_factor
            * bars_with_factors.split_factor as adj_open,
        bars_with_factors.high * bars_with_factors.price_factor
            * bars_with_factors.split_factor as adj_high,
        bars_with_factors.low * bars_with_factors.price_factor
            * bars_with_factors.split_factor as adj_low,
        bars_with_factors.close * bars_with_factors.price_factor
            * bars_with_factors.split_factor as adj_close,
        -- shares scale inversely to prices across a split
        bars_with_factors.volume / bars_with_factors.split_factor as adj_volume,
    from bars_with_factors

)

select * from bars_adjusted
