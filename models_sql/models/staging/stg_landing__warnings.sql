with

source_warnings as (

    select * from {{ source('landing', 'warnings') }}

),

renamed as (

    select
        source_warnings.load_id,
        source_warnings.entity,
        source_warnings.rule,
        source_warnings.severity,
        source_warnings.source,
        source_warnings.source_file,
        source_warnings.source_line,
        -- every column of the row as text, as parsed
        source_warnings.row_json,
    from source_warnings

)

select * from renamed
