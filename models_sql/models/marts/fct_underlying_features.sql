{%- set return_horizons = [1, 5, 10, 21, 63, 252] -%}
{%- set vol_windows = [5, 10, 21, 63, 126] -%}
{%- set sma_windows = [20, 50, 200] -%}
{%- set rsi_periods = [14, 28] -%}
{%- set rate_columns = ['rate_3m', 'rate_2y', 'rate_10y', 'rate_10y_2y_spread'] -%}
{%- set rate_change_horizons = [5, 20, 60] -%}

with

fct_underlying_daily as (

    select * from {{ ref('fct_underlying_daily') }}

),

int_calendar_days_generated as (

    select * from {{ ref('int_calendar_days_generated') }}

),

int_volatility_indices_ranked as (

    select * from {{ ref('int_volatility_indices_ranked') }}

),

int_rates_pivoted as (

    select * from {{ ref('int_rates_pivoted') }}

),

nyse_trading_days as (

    select * from int_calendar_days_generated
    where int_calendar_days_generated.is_trading_day

),

-- Every window below is a RANGE frame over the NYSE trading-day number, so a day missing from an
-- underlying's data (QQQ has none from 2004-12-01 to 2011-03-22) shortens the window and the
-- feature is NULL, instead of a "1-day" return spanning six years. A bar on a non-trading day
-- gets no number and no calendar fields (tested not NULL in the yml).
bars_numbered as (

    select
        fct_underlying_daily.underlying_symbol,
        fct_underlying_daily.trade_date,
        fct_underlying_daily.high,
        fct_underlying_daily.low,
        fct_underlying_daily.close,
        fct_underlying_daily.total_return_index,
        fct_underlying_daily.return_1d as return_1d_any_gap,
        fct_underlying_daily.log_return_1d as log_return_1d_any_gap,
        nyse_trading_days.trading_day_number,
        nyse_trading_days.calendar_days_to_month_end,
        nyse_trading_days.trading_days_to_month_end,
        nyse_trading_days.next_monthly_expiration_date,
        nyse_trading_days.calendar_days_to_monthly_expiration,
        nyse_trading_days.trading_days_to_monthly_expiration,
    from fct_underlying_daily
    left join nyse_trading_days
        on fct_underlying_daily.trade_date = nyse_trading_days.calendar_date

),

-- Price-based indicators use the total-return index as the price: it is split- and
-- dividend-adjusted and continuous across source changes, and every indicator below is
-- scale-free (a ratio to price, or RSI), so it equals the indicator of a close back-adjusted
-- for splits and dividends.
-- The intraday high and low are put on the same scale by the day's factor index / raw close.
bars_with_lagged_index as (

    select
        bars_numbered.*,
        {%- for horizon in return_horizons %}
        first_value(bars_numbered.total_return_index) over trading_day_{{ horizon }}_back
            as total_return_index_lag_{{ horizon }}d,
        {%- endfor %}
        bars_numbered.high * bars_numbered.total_return_index / bars_numbered.close as high_adjusted,
        bars_numbered.low * bars_numbered.total_return_index / bars_numbered.close as low_adjusted,
    from bars_numbered
    window
        {%- for horizon in return_horizons %}
        trading_day_{{ horizon }}_back as (
            partition by bars_numbered.underlying_symbol
            order by bars_numbered.trading_day_number
            range between {{ horizon }} preceding and {{ horizon }} preceding
        ){{ "," if not loop.last }}
        {%- endfor %}

),

