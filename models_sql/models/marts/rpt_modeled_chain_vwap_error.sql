{#- The modeled chain against TRADED prices: the 2023 Polygon day bars (fct_option_day_bars) of
    the underlyings whose price and volatility source that day exist in the warehouse (SPY: its
    raw close and the VIX family; the other seven names of the file have no raw 2023 price
    here), one row per underlying × expiry type, and overall. The modeled mid is at the close
    (16:00 ET); the VWAP averages the day's trades, so part of the gap is the day's drift:
    the error is stated in dollars, relative to the VWAP, and as the share of modeled mids inside
    the day's traded low-high range. -#}

with

fct_option_day_bars as (

    select * from {{ ref('fct_option_day_bars') }}

),

fct_option_quotes_modeled as (

    select * from {{ ref('fct_option_quotes_modeled') }}

),

matched as (

    select
        fct_option_quotes_modeled.underlying_symbol,
        fct_option_quotes_modeled.expiry_type,
        fct_option_quotes_modeled.quote_date,
        fct_option_quotes_modeled.mid as model_mid,
        fct_option_day_bars.vwap,
        fct_option_day_bars.low,
        fct_option_day_bars.high,
        fct_option_quotes_modeled.mid - fct_option_day_bars.vwap as mid_minus_vwap_usd,
    from fct_option_quotes_modeled
    inner join fct_option_day_bars
        on fct_option_day_bars.contract_symbol = fct_option_quotes_modeled.contract_symbol
        and fct_option_day_bars.trade_date = fct_option_quotes_modeled.quote_date
    where fct_option_day_bars.vwap > 0

),

summary as (

    select
        coalesce(underlying_symbol, 'all') as underlying_symbol,
        coalesce(expiry_type, 'all') as expiry_type,
        count(*) as n_bars,
        count(distinct quote_date) as n_days,
        median(abs(mid_minus_vwap_usd)) as median_abs_error_usd,
        median(mid_minus_vwap_usd) as median_error_usd,
        median(abs(mid_minus_vwap_usd) / vwap) as median_abs_relative_error,
        avg((model_mid between low and high)::double) as share_model_mid_inside_day_range,
    from matched
    group by grouping sets ((underlying_symbol, expiry_type), (underlying_symbol), ())

)

select * from summary
order by underlying_symbol = 'all', underlying_symbol, expiry_type = 'all', expiry_type
