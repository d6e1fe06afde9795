with

source_benchmark_indices as (

    select * from {{ source('cboe', 'benchmark_indices') }}

),

-- The source is optional: with no landed file it reads as one boolean column `empty` and no
-- rows. Unioned by name under a typed empty relation, it has its columns and types either way.
benchmark_indices_typed as (

    select
        null::varchar as index_symbol,
        null::date as date,
        null::double as open,
        null::double as high,
        null::double as low,
        null::double as close,
        null::varchar as source,
        null::varchar as source_file,
        null::bigint as source_line,
        null::varchar as load_id,
    where false
    union all by name
    select * from source_benchmark_indices

),

renamed as (

    select
        benchmark_indices_typed.index_symbol,
        benchmark_indices_typed.date as trade_date,
        -- index points, as Cboe publishes them (BXM: a total-return level, 100 on 1988-06-01)
        benchmark_indices_typed.close::double as level,
        benchmark_indices_typed.source,
        benchmark_indices_typed.source_file,
        benchmark_indices_typed.source_line,
        benchmark_indices_typed.load_id,
    from benchmark_indices_typed

)

select * from renamed
