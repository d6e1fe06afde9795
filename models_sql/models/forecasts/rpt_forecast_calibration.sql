with

int_forecast_predictions_realized as (

    select * from {{ ref('int_forecast_predictions_realized') }}

),

class_labels_of_regime_models as (

    select * from (values ('LOW'), ('NORMAL'), ('HIGH')) as class_labels_of_regime_models (class_label)

),

-- a prediction counts once its label is known: realized_label is NULL for unobservable outcomes
-- and for ambiguous direction moves (no UP/DOWN label to compare p_up with)
walk_forward_predictions_labelled as (

    select * from int_forecast_predictions_realized
    where
        int_forecast_predictions_realized.prediction_kind = 'walk_forward'
        and int_forecast_predictions_realized.realized_label is not null

),

binary_probabilities_observed as (

    select
        walk_forward_predictions_labelled.run_id,
        walk_forward_predictions_labelled.model_name,
        walk_forward_predictions_labelled.model_version,
        walk_forward_predictions_labelled.family,
        walk_forward_predictions_labelled.task,
        walk_forward_predictions_labelled.underlying_symbol,
        'UP' as class_label,
        walk_forward_predictions_labelled.p_up as predicted_probability,
        walk_forward_predictions_labelled.realized_label = 'UP' as is_observed,
    from walk_forward_predictions_labelled
    where walk_forward_predictions_labelled.task = 'binary'

),

-- one row per prediction and regime: each class is calibrated on its own probability
multiclass_probabilities_observed as (

    select
        walk_forward_predictions_labelled.run_id,
        walk_forward_predictions_labelled.model_name,
        walk_forward_predictions_labelled.model_version,
        walk_forward_predictions_labelled.family,
        walk_forward_predictions_labelled.task,
        walk_forward_predictions_labelled.underlying_symbol,
        class_labels_of_regime_models.class_label,
        case class_labels_of_regime_models.class_label
            when 'LOW' then walk_forward_predictions_labelled.prob_low
            when 'NORMAL' then walk_forward_predictions_labelled.prob_normal
            when 'HIGH' then walk_forward_predictions_labelled.prob_high
        end as predicted_probability,
        walk_forward_predictions_labelled.realized_label = class_labels_of_regime_models.class_label
            as is_observed,
    from walk_forward_predictions_labelled
    cross join class_labels_of_regime_models
    where walk_forward_predictions_labelled.task = 'multiclass'

),

probabilities_observed as (

    select * from binary_probabilities_observed
    union all by name
    select * from multiclass_probabilities_observed

),

-- 10 equal-width bins [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]: the last one closed
probabilities_binned as (

    select
        probabilities_observed.*,
        least(floor(probabilities_observed.predicted_probability * 10)::integer + 1, 10) as probability_bin,
    from probabilities_observed

),

final as (

    select
        probabilities_binned.run_id,
        probabilities_binned.model_name,
        probabilities_binned.model_version,
        probabilities_binned.family,
        probabilities_binned.task,
        probabilities_binned.underlying_symbol,
        probabilities_binned.class_label,
        probabilities_binned.probability_bin,
        (probabilities_binned.probability_bin - 1) / 10 as bin_lower_bound,
        probabilities_binned.probability_bin / 10 as bin_upper_bound,
        count(*) as n_predictions,
        -- summed in value order: the last bits of a float sum depend on the order of its terms,
        -- which a parallel aggregate does not fix, and two builds must be bit-identical (sums of
        -- 0/1 are exact in any order)
        avg(
            probabilities_binned.predicted_probability
            order by probabilities_binned.predicted_probability
        ) as mean_predicted_probability,
        avg(probabilities_binned.is_observed::double) as observed_frequency,
        avg(probabilities_binned.is_observed::double) - avg(
            probabilities_binned.predicted_probability
            order by probabilities_binned.predicted_probability
        ) as calibration_gap,
    from probabilities_binned
    group by all

)

select * from final