-- Simple and log returns over h trading days: index(t) / index(t − h) − 1 and its log. The 1-day
-- ones are fct_underlying_daily's, kept only where the previous trading day has a bar.
bars_with_returns as (

    select
        bars_with_lagged_index.*,
        case
            when bars_with_lagged_index.total_return_index_lag_1d is not null
                then bars_with_lagged_index.return_1d_any_gap
        end as return_1d,
        case
            when bars_with_lagged_index.total_return_index_lag_1d is not null
                then bars_with_lagged_index.log_return_1d_any_gap
        end as log_return_1d,
        {%- for horizon in return_horizons if horizon > 1 %}
        bars_with_lagged_index.total_return_index
            / bars_with_lagged_index.total_return_index_lag_{{ horizon }}d - 1 as return_{{ horizon }}d,
        ln(bars_with_lagged_index.total_return_index
            / bars_with_lagged_index.total_return_index_lag_{{ horizon }}d) as log_return_{{ horizon }}d,
        {%- endfor %}
        -- RSI inputs (Wilder 1978): the day's gain max(change, 0) and loss max(−change, 0); NULL
        -- without a previous day (greatest() would turn a NULL change into 0)
        case
            when bars_with_lagged_index.total_return_index_lag_1d is not null
                then greatest(
                    bars_with_lagged_index.total_return_index - bars_with_lagged_index.total_return_index_lag_1d,
                    0.0
                )
        end as price_gain_1d,
        case
            when bars_with_lagged_index.total_return_index_lag_1d is not null
                then greatest(
                    bars_with_lagged_index.total_return_index_lag_1d - bars_with_lagged_index.total_return_index,
                    0.0
                )
        end as price_loss_1d,
        -- Parkinson (1980): the squared log range of one bar; NULL for close-only bars
        ln(bars_with_lagged_index.high / bars_with_lagged_index.low) ^ 2 as squared_log_range,
        -- True range (Wilder 1978): max(high, previous close) − min(low, previous close), on the
        -- adjusted scale; NULL unless all three exist (greatest() would skip a NULL)
        case
            when bars_with_lagged_index.high_adjusted is not null
                and bars_with_lagged_index.low_adjusted is not null
                and bars_with_lagged_index.total_return_index_lag_1d is not null
                then greatest(
                    bars_with_lagged_index.high_adjusted, bars_with_lagged_index.total_return_index_lag_1d
                ) - least(
                    bars_with_lagged_index.low_adjusted, bars_with_lagged_index.total_return_index_lag_1d
                )
        end as true_range_adjusted,
    from bars_with_lagged_index

),

-- Trailing-window statistics, NULL until the window holds its full count of values.
-- Close-to-close vol (Hull, Options, Futures and Other Derivatives, ch. 15): sample stdev of log
-- returns × √252. Parkinson (1980, J. Business 53(1)): sqrt(mean(ln(H/L)²) / (4 ln 2)) × √252.
-- Bollinger bands (Bollinger on Bollinger Bands, 2001): 20-day mean ± 2 population stdevs.
bars_with_trailing_windows as (

    select
        bars_with_returns.*,
        {%- for window_days in vol_windows %}
        case
            when count(bars_with_returns.log_return_1d) over last_{{ window_days }}_days = {{ window_days }}
                then stddev_samp(bars_with_returns.log_return_1d) over last_{{ window_days }}_days * sqrt(252)
        end as realized_vol_{{ window_days }}d,
        case
            when count(bars_with_returns.squared_log_range) over last_{{ window_days }}_days = {{ window_days }}
                then sqrt(
                    avg(bars_with_returns.squared_log_range) over last_{{ window_days }}_days / (4 * ln(2))
                ) * sqrt(252)
        end as parkinson_vol_{{ window_days }}d,
        {%- endfor %}
        {%- for window_days in sma_windows %}
        case
            when count(bars_with_returns.total_return_index) over last_{{ window_days }}_days = {{ window_days }}
                then avg(bars_with_returns.total_return_index) over last_{{ window_days }}_days
        end as sma_{{ window_days }}d,
        {%- endfor %}
        case
            when count(bars_with_returns.total_return_index) over last_20_days = 20
                then stddev_pop(bars_with_returns.total_return_index) over last_20_days
        end as stddev_pop_20d,
        case
            when count(bars_with_returns.total_return_index) over last_252_days = 252
                then max(bars_with_returns.total_return_index) over last_252_days
        end as high_252d,
        case
            when count(bars_with_returns.total_return_index) over last_252_days = 252
                then min(bars_with_returns.total_return_index) over last_252_days
        end as low_252d,
        {%- set by_underlying = 'bars_with_returns.underlying_symbol' %}
        {%- set by_trading_day = 'bars_with_returns.trading_day_number' %}
        {{ ema('bars_with_returns.total_return_index', 12, by_underlying, by_trading_day) }} as ema_12d,
        {{ ema('bars_with_returns.total_return_index', 26, by_underlying, by_trading_day) }} as ema_26d,
        {%- for period in rsi_periods %}
        {{ wilder_average('bars_with_returns.price_gain_1d', period, by_underlying, by_trading_day) }}
            as average_gain_{{ period }}d,
        {{ wilder_average('bars_with_returns.price_loss_1d', period, by_underlying, by_trading_day) }}
            as average_loss_{{ period }}d,
        {%- endfor %}
        {{ wilder_average('bars_with_returns.true_range_adjusted', 14, by_underlying, by_trading_day) }}
            as atr_14d_adjusted,
    from bars_with_returns
    window
        {%- for window_days in (vol_windows + sma_windows + [252]) | unique %}
        last_{{ window_days }}_days as (
            partition by bars_with_returns.underlying_symbol
            order by bars_with_returns.trading_day_number
            range between {{ window_days - 1 }} preceding and current row
        ){{ "," if not loop.last }}
        {%- endfor %}

),

