{#- The issue's target: trade P&L correlation, modeled vs real, on the real days (in [-1, 1]). -#}
{%- set target_pnl_correlation = var('modeled_backtest_target_pnl_correlation', 0.8) -%}
{#- Fewest matched trades a correlation is reported on: two points always correlate +-1, and
    on three or four one trade decides the sign. -#}
{%- set min_trades_for_correlation = 5 -%}

with

backtest_runs as (

    select * from {{ source('backtest', 'runs') }}

),

backtest_trades as (

    select * from {{ source('backtest', 'trades') }}

),

backtest_legs as (

    select * from {{ source('backtest', 'legs') }}

),

-- Two runs are one comparison when their configs are identical but for chain_source: the key
-- is the config with that key removed (JSON merge patch, RFC 7386: a null deletes the key;
-- engine/portfolio.py writes config_json with sorted keys, so equal configs give equal text).
runs_keyed_by_config_without_chain_source as (

    select
        backtest_runs.run_id,
        backtest_runs.strategy,
        backtest_runs.underlying_symbol,
        backtest_runs.chain_source,
        backtest_runs.chain_model_version,
        backtest_runs.first_date,
        backtest_runs.last_date,
        md5(json_merge_patch(backtest_runs.config_json, '{"chain_source": null}'))[:16]
            as comparison_id,
        json_extract_string(backtest_runs.config_json, '$.execution.fill') as execution_fill,
        json_extract_string(backtest_runs.config_json, '$.entry.schedule') as entry_schedule,
    from backtest_runs
    where backtest_runs.chain_source in ('real', 'modeled')

),

run_pairs as (

    select
        real_runs.comparison_id,
        real_runs.strategy,
        real_runs.underlying_symbol,
        real_runs.execution_fill,
        real_runs.entry_schedule,
        real_runs.first_date as window_start_date,
        real_runs.last_date as window_end_date,
        modeled_runs.chain_model_version,
        real_runs.run_id as real_run_id,
        modeled_runs.run_id as modeled_run_id,
    from runs_keyed_by_config_without_chain_source as real_runs
    inner join runs_keyed_by_config_without_chain_source as modeled_runs
        on real_runs.comparison_id = modeled_runs.comparison_id
    where
        real_runs.chain_source = 'real'
        and modeled_runs.chain_source = 'modeled'

),

paired_runs as (

    select run_pairs.comparison_id, run_pairs.real_run_id as run_id, 'real' as chain_source,
    from run_pairs
    union all
    select run_pairs.comparison_id, run_pairs.modeled_run_id as run_id, 'modeled' as chain_source,
    from run_pairs

),

-- the contracts a trade holds, leg by leg: two trades hold the same legs when these are equal
trade_leg_signatures as (

    select
        backtest_legs.run_id,
        backtest_legs.trade_id,
        string_agg(
            coalesce(backtest_legs.contract_symbol, backtest_legs.leg_type),
            ',' order by backtest_legs.leg_no
        ) as leg_signature,
    from backtest_legs
    inner join paired_runs
        on backtest_legs.run_id = paired_runs.run_id
    group by all

),

-- entry_rank tells apart several trades a run opens on one session (top_k entries); the
-- default strategies open at most one
trades_of_paired_runs as (

    select
        paired_runs.comparison_id,
        paired_runs.chain_source,
        backtest_trades.trade_id,
        backtest_trades.entry_date,
        row_number() over (
            partition by backtest_trades.run_id, backtest_trades.entry_date
            order by backtest_trades.trade_id
        ) as entry_rank,
        backtest_trades.exit_date,
        backtest_trades.status,
        backtest_trades.pnl_usd,
        trade_leg_signatures.leg_signature,
    from backtest_trades
    inner join paired_runs
        on backtest_trades.run_id = paired_runs.run_id
    left join trade_leg_signatures
        on backtest_trades.run_id = trade_leg_signatures.run_id
        and backtest_trades.trade_id = trade_leg_signatures.trade_id

),

closed_real_trades as (

    select * from trades_of_paired_runs
    where trades_of_paired_runs.chain_source = 'real' and trades_of_paired_runs.status = 'closed'

),

closed_modeled_trades as (

    select * from trades_of_paired_runs
    where trades_of_paired_runs.chain_source = 'modeled' and trades_of_paired_runs.status = 'closed'

),

-- one row per comparison x entry session (x entry_rank): the real and the modeled closed trade
-- entered that session, whatever contracts each chose; a side without one is NULL
closed_trades_matched_by_entry_date as (

    select
        coalesce(closed_real_trades.comparison_id, closed_modeled_trades.comparison_id)
            as comparison_id,
        coalesce(closed_real_trades.entry_date, closed_modeled_trades.entry_date) as entry_date,
        coalesce(closed_real_trades.entry_rank, closed_modeled_trades.entry_rank) as entry_rank,
        false as is_open,
        closed_real_trades.trade_id is not null as has_real,
        closed_modeled_trades.trade_id is not null as has_modeled,
        closed_real_trades.trade_id is not null
        and closed_modeled_trades.trade_id is not null as is_matched,
        closed_real_trades.leg_signature = closed_modeled_trades.leg_signature as is_same_legs,
        closed_real_trades.exit_date = closed_modeled_trades.exit_date as is_same_exit_date,
        closed_real_trades.pnl_usd as real_pnl_usd,
        closed_modeled_trades.pnl_usd as modeled_pnl_usd,
    from closed_real_trades
    full outer join closed_modeled_trades
        on closed_real_trades.comparison_id = closed_modeled_trades.comparison_id
        and closed_real_trades.entry_date = closed_modeled_trades.entry_date
        and closed_real_trades.entry_rank = closed_modeled_trades.entry_rank

),

-- positions the window's end leaves open (P&L a mark, not a trade result): counted, not compared
open_trades as (

    select
        trades_of_paired_runs.comparison_id,
        trades_of_paired_runs.entry_date,
        trades_of_paired_runs.entry_rank,
        true as is_open,
        false as has_real,
        false as has_modeled,
        false as is_matched,
        null::boolean as is_same_legs,
        null::boolean as is_same_exit_date,
        null::double as real_pnl_usd,
        null::double as modeled_pnl_usd,
    from trades_of_paired_runs
    where trades_of_paired_runs.status = 'open'

),

trade_rows as (

    select * from closed_trades_matched_by_entry_date
    union all by name
    select * from open_trades

),

-- every pair keeps a row (a left join: a pair without trades has counts of 0)
trade_rows_of_run_pairs as (

    select
        run_pairs.*,
        trade_rows.entry_date,
        trade_rows.entry_rank,
        coalesce(trade_rows.is_open, false) as is_open,
        coalesce(trade_rows.has_real, false) as has_real,
        coalesce(trade_rows.has_modeled, false) as has_modeled,
        coalesce(trade_rows.is_matched, false) as is_matched,
        coalesce(trade_rows.is_same_legs, false) as is_same_legs,
        coalesce(trade_rows.is_same_exit_date, false) as is_same_exit_date,
        trade_rows.real_pnl_usd,
        trade_rows.modeled_pnl_usd,
    from run_pairs
    left join trade_rows
        on run_pairs.comparison_id = trade_rows.comparison_id

),

-- one row per comparison, and one pooled row per window x fill x schedule x chain model
-- (grouping sets); float aggregates in a fixed order: two builds must be bit-identical
comparisons_aggregated as (

    select
        grouping(trade_rows_of_run_pairs.comparison_id) = 1 as is_pooled,
        trade_rows_of_run_pairs.comparison_id,
        trade_rows_of_run_pairs.strategy,
        trade_rows_of_run_pairs.underlying_symbol,
        trade_rows_of_run_pairs.execution_fill,
        trade_rows_of_run_pairs.entry_schedule,
        trade_rows_of_run_pairs.window_start_date,
        trade_rows_of_run_pairs.window_end_date,
        trade_rows_of_run_pairs.chain_model_version,
        trade_rows_of_run_pairs.real_run_id,
        trade_rows_of_run_pairs.modeled_run_id,
        count(distinct trade_rows_of_run_pairs.comparison_id) as n_pairs,
        count(*) filter (where trade_rows_of_run_pairs.has_real) as n_real_closed_trades,
        count(*) filter (where trade_rows_of_run_pairs.has_modeled) as n_modeled_closed_trades,
        count(*) filter (where trade_rows_of_run_pairs.is_matched) as n_matched_trades,
        count(*) filter (
            where trade_rows_of_run_pairs.has_real and not trade_rows_of_run_pairs.has_modeled
        ) as n_real_only_trades,
        count(*) filter (
            where trade_rows_of_run_pairs.has_modeled and not trade_rows_of_run_pairs.has_real
        ) as n_modeled_only_trades,
        count(*) filter (where trade_rows_of_run_pairs.is_open) as n_open_trades,
        count(*) filter (where trade_rows_of_run_pairs.is_same_legs) as n_matched_same_legs,
        count(*) filter (
            where trade_rows_of_run_pairs.is_same_exit_date
        ) as n_matched_same_exit_date,
        count(*) filter (
            where trade_rows_of_run_pairs.is_same_legs and trade_rows_of_run_pairs.is_same_exit_date
        ) as n_matched_like_for_like,
        {%- for condition, correlation_alias, stddev_alias in [
            ("trade_rows_of_run_pairs.is_matched",
             "pnl_correlation_any", "smaller_pnl_stddev_usd"),
            ("trade_rows_of_run_pairs.is_same_exit_date",
             "same_exit_correlation_any", "same_exit_smaller_pnl_stddev_usd"),
            ("trade_rows_of_run_pairs.is_same_legs and trade_rows_of_run_pairs.is_same_exit_date",
             "like_for_like_correlation_any", "like_for_like_smaller_pnl_stddev_usd"),
        ] %}
        {{ matched_correlation(
            "trade_rows_of_run_pairs.modeled_pnl_usd",
            "trade_rows_of_run_pairs.real_pnl_usd",
            "trade_rows_of_run_pairs.comparison_id, trade_rows_of_run_pairs.entry_date, "
            ~ "trade_rows_of_run_pairs.entry_rank",
            condition,
            correlation_alias,
            stddev_alias,
        ) }}
        {%- endfor %}
        avg(
            trade_rows_of_run_pairs.real_pnl_usd
            order by trade_rows_of_run_pairs.real_pnl_usd
        ) filter (where trade_rows_of_run_pairs.is_matched) as mean_real_pnl_usd,
        avg(
            trade_rows_of_run_pairs.modeled_pnl_usd
            order by trade_rows_of_run_pairs.modeled_pnl_usd
        ) filter (where trade_rows_of_run_pairs.is_matched) as mean_modeled_pnl_usd,
        avg(
            trade_rows_of_run_pairs.modeled_pnl_usd - trade_rows_of_run_pairs.real_pnl_usd
            order by trade_rows_of_run_pairs.modeled_pnl_usd - trade_rows_of_run_pairs.real_pnl_usd
        ) filter (where trade_rows_of_run_pairs.is_matched) as mean_bias_usd,
        avg(
            abs(trade_rows_of_run_pairs.real_pnl_usd)
            order by abs(trade_rows_of_run_pairs.real_pnl_usd)
        ) filter (where trade_rows_of_run_pairs.is_matched) as mean_abs_real_pnl_usd,
        avg(
            abs(trade_rows_of_run_pairs.modeled_pnl_usd - trade_rows_of_run_pairs.real_pnl_usd)
            order by
                abs(trade_rows_of_run_pairs.modeled_pnl_usd - trade_rows_of_run_pairs.real_pnl_usd)
        ) filter (where trade_rows_of_run_pairs.is_matched) as mean_abs_pnl_difference_usd,
        sum(
            trade_rows_of_run_pairs.real_pnl_usd
            order by trade_rows_of_run_pairs.real_pnl_usd
        ) filter (where trade_rows_of_run_pairs.is_matched) as sum_real_pnl_usd,
        sum(
            trade_rows_of_run_pairs.modeled_pnl_usd
            order by trade_rows_of_run_pairs.modeled_pnl_usd
        ) filter (where trade_rows_of_run_pairs.is_matched) as sum_modeled_pnl_usd,
    from trade_rows_of_run_pairs
    group by grouping sets (
        (
            trade_rows_of_run_pairs.underlying_symbol,
            trade_rows_of_run_pairs.execution_fill,
            trade_rows_of_run_pairs.entry_schedule,
            trade_rows_of_run_pairs.window_start_date,
            trade_rows_of_run_pairs.window_end_date,
            trade_rows_of_run_pairs.chain_model_version,
            trade_rows_of_run_pairs.comparison_id,
            trade_rows_of_run_pairs.strategy,
            trade_rows_of_run_pairs.real_run_id,
            trade_rows_of_run_pairs.modeled_run_id
        ),
        (
            trade_rows_of_run_pairs.underlying_symbol,
            trade_rows_of_run_pairs.execution_fill,
            trade_rows_of_run_pairs.entry_schedule,
            trade_rows_of_run_pairs.window_start_date,
            trade_rows_of_run_pairs.window_end_date,
            trade_rows_of_run_pairs.chain_model_version
        )
    )

),

final as (

    select
        case
            when comparisons_aggregated.is_pooled
                then 'all-' || md5(concat_ws(
                    '|',
                    comparisons_aggregated.underlying_symbol,
                    comparisons_aggregated.execution_fill,
                    comparisons_aggregated.entry_schedule,
                    comparisons_aggregated.window_start_date,
                    comparisons_aggregated.window_end_date,
                    comparisons_aggregated.chain_model_version
                ))[:16]
            else comparisons_aggregated.comparison_id
        end as comparison_id,
        comparisons_aggregated.is_pooled,
        coalesce(comparisons_aggregated.strategy, 'all') as strategy,
        comparisons_aggregated.underlying_symbol,
        comparisons_aggregated.execution_fill,
        comparisons_aggregated.entry_schedule,
        comparisons_aggregated.window_start_date,
        comparisons_aggregated.window_end_date,
        comparisons_aggregated.chain_model_version,
        comparisons_aggregated.real_run_id,
        comparisons_aggregated.modeled_run_id,
        comparisons_aggregated.n_pairs,
        comparisons_aggregated.n_real_closed_trades,
        comparisons_aggregated.n_modeled_closed_trades,
        comparisons_aggregated.n_matched_trades,
        comparisons_aggregated.n_real_only_trades,
        comparisons_aggregated.n_modeled_only_trades,
        comparisons_aggregated.n_open_trades,
        comparisons_aggregated.n_matched_same_legs,
        comparisons_aggregated.n_matched_same_exit_date,
        comparisons_aggregated.n_matched_like_for_like,
        case
            when comparisons_aggregated.n_matched_trades >= {{ min_trades_for_correlation }}
                and comparisons_aggregated.smaller_pnl_stddev_usd > 0
                then comparisons_aggregated.pnl_correlation_any
        end as pnl_correlation,
        case
            when comparisons_aggregated.n_matched_same_exit_date >= {{ min_trades_for_correlation }}
                and comparisons_aggregated.same_exit_smaller_pnl_stddev_usd > 0
                then comparisons_aggregated.same_exit_correlation_any
        end as pnl_correlation_same_exit_date,
        case
            when comparisons_aggregated.n_matched_like_for_like >= {{ min_trades_for_correlation }}
                and comparisons_aggregated.like_for_like_smaller_pnl_stddev_usd > 0
                then comparisons_aggregated.like_for_like_correlation_any
        end as pnl_correlation_like_for_like,
        comparisons_aggregated.mean_real_pnl_usd,
        comparisons_aggregated.mean_modeled_pnl_usd,
        comparisons_aggregated.mean_bias_usd,
        comparisons_aggregated.mean_abs_real_pnl_usd,
        comparisons_aggregated.mean_bias_usd
        / nullif(comparisons_aggregated.mean_abs_real_pnl_usd, 0) as mean_bias_share,
        comparisons_aggregated.mean_abs_pnl_difference_usd,
        comparisons_aggregated.sum_real_pnl_usd,
        comparisons_aggregated.sum_modeled_pnl_usd,
        {{ target_pnl_correlation }}::double as target_pnl_correlation,
        pnl_correlation >= {{ target_pnl_correlation }} as meets_target,
    from comparisons_aggregated

)

select * from final
