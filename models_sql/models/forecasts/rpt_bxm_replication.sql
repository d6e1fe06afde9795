with

backtest_runs as (

    select * from {{ source('backtest', 'runs') }}

),

backtest_equity_daily as (

    select * from {{ source('backtest', 'equity_daily') }}

),

fct_benchmark_index_levels as (

    select * from {{ ref('fct_benchmark_index_levels') }}

),

-- the engine's runs of the BXM rules (engine/configs/benchmarks/bxm.yaml: strategy `bxm`)
bxm_runs as (

    select
        backtest_runs.run_id,
        backtest_runs.chain_source,
    from backtest_runs
    where backtest_runs.strategy = 'bxm'

),

published_bxm_levels as (

    select
        fct_benchmark_index_levels.trade_date,
        fct_benchmark_index_levels.level,
    from fct_benchmark_index_levels
    where fct_benchmark_index_levels.index_symbol = 'BXM'

),

-- both series on the sessions both have: the run's equity (USD; the whole covered portfolio,
-- a total return like the index) and the published level
equity_joined_to_published_levels as (

    select
        bxm_runs.run_id,
        bxm_runs.chain_source,
        backtest_equity_daily.quote_date,
        backtest_equity_daily.equity_usd as replicated_value,
        published_bxm_levels.level as published_value,
    from bxm_runs
    inner join backtest_equity_daily
        on bxm_runs.run_id = backtest_equity_daily.run_id
    inner join published_bxm_levels
        on backtest_equity_daily.quote_date = published_bxm_levels.trade_date

),

-- the points monthly returns run between: the run's first common session (the base) and the
-- last common session of every calendar month
month_anchors as (

    select
        equity_joined_to_published_levels.*,
        date_trunc('month', equity_joined_to_published_levels.quote_date) as return_month,
    from equity_joined_to_published_levels
    qualify
        equity_joined_to_published_levels.quote_date = max(equity_joined_to_published_levels.quote_date) over (
            partition by equity_joined_to_published_levels.run_id, date_trunc('month', equity_joined_to_published_levels.quote_date)
        )
        or equity_joined_to_published_levels.quote_date = min(equity_joined_to_published_levels.quote_date) over (
            partition by equity_joined_to_published_levels.run_id
        )

),

-- one row per run and month: the return from the previous anchor to the month's last session
-- (the first month from the run's first session); a base that is itself a month end opens no
-- month of its own
monthly_returns as (

    select
        month_anchors.run_id,
        month_anchors.chain_source,
        month_anchors.return_month,
        month_anchors.quote_date as month_end_date,
        month_anchors.replicated_value / lag(month_anchors.replicated_value) over run_order - 1 as replicated_return,
        month_anchors.published_value / lag(month_anchors.published_value) over run_order - 1 as published_return,
    from month_anchors
    window run_order as (partition by month_anchors.run_id order by month_anchors.quote_date)
    qualify lag(month_anchors.quote_date) over run_order is not null

),

-- per calendar year and over the whole run (period 'all'): compounded returns, the correlation
-- of the monthly returns and the annualised tracking error, stdev_samp(monthly difference)
-- x sqrt(12) (the usual ex-post definition: e.g. Grinold & Kahn, Active Portfolio Management,
-- 2nd ed., ch. 2); both NULL below 3 months
returns_summarised as (

    select
        monthly_returns.run_id,
        any_value(monthly_returns.chain_source) as chain_source,
        coalesce(cast(year(monthly_returns.return_month) as varchar), 'all') as period,
        cast(year(monthly_returns.return_month) as integer) as calendar_year,
        min(monthly_returns.month_end_date) as first_month_end_date,
        max(monthly_returns.month_end_date) as last_month_end_date,
        count(*) as n_months,
        exp(sum(ln(1 + monthly_returns.replicated_return))) - 1 as replicated_return,
        exp(sum(ln(1 + monthly_returns.published_return))) - 1 as published_return,
        case
            when count(*) >= 3
                then corr(monthly_returns.replicated_return, monthly_returns.published_return)
        end as monthly_return_correlation,
        case
            when count(*) >= 3
                then stddev_samp(monthly_returns.replicated_return - monthly_returns.published_return) * sqrt(12)
        end as tracking_error_annualised,
    from monthly_returns
    group by grouping sets ((monthly_returns.run_id, year(monthly_returns.return_month)), (monthly_returns.run_id))

),

-- rounded to 10 decimals: float sums of a parallel aggregate may add in another order from
-- build to build, and two builds are to be bit-identical
final as (

    select
        returns_summarised.run_id,
        returns_summarised.chain_source,
        returns_summarised.period,
        returns_summarised.calendar_year,
        returns_summarised.first_month_end_date,
        returns_summarised.last_month_end_date,
        returns_summarised.n_months,
        round(returns_summarised.replicated_return, 10) as replicated_return,
        round(returns_summarised.published_return, 10) as published_return,
        round(returns_summarised.replicated_return - returns_summarised.published_return, 10) as return_difference,
        round(returns_summarised.monthly_return_correlation, 10) as monthly_return_correlation,
        round(returns_summarised.tracking_error_annualised, 10) as tracking_error_annualised,
    from returns_summarised

)

select * from final