-- MACD (Appel): line = EMA12 − EMA26 of the price, signal = EMA9 of the line, histogram = line −
-- signal; all divided by the day's price so that they compare across underlyings and decades.
-- RSI (Wilder 1978): 100 × avg_gain / (avg_gain + avg_loss), the same as 100 − 100 / (1 + RS) with
-- RS = avg_gain / avg_loss, but 100 rather than a division by zero when nothing fell; NULL when
-- nothing moved in the whole window.
bars_with_macd as (

    select
        bars_with_trailing_windows.*,
        {%- for period in rsi_periods %}
        100.0 * bars_with_trailing_windows.average_gain_{{ period }}d / nullif(
            bars_with_trailing_windows.average_gain_{{ period }}d
            + bars_with_trailing_windows.average_loss_{{ period }}d,
            0.0
        ) as rsi_{{ period }}d_points,
        {%- endfor %}
        bars_with_trailing_windows.ema_12d - bars_with_trailing_windows.ema_26d as macd_line,
        {{ ema(
            '(bars_with_trailing_windows.ema_12d - bars_with_trailing_windows.ema_26d)',
            9,
            'bars_with_trailing_windows.underlying_symbol',
            'bars_with_trailing_windows.trading_day_number',
        ) }} as macd_signal,
    from bars_with_trailing_windows

),

-- As-of joins: the latest index close and rate published on or before the trade_date, never later.
bars_joined_to_vol_and_rates as (

    select
        bars_with_macd.*,
        int_volatility_indices_ranked.vix,
        int_volatility_indices_ranked.vix_9d,
        int_volatility_indices_ranked.vix_3m,
        int_volatility_indices_ranked.vix_6m,
        int_volatility_indices_ranked.vvix,
        int_volatility_indices_ranked.skew_points,
        int_volatility_indices_ranked.vix_change_1d,
        int_volatility_indices_ranked.vix_change_5d,
        int_volatility_indices_ranked.vix_rank_252d,
        int_volatility_indices_ranked.vix_percentile_252d,
        int_volatility_indices_ranked.vix_zscore_60d,
        int_volatility_indices_ranked.vix_9d_to_vix_ratio,
        int_volatility_indices_ranked.is_vix_contango,
        int_volatility_indices_ranked.iv_regime,
        int_rates_pivoted.rate_3m,
        int_rates_pivoted.rate_2y,
        int_rates_pivoted.rate_10y,
        int_rates_pivoted.rate_10y - int_rates_pivoted.rate_2y as rate_10y_2y_spread,
    from bars_with_macd
    asof left join int_volatility_indices_ranked
        on bars_with_macd.trade_date >= int_volatility_indices_ranked.trade_date
    asof left join int_rates_pivoted
        on bars_with_macd.trade_date >= int_rates_pivoted.observation_date

),

-- Rate changes over h trading days of the underlying: decimal differences (0.0025 = 25 bp).
bars_with_rate_changes as (

    select
        bars_joined_to_vol_and_rates.*,
        {%- for rate_column in rate_columns %}
        {%- for horizon in rate_change_horizons %}
        bars_joined_to_vol_and_rates.{{ rate_column }}
            - first_value(bars_joined_to_vol_and_rates.{{ rate_column }}) over trading_day_{{ horizon }}_back
            as {{ rate_column }}_change_{{ horizon }}d,
        {%- endfor %}
        {%- endfor %}
    from bars_joined_to_vol_and_rates
    window
        {%- for horizon in rate_change_horizons %}
        trading_day_{{ horizon }}_back as (
            partition by bars_joined_to_vol_and_rates.underlying_symbol
            order by bars_joined_to_vol_and_rates.trading_day_number
            range between {{ horizon }} preceding and {{ horizon }} preceding
        ){{ "," if not loop.last }}
        {%- endfor %}

),

