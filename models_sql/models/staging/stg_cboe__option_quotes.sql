with

source_option_quotes as (

    select * from {{ source('cboe', 'option_quotes') }}

),

renamed as (

    select
        source_option_quotes.contract_symbol,
        source_option_quotes.underlying_symbol,
        source_option_quotes.exchange,
        source_option_quotes.quote_date,
        source_option_quotes.expiration,
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
        source_option_quotes.source,
        source_option_quotes.source_file,
        source_option_quotes.source_line,
    from source_option_quotes

)

select * from renamed
