{#-
    Data-test results as a table the app can read: dq.test_results, one row per data test of the
    project, with the result of the last run that executed it.

    on-run-start: dq_create_results_table() creates the table when missing, so the source
    `dq.test_results` and the view dq_check_summary over it always bind (fresh database,
    `dbt docs generate`).
    on-run-end:   dq_record_test_results(results) upserts the data tests that this invocation
    ran (dbt's `results`: RunResult objects with .status, .failures, .message, .timing and .node,
    the test node with .unique_id, .name, .description, .config.severity, .config.meta,
    .test_metadata, .attached_node, .column_name and, as tests store failures, .relation_name),
    counts the failing rows and copies up to five of them from each stored-failures table
    (deterministic: `order by all`), and deletes rows of tests that no longer exist in the
    project. Tests not selected in
    this invocation keep their last result (checked_at tells when).
-#}

{% macro dq_create_results_table() %}
create schema if not exists dq;
create table if not exists dq.test_results (
    unique_id varchar primary key,
    test_name varchar not null,
    rule varchar,
    description varchar,
    category varchar,
    target_model varchar,
    target_columns varchar,
    severity varchar,
    status varchar,
    failures bigint,
    example_rows varchar,
    failures_relation varchar,
    message varchar,
    execution_time_s double,
    invocation_id varchar,
    checked_at timestamptz
);
{% endmacro %}

{#- A Jinja value as a SQL literal: NULL, or a single-quoted string with quotes doubled. -#}
{% macro dq_sql_literal(value) -%}
    {%- if value is none -%}null{%- else -%}'{{ (value | string) | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}

{#- "model.pkg.name" -> "name"; "source.pkg.src.table" -> "src.table". -#}
{% macro dq_node_label(unique_id) -%}
    {%- if unique_id is none -%}
    {%- elif unique_id.startswith('source.') -%}{{ unique_id.split('.')[-2] }}.{{ unique_id.split('.')[-1] }}
    {%- else -%}{{ unique_id.split('.')[-1] }}
    {%- endif -%}
{%- endmacro %}

{% macro dq_record_test_results(results) %}
{%- if execute and flags.WHICH in ['build', 'test'] -%}
    {%- set test_results = [] -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- do test_results.append(result) -%}
    {%- endfor -%}
    {%- set project_test_ids = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' -%}
        {%- do project_test_ids.append(node.unique_id) -%}
    {%- endfor -%}

    {%- set statements -%}
begin transaction;
delete from dq.test_results
where unique_id not in ({{ dq_sql_literal('') }}{% for unique_id in project_test_ids %}, {{ dq_sql_literal(unique_id) }}{% endfor %})
    or unique_id in ({{ dq_sql_literal('') }}{% for result in test_results %}, {{ dq_sql_literal(result.node.unique_id) }}{% endfor %});
{%- if test_results %}
insert into dq.test_results by name
{%- for result in test_results %}
{%- set node = result.node %}
{%- set status = result.status | string | lower %}
{%- set meta = node.config.meta or {} %}
{%- set completed_at = (result.timing | map(attribute='completed_at') | select | list | last) if result.timing else none %}
select
    {{ dq_sql_literal(node.unique_id) }} as unique_id,
    {{ dq_sql_literal(node.name) }} as test_name,
    {{ dq_sql_literal(node.test_metadata.name if node.test_metadata else 'singular') }} as rule,
    {{ dq_sql_literal(node.description or none) }} as description,
    {{ dq_sql_literal(meta.get('dq_category')) }} as category,
    {{ dq_sql_literal(dq_node_label(node.attached_node or (node.depends_on.nodes | last))) }} as target_model,
    {{ dq_sql_literal(node.column_name or meta.get('dq_columns')) }} as target_columns,
    {{ dq_sql_literal(node.config.severity | lower) }} as severity,
    {{ dq_sql_literal(status) }} as status,
    {%- if node.relation_name and status in ['pass', 'warn', 'fail'] %}
    -- counted from the stored failures: dbt reports 0 for a passing test even when custom
    -- error_if / warn_if thresholds let rows through
    (select count(*) from {{ node.relation_name }}) as failures,
    (
        select string_agg(example_rows.example_json, chr(10) order by example_rows.example_json)
        from (
            select to_json(failed_rows)::varchar as example_json
            from (select * from {{ node.relation_name }} order by all limit 5) as failed_rows
        ) as example_rows
    ) as example_rows,
    {%- else %}
    {{ result.failures if result.failures is not none else 'null' }}::bigint as failures,
    null::varchar as example_rows,
    {%- endif %}
    {{ dq_sql_literal(node.relation_name) }} as failures_relation,
    {{ dq_sql_literal(result.message) }} as message,
    {{ result.execution_time | round(3) }} as execution_time_s,
    {{ dq_sql_literal(invocation_id) }} as invocation_id,
    {{ dq_sql_literal(completed_at or run_started_at) }}::timestamptz as checked_at,
{%- if not loop.last %}
union all by name
{%- endif %}
{%- endfor %};
{%- endif %}
commit;
    {%- endset -%}
    {{ return(statements) }}
{%- else -%}
    {{ return('select 1 as dq_nothing_to_record') }}
{%- endif -%}
{% endmacro %}
