with

stg_landing__rule_counts as (

    select * from {{ ref('stg_landing__rule_counts') }}

),

stg_landing__batches as (

    select * from {{ ref('stg_landing__batches') }}

),

stg_landing__rejects as (

    select * from {{ ref('stg_landing__rejects') }}

),

stg_landing__warnings as (

    select * from {{ ref('stg_landing__warnings') }}

),

current_batches as (

    select *
    from stg_landing__batches
    where stg_landing__batches.is_current

),

-- Aggregate the per-batch counts to one row per vendor, entity, rule and severity.
rule_counts_aggregated as (

    select
        stg_landing__rule_counts.vendor,
        stg_landing__rule_counts.entity,
        stg_landing__rule_counts.rule,
        stg_landing__rule_counts.severity,
        sum(stg_landing__rule_counts.failing_rows)::bigint as failing_rows,
        count(distinct stg_landing__rule_counts.load_id) as n_batches,
        max(current_batches.loaded_at) as last_loaded_at,
    from stg_landing__rule_counts
    inner join current_batches
        on stg_landing__rule_counts.load_id = current_batches.load_id
    group by all

),

flagged_rows as (

    select * from stg_landing__rejects
    union all by name
    select * from stg_landing__warnings

),

-- Up to five flagged rows per rule, in file and line order (deterministic), as
-- "file:line {row as JSON}".
flagged_rows_first_five as (

    select
        current_batches.vendor,
        flagged_rows.entity,
        flagged_rows.rule,
        flagged_rows.severity,
        flagged_rows.source_file,
        flagged_rows.source_line,
        flagged_rows.row_json,
    from flagged_rows
    inner join current_batches
        on flagged_rows.load_id = current_batches.load_id
    qualify row_number() over (
        partition by current_batches.vendor, flagged_rows.entity, flagged_rows.rule, flagged_rows.severity
        order by flagged_rows.source_file, flagged_rows.source_line
    ) <= 5

),

examples_aggregated as (

    select
        flagged_rows_first_five.vendor,
        flagged_rows_first_five.entity,
        flagged_rows_first_five.rule,
        flagged_rows_first_five.severity,
        string_agg(
            flagged_rows_first_five.source_file || ':' || flagged_rows_first_five.source_line
                || ' ' || flagged_rows_first_five.row_json,
            chr(10)
            order by flagged_rows_first_five.source_file, flagged_rows_first_five.source_line
        ) as example_rows,
    from flagged_rows_first_five
    group by all

),

final as (

    select
        rule_counts_aggregated.vendor,
        rule_counts_aggregated.entity,
        rule_counts_aggregated.rule,
        -- the expectation's column(s): the part after the colon
        nullif(split_part(rule_counts_aggregated.rule, ':', 2), '') as rule_columns,
        rule_counts_aggregated.severity,
        rule_counts_aggregated.failing_rows,
        rule_counts_aggregated.n_batches,
        examples_aggregated.example_rows,
        rule_counts_aggregated.last_loaded_at,
    from rule_counts_aggregated
    left join examples_aggregated
        on rule_counts_aggregated.vendor = examples_aggregated.vendor
        and rule_counts_aggregated.entity = examples_aggregated.entity
        and rule_counts_aggregated.rule = examples_aggregated.rule
        and rule_counts_aggregated.severity = examples_aggregated.severity

)

select * from final
