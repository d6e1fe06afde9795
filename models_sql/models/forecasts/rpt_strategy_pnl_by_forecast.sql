{#- Validates the selector vars (this model reads selector_regime_model). -#}
{{- strategy_selector_validate() -}}

with

backtest_runs as (

    select * from {{ source('backtest', 'runs') }}

),

backtest_trades as (

    select * from {{ source('backtest', 'trades') }}

),

ml_model_registry as (

    select * from {{ source('ml', 'model_registry') }}

),

int_forecast_predictions_realized as (

    select * from {{ ref('int_forecast_predictions_realized') }}

),

current_model_runs as (

    select
        ml_model_registry.run_id,
        ml_model_registry.model_name,
        ml_model_registry.model_version,
        ml_model_registry.underlying_symbol,
    from ml_model_registry
    where ml_model_registry.is_current

),

-- The forecast run a backtest is attributed to: the current run of the model_version it used
-- for its underlying; when that version is no longer current (the model was retrained since),
-- the current run of its forecast_model. Both lookups return at most one run (one current run
-- per model_name and underlying; model_version starts with model_name).
backtest_runs_matched_to_forecast_runs as (

    select
        backtest_runs.run_id as backtest_run_id,
        backtest_runs.strategy,
        backtest_runs.underlying_symbol,
        backtest_runs.forecast_model,
        backtest_runs.model_version as forecast_model_version,
        coalesce(current_runs_of_version.run_id, current_runs_of_model.run_id) as forecast_run_id,
        case
            when current_runs_of_version.run_id is not null then 'model_version'
            when current_runs_of_model.run_id is not null then 'model_name'
            else 'none'
        end as forecast_run_match,
    from backtest_runs
    left join current_model_runs as current_runs_of_version
        on backtest_runs.model_version = current_runs_of_version.model_version
        and backtest_runs.underlying_symbol = current_runs_of_version.underlying_symbol
    left join current_model_runs as current_runs_of_model
        on backtest_runs.forecast_model = current_runs_of_model.model_name
        and backtest_runs.underlying_symbol = current_runs_of_model.underlying_symbol

),

-- deciles of p_up over every prediction of the run, walk-forward and live alike (a backtest
-- may trade on either); underlying-level binary models only (one p_up per day)
forecast_predictions_in_deciles as (

    select
        int_forecast_predictions_realized.run_id,
        int_forecast_predictions_realized.underlying_symbol,
        int_forecast_predictions_realized.as_of_date,
        int_forecast_predictions_realized.p_up,
        ntile(10) over (
            partition by int_forecast_predictions_realized.run_id
            order by int_forecast_predictions_realized.p_up, int_forecast_predictions_realized.as_of_date
        ) as forecast_decile,
    from int_forecast_predictions_realized
    where
        int_forecast_predictions_realized.p_up is not null
        and int_forecast_predictions_realized.contract_symbol is null

),

regime_forecasts as (

    select
        int_forecast_predictions_realized.underlying_symbol,
        int_forecast_predictions_realized.as_of_date,
        int_forecast_predictions_realized.regime,
    from int_forecast_predictions_realized
    where
        int_forecast_predictions_realized.model_name = '{{ var("selector_regime_model") }}'
        and int_forecast_predictions_realized.contract_symbol is null

),

-- the forecasts in force at entry: those of the trade's signal_date (the as_of_date of the
-- forecast that triggered it; for ungated runs the last session closed before the entry's
-- quotes). Closed trades only: an open trade's P&L is a mark, not an outcome.
trades_attributed_to_forecasts as (

    select
        backtest_runs_matched_to_forecast_runs.backtest_run_id,
        backtest_runs_matched_to_forecast_runs.strategy,
        backtest_runs_matched_to_forecast_runs.forecast_model,
        backtest_runs_matched_to_forecast_runs.forecast_model_version,
        backtest_runs_matched_to_forecast_runs.forecast_run_id,
        backtest_runs_matched_to_forecast_runs.forecast_run_match,
        forecast_predictions_in_deciles.forecast_decile,
        coalesce(regime_forecasts.regime, 'UNKNOWN') as predicted_regime,
        forecast_predictions_in_deciles.p_up as forecast_p_up,
        backtest_trades.signal_value,
        backtest_trades.pnl_usd,
        backtest_trades.trade_return,
        backtest_trades.commission_usd,
    from backtest_trades
    inner join backtest_runs_matched_to_forecast_runs
        on backtest_trades.run_id = backtest_runs_matched_to_forecast_runs.backtest_run_id
    left join forecast_predictions_in_deciles
        on backtest_runs_matched_to_forecast_runs.forecast_run_id = forecast_predictions_in_deciles.run_id
        and backtest_trades.underlying_symbol = forecast_predictions_in_deciles.underlying_symbol
        and backtest_trades.signal_date = forecast_predictions_in_deciles.as_of_date
    left join regime_forecasts
        on backtest_trades.underlying_symbol = regime_forecasts.underlying_symbol
        and backtest_trades.signal_date = regime_forecasts.as_of_date
    where backtest_trades.status = 'closed'

),

final as (

    select
        trades_attributed_to_forecasts.backtest_run_id,
        trades_attributed_to_forecasts.strategy,
        trades_attributed_to_forecasts.forecast_model,
        trades_attributed_to_forecasts.forecast_model_version,
        trades_attributed_to_forecasts.forecast_run_id,
        trades_attributed_to_forecasts.forecast_run_match,
        trades_attributed_to_forecasts.forecast_decile::integer as forecast_decile,
        trades_attributed_to_forecasts.predicted_regime,
        count(*) as n_trades,
        count(*) filter (where trades_attributed_to_forecasts.pnl_usd > 0) as n_winning_trades,
        -- float sums in value order: a parallel aggregate's order of terms changes the last
        -- bits, and two builds must be bit-identical (sums of 0/1 are exact anyway)
        sum(
            trades_attributed_to_forecasts.pnl_usd
            order by trades_attributed_to_forecasts.pnl_usd
        ) as total_pnl_usd,
        avg(
            trades_attributed_to_forecasts.pnl_usd
            order by trades_attributed_to_forecasts.pnl_usd
        ) as mean_pnl_usd,
        avg(
            trades_attributed_to_forecasts.trade_return
            order by trades_attributed_to_forecasts.trade_return
        ) as mean_trade_return,
        avg((trades_attributed_to_forecasts.pnl_usd > 0)::double) as win_rate,
        sum(
            trades_attributed_to_forecasts.commission_usd
            order by trades_attributed_to_forecasts.commission_usd
        ) as total_commission_usd,
        avg(
            trades_attributed_to_forecasts.forecast_p_up
            order by trades_attributed_to_forecasts.forecast_p_up
        ) as mean_forecast_p_up,
        avg(
            trades_attributed_to_forecasts.signal_value
            order by trades_attributed_to_forecasts.signal_value
        ) as mean_entry_signal_value,
    from trades_attributed_to_forecasts
    group by all

)

select * from final
