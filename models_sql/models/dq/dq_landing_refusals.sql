-- The vendor files the latest load refused, with why: stg_landing__refused_files as a table, so
-- a reader without file access (the app's hardened connection, a copy of the published file)
-- can list them.
with

stg_landing__refused_files as (

    select * from {{ ref('stg_landing__refused_files') }}

),

final as (

    select
        stg_landing__refused_files.source_file,
        stg_landing__refused_files.reason,
        stg_landing__refused_files.layout,
        stg_landing__refused_files.vendor,
        stg_landing__refused_files.entity,
        stg_landing__refused_files.source_sha256,
        stg_landing__refused_files.source_bytes,
        stg_landing__refused_files.refused_at,
        stg_landing__refused_files.is_claimed,
    from stg_landing__refused_files

)

select * from final
