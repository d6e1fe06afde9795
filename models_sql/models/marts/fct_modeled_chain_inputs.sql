{#- One row per underlying_symbol per session of a modeled window (var modeled_chains): the REAL
    inputs a modeled chain is priced from, and nothing else. The generator
    (fct_option_quotes_modeled) reads only this table and the calibration.
      underlying_price       the underlying's raw close that session (USD; fct_underlying_daily)
      vix_9d, vix, vix_3m, vix_6m, skew_points   Cboe index closes (decimal; SKEW in points)
      volatility_index_30d   the 30-day variance-swap level of this underlying (VIX, or VXAPL)
      rate_1m .. rate_2y     FRED constant-maturity yields, decimal, carried over holidays
      dividend_yield         trailing 12-month dividend yield of dividend_symbol (each dividend
                             over the raw close it was cut from, ex-dates in the 365 days up to
                             the session); after the factor files end, the last such yield is
                             carried (dividend_yield_method says which). SPX uses SPY's: the
                             index's own dividends are not in the data.
    A session lacking the close or the 30-day index is not modeled (no row). -#}

{%- set windows = var('modeled_chains') -%}
{%- for w in windows -%}
    {%- if w.volatility_source not in ['VIX_FAMILY', 'VXAPL'] -%}
        {{ exceptions.raise_compiler_error("modeled_chains: volatility_source must be VIX_FAMILY or VXAPL, got " ~ w.volatility_source ~ " for " ~ w.underlying_symbol) }}
    {%- endif -%}
    {%- if not (w.max_dte > 0) -%}
        {{ exceptions.raise_compiler_error("modeled_chains: max_dte must be > 0, got " ~ w.max_dte ~ " for " ~ w.underlying_symbol) }}
    {%- endif -%}
    {%- if w.get('monthly_strike_band_pct') is not none and not (w.monthly_strike_band_pct > 0) -%}
        {{ exceptions.raise_compiler_error("modeled_chains: monthly_strike_band_pct must be > 0 percent, got " ~ w.monthly_strike_band_pct ~ " for " ~ w.underlying_symbol) }}
    {%- endif -%}
    {%- if not (w.get('monthly_max_dte', w.max_dte) >= w.max_dte) -%}
        {{ exceptions.raise_compiler_error("modeled_chains: monthly_max_dte must be >= max_dte (" ~ w.max_dte ~ "), got " ~ w.monthly_max_dte ~ " for " ~ w.underlying_symbol) }}
    {%- endif -%}
{%- endfor %}

with

fct_underlying_daily as (

    select * from {{ ref('fct_underlying_daily') }}

),

int_volatility_indices_pivoted as (

    select * from {{ ref('int_volatility_indices_pivoted') }}

),

int_rates_pivoted as (

    select * from {{ ref('int_rates_pivoted') }}

),

fct_dividends as (

    select * from {{ ref('fct_dividends') }}

),

nyse_sessions as (

    select * from {{ ref('nyse_sessions') }}

),

windows as (

    {%- for w in windows %}
    select
        '{{ w.underlying_symbol }}' as underlying_symbol,
        date '{{ w.start_date }}' as start_date,
        date '{{ w.end_date }}' as end_date,
        '{{ w.volatility_source }}' as volatility_source,
        '{{ w.dividend_symbol }}' as dividend_symbol,
        {{ w.max_dte }}::integer as max_dte,
        {{ w.get('monthly_max_dte', w.max_dte) }}::integer as monthly_max_dte,
        {{ w.get('monthly_strike_band_pct', 'null') }}::double as monthly_strike_band_pct,
        '{{ w.purpose }}' as purpose,
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

window_sessions as (

    select
        windows.*,
        nyse_sessions.session_date as quote_date,
        nyse_sessions.is_early_close,
    from windows
    inner join nyse_sessions
        on nyse_sessions.session_date between windows.start_date and windows.end_date

),

dividend_coverage as (

    select
        fct_dividends.underlying_symbol as dividend_symbol,
        min(fct_dividends.ex_date) as first_ex_date,
        max(fct_dividends.ex_date) as last_ex_date,
    from fct_dividends
    group by all

),

-- Trailing 12-month dividend yield on each session of a window: the sum, over the ex-dates of
-- the 365 days up to the session, of each dividend over the raw close it was cut from
-- (reference_price, the close before the ex-date). Each term is a yield of its own date, so a
-- split inside the year changes nothing. The factor files end (2021-03): a session more than a
-- quarter past the last ex-date would miss payments the files do not have, and carries the
-- yield of the year to the last ex-date instead (dividend_yield_method says which).
dividend_yields as (

    select
        window_sessions.underlying_symbol,
        window_sessions.quote_date,
        case
            when window_sessions.quote_date < dividend_coverage.first_ex_date then 'no_dividends_yet'
            when window_sessions.quote_date <= dividend_coverage.last_ex_date + interval 95 day
                then 'trailing_12m'
            else 'carried_last_trailing_12m'
        end as dividend_yield_method,
        coalesce(sum(fct_dividends.dividend_usd / fct_dividends.reference_price), 0.0)
            as dividend_yield,
    from window_sessions
    inner join dividend_coverage
        on dividend_coverage.dividend_symbol = window_sessions.dividend_symbol
    left join fct_dividends
        on fct_dividends.underlying_symbol = window_sessions.dividend_symbol
        and fct_dividends.ex_date <= least(window_sessions.quote_date, dividend_coverage.last_ex_date)
        and fct_dividends.ex_date > least(window_sessions.quote_date, dividend_coverage.last_ex_date)
            - interval 365 day
    group by all

),

inputs as (

    select
        window_sessions.underlying_symbol,
        window_sessions.quote_date,
        window_sessions.is_early_close,
        window_sessions.volatility_source,
        window_sessions.dividend_symbol,
        window_sessions.max_dte,
        window_sessions.monthly_max_dte,
        window_sessions.monthly_strike_band_pct,
        window_sessions.purpose,
        fct_underlying_daily.close as underlying_price,
        int_volatility_indices_pivoted.vix_9d,
        int_volatility_indices_pivoted.vix,
        int_volatility_indices_pivoted.vix_3m,
        int_volatility_indices_pivoted.vix_6m,
        int_volatility_indices_pivoted.skew_points,
        case window_sessions.volatility_source
            when 'VXAPL' then int_volatility_indices_pivoted.vxapl
            else int_volatility_indices_pivoted.vix
        end as volatility_index_30d,
        int_rates_pivoted.rate_1m,
        int_rates_pivoted.rate_3m,
        int_rates_pivoted.rate_6m,
        int_rates_pivoted.rate_1y,
        int_rates_pivoted.rate_2y,
        dividend_yields.dividend_yield,
        dividend_yields.dividend_yield_method,
    from window_sessions
    inner join fct_underlying_daily
        on fct_underlying_daily.underlying_symbol = window_sessions.underlying_symbol
        and fct_underlying_daily.trade_date = window_sessions.quote_date
    inner join int_volatility_indices_pivoted
        on int_volatility_indices_pivoted.trade_date = window_sessions.quote_date
    asof left join int_rates_pivoted
        on int_rates_pivoted.observation_date <= window_sessions.quote_date
    inner join dividend_yields
        on dividend_yields.underlying_symbol = window_sessions.underlying_symbol
        and dividend_yields.quote_date = window_sessions.quote_date

)

select *
from inputs
where
    underlying_price > 0
    and volatility_index_30d > 0
    and rate_1m is not null
order by underlying_symbol, quote_date
