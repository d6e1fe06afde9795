{#- Source precedence for one contract on one quote_date (lower wins); documented in the YAML. -#}
{%- set source_precedence = {
    'cboe_eod_chain': 1,
    'ivolatility_eod': 2,
    'cboe_datashop_1545': 3,
} -%}
{#- Layouts declared in YAML (stg_declared__option_quotes) rank after every built-in vendor. -#}
{%- set declared_precedence = 10 -%}

with

stg_cboe__option_quotes as (

    select * from {{ ref('stg_cboe__option_quotes') }}

),

stg_ivolatility__option_quotes as (

    select * from {{ ref('stg_ivolatility__option_quotes') }}

),

stg_cboe_datashop__option_quotes as (

    select * from {{ ref('stg_cboe_datashop__option_quotes') }}

),

stg_declared__option_quotes as (

    select * from {{ ref('stg_declared__option_quotes') }}

),

-- Columns a vendor does not deliver come out NULL (DataShop: no IV or greeks; CBOE EOD: no
-- sizes or rho), never zero.
quotes_unioned as (

    select * from stg_cboe__option_quotes
    union all by name
    select * from stg_ivolatility__option_quotes
    union all by name
    select * from stg_cboe_datashop__option_quotes
    union all by name
    select * from stg_declared__option_quotes

),

quotes_ranked as (

    select
        quotes_unioned.*,
        case quotes_unioned.source
            {%- for source, rank in source_precedence.items() %}
            when '{{ source }}' then {{ rank }}
            {%- endfor %}
            else {{ declared_precedence }}
        end as source_precedence,
        count(*) over by_contract_day as n_sources,
    from quotes_unioned
    window by_contract_day as (
        partition by quotes_unioned.contract_symbol, quotes_unioned.quote_date
    )

),

-- One row per contract per quote_date: the highest-precedence source; ties within a source
-- (never expected: the landing keys are unique) fall to the file and line, so the choice never
-- depends on row order.
quotes_deduplicated as (

    select *
    from quotes_ranked
    qualify row_number() over (
        partition by quotes_ranked.contract_symbol, quotes_ranked.quote_date
        order by
            quotes_ranked.source_precedence,
            quotes_ranked.source_file,
            quotes_ranked.source_line
    ) = 1

)

select * from quotes_deduplicated
