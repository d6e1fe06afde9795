{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='quote_date',
        on_schema_change='fail',
    )
}}
{#- The quote dates this run leaves as built: every other date is (re)built (macro
    quote_dates_kept), including a day whose dividend-yield fallback came from a changed day. -#}
{%- set kept_dates = quote_dates_kept(look_back=['dividend_yield_carry']) -%}
{#- Time convention (documented in the YAML): time to settlement runs from the instant the quote
    was taken (quoted_at, UTC, each layout's quote time set at landing) to the settlement
    instant, calendar time ACT/365. PM-settled contracts settle at the close of the expiration
    date, 16:00 ET (13:00 ET on a scheduled half day, seed nyse_sessions), AM-settled ones at
    the 09:30 ET open (Special Opening Quotation). New York wall times become instants with that
    day's UTC offset, so a span across a DST change counts its real hours. -#}
{%- set settlement_minutes_et = {'AM': 9 * 60 + 30, 'PM': 16 * 60} -%}
{%- set early_close_minutes_et = 13 * 60 -%}
{%- set seconds_per_year = 365 * 24 * 60 * 60 -%}
{#- FRED constant-maturity tenors in years, knots of the linear interpolation. -#}
{%- set curve_knots = [
    ('rate_1m', 1.0 / 12.0),
    ('rate_3m', 0.25),
    ('rate_6m', 0.5),
    ('rate_1y', 1.0),
    ('rate_2y', 2.0),
    ('rate_5y', 5.0),
    ('rate_10y', 10.0),
    ('rate_30y', 30.0),
] -%}
{#- Strikes whose parity forwards are averaged (median), closest |C - P| first. -#}
{%- set forward_n_closest_strikes = 3 -%}
{#- Shortest chain (calendar days) whose parity dividend yield feeds the fallback. -#}
{%- set fallback_min_dte = 7 -%}

with

int_option_quotes_priced as (

    select * from {{ ref('int_option_quotes_priced') }}
    where {{ quote_dates_outside(kept_dates) }}
        -- adjusted contracts (AAPL7, a 65.71 strike, a deliverable other than 100 shares) are
        -- never priced as standard ones: they stay, flagged, in int_option_quotes_priced
        and is_standard_contract

),

int_rates_pivoted as (

    select * from {{ ref('int_rates_pivoted') }}

),

nyse_sessions as (

    select * from {{ ref('nyse_sessions') }}

),

quotes_with_settlement as (

    select
        int_option_quotes_priced.contract_symbol,
        int_option_quotes_priced.quote_date,
        int_option_quotes_priced.quoted_at,
        int_option_quotes_priced.underlying_symbol,
        int_option_quotes_priced.option_root,
        int_option_quotes_priced.settlement_type,
        int_option_quotes_priced.exercise_style,
        int_option_quotes_priced.expiration,
        int_option_quotes_priced.option_type,
        int_option_quotes_priced.strike,
        int_option_quotes_priced.bid,
        int_option_quotes_priced.ask,
        int_option_quotes_priced.mid,
        int_option_quotes_priced.underlying_price,
        int_option_quotes_priced.dte::integer as dte,
        -- the settlement instant: New York wall time on the expiration date, in UTC
        timezone(
            'America/New_York',
            int_option_quotes_priced.expiration::timestamp
            + to_minutes(
                case
                    when int_option_quotes_priced.settlement_type = 'PM'
                        and nyse_sessions.is_early_close
                        then {{ early_close_minutes_et }}
                    {%- for settlement_type, minutes in settlement_minutes_et.items() %}
                    when int_option_quotes_priced.settlement_type = '{{ settlement_type }}'
                        then {{ minutes }}
                    {%- endfor %}
                end
            )
        ) as expires_at,
        int_option_quotes_priced.source,
        int_option_quotes_priced.batch_fingerprint,
    from int_option_quotes_priced
    left join nyse_sessions
        on int_option_quotes_priced.expiration = nyse_sessions.session_date

),

quotes_with_tte as (

    select
        quotes_with_settlement.*,
        (epoch(quotes_with_settlement.expires_at) - epoch(quotes_with_settlement.quoted_at))
            / {{ seconds_per_year }}.0 as tte_years,
    from quotes_with_settlement

),

-- The curve as known on the quote date: the latest FRED observation on or before it (never a
-- later one), each knot converted from a bond-equivalent (semi-annual) yield y to a
-- continuously compounded rate 2 ln(1 + y / 2).
curves_as_of_quote_date as (

    select
        quote_dates.quote_date,
        {%- for column, tenor in curve_knots %}
        2.0 * ln(1.0 + int_rates_pivoted.{{ column }} / 2.0) as {{ column }},
        {%- endfor %}
    from (select distinct quotes_with_tte.quote_date from quotes_with_tte) as quote_dates
    asof left join int_rates_pivoted
        on quote_dates.quote_date >= int_rates_pivoted.observation_date

),

-- Linear in tte_years between the two neighbouring knots, flat beyond the first and last.
quotes_with_rate as (

    select
        quotes_with_tte.*,
        case
            when quotes_with_tte.tte_years <= {{ curve_knots[0][1] }}
                then curves_as_of_quote_date.{{ curve_knots[0][0] }}
            {%- for i in range(1, curve_knots | length) %}
            {%- set lower_column, lower_tenor = curve_knots[i - 1] %}
            {%- set upper_column, upper_tenor = curve_knots[i] %}
            when quotes_with_tte.tte_years <= {{ upper_tenor }}
                then curves_as_of_quote_date.{{ lower_column }}
                + (curves_as_of_quote_date.{{ upper_column }}
                    - curves_as_of_quote_date.{{ lower_column }})
                * (quotes_with_tte.tte_years - {{ lower_tenor }})
                / ({{ upper_tenor }} - {{ lower_tenor }})
            {%- endfor %}
            else curves_as_of_quote_date.{{ curve_knots[-1][0] }}
        end as risk_free_rate,
    from quotes_with_tte
    left join curves_as_of_quote_date
        on quotes_with_tte.quote_date = curves_as_of_quote_date.quote_date

),

-- One row per chain (underlying, root, settlement, quote_date, expiration) and strike quoted
-- with a two-sided market (bid > 0) for both the call and the put; its parity forward
-- F = K + e^{rT} (C - P). SPX AM monthlies and SPXW PM weeklies expiring on the same date are
-- different chains (their settlement prices differ), so option_root is part of the key.
parity_forwards_by_strike as (

    select
        calls.underlying_symbol,
        calls.option_root,
        calls.settlement_type,
        calls.quote_date,
        calls.expiration,
        calls.strike,
        abs(calls.mid - puts.mid) as call_put_gap,
        calls.strike + exp(calls.risk_free_rate * calls.tte_years) * (calls.mid - puts.mid)
            as forward_price,
    from quotes_with_rate as calls
    inner join quotes_with_rate as puts
        on calls.underlying_symbol = puts.underlying_symbol
        and calls.option_root = puts.option_root
        and calls.settlement_type = puts.settlement_type
        and calls.quote_date = puts.quote_date
        and calls.expiration = puts.expiration
        and calls.strike = puts.strike
        and puts.option_type = 'put'
    where calls.option_type = 'call'
        and calls.bid > 0
        and puts.bid > 0
        and calls.mid is not null
        and puts.mid is not null

),

-- Near the forward |C - P| is smallest and parity is least exposed to stale or wide quotes:
-- keep the closest strikes (ties to the lower strike) ...
parity_forwards_closest as (

    select *
    from parity_forwards_by_strike
    qualify row_number() over (
        partition by
            parity_forwards_by_strike.underlying_symbol,
            parity_forwards_by_strike.option_root,
            parity_forwards_by_strike.settlement_type,
            parity_forwards_by_strike.quote_date,
            parity_forwards_by_strike.expiration
        order by parity_forwards_by_strike.call_put_gap, parity_forwards_by_strike.strike
    ) <= {{ forward_n_closest_strikes }}

),

-- ... and take the median of their forwards (the mean of two when only two exist).
parity_forwards_by_chain as (

    select
        parity_forwards_closest.underlying_symbol,
        parity_forwards_closest.option_root,
        parity_forwards_closest.settlement_type,
        parity_forwards_closest.quote_date,
        parity_forwards_closest.expiration,
        median(parity_forwards_closest.forward_price) as forward_price,
        count(*)::integer as forward_n_strikes,
    from parity_forwards_closest
    group by all

),

quotes_with_parity_forward as (

    select
        quotes_with_rate.*,
        parity_forwards_by_chain.forward_price as parity_forward_price,
        parity_forwards_by_chain.forward_n_strikes,
        -- q = r - ln(F / S) / T, continuous (Hull eq. 5.3 solved for q)
        case
            when quotes_with_rate.tte_years > 0 and quotes_with_rate.underlying_price > 0
                then quotes_with_rate.risk_free_rate
                - ln(parity_forwards_by_chain.forward_price / quotes_with_rate.underlying_price)
                / quotes_with_rate.tte_years
        end as parity_dividend_yield,
    from quotes_with_rate
    left join parity_forwards_by_chain
        on quotes_with_rate.underlying_symbol = parity_forwards_by_chain.underlying_symbol
        and quotes_with_rate.option_root = parity_forwards_by_chain.option_root
        and quotes_with_rate.settlement_type = parity_forwards_by_chain.settlement_type
        and quotes_with_rate.quote_date = parity_forwards_by_chain.quote_date
        and quotes_with_rate.expiration = parity_forwards_by_chain.expiration

),

-- One row per chain with a parity forward: its dividend yield (a chain's rows share it).
parity_dividend_yields_by_chain as (

    select distinct
        quotes_with_parity_forward.underlying_symbol,
        quotes_with_parity_forward.option_root,
        quotes_with_parity_forward.settlement_type,
        quotes_with_parity_forward.quote_date,
        quotes_with_parity_forward.expiration,
        quotes_with_parity_forward.dte,
        quotes_with_parity_forward.parity_dividend_yield,
    from quotes_with_parity_forward
    where quotes_with_parity_forward.parity_dividend_yield is not null
    {%- if is_incremental() %}
    -- the chains of the days kept as built, as they were computed then (a chain's parity rows
    -- all carry its dividend yield), so the fallback sees the same history as a full build
    union
    select distinct
        built.underlying_symbol,
        built.option_root,
        built.settlement_type,
        built.quote_date,
        built.expiration,
        built.dte,
        built.dividend_yield as parity_dividend_yield,
    from {{ this }} as built
    where built.forward_method = 'put_call_parity'
        and built.dividend_yield is not null
        and {{ quote_dates_among(kept_dates, 'built.quote_date') }}
    {%- endif %}

),

-- Fallback for chains without a call/put pair (a third of the SPY top-20 sample): the median
-- parity dividend yield over the underlying's chains at least a week out, on the latest
-- quote_date that has one (this day or earlier; shorter chains are left out because there q
-- amplifies any asynchrony between the spot snapshot and the option quotes by 1/T).
dividend_yields_by_day as (

    select
        parity_dividend_yields_by_chain.underlying_symbol,
        parity_dividend_yields_by_chain.quote_date,
        median(parity_dividend_yields_by_chain.parity_dividend_yield) as dividend_yield,
    from parity_dividend_yields_by_chain
    where parity_dividend_yields_by_chain.dte >= {{ fallback_min_dte }}
    group by all

),

quotes_with_forward as (

    select
        quotes_with_parity_forward.contract_symbol,
        quotes_with_parity_forward.quote_date,
        quotes_with_parity_forward.quoted_at,
        quotes_with_parity_forward.underlying_symbol,
        quotes_with_parity_forward.option_root,
        quotes_with_parity_forward.settlement_type,
        quotes_with_parity_forward.exercise_style,
        quotes_with_parity_forward.expiration,
        quotes_with_parity_forward.option_type,
        quotes_with_parity_forward.strike,
        quotes_with_parity_forward.bid,
        quotes_with_parity_forward.ask,
        quotes_with_parity_forward.mid,
        quotes_with_parity_forward.underlying_price,
        quotes_with_parity_forward.dte,
        quotes_with_parity_forward.expires_at,
        quotes_with_parity_forward.tte_years,
        quotes_with_parity_forward.risk_free_rate,
        case
            when quotes_with_parity_forward.parity_forward_price is not null
                then 'put_call_parity'
            when dividend_yields_by_day.dividend_yield is not null
                then 'dividend_yield_carry'
        end as forward_method,
        quotes_with_parity_forward.forward_n_strikes,
        coalesce(
            quotes_with_parity_forward.parity_forward_price,
            -- F = S e^{(r - q) T} (Hull eq. 5.3)
            quotes_with_parity_forward.underlying_price
            * exp(
                (quotes_with_parity_forward.risk_free_rate - dividend_yields_by_day.dividend_yield)
                * quotes_with_parity_forward.tte_years
            )
        ) as forward_price,
        case
            when quotes_with_parity_forward.parity_forward_price is not null
                then quotes_with_parity_forward.parity_dividend_yield
            else dividend_yields_by_day.dividend_yield
        end as dividend_yield,
        -- the quote date whose parity dividend yield the forward used (the row's own for a
        -- parity forward); the incremental runs follow it (look-back dividend_yield_carry)
        case
            when quotes_with_parity_forward.parity_forward_price is not null
                then quotes_with_parity_forward.quote_date
            else dividend_yields_by_day.quote_date
        end as dividend_yield_date,
        quotes_with_parity_forward.source,
        quotes_with_parity_forward.batch_fingerprint,
    from quotes_with_parity_forward
    asof left join dividend_yields_by_day
        on quotes_with_parity_forward.underlying_symbol = dividend_yields_by_day.underlying_symbol
        and quotes_with_parity_forward.quote_date >= dividend_yields_by_day.quote_date

)

select * from quotes_with_forward
