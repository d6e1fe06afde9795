{#- The columns of marts.fct_option_chain that both chains have, with their SQL types: the columns
    of warehouse.modeled_chain.MODELED_QUOTE_SCHEMA that marts.fct_option_features also has
    (model_version aside, which only the modeled chain has). Written once here: the chain view
    selects them from both sides. -#}
{% macro option_chain_columns() -%}
    {{ return([
        ['contract_symbol', 'varchar'],
        ['quote_date', 'date'],
        ['quoted_at', 'timestamp with time zone'],
        ['underlying_symbol', 'varchar'],
        ['option_root', 'varchar'],
        ['option_type', 'varchar'],
        ['strike', 'double'],
        ['expiration', 'date'],
        ['dte', 'integer'],
        ['tte_years', 'double'],
        ['expiry_type', 'varchar'],
        ['settlement_type', 'varchar'],
        ['exercise_style', 'varchar'],
        ['bid', 'double'],
        ['ask', 'double'],
        ['mid', 'double'],
        ['spread_pct', 'double'],
        ['underlying_price', 'double'],
        ['forward_price', 'double'],
        ['risk_free_rate', 'double'],
        ['dividend_yield', 'double'],
        ['moneyness', 'double'],
        ['log_moneyness', 'double'],
        ['implied_volatility', 'double'],
        ['delta', 'double'],
        ['gamma', 'double'],
        ['theta', 'double'],
        ['vega', 'double'],
        ['rho', 'double'],
        ['volume', 'bigint'],
        ['open_interest', 'bigint'],
        ['is_stale_quote', 'boolean'],
        ['source', 'varchar'],
    ]) }}
{%- endmacro %}


{#- The columns of marts.fct_option_features that the modeled chain lacks, carried by every
    universe for its real rows (NULL on modeled ones): listed, not `* exclude`d, so a column
    added to fct_option_features later does not change the universes' contract. -#}
{% macro option_features_only_columns() -%}
    {{ return([
        'last',
        'iv_solve_status',
        'vendor_implied_volatility',
        'vendor_delta',
        'vendor_gamma',
        'vendor_theta',
        'vendor_vega',
        'expiry_atm_iv',
        'expiry_risk_reversal_25d',
        'expiry_butterfly_25d',
        'atm_iv_30d',
        'risk_reversal_25d_30d',
        'butterfly_25d_30d',
        'atm_iv_30d_rank',
        'previous_quote_date',
        'open_interest_change',
        'load_id',
        'batch_fingerprint',
    ]) }}
{%- endmacro %}


{#- The rows of marts.fct_option_chain that a universe selects, real and modeled alike (the
    engine filters on chain_source; so should any reader that wants one chain). `params` is a
    dict (a dbt var):
      min_dte, max_dte            calendar days to expiration (required)
      min_moneyness, max_moneyness  S/K band (optional)
      min_abs_delta, max_abs_delta  |delta| band of the BSM delta (optional)
      min_open_interest, min_volume  contracts (default 0)
      max_spread_pct             (ask − bid) / mid in percent (required)
      exclude_stale              drop is_stale_quote rows (default true)
      expiry_types               list of 'monthly' / 'weekly' (optional)
      include_zero_bid           keep quotes whose bid is 0 (and ask > 0), whatever their spread
                                 (default false)
    Every universe requires a two-sided market (bid > 0) unless include_zero_bid is true: the
    benchmark universe keeps the far call nobody bids for, which the Cboe CLL writes by rule (the
    engine then writes it for nothing, execution.zero_bid: trade). A bad value fails at compile
    time with the universe's name and the value.

    Modeled quotes, handled explicitly: the model knows no open interest and no volume (both
    NULL), so a modeled quote passes the open-interest and volume filters only when the
    universe's min_open_interest and min_volume are both 0. A universe with
    min_open_interest > 0 or min_volume > 0 therefore never selects a modeled quote (every
    universe of dbt_project.yml today). Real quotes are filtered exactly as before chain
    sources existed (a real quote with a NULL open interest or volume still fails even a floor
    of 0). A modeled quote is priced afresh every session, so it is never stale
    (fct_option_chain sets is_stale_quote false).

    Output: the chain's columns (with chain_source, model_version, is_preferred), then the
    columns only fct_option_features has (iv_solve_status, the vendor's greeks, the expiry's and
    the day's surface, IV rank, open-interest change, lineage), joined on the quote's key for
    real rows and NULL on modeled ones: ml/ reads them from the default universe. -#}
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
        {%- if key not in ['description', 'min_dte', 'max_dte', 'min_moneyness', 'max_moneyness', 'min_abs_delta', 'max_abs_delta', 'min_open_interest', 'min_volume', 'max_spread_pct', 'exclude_stale', 'expiry_types', 'include_zero_bid'] -%}
            {{ exceptions.raise_compiler_error("universe '" ~ name ~ "': unknown parameter " ~ key) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set min_open_interest = p.get('min_open_interest', 0) -%}
    {%- set min_volume = p.get('min_volume', 0) -%}

with

fct_option_chain as (

    select * from {{ ref('fct_option_chain') }}

),

fct_option_features as (

    select * from {{ ref('fct_option_features') }}

),

quotes_in_universe as (

    select
        fct_option_chain.*,
    from fct_option_chain
    where
        fct_option_chain.dte between {{ p['min_dte'] }} and {{ p['max_dte'] }}
        {%- if p.get('include_zero_bid', false) %}
        -- a zero bid passes whatever its spread: (ask - 0) / mid measures nothing there
        and (
            (fct_option_chain.bid > 0 and fct_option_chain.spread_pct <= {{ p['max_spread_pct'] }})
            or (fct_option_chain.bid = 0 and fct_option_chain.ask > 0)
        )
        {%- else %}
        and fct_option_chain.bid > 0
        and fct_option_chain.spread_pct <= {{ p['max_spread_pct'] }}
        {%- endif %}
        {%- if min_open_interest > 0 %}
        and fct_option_chain.open_interest >= {{ min_open_interest }}
        {%- else %}
        -- a modeled quote has no open interest (NULL): it passes only this floor of 0
        and (fct_option_chain.open_interest >= 0 or fct_option_chain.chain_source = 'modeled')
        {%- endif %}
        {%- if min_volume > 0 %}
        and fct_option_chain.volume >= {{ min_volume }}
        {%- else %}
        -- a modeled quote has no volume (NULL): it passes only this floor of 0
        and (fct_option_chain.volume >= 0 or fct_option_chain.chain_source = 'modeled')
        {%- endif %}
        {%- if p.get('min_moneyness') is not none %}
        and fct_option_chain.moneyness between {{ p['min_moneyness'] }} and {{ p.get('max_moneyness', 1e9) }}
        {%- endif %}
        {%- if p.get('min_abs_delta') is not none %}
        and abs(fct_option_chain.delta) between {{ p['min_abs_delta'] }} and {{ p.get('max_abs_delta', 1) }}
        {%- endif %}
        {%- if p.get('exclude_stale', true) %}
        and not fct_option_chain.is_stale_quote
        {%- endif %}
        {%- if p.get('expiry_types') %}
        and fct_option_chain.expiry_type in ('{{ p['expiry_types'] | join("', '") }}')
        {%- endif %}

),

-- fct_option_features is unique on (contract_symbol, quote_date): the left join keeps the grain
quotes_with_real_only_columns as (

    select
        quotes_in_universe.*,
        {%- for column in option_features_only_columns() %}
        fct_option_features.{{ column }},
        {%- endfor %}
    from quotes_in_universe
    left join fct_option_features
        on quotes_in_universe.chain_source = 'real'
        and quotes_in_universe.contract_symbol = fct_option_features.contract_symbol
        and quotes_in_universe.quote_date = fct_option_features.quote_date

)

select * from quotes_with_real_only_columns
{%- endmacro %}
