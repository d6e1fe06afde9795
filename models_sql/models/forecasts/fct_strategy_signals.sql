{#- Validates the selector vars (matrix cells, thresholds, model names); a bad one fails here. -#}
{{- strategy_selector_validate() -}}
{%- set confidence_full = var('selector_confidence_full') | float -%}
{%- set confidence_half = var('selector_confidence_half') | float -%}
{%- set regime_confidence_full = var('selector_regime_confidence_full') | float -%}
{%- set regime_confidence_half = var('selector_regime_confidence_half') | float -%}

with

int_forecast_predictions_realized as (

    select * from {{ ref('int_forecast_predictions_realized') }}

),

direction_predictions as (

    select
        int_forecast_predictions_realized.underlying_symbol,
        int_forecast_predictions_realized.as_of_date,
        int_forecast_predictions_realized.prediction_kind as direction_prediction_kind,
        int_forecast_predictions_realized.run_id as direction_run_id,
        int_forecast_predictions_realized.model_name as direction_model_name,
        int_forecast_predictions_realized.model_version as direction_model_version,
        int_forecast_predictions_realized.p_up,
    from int_forecast_predictions_realized
    where
        int_forecast_predictions_realized.model_name = '{{ var("selector_direction_model") }}'
        and int_forecast_predictions_realized.contract_symbol is null

),

regime_predictions as (

    select
        int_forecast_predictions_realized.underlying_symbol,
        int_forecast_predictions_realized.as_of_date,
        int_forecast_predictions_realized.prediction_kind as regime_prediction_kind,
        int_forecast_predictions_realized.run_id as regime_run_id,
        int_forecast_predictions_realized.model_name as regime_model_name,
        int_forecast_predictions_realized.model_version as regime_model_version,
        int_forecast_predictions_realized.regime as regime_forecast,
        case int_forecast_predictions_realized.regime
            when 'LOW' then int_forecast_predictions_realized.prob_low
            when 'NORMAL' then int_forecast_predictions_realized.prob_normal
            when 'HIGH' then int_forecast_predictions_realized.prob_high
        end as regime_probability,
    from int_forecast_predictions_realized
    where
        int_forecast_predictions_realized.model_name = '{{ var("selector_regime_model") }}'
        and int_forecast_predictions_realized.contract_symbol is null

),

-- a signal needs both forecasts of the same day: no regime, no strategy (and vice versa)
forecasts_paired as (

    select
        direction_predictions.underlying_symbol,
        direction_predictions.as_of_date,
        direction_predictions.direction_prediction_kind,
        regime_predictions.regime_prediction_kind,
        direction_predictions.direction_run_id,
        direction_predictions.direction_model_name,
        direction_predictions.direction_model_version,
        direction_predictions.p_up,
        regime_predictions.regime_run_id,
        regime_predictions.regime_model_name,
        regime_predictions.regime_model_version,
        regime_predictions.regime_forecast,
        regime_predictions.regime_probability,
    from direction_predictions
    inner join regime_predictions
        on direction_predictions.underlying_symbol = regime_predictions.underlying_symbol
        and direction_predictions.as_of_date = regime_predictions.as_of_date

),

-- confidence is symmetric around 0.5; every threshold is inclusive
directions_called as (

    select
        forecasts_paired.*,
        case when forecasts_paired.p_up >= 0.5 then 'UP' else 'DOWN' end as direction_forecast,
        greatest(forecasts_paired.p_up, 1 - forecasts_paired.p_up) as direction_confidence,
    from forecasts_paired

),

directions_tiered as (

    select
        directions_called.*,
        case
            when directions_called.direction_confidence >= {{ confidence_full }}::double then 'HIGH'
            when directions_called.direction_confidence >= {{ confidence_half }}::double then 'MEDIUM'
            else 'LOW'
        end as confidence_tier,
        case
            when directions_called.direction_confidence >= {{ confidence_half }}::double
                then directions_called.direction_forecast
            else 'LOW_CONFIDENCE'
        end as matrix_column,
    from directions_called

),

-- var selector_strategy_matrix, one row per cell (validated by strategy_selector_validate)
strategy_matrix as (

    select * from (
        values
        {{- strategy_selector_matrix_rows() }}
    ) as strategy_matrix (regime, matrix_column, strategy)

),

matrix_applied as (

    select
        directions_tiered.*,
        strategy_matrix.strategy as matrix_strategy,
    from directions_tiered
    left join strategy_matrix
        on directions_tiered.regime_forecast = strategy_matrix.regime
        and directions_tiered.matrix_column = strategy_matrix.matrix_column

),

-- directional cells are sized by the direction's confidence, LOW_CONFIDENCE cells (a bet on
-- the regime alone) by the regime's probability; a NONE size is no trade
signals_sized as (

    select
        matrix_applied.*,
        case
            when matrix_applied.matrix_strategy = 'no_trade' then 'NONE'
            when matrix_applied.matrix_column in ('UP', 'DOWN') then
                case matrix_applied.confidence_tier when 'HIGH' then 'FULL' else 'HALF' end
            when matrix_applied.regime_probability >= {{ regime_confidence_full }}::double then 'FULL'
            when matrix_applied.regime_probability >= {{ regime_confidence_half }}::double then 'HALF'
            when matrix_applied.regime_probability is not null then 'NONE'
        end as size_tier,
    from matrix_applied

),

