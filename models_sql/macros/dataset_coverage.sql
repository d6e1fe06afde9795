{#- One row per source and symbol of a dataset: its first and last date, rows and distinct dates
    (dq_data_coverage). `relation` is a CTE name; `source` an SQL expression (a column of it or a
    quoted literal); `symbol` and `date` its columns. -#}
{% macro dataset_coverage(dataset, relation, source, symbol, date) -%}
    select
        '{{ dataset }}' as dataset,
        {{ source }} as source,
        {{ relation }}.{{ symbol }} as symbol,
        min({{ relation }}.{{ date }}) as first_date,
        max({{ relation }}.{{ date }}) as last_date,
        count(*) as n_rows,
        count(distinct {{ relation }}.{{ date }}) as n_dates,
    from {{ relation }}
    group by all
{%- endmacro %}
