{#- Every option quote the warehouse has, real and modeled, one row per contract per quote_date
    per chain_source: the real chain (fct_option_features) and the modeled one
    (fct_option_quotes_modeled) on the columns they share (macro option_chain_columns). Real
    quotes always take precedence on the same key: is_preferred is true on every real row and on
    a modeled row only when no real quote of that contract exists that day. A view: the modeled
    table has ~10M rows, and a reader filtered on chain_source reads one side only. -#}
{{ config(materialized='view') }}

with

fct_option_features as (

    select * from {{ ref('fct_option_features') }}

),

fct_option_quotes_modeled as (

    select * from {{ ref('fct_option_quotes_modeled') }}

),

real_quotes as (

    select
        {%- for column in option_chain_columns() %}
        fct_option_features.{{ column[0] }},
        {%- endfor %}
        cast(null as varchar) as model_version,
        'real' as chain_source,
        true as is_preferred,
    from fct_option_features

),

real_quote_keys as (

    select
        fct_option_features.contract_symbol,
        fct_option_features.quote_date,
    from fct_option_features

),

modeled_quotes as (

    select
        {%- for column in option_chain_columns() %}
        {%- if column[0] == 'is_stale_quote' %}
        -- priced afresh every session from that session's inputs: a modeled quote is never
        -- left behind by a market maker
        false as is_stale_quote,
        {%- else %}
        cast(fct_option_quotes_modeled.{{ column[0] }} as {{ column[1] }}) as {{ column[0] }},
        {%- endif %}
        {%- endfor %}
        cast(fct_option_quotes_modeled.model_version as varchar) as model_version,
        'modeled' as chain_source,
        -- real quotes take precedence on the same (contract_symbol, quote_date)
        real_quote_keys.contract_symbol is null as is_preferred,
    from fct_option_quotes_modeled
    left join real_quote_keys
        on fct_option_quotes_modeled.contract_symbol = real_quote_keys.contract_symbol
        and fct_option_quotes_modeled.quote_date = real_quote_keys.quote_date

),

quotes_of_both_chains as (

    select * from real_quotes
    union all
    select * from modeled_quotes

)

select * from quotes_of_both_chains
