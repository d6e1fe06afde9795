{#- A view over fct_option_features: the vendor's quote columns only, under the names the engine
    and ad-hoc SQL have always used (implied_volatility, delta and gamma are the vendor's here),
    and the traded volume, VWAP and trade count of the contract's day bar where one exists
    (fct_option_day_bars, a table: the view reads no raw parquet). -#}
{{ config(materialized='view') }}

with

fct_option_features as (

    select * from {{ ref('fct_option_features') }}

),

fct_option_day_bars as (

    select * from {{ ref('fct_option_day_bars') }}

),

final as (

    select
        fct_option_features.contract_symbol,
        fct_option_features.underlying_symbol,
        fct_option_features.option_root,
        fct_option_features.settlement_type,
        fct_option_features.quote_date,
        fct_option_features.quoted_at,
        fct_option_features.expiration,
        fct_option_features.dte,
        fct_option_features.option_type,
        fct_option_features.strike,
        fct_option_features.bid,
        fct_option_features.ask,
        fct_option_features.mid,
        fct_option_features.spread_pct,
        fct_option_features.last,
        fct_option_features.volume,
        fct_option_features.open_interest,
        fct_option_features.underlying_price,
        fct_option_features.moneyness,
        fct_option_features.vendor_implied_volatility as implied_volatility,
        fct_option_features.vendor_delta as delta,
        fct_option_features.vendor_gamma as gamma,
        fct_option_features.source,
        fct_option_day_bars.volume as traded_volume,
        fct_option_day_bars.vwap,
        fct_option_day_bars.transactions,
    from fct_option_features
    -- at most one bar per contract per day (primary key of fct_option_day_bars): one row per quote
    left join fct_option_day_bars
        on fct_option_features.contract_symbol = fct_option_day_bars.contract_symbol
        and fct_option_features.quote_date = fct_option_day_bars.trade_date

)

select * from final
