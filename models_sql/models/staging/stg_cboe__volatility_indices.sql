with

source_volatility_indices as (

    select * from {{ source('cboe', 'volatility_indices') }}

),

renamed as (

    select
        source_volatility_indices.index_symbol,
        source_volatility_indices.date as trade_date,
        -- index points as CBOE publishes them (VIX 17.42 = 17.42 % annualised); marts convert
        source_volatility_indices.open::double as open,
        source_volatility_indices.high::double as high,
        source_volatility_indices.low::double as low,
        source_volatility_indices.close::double as close,
    from source_volatility_indices

)

select * from renamed