signals_explained as (

    select
        signals_sized.*,
        -- numbers are truncated (not rounded) to 3 decimals, so a printed comparison with a
        -- threshold of at most 3 decimals stays true (0.4999 prints 0.499 < 0.500, not 0.500)
        case when signals_sized.size_tier = 'NONE' then 'no_trade' else signals_sized.matrix_strategy end as strategy,
        case
            when signals_sized.matrix_column = 'LOW_CONFIDENCE' then
                printf(
                    'no direction (%s at confidence %.3f < %.3f) in %s regime',
                    signals_sized.direction_forecast,
                    floor(signals_sized.direction_confidence * 1000) / 1000,
                    {{ confidence_half }}::double,
                    signals_sized.regime_forecast
                )
            else
                printf(
                    '%s at confidence %.3f >= %.3f%s in %s regime',
                    signals_sized.direction_forecast,
                    floor(signals_sized.direction_confidence * 1000) / 1000,
                    case signals_sized.confidence_tier
                        when 'HIGH' then {{ confidence_full }}::double
                        else {{ confidence_half }}::double
                    end,
                    case signals_sized.confidence_tier
                        when 'HIGH' then ''
                        else printf(' (< %.3f)', {{ confidence_full }}::double)
                    end,
                    signals_sized.regime_forecast
                )
        end as direction_clause,
        case
            when signals_sized.matrix_strategy = 'no_trade' then
                printf('no_trade (matrix cell %s/%s)', signals_sized.regime_forecast, signals_sized.matrix_column)
            when signals_sized.matrix_column in ('UP', 'DOWN') then
                printf('%s, %s size', signals_sized.matrix_strategy, lower(signals_sized.size_tier))
            when signals_sized.size_tier = 'NONE' then
                printf(
                    'no_trade (regime probability %.3f < %.3f is too weak for %s)',
                    floor(signals_sized.regime_probability * 1000) / 1000,
                    {{ regime_confidence_half }}::double,
                    signals_sized.matrix_strategy
                )
            else
                printf(
                    '%s, %s size (regime probability %.3f >= %.3f%s)',
                    signals_sized.matrix_strategy,
                    lower(signals_sized.size_tier),
                    floor(signals_sized.regime_probability * 1000) / 1000,
                    case signals_sized.size_tier
                        when 'FULL' then {{ regime_confidence_full }}::double
                        else {{ regime_confidence_half }}::double
                    end,
                    case signals_sized.size_tier
                        when 'FULL' then ''
                        else printf(', < %.3f', {{ regime_confidence_full }}::double)
                    end
                )
        end as decision_clause,
    from signals_sized

),

final as (

    select
        signals_explained.underlying_symbol,
        signals_explained.as_of_date,
        signals_explained.direction_prediction_kind,
        signals_explained.regime_prediction_kind,
        signals_explained.direction_run_id,
        signals_explained.direction_model_name,
        signals_explained.direction_model_version,
        signals_explained.p_up,
        signals_explained.direction_forecast,
        signals_explained.direction_confidence,
        signals_explained.confidence_tier,
        signals_explained.regime_run_id,
        signals_explained.regime_model_name,
        signals_explained.regime_model_version,
        signals_explained.regime_forecast,
        signals_explained.regime_probability,
        signals_explained.matrix_column,
        signals_explained.strategy,
        signals_explained.size_tier,
        signals_explained.direction_clause || ': ' || signals_explained.decision_clause as reason,
    from signals_explained

)

select * from final