final as (

    select
        bars_with_rate_changes.underlying_symbol,
        bars_with_rate_changes.trade_date,

        -- returns
        {%- for horizon in return_horizons %}
        bars_with_rate_changes.return_{{ horizon }}d,
        {%- endfor %}
        {%- for horizon in return_horizons %}
        bars_with_rate_changes.log_return_{{ horizon }}d,
        {%- endfor %}

        -- realized volatility
        {%- for window_days in vol_windows %}
        bars_with_rate_changes.realized_vol_{{ window_days }}d,
        {%- endfor %}
        {%- for window_days in vol_windows %}
        bars_with_rate_changes.parkinson_vol_{{ window_days }}d,
        {%- endfor %}
        bars_with_rate_changes.realized_vol_5d / nullif(bars_with_rate_changes.realized_vol_21d, 0.0)
            as realized_vol_ratio_5d_21d,
        bars_with_rate_changes.realized_vol_21d / nullif(bars_with_rate_changes.realized_vol_63d, 0.0)
            as realized_vol_ratio_21d_63d,
        bars_with_rate_changes.realized_vol_21d / nullif(bars_with_rate_changes.realized_vol_126d, 0.0)
            as realized_vol_ratio_21d_126d,

        -- technical indicators (price = total_return_index)
        {%- for period in rsi_periods %}
        bars_with_rate_changes.rsi_{{ period }}d_points,
        {%- endfor %}
        bars_with_rate_changes.macd_line / bars_with_rate_changes.total_return_index as macd_line_to_close,
        bars_with_rate_changes.macd_signal / bars_with_rate_changes.total_return_index as macd_signal_to_close,
        (bars_with_rate_changes.macd_line - bars_with_rate_changes.macd_signal)
            / bars_with_rate_changes.total_return_index as macd_histogram_to_close,
        -- %b = (price − lower) / (upper − lower), lower = mean − 2σ, upper − lower = 4σ
        (bars_with_rate_changes.total_return_index
            - (bars_with_rate_changes.sma_20d - 2 * bars_with_rate_changes.stddev_pop_20d))
            / nullif(4 * bars_with_rate_changes.stddev_pop_20d, 0.0) as bollinger_percent_b_20d,
        4 * bars_with_rate_changes.stddev_pop_20d / bars_with_rate_changes.sma_20d as bollinger_width_20d,
        -- ATR back on the raw price scale of the day: adjusted ATR × raw close / index
        bars_with_rate_changes.atr_14d_adjusted * bars_with_rate_changes.close
            / bars_with_rate_changes.total_return_index as atr_14d_usd,
        bars_with_rate_changes.atr_14d_adjusted / bars_with_rate_changes.total_return_index as atr_14d_to_close,
        {%- for window_days in sma_windows %}
        bars_with_rate_changes.total_return_index / bars_with_rate_changes.sma_{{ window_days }}d - 1
            as distance_to_sma_{{ window_days }}d,
        {%- endfor %}
        bars_with_rate_changes.total_return_index / bars_with_rate_changes.high_252d - 1 as distance_to_high_252d,
        bars_with_rate_changes.total_return_index / bars_with_rate_changes.low_252d - 1 as distance_to_low_252d,

        -- implied volatility (VIX family)
        bars_with_rate_changes.vix,
        bars_with_rate_changes.vix_rank_252d,
        bars_with_rate_changes.vix_percentile_252d,
        bars_with_rate_changes.vix_zscore_60d,
        bars_with_rate_changes.vix_change_1d,
        bars_with_rate_changes.vix_change_5d,
        bars_with_rate_changes.iv_regime,
        bars_with_rate_changes.vix_9d,
        bars_with_rate_changes.vix_3m,
        bars_with_rate_changes.vix_6m,
        bars_with_rate_changes.vix_9d_to_vix_ratio,
        bars_with_rate_changes.vix_3m - bars_with_rate_changes.vix as vix_term_slope,
        bars_with_rate_changes.is_vix_contango,
        bars_with_rate_changes.vvix,
        bars_with_rate_changes.skew_points,
        bars_with_rate_changes.vix - bars_with_rate_changes.realized_vol_21d as vol_risk_premium_21d,

        -- rates
        {%- for rate_column in rate_columns %}
        bars_with_rate_changes.{{ rate_column }},
        {%- endfor %}
        {%- for rate_column in rate_columns %}
        {%- for horizon in rate_change_horizons %}
        bars_with_rate_changes.{{ rate_column }}_change_{{ horizon }}d,
        {%- endfor %}
        {%- endfor %}

        -- calendar
        cast(isodow(bars_with_rate_changes.trade_date) as integer) as day_of_week_iso,
        cast(month(bars_with_rate_changes.trade_date) as integer) as month_of_year,
        bars_with_rate_changes.calendar_days_to_month_end,
        bars_with_rate_changes.trading_days_to_month_end,
        bars_with_rate_changes.next_monthly_expiration_date,
        bars_with_rate_changes.calendar_days_to_monthly_expiration,
        bars_with_rate_changes.trading_days_to_monthly_expiration,
    from bars_with_rate_changes

)

select * from final
