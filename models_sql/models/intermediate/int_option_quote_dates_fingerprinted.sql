{#- One row per quote_date of any option chain: the landed batches that carry quotes of that date
    now and the Treasury curve known on it, and their fingerprint. A view, so it always answers
    for what is landed at the moment it is read: the incremental models compare it with the
    fingerprint each of their dates was built from (macro quote_dates_kept,
    models_sql/macros/incremental.sql), and the data test quote_dates_built_from_landed_batches
    fails on any date built from other batches. -#}
with

stg_cboe__option_quotes as (

    select * from {{ ref('stg_cboe__option_quotes') }}

),

stg_ivolatility__option_quotes as (

    select * from {{ ref('stg_ivolatility__option_quotes') }}

),

stg_cboe_datashop__option_quotes as (

    select * from {{ ref('stg_cboe_datashop__option_quotes') }}

),

stg_declared__option_quotes as (

    select * from {{ ref('stg_declared__option_quotes') }}

),

stg_landing__batches as (

    select * from {{ ref('stg_landing__batches') }}

),

int_rates_pivoted as (

    select * from {{ ref('int_rates_pivoted') }}

),

-- Every source, the losing ones of the precedence included: a batch that lands for a date
-- already built can change which quote wins.
batches_by_quote_date as (

    select distinct stg_cboe__option_quotes.quote_date, stg_cboe__option_quotes.load_id,
    from stg_cboe__option_quotes
    union
    select distinct stg_ivolatility__option_quotes.quote_date, stg_ivolatility__option_quotes.load_id,
    from stg_ivolatility__option_quotes
    union
    select distinct stg_cboe_datashop__option_quotes.quote_date, stg_cboe_datashop__option_quotes.load_id,
    from stg_cboe_datashop__option_quotes
    union
    select distinct stg_declared__option_quotes.quote_date, stg_declared__option_quotes.load_id,
    from stg_declared__option_quotes

),

quote_dates_with_batches as (

    select
        batches_by_quote_date.quote_date,
        -- load_id hashes the loader version, the layout, the file's path and its bytes: a
        -- corrected file is a new load_id
        string_agg(batches_by_quote_date.load_id, ',' order by batches_by_quote_date.load_id)
            as load_id_set,
        count(*)::integer as n_batches,
        list(batches_by_quote_date.load_id order by batches_by_quote_date.load_id) as load_ids,
        list(stg_landing__batches.source_file order by batches_by_quote_date.load_id)
            as source_files,
    from batches_by_quote_date
    left join stg_landing__batches
        on batches_by_quote_date.load_id = stg_landing__batches.load_id
    group by batches_by_quote_date.quote_date

),

-- The curve int_option_pricing_inputs prices the date with (the latest observation on or before
-- it): by its values, not its batch, so a corrected FRED file or a late observation rebuilds
-- the dates whose curve changed, and a FRED file that only adds later days rebuilds none.
quote_dates_with_curve as (

    select
        quote_dates_with_batches.*,
        int_rates_pivoted.observation_date as rate_curve_date,
        -- the whole row as text ({'observation_date': …, 'rate_1m': …, …})
        int_rates_pivoted::varchar as rate_curve,
    from quote_dates_with_batches
    asof left join int_rates_pivoted
        on quote_dates_with_batches.quote_date >= int_rates_pivoted.observation_date

),

quote_dates_fingerprinted as (

    select
        quote_dates_with_curve.quote_date,
        md5(
            quote_dates_with_curve.load_id_set || '|' || coalesce(quote_dates_with_curve.rate_curve, '')
        ) as batch_fingerprint,
        quote_dates_with_curve.n_batches,
        quote_dates_with_curve.load_ids,
        quote_dates_with_curve.source_files,
        quote_dates_with_curve.rate_curve_date,
    from quote_dates_with_curve

)

select * from quote_dates_fingerprinted
