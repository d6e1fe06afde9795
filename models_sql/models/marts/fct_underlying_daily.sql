with

int_underlying_bars_unioned as (

    select * from {{ ref('int_underlying_bars_unioned') }}

),

int_volatility_indices_pivoted as (

    select * from {{ ref('int_volatility_indices_pivoted') }}

),

int_rates_pivoted as (

    select * from {{ ref('int_rates_pivoted') }}

),

-- Daily gross return: the adjusted close's ratio within one source (splits and dividends are not
-- moves), the raw close's ratio where the chosen source changes (adjusted series of different
-- vendors are not on one scale, raw closes are). Prices themselves stay raw: option intrinsic
-- value needs them.
bars_with_daily_return as (

    select
        int_underlying_bars_unioned.*,
        case
            when lag(int_underlying_bars_unioned.source) over by_day = int_underlying_bars_unioned.source
                then int_underlying_bars_unioned.adj_close / lag(int_underlying_bars_unioned.adj_close) over by_day
            else int_underlying_bars_unioned.close / lag(int_underlying_bars_unioned.close) over by_day
        end as gross_return_1d,
    from int_underlying_bars_unioned
    window by_day as (
        partition by int_underlying_bars_unioned.underlying_symbol
        order by int_underlying_bars_unioned.trade_date
    )

),

-- A total-return index (1.0 on the first day) chains the daily returns, so multi-day returns
-- are ratios of it whatever the sources in between.
bars_with_return_index as (

    select
        bars_with_daily_return.*,
        exp(sum(ln(coalesce(bars_with_daily_return.gross_return_1d, 1.0))) over (
            partition by bars_with_daily_return.underlying_symbol
            order by bars_with_daily_return.trade_date
            rows between unbounded preceding and current row
        )) as total_return_index,
    from bars_with_daily_return

),

bars_with_returns as (

    select
        bars_with_return_index.*,
        bars_with_return_index.gross_return_1d - 1 as return_1d,
        ln(bars_with_return_index.gross_return_1d) as log_return_1d,
        bars_with_return_index.total_return_index
            / lag(bars_with_return_index.total_return_index, 5) over by_day - 1 as return_5d,
        bars_with_return_index.total_return_index
            / lag(bars_with_return_index.total_return_index, 21) over by_day - 1 as return_21d,
    from bars_with_return_index
    window by_day as (
        partition by bars_with_return_index.underlying_symbol
        order by bars_with_return_index.trade_date
    )

),

-- Close-to-close realized vol (Hull, Options, Futures and Other Derivatives, ch. 15):
-- sample stdev of daily log returns over the window, × √252; NULL until the window is full.
bars_with_realized_vol as (

    select
        bars_with_returns.*,
        {%- for window_days in [5, 21] %}
        case
            when count(bars_with_returns.log_return_1d) over last_{{ window_days }}_days = {{ window_days }}
                then stddev_samp(bars_with_returns.log_return_1d) over last_{{ window_days }}_days * sqrt(252)
        end as realized_vol_{{ window_days }}d,
        {%- endfor %}
    from bars_with_returns
    window
        {%- for window_days in [5, 21] %}
        last_{{ window_days }}_days as (
            partition by bars_with_returns.underlying_symbol
            order by bars_with_returns.trade_date
            rows between {{ window_days - 1 }} preceding and current row
        ){{ "," if not loop.last }}
        {%- endfor %}

),

-- As-of joins: the latest index close and rate published on or before the trade_date.
bars_joined_to_vol_and_rates as (

    select
        bars_with_realized_vol.underlying_symbol,
        bars_with_realized_vol.trade_date,
        bars_with_realized_vol.open,
        bars_with_realized_vol.high,
        bars_with_realized_vol.low,
        bars_with_realized_vol.close,
        bars_with_realized_vol.adj_close,
        bars_with_realized_vol.total_return_index,
        bars_with_realized_vol.volume,
        bars_with_realized_vol.return_1d,
        bars_with_realized_vol.log_return_1d,
        bars_with_realized_vol.return_5d,
        bars_with_realized_vol.return_21d,
        bars_with_realized_vol.realized_vol_5d,
        bars_with_realized_vol.realized_vol_21d,
        int_volatility_indices_pivoted.vix,
        int_volatility_indices_pivoted.vix_3m,
        int_volatility_indices_pivoted.vix_3m - int_volatility_indices_pivoted.vix
            as vix_term_slope,
        int_volatility_indices_pivoted.vix - bars_with_realized_vol.realized_vol_21d
            as vol_risk_premium_21d,
        -- the 1-month T-bill yield: the cash account of the engine (cash_interest: tbill_1m)
        int_rates_pivoted.rate_1m,
        int_rates_pivoted.rate_3m,
        bars_with_realized_vol.source,
    from bars_with_realized_vol
    asof left join int_volatility_indices_pivoted
        on bars_with_realized_vol.trade_date >= int_volatility_indices_pivoted.trade_date
    asof left join int_rates_pivoted
        on bars_with_realized_vol.trade_date >= int_rates_pivoted.observation_date

)

select * from bars_joined_to_vol_and_rates
