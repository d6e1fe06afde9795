with

source_option_quotes as (

    select * from {{ source('cboe_datashop', 'option_quotes') }}

),

renamed as (

    select
        source_option_quotes.contract_symbol,
        source_option_quotes.option_root,
        -- the root's underlying by the contract specs (SPXW -> SPX); the vendor's as delivered
        source_option_quotes.underlying_symbol,
        source_option_quotes.vendor_underlying_symbol,
        source_option_quotes.quote_date,
        source_option_quotes.quoted_at,
        -- the expiry's last trading session; the vendor's column as delivered (a pre-2015
        -- Saturday) is vendor_expiration
        source_option_quotes.expiration,
        source_option_quotes.vendor_expiration,
        source_option_quotes.option_type,
        source_option_quotes.strike::double as strike,
        source_option_quotes.bid::double as bid,
        source_option_quotes.ask::double as ask,
        source_option_quotes.bid_size::bigint as bid_size,
        source_option_quotes.ask_size::bigint as ask_size,
        source_option_quotes.volume::bigint as volume,
        source_option_quotes.open_interest::bigint as open_interest,
        -- the mid of the underlying's 15:45 bid and ask (DataShop gives no last price)
        source_option_quotes.underlying_price::double as underlying_price,
        source_option_quotes.underlying_bid::double as underlying_bid,
        source_option_quotes.underlying_ask::double as underlying_ask,
        source_option_quotes.exercise_style,
        source_option_quotes.settlement_style,
        source_option_quotes.settlement_type,
        source_option_quotes.contract_multiplier,
        -- adjusted contracts (AAPL7, a 65.71 strike): kept, never priced as standard
        source_option_quotes.deliverable,
        source_option_quotes.is_standard_contract,
        source_option_quotes.nonstandard_reason,
        source_option_quotes.source,
        source_option_quotes.source_file,
        source_option_quotes.source_line,
        source_option_quotes.load_id,
    from source_option_quotes

)

select * from renamed
