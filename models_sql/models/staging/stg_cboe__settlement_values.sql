with

source_settlement_values as (

    select * from {{ source('cboe', 'settlement_values') }}

),

-- The source is optional: with no landed file it reads as one boolean column `empty` and no
-- rows. Unioned by name under a typed empty relation, it has its columns and types either way.
settlement_values_typed as (

    select
        null::date as settlement_month,
        null::varchar as index_label,
        null::varchar as index_name,
        null::varchar as settlement_symbol,
        null::double as settlement_value,
        null::boolean as has_vendor_footnote,
        null::varchar as source,
        null::varchar as source_file,
        null::bigint as source_line,
        null::varchar as load_id,
    where false
    union all by name
    select * from source_settlement_values

),

renamed as (

    select
        settlement_values_typed.settlement_month,
        settlement_values_typed.index_label,
        settlement_values_typed.index_name,
        settlement_values_typed.settlement_symbol,
        -- index points, as Cboe publishes them
        settlement_values_typed.settlement_value::double as settlement_value,
        settlement_values_typed.has_vendor_footnote,
        settlement_values_typed.source,
        settlement_values_typed.source_file,
        settlement_values_typed.source_line,
        settlement_values_typed.load_id,
    from settlement_values_typed

)

select * from renamed
