{#- One row per underlying per quote_date: the 30-day constant-maturity ATM IV and 25-delta wings,
    and where the rank of that ATM IV sits in its own trailing history. -#}
{%- set target_tte = 30.0 / 365.0 -%}
{%- set min_history = var('iv_rank_min_history_days') -%}
{%- set rank_window = var('iv_rank_window_calendar_days') -%}

with

int_option_expiry_surface as (

    select * from {{ ref('int_option_expiry_surface') }}
    where atm_iv is not null

),

-- The expiries on either side of 30 days (ties on maturity fall to the settlement type).
bracketed as (

    select
        int_option_expiry_surface.underlying_symbol,
        int_option_expiry_surface.quote_date,
        -- total implied variance σ²T interpolates linearly in T without calendar arbitrage
        -- (Gatheral, The Volatility Surface, 2006, ch. 3); the wings interpolate linearly in T
        {{ bracketing_points('variance', 'int_option_expiry_surface.tte_years', 'int_option_expiry_surface.atm_iv ^ 2 * int_option_expiry_surface.tte_years', target_tte, 'int_option_expiry_surface.settlement_type') }},
        {{ bracketing_points('risk_reversal', 'int_option_expiry_surface.tte_years', 'int_option_expiry_surface.risk_reversal_25d', target_tte, 'int_option_expiry_surface.settlement_type') }},
        {{ bracketing_points('butterfly', 'int_option_expiry_surface.tte_years', 'int_option_expiry_surface.butterfly_25d', target_tte, 'int_option_expiry_surface.settlement_type') }},
    from int_option_expiry_surface
    group by all

),

interpolated as (

    select
        bracketed.underlying_symbol,
        bracketed.quote_date,
        sqrt({{ interpolate_linear('bracketed.variance_below', 'bracketed.variance_above', target_tte) }} / {{ target_tte }})
            as atm_iv_30d,
        {{ interpolate_linear('bracketed.risk_reversal_below', 'bracketed.risk_reversal_above', target_tte) }}
            as risk_reversal_25d_30d,
        {{ interpolate_linear('bracketed.butterfly_below', 'bracketed.butterfly_above', target_tte) }}
            as butterfly_25d_30d,
    from bracketed

),

-- IV rank = (x − min) / (max − min) over the quote dates of the trailing {{ rank_window }} calendar
-- days (this day included; a calendar window, so a gap in the data never reaches back years);
-- NULL until {{ min_history }} days of history exist (the embedded chains are short: 56 days of
-- 2019, 5 of 2011).
ranked as (

    select
        interpolated.*,
        count(interpolated.atm_iv_30d) over trailing_days as atm_iv_30d_history_days,
        case
            when count(interpolated.atm_iv_30d) over trailing_days >= {{ min_history }}
                and max(interpolated.atm_iv_30d) over trailing_days > min(interpolated.atm_iv_30d) over trailing_days
                then (interpolated.atm_iv_30d - min(interpolated.atm_iv_30d) over trailing_days)
                    / (max(interpolated.atm_iv_30d) over trailing_days - min(interpolated.atm_iv_30d) over trailing_days)
        end as atm_iv_30d_rank,
    from interpolated
    window trailing_days as (
        partition by interpolated.underlying_symbol
        order by interpolated.quote_date
        range between interval {{ rank_window - 1 }} days preceding and current row
    )

)

select * from ranked
