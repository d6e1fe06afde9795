with

stg_qmoms__iv_surfaces as (

    select * from {{ ref('stg_qmoms__iv_surfaces') }}

),

-- The qmoms layout's rows only: the grain has no source column, and a user's own layout landed
-- under the same vendor folder would otherwise repeat a (symbol, day, tenor, delta).
surfaces_from_vsurfd as (

    select *
    from stg_qmoms__iv_surfaces
    where stg_qmoms__iv_surfaces.source = 'qmoms_vsurfd'

),

surfaces_with_tenor_and_log_moneyness as (

    select
        surfaces_from_vsurfd.underlying_symbol,
        surfaces_from_vsurfd.permno,
        surfaces_from_vsurfd.quote_date,
        surfaces_from_vsurfd.days,
        -- ACT/365 calendar time, as tte_years elsewhere in the warehouse
        surfaces_from_vsurfd.days / 365.0 as tte_years,
        surfaces_from_vsurfd.delta,
        surfaces_from_vsurfd.option_type,
        surfaces_from_vsurfd.strike,
        surfaces_from_vsurfd.implied_volatility,
        surfaces_from_vsurfd.forward_price,
        surfaces_from_vsurfd.spot_price,
        surfaces_from_vsurfd.moneyness,
        -- forward log-moneyness ln(K / F), the abscissa of a smile fit
        ln(surfaces_from_vsurfd.strike / surfaces_from_vsurfd.forward_price) as log_moneyness,
        surfaces_from_vsurfd.source,
    from surfaces_from_vsurfd

)

select * from surfaces_with_tenor_and_log_moneyness
