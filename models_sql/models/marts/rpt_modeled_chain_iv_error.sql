{#- The modeled chain's out-of-sample error on the real SPX chains, by tenor × delta bucket and
    overall (bucket 'all'), within 10-90 call-equivalent delta and 7-90 days (the issue's target
    region: median |ΔIV| ≤ 1.5 vol points). From fct_modeled_chain_quote_errors (walk-forward: each
    day's surface fitted on earlier days only, its level from that day's VIX-family closes). -#}

with

fct_modeled_chain_quote_errors as (

    select * from {{ ref('fct_modeled_chain_quote_errors') }}
    where call_delta between 0.10 and 0.90
        and dte between 7 and 90

),

by_bucket as (

    select
        coalesce(tenor_bucket, 'all') as tenor_bucket,
        coalesce(delta_bucket, 'all') as delta_bucket,
        count(*) as n_quotes,
        count(distinct quote_date) as n_days,
        min(quote_date) as first_quote_date,
        max(quote_date) as last_quote_date,
        median(abs_error_vol_pts) as median_abs_iv_error_vol_pts,
        quantile_cont(abs_error_vol_pts, 0.9) as p90_abs_iv_error_vol_pts,
        median(error_vol_pts) as median_iv_error_vol_pts,
        median(abs(mid_error_half_spreads)) as median_abs_mid_error_half_spreads,
        avg(is_mid_inside::double) as share_model_mid_inside_real_market,
    from fct_modeled_chain_quote_errors
    group by grouping sets ((tenor_bucket, delta_bucket), (tenor_bucket), ())

)

select * from by_bucket
order by tenor_bucket = 'all', tenor_bucket, delta_bucket = 'all', delta_bucket
