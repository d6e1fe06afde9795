with

source_rates as (

    select * from {{ source('fred', 'rates') }}

),

renamed as (

    select
        source_rates.series_id,
        source_rates.date as observation_date,
        -- FRED delivers percent; the house unit for rates is the decimal fraction
        source_rates.value_pct / 100.0 as rate,
    from source_rates

)

select * from renamed
