with

int_forecast_predictions_realized as (

    select * from {{ ref('int_forecast_predictions_realized') }}

),

-- iv_regime runs are ranked by P(HIGH) and judged on a HIGH regime 5 days ahead; every other
-- run by its score (p_up or yhat) and an up move. Ambiguous direction moves keep their return
-- but have no hit (realized_label NULL), so avg() leaves them out of the hit rates.
walk_forward_predictions_scored as (

    select
        int_forecast_predictions_realized.run_id,
        int_forecast_predictions_realized.model_name,
        int_forecast_predictions_realized.model_version,
        int_forecast_predictions_realized.family,
        int_forecast_predictions_realized.task,
        int_forecast_predictions_realized.underlying_symbol,
        int_forecast_predictions_realized.contract_symbol,
        int_forecast_predictions_realized.as_of_date,
        case
            when int_forecast_predictions_realized.family = 'iv_regime'
                then int_forecast_predictions_realized.prob_high
            else int_forecast_predictions_realized.score
        end as ranking_score,
        case
            when int_forecast_predictions_realized.family = 'iv_regime'
                then int_forecast_predictions_realized.realized_label = 'HIGH'
            else int_forecast_predictions_realized.realized_label = 'UP'
        end as is_hit,
        case
            when int_forecast_predictions_realized.family <> 'iv_regime'
                then int_forecast_predictions_realized.realized_return
        end as realized_return,
    from int_forecast_predictions_realized
    where
        int_forecast_predictions_realized.prediction_kind = 'walk_forward'
        and int_forecast_predictions_realized.has_realized_outcome

),

-- decile 1 = lowest scores; equal scores are split by date, then contract, so the deciles do
-- not depend on row order
walk_forward_predictions_ranked as (

    select
        walk_forward_predictions_scored.*,
        ntile(10) over (
            partition by walk_forward_predictions_scored.run_id
            order by
                walk_forward_predictions_scored.ranking_score,
                walk_forward_predictions_scored.as_of_date,
                walk_forward_predictions_scored.contract_symbol nulls first,
                walk_forward_predictions_scored.underlying_symbol
        ) as decile,
    from walk_forward_predictions_scored

),

run_baselines as (

    select
        walk_forward_predictions_ranked.run_id,
        avg(walk_forward_predictions_ranked.is_hit::double) as baseline_hit_rate,
        -- float means are summed in value order: a parallel aggregate's order of terms changes
        -- the last bits, and two builds must be bit-identical (sums of 0/1 are exact anyway)
        avg(
            walk_forward_predictions_ranked.realized_return
            order by walk_forward_predictions_ranked.realized_return
        ) as baseline_mean_realized_return,
    from walk_forward_predictions_ranked
    group by walk_forward_predictions_ranked.run_id

),

deciles_aggregated as (

    select
        walk_forward_predictions_ranked.run_id,
        walk_forward_predictions_ranked.model_name,
        walk_forward_predictions_ranked.model_version,
        walk_forward_predictions_ranked.family,
        walk_forward_predictions_ranked.task,
        walk_forward_predictions_ranked.underlying_symbol,
        walk_forward_predictions_ranked.decile,
        count(*) as n_predictions,
        count(walk_forward_predictions_ranked.is_hit) as n_hit_observations,
        min(walk_forward_predictions_ranked.ranking_score) as min_score,
        max(walk_forward_predictions_ranked.ranking_score) as max_score,
        avg(
            walk_forward_predictions_ranked.ranking_score
            order by walk_forward_predictions_ranked.ranking_score
        ) as mean_score,
        avg(walk_forward_predictions_ranked.is_hit::double) as hit_rate,
        avg(
            walk_forward_predictions_ranked.realized_return
            order by walk_forward_predictions_ranked.realized_return
        ) as mean_realized_return,
    from walk_forward_predictions_ranked
    group by all

),

final as (

    select
        deciles_aggregated.run_id,
        deciles_aggregated.model_name,
        deciles_aggregated.model_version,
        deciles_aggregated.family,
        deciles_aggregated.task,
        deciles_aggregated.underlying_symbol,
        deciles_aggregated.decile::integer as decile,
        deciles_aggregated.n_predictions,
        deciles_aggregated.n_hit_observations,
        deciles_aggregated.min_score,
        deciles_aggregated.max_score,
        deciles_aggregated.mean_score,
        deciles_aggregated.hit_rate,
        deciles_aggregated.mean_realized_return,
        run_baselines.baseline_hit_rate,
        deciles_aggregated.hit_rate / nullif(run_baselines.baseline_hit_rate, 0) as lift,
        run_baselines.baseline_mean_realized_return,
        deciles_aggregated.mean_realized_return - run_baselines.baseline_mean_realized_return
            as excess_realized_return,
    from deciles_aggregated
    inner join run_baselines
        on deciles_aggregated.run_id = run_baselines.run_id

)

select * from final
