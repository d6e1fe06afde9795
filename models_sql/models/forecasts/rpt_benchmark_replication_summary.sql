{#- Fewest monthly returns a correlation or tracking error is reported on. -#}
{%- set min_months = 3 -%}

with

rpt_benchmark_replication as (

    select * from {{ ref('rpt_benchmark_replication') }}

),

-- The sessions monthly returns are read on: those with a published level when the benchmark
-- has any over the run (both series on the same days), else every session of the run (the
-- replicated side alone; the published side stays NULL).
comparable_sessions as (

    select rpt_benchmark_replication.*,
    from rpt_benchmark_replication
    where
        rpt_benchmark_replication.published_level is not null
        or not rpt_benchmark_replication.is_normalised_to_published

),

-- the points monthly returns run between: the first comparable session (the base) and the
-- last comparable session of every calendar month
month_anchors as (

    select
        comparable_sessions.*,
        date_trunc('month', comparable_sessions.quote_date) as return_month,
    from comparable_sessions
    qualify
        comparable_sessions.quote_date = max(comparable_sessions.quote_date) over (
            partition by
                comparable_sessions.run_id,
                date_trunc('month', comparable_sessions.quote_date)
        )
        or comparable_sessions.quote_date = min(comparable_sessions.quote_date) over (
            partition by comparable_sessions.run_id
        )

),

-- one row per run and month: the return from the previous anchor to the month's last session
-- (the first month from the run's first session); a base that is itself a month end opens no
-- month of its own
monthly_returns as (

    select
        month_anchors.benchmark_symbol,
        month_anchors.chain_source,
        month_anchors.run_id,
        month_anchors.is_normalised_to_published,
        month_anchors.return_month,
        month_anchors.quote_date as month_end_date,
        month_anchors.replicated_level / lag(month_anchors.replicated_level) over run_order - 1
            as replicated_return,
        month_anchors.published_level / lag(month_anchors.published_level) over run_order - 1
            as published_return,
    from month_anchors
    window run_order as (partition by month_anchors.run_id order by month_anchors.quote_date)
    qualify lag(month_anchors.quote_date) over run_order is not null

),

-- per calendar year and over the whole run (period 'all'): compounded returns, the correlation
-- of the monthly returns and the annualised tracking error, stdev_samp(monthly difference)
-- x sqrt(12) (the usual ex-post definition: e.g. Grinold & Kahn, Active Portfolio Management,
-- 2nd ed., ch. 2); both NULL below {{ min_months }} months, and NULL with the published side
returns_summarised as (

    select
        monthly_returns.benchmark_symbol,
        monthly_returns.chain_source,
        coalesce(cast(year(monthly_returns.return_month) as varchar), 'all') as period,
        cast(year(monthly_returns.return_month) as integer) as calendar_year,
        any_value(monthly_returns.run_id) as run_id,
        bool_and(monthly_returns.is_normalised_to_published) as has_published_history,
        min(monthly_returns.month_end_date) as first_month_end_date,
        max(monthly_returns.month_end_date) as last_month_end_date,
        count(*) as n_months,
        product(1 + monthly_returns.replicated_return) - 1 as replicated_return,
        product(1 + monthly_returns.published_return) - 1 as published_return,
        case
            when count(*) >= {{ min_months }}
                then corr(monthly_returns.replicated_return, monthly_returns.published_return)
        end as monthly_return_correlation,
        case
            when count(*) >= {{ min_months }}
                then stddev_samp(
                    monthly_returns.replicated_return - monthly_returns.published_return
                ) * sqrt(12)
        end as tracking_error_annualised,
    from monthly_returns
    group by grouping sets (
        (
            monthly_returns.benchmark_symbol,
            monthly_returns.chain_source,
            year(monthly_returns.return_month)
        ),
        (monthly_returns.benchmark_symbol, monthly_returns.chain_source)
    )

),

-- rounded to 10 decimals: float sums of a parallel aggregate may add in another order from
-- build to build, and two builds are to be bit-identical
final as (

    select
        returns_summarised.benchmark_symbol,
        returns_summarised.chain_source,
        returns_summarised.period,
        returns_summarised.calendar_year,
        returns_summarised.run_id,
        returns_summarised.has_published_history,
        returns_summarised.first_month_end_date,
        returns_summarised.last_month_end_date,
        returns_summarised.n_months,
        round(returns_summarised.replicated_return, 10) as replicated_return,
        round(returns_summarised.published_return, 10) as published_return,
        round(returns_summarised.replicated_return - returns_summarised.published_return, 10)
            as return_difference,
        round(returns_summarised.monthly_return_correlation, 10) as monthly_return_correlation,
        round(returns_summarised.tracking_error_annualised, 10) as tracking_error_annualised,
    from returns_summarised

)

select * from final
