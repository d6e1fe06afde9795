{#- A table, incremental by quote_date (the first materialized step after the raw parquet, so
    everything downstream and every test reads a table, not the view chain); a new run adds only
    the quote dates it does not have. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='quote_date',
    )
}}

with

int_option_quotes_unioned as (

    select * from {{ ref('int_option_quotes_unioned') }}
    where {{ new_quote_dates() }}

),

quotes_with_contract_terms as (

    select
        int_option_quotes_unioned.*,
        date_diff(
            'day', int_option_quotes_unioned.quote_date, int_option_quotes_unioned.expiration
        ) as dte,
    from int_option_quotes_unioned

),

quotes_priced as (

    select
        quotes_with_contract_terms.*,
        -- no ask means no market: mid is unknown, not zero
        case
            when quotes_with_contract_terms.ask > 0
                then (quotes_with_contract_terms.bid + quotes_with_contract_terms.ask) / 2.0
        end as mid,
        quotes_with_contract_terms.underlying_price
            / quotes_with_contract_terms.strike as moneyness,
    from quotes_with_contract_terms

),

quotes_with_spread as (

    select
        quotes_priced.*,
        100.0 * (quotes_priced.ask - quotes_priced.bid) / quotes_priced.mid as spread_pct,
    from quotes_priced

)

select * from quotes_with_spread
