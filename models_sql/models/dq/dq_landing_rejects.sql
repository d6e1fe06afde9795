-- Every row a vendor sent that broke an error rule at landing, with its file, line and rule:
-- stg_landing__rejects as a table (it reads parquet files, which a hardened reader cannot).
with

stg_landing__rejects as (

    select * from {{ ref('stg_landing__rejects') }}

),

stg_landing__batches as (

    select * from {{ ref('stg_landing__batches') }}

),

final as (

    select
        stg_landing__rejects.load_id,
        stg_landing__batches.vendor,
        stg_landing__rejects.entity,
        stg_landing__rejects.rule,
        stg_landing__rejects.severity,
        stg_landing__rejects.source,
        stg_landing__rejects.source_file,
        stg_landing__rejects.source_line,
        stg_landing__rejects.row_json,
        stg_landing__batches.loaded_at,
        stg_landing__batches.is_current,
    from stg_landing__rejects
    inner join stg_landing__batches
        on stg_landing__rejects.load_id = stg_landing__batches.load_id

)

select * from final
