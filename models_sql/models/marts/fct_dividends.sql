-- Cash dividends per share, derived from QuantConnect/Lean factor files the way Lean itself does
-- (Common/Data/Auxiliary/CorporateFactorRow.cs, GetDividend; Common/Data/Market/Dividend.cs,
-- ComputeDistribution; CorporateFactorProvider.GetSplitsAndDividends; read at Lean commit 2486390):
--   * rows are taken in date order; a row whose price_factor differs from the next row's marks a
--     dividend (a change of split_factor alone is a split, not a dividend);
--   * the row's date is the last trading day before the ex-date, and its reference_price is the
--     raw close of that day; the ex-date is the next trading day after the row's date;
--   * dividend = reference_price - reference_price x price_factor / next row's price_factor,
--     since Lean builds the files as price_factor(i) = price_factor(i+1) x (C - D) / C.
-- Lean rounds the amount to cents (decimalPlaces = 2); here it keeps 4 places, the precision the
-- file's 7-place factors carry (about 0.0001 USD at a 400 USD reference price).
with

stg_quantconnect__adjustment_factors as (

    select * from {{ ref('stg_quantconnect__adjustment_factors') }}

),

int_calendar_days_generated as (

    select * from {{ ref('int_calendar_days_generated') }}

),

nyse_sessions as (

    select int_calendar_days_generated.calendar_date as session_date,
    from int_calendar_days_generated
    where int_calendar_days_generated.is_trading_day

),

factor_rows_with_next as (

    select
        stg_quantconnect__adjustment_factors.underlying_symbol,
        stg_quantconnect__adjustment_factors.factor_date,
        stg_quantconnect__adjustment_factors.price_factor,
        stg_quantconnect__adjustment_factors.reference_price,
        lead(stg_quantconnect__adjustment_factors.price_factor) over (
            partition by stg_quantconnect__adjustment_factors.underlying_symbol
            order by stg_quantconnect__adjustment_factors.factor_date
        ) as next_price_factor,
    from stg_quantconnect__adjustment_factors

),

dividends_derived as (

    select
        factor_rows_with_next.underlying_symbol,
        factor_rows_with_next.factor_date,
        factor_rows_with_next.reference_price,
        round(
            factor_rows_with_next.reference_price
            - factor_rows_with_next.reference_price
            * factor_rows_with_next.price_factor / factor_rows_with_next.next_price_factor,
            4
        ) as dividend_usd,
    from factor_rows_with_next
    -- the last row (Lean's 2050-12-31 sentinel) has no next row, so no dividend
    where factor_rows_with_next.price_factor != factor_rows_with_next.next_price_factor

),

-- A change below the rounding is no dividend (Lean keeps only non-zero rounded distributions). A
-- negative amount is kept, so that the mart's tests fail on it.
dividends_non_zero as (

    select * from dividends_derived
    where dividends_derived.dividend_usd != 0

),

-- the ex-date: the first NYSE session after the factor row's date (NULL past the calendar's end,
-- which the not_null test reports)
dividends_with_ex_date as (

    select
        dividends_non_zero.underlying_symbol,
        nyse_sessions.session_date as ex_date,
        dividends_non_zero.factor_date,
        dividends_non_zero.dividend_usd,
        dividends_non_zero.reference_price,
        'quantconnect_factor_file' as source,
    from dividends_non_zero
    asof left join nyse_sessions
        on dividends_non_zero.factor_date < nyse_sessions.session_date

),

final as (

    select
        cast(dividends_with_ex_date.underlying_symbol as varchar) as underlying_symbol,
        cast(dividends_with_ex_date.ex_date as date) as ex_date,
        cast(dividends_with_ex_date.factor_date as date) as factor_date,
        cast(dividends_with_ex_date.dividend_usd as double) as dividend_usd,
        cast(dividends_with_ex_date.reference_price as double) as reference_price,
        cast(dividends_with_ex_date.source as varchar) as source,
    from dividends_with_ex_date

)

select * from final
