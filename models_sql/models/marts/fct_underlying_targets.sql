{%- if var('direction_threshold') | float < 0 -%}
    {{ exceptions.raise_compiler_error(
        "var direction_threshold must be >= 0 (a decimal return), got " ~ var('direction_threshold')
    ) }}
{%- endif -%}
{%- set forward_vol_horizons = [5, 21] -%}

with

fct_underlying_daily as (

    select * from {{ ref('fct_underlying_daily') }}

),

fct_underlying_features as (

    select * from {{ ref('fct_underlying_features') }}

),

int_calendar_days_generated as (

    select * from {{ ref('int_calendar_days_generated') }}

),

nyse_trading_days as (

    select * from int_calendar_days_generated
    where int_calendar_days_generated.is_trading_day

),

-- Horizons count NYSE trading days (RANGE frames over the calendar's trading_day_number): a
-- target whose horizon runs into a day missing from the data is NULL rather than reaching
-- across the gap (QQQ 2004-11 -> 2011-03).
bars_numbered as (

    select
        fct_underlying_daily.underlying_symbol,
        fct_underlying_daily.trade_date,
        fct_underlying_daily.total_return_index,
        fct_underlying_features.log_return_1d,
        fct_underlying_features.iv_regime,
        nyse_trading_days.trading_day_number,
    from fct_underlying_daily
    left join nyse_trading_days
        on fct_underlying_daily.trade_date = nyse_trading_days.calendar_date
    left join fct_underlying_features
        on fct_underlying_daily.underlying_symbol = fct_underlying_features.underlying_symbol
        and fct_underlying_daily.trade_date = fct_underlying_features.trade_date

),

-- Targets look forward, so they live apart from the features: a model that joins them to
-- fct_underlying_features on (underlying_symbol, trade_date) must keep a gap of horizon_days
-- between its training and test rows.
forward_values as (

    select
        bars_numbered.underlying_symbol,
        bars_numbered.trade_date,
        bars_numbered.total_return_index,
        first_value(bars_numbered.trade_date) over day_5_ahead as target_date_5d,
        first_value(bars_numbered.total_return_index) over day_5_ahead as total_return_index_5d_ahead,
        first_value(bars_numbered.iv_regime) over day_5_ahead as iv_regime_5d,
        -- Forward realized vol (Hull, ch. 15, applied to days t+1..t+h): sample stdev of the h
        -- daily log returns after trade_date × √252; NULL unless all h are observable.
        {%- for horizon in forward_vol_horizons %}
        case
            when count(bars_numbered.log_return_1d) over next_{{ horizon }}_days = {{ horizon }}
                then stddev_samp(bars_numbered.log_return_1d) over next_{{ horizon }}_days * sqrt(252)
        end as forward_realized_vol_{{ horizon }}d,
        {%- endfor %}
    from bars_numbered
    window
        day_5_ahead as (
            partition by bars_numbered.underlying_symbol
            order by bars_numbered.trading_day_number
            range between 5 following and 5 following
        ),
        {%- for horizon in forward_vol_horizons %}
        next_{{ horizon }}_days as (
            partition by bars_numbered.underlying_symbol
            order by bars_numbered.trading_day_number
            range between 1 following and {{ horizon }} following
        ){{ "," if not loop.last }}
        {%- endfor %}

),

forward_returns as (

    select
        forward_values.underlying_symbol,
        forward_values.trade_date,
        5 as horizon_days,
        forward_values.target_date_5d,
        -- the total-return index: a split or an ex-dividend day is not a move
        forward_values.total_return_index_5d_ahead / forward_values.total_return_index - 1
            as forward_return_5d,
        ln(forward_values.total_return_index_5d_ahead / forward_values.total_return_index)
            as forward_log_return_5d,
        {%- for horizon in forward_vol_horizons %}
        forward_values.forward_realized_vol_{{ horizon }}d,
        {%- endfor %}
        forward_values.iv_regime_5d,
    from forward_values

),

-- Direction with a dead zone (var direction_threshold, decimal): small moves are noise, not a
-- direction, so they get no label instead of a coin-flip one.
final as (

    select
        forward_returns.underlying_symbol,
        forward_returns.trade_date,
        forward_returns.horizon_days,
        forward_returns.target_date_5d,
        forward_returns.forward_return_5d,
        forward_returns.forward_return_5d > 0 as is_up_5d,
        forward_returns.forward_log_return_5d,
        case
            when forward_returns.forward_return_5d > {{ var('direction_threshold') }} then 'UP'
            when forward_returns.forward_return_5d < -{{ var('direction_threshold') }} then 'DOWN'
        end as direction_5d,
        abs(forward_returns.forward_return_5d) <= {{ var('direction_threshold') }} as is_ambiguous_5d,
        {%- for horizon in forward_vol_horizons %}
        forward_returns.forward_realized_vol_{{ horizon }}d,
        {%- endfor %}
        forward_returns.iv_regime_5d,
    from forward_returns

)

select * from final
