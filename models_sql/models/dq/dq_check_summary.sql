{#- A view, not a table: dq.test_results is written by the on-run-end hook after every model
    of the run is built, so only a view shows the results of the run that just finished. -#}
{{ config(materialized='view') }}

with

test_results as (

    select * from {{ source('dq', 'test_results') }}

),

dq_landing_summary as (

    select * from {{ ref('dq_landing_summary') }}

),

dbt_checks as (

    select
        test_results.unique_id as check_id,
        'dbt_test' as check_layer,
        test_results.test_name as check_name,
        test_results.rule,
        test_results.category,
        test_results.description,
        test_results.target_model,
        test_results.target_columns,
        test_results.severity,
        test_results.status,
        test_results.failures,
        test_results.example_rows,
        test_results.failures_relation,
        test_results.checked_at,
    from test_results

),

-- Landing rules appear only once broken (the loaders record failing rules, not passing ones).
-- An error rule's rows were rejected (status fail: they are not in the warehouse), a warning
-- rule's rows landed flagged (status warn).
landing_checks as (

    select
        'landing.' || dq_landing_summary.vendor || '.' || dq_landing_summary.entity || '.'
            || dq_landing_summary.rule || '.' || dq_landing_summary.severity as check_id,
        'landing' as check_layer,
        'landing__' || dq_landing_summary.vendor || '__' || dq_landing_summary.entity || '__'
            || replace(dq_landing_summary.rule, ':', '__') as check_name,
        dq_landing_summary.rule,
        'landing' as category,
        'Landing validation (great-expectations, loaders/validation.py) of '
            || dq_landing_summary.vendor || ' ' || dq_landing_summary.entity || ': '
            || case dq_landing_summary.severity
                when 'error' then 'the failing rows were rejected and are kept in stg_landing__rejects.'
                else 'the failing rows landed, flagged in stg_landing__warnings.'
            end as description,
        dq_landing_summary.vendor || '.' || dq_landing_summary.entity as target_model,
        dq_landing_summary.rule_columns as target_columns,
        case dq_landing_summary.severity when 'warning' then 'warn' else dq_landing_summary.severity end
            as severity,
        case dq_landing_summary.severity when 'error' then 'fail' else 'warn' end as status,
        dq_landing_summary.failing_rows as failures,
        dq_landing_summary.example_rows,
        case dq_landing_summary.severity
            when 'error' then 'staging.stg_landing__rejects'
            else 'staging.stg_landing__warnings'
        end as failures_relation,
        dq_landing_summary.last_loaded_at as checked_at,
    from dq_landing_summary

),

checks_unioned as (

    select * from dbt_checks
    union all by name
    select * from landing_checks

)

select * from checks_unioned
