{#- Option quotes of the layouts declared in YAML (loaders/layouts/*.yaml with `vendor: declared`,
    and a user's own in <vendor dir>/layouts/: OptionsDX, ORATS strikes exports, a desk's own
    files), landed under raw/declared/option_quotes/. One row per contract per quote as the
    layout delivered it; `source` names the layout. Optional: with no declared file landed, the
    source reads as one boolean column `empty` and no rows, and the typed empty relation below
    gives the model its columns and types either way. -#}
with

source_option_quotes as (

    select * from {{ source('declared', 'option_quotes') }}

),

option_quotes_typed as (

    select
        null::varchar as underlying_symbol,
        null::varchar as vendor_underlying_symbol,
        null::double as underlying_price,
        null::double as underlying_bid,
        null::double as underlying_ask,
        null::varchar as exchange,
        null::varchar as contract_symbol,
        null::varchar as vendor_symbol,
        null::varchar as option_root,
        null::varchar as option_type,
        null::date as expiration,
        null::date as vendor_expiration,
        null::date as quote_date,
        null::timestamptz as quoted_at,
        null::double as strike,
        null::double as last,
        null::double as bid,
        null::double as ask,
        null::bigint as bid_size,
        null::bigint as ask_size,
        null::bigint as volume,
        null::bigint as open_interest,
        null::double as implied_volatility,
        null::double as delta,
        null::double as gamma,
        null::double as theta,
        null::double as vega,
        null::double as rho,
        null::varchar as exercise_style,
        null::varchar as settlement_style,
        null::varchar as settlement_type,
        null::bigint as contract_multiplier,
        null::varchar as deliverable,
        null::boolean as is_standard_contract,
        null::varchar as nonstandard_reason,
        null::varchar as source,
        null::varchar as source_file,
        null::bigint as source_line,
        null::varchar as load_id,
    where false
    union all by name
    select * from source_option_quotes

),

renamed as (

    select
        option_quotes_typed.underlying_symbol,
        option_quotes_typed.vendor_underlying_symbol,
        option_quotes_typed.underlying_price,
        option_quotes_typed.underlying_bid,
        option_quotes_typed.underlying_ask,
        option_quotes_typed.exchange,
        option_quotes_typed.contract_symbol,
        option_quotes_typed.vendor_symbol,
        option_quotes_typed.option_root,
        option_quotes_typed.option_type,
        option_quotes_typed.expiration,
        option_quotes_typed.vendor_expiration,
        option_quotes_typed.quote_date,
        option_quotes_typed.quoted_at,
        option_quotes_typed.strike,
        option_quotes_typed.last,
        option_quotes_typed.bid,
        option_quotes_typed.ask,
        option_quotes_typed.bid_size,
        option_quotes_typed.ask_size,
        option_quotes_typed.volume,
        option_quotes_typed.open_interest,
        -- decimal fraction; an IV of exactly 0 is a vendor's 'no solution', never a quote's IV
        nullif(option_quotes_typed.implied_volatility, 0) as implied_volatility,
        option_quotes_typed.delta,
        option_quotes_typed.gamma,
        option_quotes_typed.theta,
        option_quotes_typed.vega,
        option_quotes_typed.rho,
        option_quotes_typed.exercise_style,
        option_quotes_typed.settlement_style,
        option_quotes_typed.settlement_type,
        option_quotes_typed.contract_multiplier,
        option_quotes_typed.deliverable,
        option_quotes_typed.is_standard_contract,
        option_quotes_typed.nonstandard_reason,
        option_quotes_typed.source,
        option_quotes_typed.source_file,
        option_quotes_typed.source_line,
        option_quotes_typed.load_id,
    from option_quotes_typed

)

select * from renamed
