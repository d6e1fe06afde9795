{#- The Cboe strategy benchmark indices an engine run can replicate: backtest.runs.strategy is
    the symbol in lower case (engine/configs/benchmarks/<symbol>.yaml). -#}
{%- set benchmark_symbols = ['BXM', 'BXMD', 'PUT', 'CNDR', 'BFLY', 'CLL', 'PPUT'] -%}

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

-- the engine's runs of a benchmark's rules, with their window
benchmark_runs as (

    select
        upper(backtest_runs.strategy) as benchmark_symbol,
        backtest_runs.chain_source,
        backtest_runs.run_id,
        backtest_runs.first_date,
        backtest_runs.last_date,
        backtest_runs.write_seq,
    from backtest_runs
    where upper(backtest_runs.strategy) in ('{{ benchmark_symbols | join("', '") }}')

),

-- One run per benchmark × chain source: the most recently written (the highest write_seq, the
-- order the engine wrote runs in), then the longest window (last_date − first_date), the
-- latest last_date and the smallest run_id. A deterministic choice whatever the table's row
-- order; after a config changes, its new run is the one read.
benchmark_runs_chosen as (

    select benchmark_runs.*,
    from benchmark_runs
    qualify row_number() over (
        partition by benchmark_runs.benchmark_symbol, benchmark_runs.chain_source
        order by
            benchmark_runs.write_seq desc nulls last,
            benchmark_runs.last_date - benchmark_runs.first_date desc,
            benchmark_runs.last_date desc,
            benchmark_runs.run_id asc
    ) = 1

),

-- the run's sessions: its equity (USD, a total-return portfolio value) and the published
-- level that session (NULL where no history of the index is loaded, or Cboe
-- published none that day)
run_sessions as (

    select
        benchmark_runs_chosen.benchmark_symbol,
        benchmark_runs_chosen.chain_source,
        backtest_equity_daily.quote_date,
        benchmark_runs_chosen.run_id,
        cast(backtest_equity_daily.equity_usd as double) as equity_usd,
        fct_benchmark_index_levels.level as published_level,
    from benchmark_runs_chosen
    inner join backtest_equity_daily
        on benchmark_runs_chosen.run_id = backtest_equity_daily.run_id
    left join fct_benchmark_index_levels
        on
            benchmark_runs_chosen.benchmark_symbol = fct_benchmark_index_levels.index_symbol
            and backtest_equity_daily.quote_date = fct_benchmark_index_levels.trade_date

),

-- The base of the normalisation: the run's first session with a published level (the issue's
-- "normalised to the published index on the first common date"), whose replicated level is
-- then the published one exactly; without one, the run's first session, at 100.
normalisation_bases as (

    select
        run_sessions.run_id,
        arg_min(run_sessions.equity_usd, run_sessions.quote_date)
            filter (where run_sessions.published_level is not null)
            as published_base_equity_usd,
        arg_min(run_sessions.published_level, run_sessions.quote_date)
            filter (where run_sessions.published_level is not null)
            as published_base_level,
        arg_min(run_sessions.equity_usd, run_sessions.quote_date) as first_equity_usd,
    from run_sessions
    group by run_sessions.run_id

),

levels as (

    select
        run_sessions.benchmark_symbol,
        run_sessions.chain_source,
        run_sessions.quote_date,
        run_sessions.run_id,
        normalisation_bases.published_base_level is not null as is_normalised_to_published,
        coalesce(normalisation_bases.published_base_level, 100.0) * (
            run_sessions.equity_usd
            / coalesce(
                normalisation_bases.published_base_equity_usd,
                normalisation_bases.first_equity_usd
            )
        ) as replicated_level,
        run_sessions.published_level,
    from run_sessions
    inner join normalisation_bases
        on run_sessions.run_id = normalisation_bases.run_id

),

-- session-to-session returns over the run's sessions; NULL on the first session and where
-- either level is missing
final as (

    select
        levels.benchmark_symbol,
        levels.chain_source,
        levels.quote_date,
        levels.run_id,
        levels.is_normalised_to_published,
        levels.replicated_level,
        levels.published_level,
        levels.replicated_level / lag(levels.replicated_level) over run_order - 1
            as replicated_daily_return,
        levels.published_level / lag(levels.published_level) over run_order - 1
            as published_daily_return,
    from levels
    window run_order as (partition by levels.run_id order by levels.quote_date)

)

select * from final
