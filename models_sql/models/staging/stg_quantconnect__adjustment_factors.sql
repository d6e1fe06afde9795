with

source_adjustment_factors as (

    select * from {{ source('quantconnect', 'adjustment_factors') }}

),

renamed as (

    select
        source_adjustment_factors.symbol as underlying_symbol,
        -- the factors apply to every bar up to and including this date
        source_adjustment_factors.date as factor_date,
        source_adjustment_factors.price_factor::double as price_factor,
        source_adjustment_factors.split_factor::double as split_factor,
        source_adjustment_factors.reference_price::double as reference_price,
        source_adjustment_factors.source,
    from source_adjustment_factors

)

select * from renamed
