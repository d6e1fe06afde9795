with

source_iv_surfaces as (

    select * from {{ source('qmoms', 'iv_surfaces') }}

),

-- The source is optional: with no landed file it reads as one boolean column `empty` and no
-- rows. Unioned by name under a typed empty relation, it has its columns and types either way.
iv_surfaces_typed as (

    select
        null::varchar as underlying_symbol,
        null::bigint as permno,
        null::date as quote_date,
        null::bigint as days,
        null::double as delta,
        null::varchar as option_type,
        null::double as strike,
        null::double as implied_volatility,
        null::double as forward_price,
        null::double as spot_price,
        null::double as moneyness,
        null::varchar as source,
        null::varchar as source_file,
        null::bigint as source_line,
        null::varchar as load_id,
    where false
    union all by name
    select * from source_iv_surfaces

),

renamed as (

    select
        iv_surfaces_typed.underlying_symbol,
        -- CRSP permanent security id (the vendor's `id`)
        iv_surfaces_typed.permno::bigint as permno,
        iv_surfaces_typed.quote_date,
        -- tenor, calendar days
        iv_surfaces_typed.days::bigint as days,
        -- decimal fraction (the vendor's x100 divided at landing); < 0 for puts
        iv_surfaces_typed.delta::double as delta,
        iv_surfaces_typed.option_type,
        -- USD
        iv_surfaces_typed.strike::double as strike,
        -- decimal
        iv_surfaces_typed.implied_volatility::double as implied_volatility,
        -- USD
        iv_surfaces_typed.forward_price::double as forward_price,
        iv_surfaces_typed.spot_price::double as spot_price,
        -- strike / spot_price, as the vendor gives it
        iv_surfaces_typed.moneyness::double as moneyness,
        iv_surfaces_typed.source,
        iv_surfaces_typed.source_file,
        iv_surfaces_typed.source_line,
        iv_surfaces_typed.load_id,
    from iv_surfaces_typed

)

select * from renamed
