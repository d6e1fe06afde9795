with

source_option_day_bars as (

    select * from {{ source('polygon', 'option_day_bars') }}

),

-- The source is optional: with no landed file it reads as one boolean column `empty` and no
-- rows. Unioned by name under a typed empty relation, it has its columns and types either way.
option_day_bars_typed as (

    select
        null::varchar as underlying_symbol,
        null::varchar as contract_symbol,
        null::varchar as option_root,
        null::varchar as option_type,
        null::date as expiration,
        null::double as strike,
        null::date as trade_date,
        null::double as open,
        null::double as high,
        null::double as low,
        null::double as close,
        null::bigint as volume,
        null::double as vwap,
        null::bigint as transactions,
        null::timestamptz as bar_start_at,
        null::date as cycle_start,
        null::varchar as source,
        null::varchar as source_file,
        null::bigint as source_line,
        null::varchar as load_id,
    where false
    union all by name
    select * from source_option_day_bars

),

renamed as (

    select
        option_day_bars_typed.underlying_symbol,
        option_day_bars_typed.contract_symbol,
        option_day_bars_typed.option_root,
        option_day_bars_typed.option_type,
        option_day_bars_typed.expiration,
        -- USD
        option_day_bars_typed.strike::double as strike,
        option_day_bars_typed.trade_date,
        -- prices of the day's trades, USD per share of the underlying
        option_day_bars_typed.open::double as open,
        option_day_bars_typed.high::double as high,
        option_day_bars_typed.low::double as low,
        option_day_bars_typed.close::double as close,
        option_day_bars_typed.vwap::double as vwap,
        -- contracts, and trades
        option_day_bars_typed.volume::bigint as volume,
        option_day_bars_typed.transactions::bigint as transactions,
        option_day_bars_typed.bar_start_at::timestamptz as bar_start_at,
        option_day_bars_typed.cycle_start,
        option_day_bars_typed.source,
        option_day_bars_typed.source_file,
        option_day_bars_typed.source_line,
        option_day_bars_typed.load_id,
    from option_day_bars_typed

)

select * from renamed
