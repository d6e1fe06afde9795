{#- Bucket edges; the YAML describes them. -#}
{%- set near_the_money_log_moneyness = 0.05 -%}
{%- set wing_log_moneyness = 0.25 -%}
{%- set liquid_max_spread_pct = 10.0 -%}
{%- set liquid_min_dte = 7 -%}
{%- set liquid_max_dte = 60 -%}

with

int_option_quotes_priced as (

    select * from {{ ref('int_option_quotes_priced') }}

),

int_option_quotes_greeks as (

    select * from {{ ref('int_option_quotes_greeks') }}

),

quotes_with_both_calculations as (

    select
        int_option_quotes_priced.source,
        int_option_quotes_priced.option_root,
        int_option_quotes_priced.option_type,
        int_option_quotes_priced.bid,
        int_option_quotes_priced.spread_pct,
        int_option_quotes_priced.dte,
        ln(int_option_quotes_priced.strike / int_option_quotes_greeks.forward_price)
            as log_moneyness,
        int_option_quotes_greeks.iv_solve_status,
        int_option_quotes_priced.implied_volatility as vendor_implied_volatility,
        int_option_quotes_priced.delta as vendor_delta,
        int_option_quotes_priced.gamma as vendor_gamma,
        int_option_quotes_priced.theta as vendor_theta,
        int_option_quotes_priced.vega as vendor_vega,
        int_option_quotes_priced.rho as vendor_rho,
        int_option_quotes_greeks.implied_volatility,
        int_option_quotes_greeks.delta,
        int_option_quotes_greeks.gamma,
        int_option_quotes_greeks.theta,
        int_option_quotes_greeks.vega,
        int_option_quotes_greeks.rho,
    from int_option_quotes_priced
    inner join int_option_quotes_greeks
        on int_option_quotes_priced.contract_symbol = int_option_quotes_greeks.contract_symbol
        and int_option_quotes_priced.quote_date = int_option_quotes_greeks.quote_date

),

quotes_bucketed as (

    select
        quotes_with_both_calculations.*,
        case
            when quotes_with_both_calculations.log_moneyness is null then 'no_forward'
            when abs(quotes_with_both_calculations.log_moneyness)
                <= {{ near_the_money_log_moneyness }}
                and quotes_with_both_calculations.bid > 0
                and quotes_with_both_calculations.spread_pct <= {{ liquid_max_spread_pct }}
                and quotes_with_both_calculations.dte
                between {{ liquid_min_dte }} and {{ liquid_max_dte }}
                then 'liquid_near_the_money'
            when abs(quotes_with_both_calculations.log_moneyness)
                <= {{ near_the_money_log_moneyness }}
                then 'other_near_the_money'
            when abs(quotes_with_both_calculations.log_moneyness) <= {{ wing_log_moneyness }}
                then 'wing'
            else 'far_wing'
        end as comparison_bucket,
        quotes_with_both_calculations.iv_solve_status = 'ok' as is_solved,
    from quotes_with_both_calculations

),

agreement_by_bucket as (

    select
        quotes_bucketed.source,
        quotes_bucketed.option_root,
        quotes_bucketed.option_type,
        quotes_bucketed.comparison_bucket,
        count(*) as n_quotes,
        count(*) filter (where quotes_bucketed.is_solved) as n_solved,
        count(*) filter (
            where quotes_bucketed.is_solved
            and quotes_bucketed.vendor_implied_volatility is not null
        ) as n_iv_compared,
        median(abs(quotes_bucketed.implied_volatility - quotes_bucketed.vendor_implied_volatility))
            as median_abs_iv_diff,
        median(quotes_bucketed.implied_volatility - quotes_bucketed.vendor_implied_volatility)
            as median_iv_diff,
        count(*) filter (
            where quotes_bucketed.is_solved and quotes_bucketed.vendor_delta is not null
        ) as n_delta_compared,
        median(abs(quotes_bucketed.delta - quotes_bucketed.vendor_delta))
            as median_abs_delta_diff,
        {%- for greek in ['gamma', 'theta', 'vega', 'rho'] %}
        median(abs(quotes_bucketed.{{ greek }} - quotes_bucketed.vendor_{{ greek }}))
            as median_abs_{{ greek }}_diff,
        median(
            abs(quotes_bucketed.{{ greek }} - quotes_bucketed.vendor_{{ greek }})
            / nullif(abs(quotes_bucketed.vendor_{{ greek }}), 0)
        ) as median_abs_{{ greek }}_rel_diff,
        {%- endfor %}
    from quotes_bucketed
    group by all

),

final as (

    select
        agreement_by_bucket.source,
        agreement_by_bucket.option_root,
        agreement_by_bucket.option_type,
        agreement_by_bucket.comparison_bucket,
        agreement_by_bucket.n_quotes,
        agreement_by_bucket.n_solved,
        agreement_by_bucket.n_iv_compared,
        agreement_by_bucket.median_abs_iv_diff,
        agreement_by_bucket.median_iv_diff,
        agreement_by_bucket.n_delta_compared,
        agreement_by_bucket.median_abs_delta_diff,
        {%- for greek in ['gamma', 'theta', 'vega', 'rho'] %}
        agreement_by_bucket.median_abs_{{ greek }}_diff,
        agreement_by_bucket.median_abs_{{ greek }}_rel_diff,
        {%- endfor %}
    from agreement_by_bucket
    order by
        agreement_by_bucket.source,
        agreement_by_bucket.option_root,
        agreement_by_bucket.option_type,
        agreement_by_bucket.comparison_bucket

)

select * from final
