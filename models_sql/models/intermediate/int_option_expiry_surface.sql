{#- One row per underlying, quote_date, expiration and settlement type: the smile's summary
    numbers (ATM IV, 25-delta wings) from the computed BSM IVs and deltas. Incremental by
    quote_date (each day's smile depends on that day's IVs only, and those on another day only
    through a carried dividend yield: macro quote_dates_kept). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='quote_date',
        on_schema_change='fail',
    )
}}
with

int_option_quotes_priced as (

    select * from {{ ref('int_option_quotes_priced') }}
    where {{ quote_dates_to_build(look_back=['dividend_yield_carry']) }}

),

int_option_quotes_greeks as (

    select * from {{ ref('int_option_quotes_greeks') }}
    where iv_solve_status = 'ok'

),

-- The out-of-the-money side of the smile carries the information (Hull, ch. 20): puts below
-- the forward, calls at or above it.
smile_points as (

    select
        int_option_quotes_priced.underlying_symbol,
        int_option_quotes_priced.quote_date,
        int_option_quotes_priced.expiration,
        int_option_quotes_priced.settlement_type,
        int_option_quotes_priced.option_type,
        int_option_quotes_priced.strike,
        int_option_quotes_greeks.tte_years,
        int_option_quotes_greeks.forward_price,
        ln(int_option_quotes_priced.strike / int_option_quotes_greeks.forward_price)
            as log_moneyness,
        int_option_quotes_greeks.implied_volatility,
        int_option_quotes_greeks.delta,
        (int_option_quotes_priced.option_type = 'put'
            and int_option_quotes_priced.strike < int_option_quotes_greeks.forward_price)
        or (int_option_quotes_priced.option_type = 'call'
            and int_option_quotes_priced.strike >= int_option_quotes_greeks.forward_price)
            as is_out_of_the_money,
        int_option_quotes_priced.batch_fingerprint,
    from int_option_quotes_priced
    inner join int_option_quotes_greeks
        on int_option_quotes_priced.contract_symbol = int_option_quotes_greeks.contract_symbol
        and int_option_quotes_priced.quote_date = int_option_quotes_greeks.quote_date

),

-- Nearest points on each side of: log-moneyness 0 (OTM options), call delta 0.25, put delta −0.25.
bracketed as (

    select
        smile_points.underlying_symbol,
        smile_points.quote_date,
        smile_points.expiration,
        smile_points.settlement_type,
        min(smile_points.tte_years) as tte_years,
        min(smile_points.forward_price) as forward_price,
        count(*) as n_options,
        {{ bracketing_points('atm', 'smile_points.log_moneyness', 'smile_points.implied_volatility', '0.0', 'smile_points.strike', 'smile_points.is_out_of_the_money') }},
        {{ bracketing_points('call_25d', 'smile_points.delta', 'smile_points.implied_volatility', '0.25', 'smile_points.strike', "smile_points.option_type = 'call'") }},
        {{ bracketing_points('put_25d', 'smile_points.delta', 'smile_points.implied_volatility', '-0.25', 'smile_points.strike', "smile_points.option_type = 'put'") }},
        -- one per quote date: grouping by it splits nothing
        smile_points.batch_fingerprint,
    from smile_points
    group by all

),

interpolated as (

    select
        bracketed.underlying_symbol,
        bracketed.quote_date,
        bracketed.expiration,
        bracketed.settlement_type,
        bracketed.tte_years,
        bracketed.forward_price,
        bracketed.n_options,
        {{ interpolate_linear('bracketed.atm_below', 'bracketed.atm_above', '0.0') }} as atm_iv,
        {{ interpolate_linear('bracketed.call_25d_below', 'bracketed.call_25d_above', '0.25') }} as call_25d_iv,
        {{ interpolate_linear('bracketed.put_25d_below', 'bracketed.put_25d_above', '-0.25') }} as put_25d_iv,
        bracketed.batch_fingerprint,
    from bracketed

),

-- Risk reversal and butterfly in the FX-market convention (Clark, Foreign Exchange Option
-- Pricing, 2011, ch. 3): RR = σ(25Δ call) − σ(25Δ put); BF = (σ(25Δ call) + σ(25Δ put)) / 2 − σ(ATM).
final as (

    select
        interpolated.* exclude (batch_fingerprint),
        interpolated.call_25d_iv - interpolated.put_25d_iv as risk_reversal_25d,
        (interpolated.call_25d_iv + interpolated.put_25d_iv) / 2.0 - interpolated.atm_iv
            as butterfly_25d,
        interpolated.batch_fingerprint,
    from interpolated

)

select * from final
