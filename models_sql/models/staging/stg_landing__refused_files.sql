with

source_refused_files as (

    select * from {{ source('landing', 'refused_files') }}

),

-- A raw folder landed before the loaders recorded refusals has no file: it reads as one boolean
-- column `empty` and no rows. Unioned by name under a typed empty relation, the model has its
-- columns and types either way.
refused_files_typed as (

    select
        null::varchar as source_file,
        null::varchar as reason,
        null::varchar as layout,
        null::varchar as vendor,
        null::varchar as entity,
        null::varchar as source_sha256,
        null::bigint as source_bytes,
        null::timestamptz as refused_at,
    where false
    union all by name
    select * from source_refused_files

),

renamed as (

    select
        refused_files_typed.source_file,
        refused_files_typed.reason,
        refused_files_typed.layout,
        refused_files_typed.vendor,
        refused_files_typed.entity,
        refused_files_typed.source_sha256,
        refused_files_typed.source_bytes,
        refused_files_typed.refused_at,
        refused_files_typed.layout is not null as is_claimed,
    from refused_files_typed

)

select * from renamed
