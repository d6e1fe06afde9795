with

source_rule_counts as (

    select * from {{ source('landing', 'rule_counts') }}

),

renamed as (

    select
        source_rule_counts.load_id,
        source_rule_counts.vendor,
        source_rule_counts.entity,
        source_rule_counts.rule,
        -- error: the rows were rejected; warning: they landed, flagged
        source_rule_counts.severity,
        source_rule_counts.rows as failing_rows,
    from source_rule_counts

)

select * from renamed
