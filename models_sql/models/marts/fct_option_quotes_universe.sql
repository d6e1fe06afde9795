{#- Universe parameters are dbt vars (dbt_project.yml gives their units and ranges); override per
    run, e.g. dbt build --vars '{universe_max_dte: 45}'. -#}
{%- set min_dte = var('universe_min_dte') -%}
{%- set max_dte = var('universe_max_dte') -%}
{%- set min_moneyness = var('universe_min_moneyness') -%}
{%- set max_moneyness = var('universe_max_moneyness') -%}
{%- set min_open_interest = var('universe_min_open_interest') -%}
{%- set max_spread_pct = var('universe_max_spread_pct') -%}
{%- if not (0 <= min_dte <= max_dte) -%}
    {{ exceptions.raise_compiler_error("universe dte window must satisfy 0 <= universe_min_dte <= universe_max_dte, got " ~ min_dte ~ ".." ~ max_dte) }}
{%- endif -%}
{%- if not (0 < min_moneyness <= max_moneyness) -%}
    {{ exceptions.raise_compiler_error("universe moneyness band must satisfy 0 < min <= max, got " ~ min_moneyness ~ ".." ~ max_moneyness) }}
{%- endif -%}
{%- if not (min_open_interest >= 0 and max_spread_pct > 0) -%}
    {{ exceptions.raise_compiler_error("universe_min_open_interest must be >= 0 and universe_max_spread_pct > 0, got " ~ min_open_interest ~ " and " ~ max_spread_pct) }}
{%- endif -%}

with

fct_option_quotes_daily as (

    select * from {{ ref('fct_option_quotes_daily') }}

),

quotes_filtered_to_universe as (

    select *
    from fct_option_quotes_daily
    where
        fct_option_quotes_daily.dte between {{ min_dte }} and {{ max_dte }}
        and fct_option_quotes_daily.moneyness between {{ min_moneyness }} and {{ max_moneyness }}
        and fct_option_quotes_daily.open_interest >= {{ min_open_interest }}
        and fct_option_quotes_daily.bid > 0
        and fct_option_quotes_daily.spread_pct <= {{ max_spread_pct }}

)

select * from quotes_filtered_to_universe
