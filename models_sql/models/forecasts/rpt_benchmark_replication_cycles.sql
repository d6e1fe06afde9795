{#- The product issue's target on the real chain: the replication's cumulative return within
    0.5 percentage points of the index's per roll cycle (decimal, > 0). -#}
{%- set max_abs_return_difference = var('benchmark_cycle_max_abs_return_difference', 0.005) -%}
{#- Fewest daily return differences a cycle's daily tracking error is reported on. -#}
{%- set min_sessions = 3 -%}

with

rpt_benchmark_replication as (

    select * from {{ ref('rpt_benchmark_replication') }}

),

backtest_trades as (

    select * from {{ source('backtest', 'trades') }}

),

-- the run each benchmark × chain source is read from (rpt_benchmark_replication's choice) and
-- its last session
replication_runs as (

    select
        rpt_benchmark_replication.benchmark_symbol,
        rpt_benchmark_replication.chain_source,
        rpt_benchmark_replication.run_id,
        max(rpt_benchmark_replication.quote_date) as last_session_date,
    from rpt_benchmark_replication
    group by all

),

-- the roll dates: the sessions the run entered a position on (a benchmark run enters only on
-- its roll dates, engine/configs/benchmarks/: entry.schedule monthly_expiration_day)
roll_dates as (

    select distinct
        replication_runs.benchmark_symbol,
        replication_runs.chain_source,
        replication_runs.run_id,
        replication_runs.last_session_date,
        backtest_trades.entry_date as roll_date,
    from replication_runs
    inner join backtest_trades
        on replication_runs.run_id = backtest_trades.run_id

),

-- a cycle runs from one roll date to the next, the last one to the run's last session; a last
-- roll on the run's last session opens no cycle
cycles as (

    select
        roll_dates.benchmark_symbol,
        roll_dates.chain_source,
        roll_dates.run_id,
        roll_dates.roll_date as cycle_start_date,
        coalesce(lead(roll_dates.roll_date) over run_rolls, roll_dates.last_session_date)
            as cycle_end_date,
        lead(roll_dates.roll_date) over run_rolls is not null as is_complete_cycle,
        row_number() over run_rolls as cycle_no,
    from roll_dates
    window run_rolls as (partition by roll_dates.run_id order by roll_dates.roll_date)

),

cycles_with_sessions as (

    select cycles.*,
    from cycles
    where cycles.cycle_end_date > cycles.cycle_start_date

),

-- the sessions inside each cycle (after its start, up to its end) and the difference of
-- their daily returns (NULL where either is missing)
cycle_sessions as (

    select
        cycles_with_sessions.run_id,
        cycles_with_sessions.cycle_start_date,
        rpt_benchmark_replication.replicated_daily_return
        - rpt_benchmark_replication.published_daily_return as daily_return_difference,
    from cycles_with_sessions
    inner join rpt_benchmark_replication
        on
            cycles_with_sessions.run_id = rpt_benchmark_replication.run_id
            and rpt_benchmark_replication.quote_date > cycles_with_sessions.cycle_start_date
            and rpt_benchmark_replication.quote_date <= cycles_with_sessions.cycle_end_date

),

-- the cycle's daily tracking error: stdev_samp of those differences x sqrt(252) (the ex-post
-- definition, e.g. Grinold & Kahn, Active Portfolio Management, 2nd ed., ch. 2, on daily
-- returns, 252 sessions a year)
daily_returns_summarised as (

    select
        cycle_sessions.run_id,
        cycle_sessions.cycle_start_date,
        count(*) as n_sessions,
        count(cycle_sessions.daily_return_difference) as n_daily_differences,
        stddev_samp(cycle_sessions.daily_return_difference) * sqrt(252)
            as daily_tracking_error_annualised,
    from cycle_sessions
    group by cycle_sessions.run_id, cycle_sessions.cycle_start_date

),

-- the levels at the cycle's two ends (the closes of the roll dates): cumulative returns
cycle_returns as (

    select
        cycles_with_sessions.benchmark_symbol,
        cycles_with_sessions.chain_source,
        cycles_with_sessions.cycle_start_date,
        cycles_with_sessions.cycle_end_date,
        cycles_with_sessions.run_id,
        cycles_with_sessions.cycle_no,
        cycles_with_sessions.is_complete_cycle,
        daily_returns_summarised.n_sessions,
        cycle_start_levels.replicated_level as replicated_start_level,
        cycle_end_levels.replicated_level as replicated_end_level,
        cycle_start_levels.published_level as published_start_level,
        cycle_end_levels.published_level as published_end_level,
        cycle_end_levels.replicated_level / cycle_start_levels.replicated_level - 1
            as replicated_return,
        cycle_end_levels.published_level / cycle_start_levels.published_level - 1
            as published_return,
        case
            when daily_returns_summarised.n_daily_differences >= {{ min_sessions }}
                then daily_returns_summarised.daily_tracking_error_annualised
        end as daily_tracking_error_annualised,
    from cycles_with_sessions
    inner join rpt_benchmark_replication as cycle_start_levels
        on
            cycles_with_sessions.run_id = cycle_start_levels.run_id
            and cycles_with_sessions.cycle_start_date = cycle_start_levels.quote_date
    inner join rpt_benchmark_replication as cycle_end_levels
        on
            cycles_with_sessions.run_id = cycle_end_levels.run_id
            and cycles_with_sessions.cycle_end_date = cycle_end_levels.quote_date
    inner join daily_returns_summarised
        on
            cycles_with_sessions.run_id = daily_returns_summarised.run_id
            and cycles_with_sessions.cycle_start_date = daily_returns_summarised.cycle_start_date

),

final as (

    select
        cycle_returns.benchmark_symbol,
        cycle_returns.chain_source,
        cycle_returns.cycle_start_date,
        cycle_returns.cycle_end_date,
        cycle_returns.run_id,
        cycle_returns.cycle_no,
        cycle_returns.is_complete_cycle,
        cycle_returns.n_sessions,
        cycle_returns.replicated_start_level,
        cycle_returns.replicated_end_level,
        cycle_returns.published_start_level,
        cycle_returns.published_end_level,
        -- rounded to 10 decimals, as the summary: the tracking error because a parallel
        -- aggregate's float sum may add in another order from build to build (two builds are to
        -- be bit-identical), the returns to read as the decimals they are
        round(cycle_returns.replicated_return, 10) as replicated_return,
        round(cycle_returns.published_return, 10) as published_return,
        round(cycle_returns.replicated_return - cycle_returns.published_return, 10)
            as return_difference,
        abs(cycle_returns.replicated_return - cycle_returns.published_return)
        <= {{ max_abs_return_difference }} as is_within_target,
        round(cycle_returns.daily_tracking_error_annualised, 10) as daily_tracking_error_annualised,
    from cycle_returns

)

select * from final
