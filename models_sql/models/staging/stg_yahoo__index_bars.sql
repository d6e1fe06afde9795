with

source_index_bars as (

    select * from {{ source('yahoo', 'index_bars') }}

),

renamed as (

    select
        source_index_bars.symbol as underlying_symbol,
        source_index_bars.date as trade_date,
        -- raw (unadjusted) prices; close-only sources leave open/high/low/volume null
        source_index_bars.open::double as open,
        source_index_bars.high::double as high,
        source_index_bars.low::double as low,
        source_index_bars.close::double as close,
        source_index_bars.volume::bigint as volume,
        source_index_bars.source,
    from source_index_bars

)

select * from renamed
