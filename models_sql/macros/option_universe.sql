{#- The rows of fct_option_features that a universe selects. `params` is a dict (a dbt var):
      min_dte, max_dte            calendar days to expiration (required)
      min_moneyness, max_moneyness  S/K band (optional)
      min_abs_delta, max_abs_delta  |delta| band of the computed BSM delta (optional)
      min_open_interest, min_volume  contracts (default 0)
      max_spread_pct             (ask − bid) / mid in percent (required)
      exclude_stale              drop is_stale_quote rows (default true)
      expiry_types               list of 'monthly' / 'weekly' (optional)
    Every universe also requires a two-sided market (bid > 0). A bad value fails at compile time
    with the universe's name and the value. -#}
{% macro option_universe(name, params) -%}
    {%- set p = params -%}
    {%- for required in ['min_dte', 'max_dte', 'max_spread_pct'] -%}
        {%- if p.get(required) is none -%}
            {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': missing parameter " ~ required) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if not (0 <= p['min_dte'] <= p['max_dte']) -%}
        {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': dte window must satisfy 0 <= min_dte <= max_dte, got " ~ p['min_dte'] ~ ".." ~ p['max_dte']) }}
    {%- endif -%}
    {%- if p.get('min_moneyness') is not none and not (0 < p['min_moneyness'] <= p.get('max_moneyness', p['min_moneyness'])) -%}
        {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': moneyness band must satisfy 0 < min_moneyness <= max_moneyness, got " ~ p['min_moneyness'] ~ ".." ~ p.get('max_moneyness')) }}
    {%- endif -%}
    {%- if p.get('min_abs_delta') is not none and not (0 <= p['min_abs_delta'] <= p.get('max_abs_delta', 1) <= 1) -%}
        {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': |delta| band must satisfy 0 <= min_abs_delta <= max_abs_delta <= 1, got " ~ p['min_abs_delta'] ~ ".." ~ p.get('max_abs_delta')) }}
    {%- endif -%}
    {%- if not (p.get('min_open_interest', 0) >= 0 and p.get('min_volume', 0) >= 0 and p['max_spread_pct'] > 0) -%}
        {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': min_open_interest and min_volume must be >= 0 and max_spread_pct > 0, got " ~ p.get('min_open_interest', 0) ~ ", " ~ p.get('min_volume', 0) ~ ", " ~ p['max_spread_pct']) }}
    {%- endif -%}
    {%- for key in p -%}
        {%- if key not in ['description', 'min_dte', 'max_dte', 'min_moneyness', 'max_moneyness', 'min_abs_delta', 'max_abs_delta', 'min_open_interest', 'min_volume', 'max_spread_pct', 'exclude_stale', 'expiry_types'] -%}
            {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': unknown parameter " ~ key) }}
        {%- endif -%}
    {%- endfor -%}

with

fct_option_features as (

    select * from {{ ref('fct_option_features') }}

),

quotes_in_universe as (

    select
        fct_option_features.*,
    from fct_option_features
    where
        fct_option_features.dte between {{ p['min_dte'] }} and {{ p['max_dte'] }}
        and fct_option_features.bid > 0
        and fct_option_features.spread_pct <= {{ p['max_spread_pct'] }}
        and fct_option_features.open_interest >= {{ p.get('min_open_interest', 0) }}
        and fct_option_features.volume >= {{ p.get('min_volume', 0) }}
        {%- if p.get('min_moneyness') is not none %}
        and fct_option_features.moneyness between {{ p['min_moneyness'] }} and {{ p.get('max_moneyness', 1e9) }}
        {%- endif %}
        {%- if p.get('min_abs_delta') is not none %}
        and abs(fct_option_features.delta) between {{ p['min_abs_delta'] }} and {{ p.get('max_abs_delta', 1) }}
        {%- endif %}
        {%- if p.get('exclude_stale', true) %}
        and not fct_option_features.is_stale_quote
        {%- endif %}
        {%- if p.get('expiry_types') %}
        and fct_option_features.expiry_type in ('{{ p['expiry_types'] | join("', '") }}')
        {%- endif %}

)

select * from quotes_in_universe
{%- endmacro %}
