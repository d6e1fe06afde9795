{#- A table, incremental by quote_date (the first materialized step after the raw parquet, so
    everything downstream and every test reads a table, not the view chain); a run builds the
    quote dates it does not have and rebuilds those whose landed batches changed (each row
    records them in batch_fingerprint; macro quote_dates_kept). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='quote_date',
        on_schema_change='fail',
    )
}}

with

int_option_quotes_unioned as (

    select * from {{ ref('int_option_quotes_unioned') }}
    where {{ quote_dates_to_build() }}

),

int_option_quote_dates_fingerprinted as (

    select * from {{ ref('int_option_quote_dates_fingerprinted') }}

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

),

-- the batches landed for the quote date as this build read them
quotes_with_batch_fingerprint as (

    select
        quotes_with_spread.*,
        int_option_quote_dates_fingerprinted.batch_fingerprint,
    from quotes_with_spread
    left join int_option_quote_dates_fingerprinted
        on quotes_with_spread.quote_date = int_option_quote_dates_fingerprinted.quote_date

)

select * from quotes_with_batch_fingerprint
