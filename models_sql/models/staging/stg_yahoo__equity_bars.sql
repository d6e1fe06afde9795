with

source_equity_bars as (

    select * from {{ source('yahoo', 'equity_bars') }}

),

renamed as (

    select
        source_equity_bars.symbol as underlying_symbol,
        source_equity_bars.date as trade_date,
        -- raw (unadjusted) prices; close-only sources leave open/high/low/volume null
        source_equity_bars.open::double as open,
        source_equity_bars.high::double as high,
        source_equity_bars.low::double as low,
        source_equity_bars.close::double as close,
        source_equity_bars.adj_close::double as adj_close,
        source_equity_bars.volume::bigint as volume,
        -- yfinance auto_adjust=True exports: dividend-adjusted, never for intrinsic value
        source_equity_bars.is_adjusted,
        source_equity_bars.source,
    from source_equity_bars

)

select * from renamed
