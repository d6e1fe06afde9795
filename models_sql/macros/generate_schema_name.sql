{#- Use the folder's schema name as is (staging, intermediate, marts) instead of dbt's default
    <target_schema>_<custom>, so ad-hoc SQL reads `marts.fct_option_quotes_daily`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
