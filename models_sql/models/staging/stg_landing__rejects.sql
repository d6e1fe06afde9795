with

source_rejects as (

    select * from {{ source('landing', 'rejects') }}

),

renamed as (

    select
        source_rejects.load_id,
        source_rejects.entity,
        source_rejects.rule,
        source_rejects.severity,
        source_rejects.source,
        source_rejects.source_file,
        source_rejects.source_line,
        -- every column of the row as text, as parsed
        source_rejects.row_json,
    from source_rejects

)

select * from renamed
