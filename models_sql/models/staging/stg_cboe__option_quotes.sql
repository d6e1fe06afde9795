with

source_option_quotes as (

    select * from {{ source('cboe', 'option_quotes') }}

),

renamed as (

    select
        source_option_quotes.contract_symbol,
        source_option_quotes.vendor_symbol,
        source_option_quotes.option_root,
        -- the root's underlying by the contract specs (SPXW -> SPX); the vendor's as delivered
        source_option_quotes.underlying_symbol,
        source_option_quotes.vendor_underlying_symbol,
        source_option_quotes.exchange,
        source_option_quotes.quote_date,
        -- when the quote was taken, UTC (the layout's quote time, set at landing)
        source_option_quotes.quoted_at,
        -- the expiry's last trading session; the vendor's column as delivered (a pre-2015
        -- Saturday) is vendor_expiration
        source_option_quotes.expiration,
        source_option_quotes.vendor_expiration,
        source_option_quotes.option_type,
        source_option_quotes.strike::double as strike,
        source_option_quotes.bid::double as bid,
        source_option_quotes.ask::double as ask,
        source_option_quotes.last::double as last,
        source_option_quotes.volume::bigint as volume,
        source_option_quotes.open_interest::bigint as open_interest,
        source_option_quotes.underlying_price::double as underlying_price,
        -- decimal fraction already (0.12 = 12 %); the vendor writes 0 where it has no solution
        nullif(source_option_quotes.implied_volatility, 0)::double as implied_volatility,
        source_option_quotes.delta::double as delta,
        source_option_quotes.gamma::double as gamma,
        -- the SPY 2021 files carry theta and vega; the SPX 2019 files do not (null)
        source_option_quotes.theta::double as theta,
        source_option_quotes.vega::double as vega,
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
