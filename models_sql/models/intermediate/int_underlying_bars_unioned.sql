with

stg_yahoo__index_bars as (

    select * from {{ ref('stg_yahoo__index_bars') }}

),

stg_yahoo__equity_bars as (

    select * from {{ ref('stg_yahoo__equity_bars') }}
    -- raw prices only: option intrinsic value is computed against the unadjusted underlying
    where not is_adjusted

),

int_equity_bars_adjusted as (

    select * from {{ ref('int_equity_bars_adjusted') }}

),

bars_unioned as (

    -- adj_close: split- and dividend-adjusted where a factor file exists (QuantConnect), else
    -- the raw close (indices pay no dividends; the close-only SPY file has no factors)
    select *, close as adj_close from stg_yahoo__index_bars
    union all by name
    select * exclude (adj_close, is_adjusted), close as adj_close from stg_yahoo__equity_bars
    union all by name
    select
        int_equity_bars_adjusted.underlying_symbol,
        int_equity_bars_adjusted.trade_date,
        int_equity_bars_adjusted.open,
        int_equity_bars_adjusted.high,
        int_equity_bars_adjusted.low,
        int_equity_bars_adjusted.close,
        int_equity_bars_adjusted.adj_close,
        int_equity_bars_adjusted.volume,
        'quantconnect_raw_daily' as source,
    from int_equity_bars_adjusted

),

-- Source precedence, per underlying and day: a full OHLC bar beats a close-only one (it feeds
-- range-based estimators later); among equals, the source name decides, so the choice never
-- depends on row order.
bars_deduplicated as (

    select *
    from bars_unioned
    qualify row_number() over (
        partition by bars_unioned.underlying_symbol, bars_unioned.trade_date
        order by (bars_unioned.open is null), bars_unioned.source
    ) = 1

)

select * from bars_deduplicated
