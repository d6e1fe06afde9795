with

source_batches as (

    select * from {{ source('landing', 'batches') }}

),

renamed as (

    select
        source_batches.load_id,
        source_batches.vendor,
        source_batches.entity,
        source_batches.source,
        source_batches.source_file,
        source_batches.source_sha256,
        source_batches.source_bytes,
        source_batches.rows_in,
        source_batches.rows_landed,
        source_batches.rows_rejected,
        source_batches.rows_warned,
        source_batches.landed_file,
        source_batches.landed_sha256,
        source_batches.loaded_at,
        source_batches.loader_version,
        source_batches.superseded_by,
        source_batches.superseded_by is null as is_current,
    from source_batches

)

select * from renamed
