-- Every landing batch (current and superseded), kept as a table so readers without file access
-- (the app's hardened connection, a copy of the published file) see what the loaders did.
with

stg_landing__batches as (

    select * from {{ ref('stg_landing__batches') }}

),

final as (

    select
        stg_landing__batches.load_id,
        stg_landing__batches.vendor,
        stg_landing__batches.entity,
        stg_landing__batches.source,
        stg_landing__batches.source_file,
        stg_landing__batches.source_sha256,
        stg_landing__batches.rows_in,
        stg_landing__batches.rows_landed,
        stg_landing__batches.rows_rejected,
        stg_landing__batches.rows_warned,
        stg_landing__batches.loaded_at,
        stg_landing__batches.loader_version,
        stg_landing__batches.superseded_by,
        stg_landing__batches.is_current,
    from stg_landing__batches

)

select * from final
