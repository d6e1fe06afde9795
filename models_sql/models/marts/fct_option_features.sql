{#- Incremental by quote_date: a run writes the quote dates the table does not have yet, and
    rewrites a built date only when its landed batches changed (a corrected vendor file, a batch
    landed late) or it depends on such a date: a carried dividend yield, a contract's previous
    quote, the IV rank's trailing window (macro quote_dates_kept). `dbt build --full-refresh`
    gives identical rows (tests/models_sql/test_incremental.py). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='quote_date',
        on_schema_change='fail',
    )
}}

with

int_option_quotes_priced as (

    select * from {{ ref('int_option_quotes_priced') }}

),

int_option_quotes_greeks as (

    select * from {{ ref('int_option_quotes_greeks') }}

),

int_option_expiry_surface as (

    select * from {{ ref('int_option_expiry_surface') }}

),

int_option_surface_daily as (

    select * from {{ ref('int_option_surface_daily') }}

),

-- The contract's previous quote in the chain (any earlier quote_date), for day-over-day changes.
-- Computed over the whole history before the incremental filter, so a new day sees its past.
quotes_with_previous as (

    select
        int_option_quotes_priced.*,
        lag(int_option_quotes_priced.quote_date) over by_contract as previous_quote_date,
        lag(int_option_quotes_priced.open_interest) over by_contract as previous_open_interest,
        lag(int_option_quotes_priced.bid) over by_contract as previous_bid,
        lag(int_option_quotes_priced.ask) over by_contract as previous_ask,
        lag(int_option_quotes_priced.underlying_price) over by_contract as previous_underlying_price,
    from int_option_quotes_priced
    window by_contract as (
        partition by int_option_quotes_priced.contract_symbol
        order by int_option_quotes_priced.quote_date
    )

),

new_quotes as (

    select *
    from quotes_with_previous
    where {{ quote_dates_to_build(
        'quotes_with_previous.quote_date',
        look_back=['dividend_yield_carry', 'previous_quote', 'iv_rank_window']
    ) }}

),

final as (

    select
        new_quotes.contract_symbol,
        new_quotes.quote_date,
        new_quotes.quoted_at,
        new_quotes.underlying_symbol,
        new_quotes.option_root,
        new_quotes.option_type,
        new_quotes.strike,
        new_quotes.expiration,
        new_quotes.dte::integer as dte,
        int_option_quotes_greeks.tte_years,
        {{ expiry_type('new_quotes.expiration') }} as expiry_type,
        new_quotes.settlement_type,
        new_quotes.exercise_style,
        new_quotes.bid,
        new_quotes.ask,
        new_quotes.mid,
        new_quotes.spread_pct,
        new_quotes.last,
        new_quotes.underlying_price,
        int_option_quotes_greeks.forward_price,
        int_option_quotes_greeks.risk_free_rate,
        int_option_quotes_greeks.dividend_yield,
        new_quotes.moneyness,
        ln(new_quotes.strike / int_option_quotes_greeks.forward_price) as log_moneyness,
        int_option_quotes_greeks.implied_volatility,
        int_option_quotes_greeks.iv_solve_status,
        int_option_quotes_greeks.delta,
        int_option_quotes_greeks.gamma,
        int_option_quotes_greeks.theta,
        int_option_quotes_greeks.vega,
        int_option_quotes_greeks.rho,
        new_quotes.implied_volatility as vendor_implied_volatility,
        new_quotes.delta as vendor_delta,
        new_quotes.gamma as vendor_gamma,
        new_quotes.theta as vendor_theta,
        new_quotes.vega as vendor_vega,
        int_option_expiry_surface.atm_iv as expiry_atm_iv,
        int_option_expiry_surface.risk_reversal_25d as expiry_risk_reversal_25d,
        int_option_expiry_surface.butterfly_25d as expiry_butterfly_25d,
        int_option_surface_daily.atm_iv_30d,
        int_option_surface_daily.risk_reversal_25d_30d,
        int_option_surface_daily.butterfly_25d_30d,
        int_option_surface_daily.atm_iv_30d_rank,
        new_quotes.volume,
        new_quotes.open_interest,
        new_quotes.previous_quote_date,
        new_quotes.open_interest - new_quotes.previous_open_interest as open_interest_change,
        -- A stale quote: the market maker did not move it although the underlying moved it by
        -- at least one tick (|delta| x the spot move >= the Cboe minimum increment: $0.05 for
        -- options quoted under $3, $0.10 from $3), and nothing traded (an end-of-day chain
        -- repeats such quotes from earlier in the day). A far out-of-the-money 0.00/0.05 quote
        -- that repeats is the market pinned at its floor, not stale; an unsolved delta never
        -- flags.
        coalesce(
            new_quotes.bid = new_quotes.previous_bid
            and new_quotes.ask = new_quotes.previous_ask
            and abs(
                int_option_quotes_greeks.delta
                * (new_quotes.underlying_price - new_quotes.previous_underlying_price)
            ) >= case when new_quotes.ask < 3 then 0.05 else 0.10 end
            and new_quotes.volume = 0,
            false
        ) as is_stale_quote,
        new_quotes.source,
        new_quotes.load_id,
        new_quotes.batch_fingerprint,
    from new_quotes
    left join int_option_quotes_greeks
        on new_quotes.contract_symbol = int_option_quotes_greeks.contract_symbol
        and new_quotes.quote_date = int_option_quotes_greeks.quote_date
    left join int_option_expiry_surface
        on new_quotes.underlying_symbol = int_option_expiry_surface.underlying_symbol
        and new_quotes.quote_date = int_option_expiry_surface.quote_date
        and new_quotes.expiration = int_option_expiry_surface.expiration
        and new_quotes.settlement_type = int_option_expiry_surface.settlement_type
    left join int_option_surface_daily
        on new_quotes.underlying_symbol = int_option_surface_daily.underlying_symbol
        and new_quotes.quote_date = int_option_surface_daily.quote_date

)

select * from final
