with

ml_predictions as (

    select * from {{ source('ml', 'predictions') }}

),

ml_model_registry as (

    select * from {{ source('ml', 'model_registry') }}

),

fct_underlying_targets as (

    select * from {{ ref('fct_underlying_targets') }}

),

fct_option_targets as (

    select * from {{ ref('fct_option_targets') }}

),

current_runs as (

    select
        ml_model_registry.run_id,
        ml_model_registry.estimator,
    from ml_model_registry
    where ml_model_registry.is_current

),

predictions_of_current_runs as (

    select
        ml_predictions.*,
        current_runs.estimator,
    from ml_predictions
    inner join current_runs
        on ml_predictions.run_id = current_runs.run_id

),

-- Underlying models (contract_symbol NULL) take their outcome from the underlying's 5-day
-- targets, option models from the contract's; the horizons must agree (the marts hold 5-day
-- targets only, so another horizon gets no outcome).
predictions_joined_to_targets as (

    select
        predictions_of_current_runs.*,
        fct_underlying_targets.forward_return_5d,
        fct_underlying_targets.direction_5d,
        fct_underlying_targets.is_ambiguous_5d,
        fct_underlying_targets.iv_regime_5d,
        fct_option_targets.forward_mid_return_5d,
        fct_option_targets.forward_status_5d,
    from predictions_of_current_runs
    left join fct_underlying_targets
        on predictions_of_current_runs.contract_symbol is null
        and predictions_of_current_runs.underlying_symbol = fct_underlying_targets.underlying_symbol
        and predictions_of_current_runs.as_of_date = fct_underlying_targets.trade_date
        and predictions_of_current_runs.horizon_days = fct_underlying_targets.horizon_days
    left join fct_option_targets
        on predictions_of_current_runs.contract_symbol = fct_option_targets.contract_symbol
        and predictions_of_current_runs.as_of_date = fct_option_targets.quote_date
        and predictions_of_current_runs.horizon_days = 5

),

final as (

    select
        predictions_joined_to_targets.run_id,
        predictions_joined_to_targets.model_name,
        predictions_joined_to_targets.model_version,
        predictions_joined_to_targets.family,
        predictions_joined_to_targets.task,
        predictions_joined_to_targets.estimator,
        predictions_joined_to_targets.underlying_symbol,
        predictions_joined_to_targets.contract_symbol,
        predictions_joined_to_targets.as_of_date,
        predictions_joined_to_targets.horizon_days,
        predictions_joined_to_targets.prediction_kind,
        predictions_joined_to_targets.fold_id,
        predictions_joined_to_targets.score,
        predictions_joined_to_targets.predicted_label,
        predictions_joined_to_targets.p_up,
        predictions_joined_to_targets.yhat,
        predictions_joined_to_targets.regime,
        predictions_joined_to_targets.prob_low,
        predictions_joined_to_targets.prob_normal,
        predictions_joined_to_targets.prob_high,
        case predictions_joined_to_targets.family
            when 'direction' then predictions_joined_to_targets.forward_return_5d is not null
            when 'iv_regime' then predictions_joined_to_targets.iv_regime_5d is not null
            when 'option_return' then coalesce(predictions_joined_to_targets.forward_status_5d in ('exact', 'nearest_day'), false)
        end as has_realized_outcome,
        case predictions_joined_to_targets.family
            when 'direction' then predictions_joined_to_targets.forward_return_5d
            when 'option_return' then predictions_joined_to_targets.forward_mid_return_5d
        end as realized_return,
        case predictions_joined_to_targets.family
            when 'direction' then predictions_joined_to_targets.direction_5d
            when 'iv_regime' then predictions_joined_to_targets.iv_regime_5d
            when 'option_return' then
                case
                    when predictions_joined_to_targets.forward_mid_return_5d > 0 then 'UP'
                    when predictions_joined_to_targets.forward_mid_return_5d <= 0 then 'DOWN'
                end
        end as realized_label,
        case
            when predictions_joined_to_targets.family = 'direction'
                then predictions_joined_to_targets.is_ambiguous_5d
        end as is_ambiguous_5d,
    from predictions_joined_to_targets

)

select * from final
