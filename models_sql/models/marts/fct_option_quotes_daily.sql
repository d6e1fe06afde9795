with

int_option_quotes_priced as (

    select * from {{ ref('int_option_quotes_priced') }}

),

final as (

    select
        int_option_quotes_priced.contract_symbol,
        int_option_quotes_priced.underlying_symbol,
        int_option_quotes_priced.option_root,
        int_option_quotes_priced.settlement_type,
        int_option_quotes_priced.quote_date,
        int_option_quotes_priced.expiration,
        int_option_quotes_priced.dte::integer as dte,
        int_option_quotes_priced.option_type,
        int_option_quotes_priced.strike,
        int_option_quotes_priced.bid,
        int_option_quotes_priced.ask,
        int_option_quotes_priced.mid,
        int_option_quotes_priced.spread_pct,
        int_option_quotes_priced.last,
        int_option_quotes_priced.volume,
        int_option_quotes_priced.open_interest,
        int_option_quotes_priced.underlying_price,
        int_option_quotes_priced.moneyness,
        int_option_quotes_priced.implied_volatility,
        int_option_quotes_priced.delta,
        int_option_quotes_priced.gamma,
        int_option_quotes_priced.source,
    from int_option_quotes_priced

)

select * from final
