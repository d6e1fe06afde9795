{#- Generic data tests written here because the dbt package hub is unreachable (no dbt_utils). -#}

{#- Fails on every row where `expression` is not true (NULL counts as a failure). -#}
{% test expression_is_true(model, expression, where_clause=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{%- if where_clause %} and ({{ where_clause }}){% endif %}
{% endtest %}

{#- Fails on every non-null value outside [min_value, max_value] (either bound optional). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select *
from {{ model }}
where {{ column_name }} is not null
    and (
        false
        {%- if min_value is not none %}
        or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
        {%- endif %}
    )
{% endtest %}

{#- Fails on every combination of `combination_of_columns` that occurs more than once. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select
    {{ combination_of_columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by all
having count(*) > 1
{% endtest %}

{#- Fails on every row where a floating-point column holds NaN or ±infinity (DuckDB's x / 0.0 is
    ±inf or NaN, not NULL). NULLs pass. -#}
{% test all_floats_finite(model) %}
{%- set float_columns = [] -%}
{%- for column in adapter.get_columns_in_relation(model) -%}
    {%- if column.dtype | lower in ['double', 'float', 'real'] -%}
        {%- do float_columns.append(column.name) -%}
    {%- endif -%}
{%- endfor %}
select *
from {{ model }}
where false
{%- for column_name in float_columns %}
    or not isfinite({{ adapter.quote(column_name) }})
{%- endfor %}
{% endtest %}

{#- Fails (one row) when `model` and `compare_model` do not have the same number of rows: a join
    that must keep its left side's grain (a left join on a unique key) multiplied or lost rows. -#}
{% test equal_row_count(model, compare_model) %}
select *
from (
    select
        (select count(*) from {{ model }}) as n_rows,
        (select count(*) from {{ compare_model }}) as n_rows_compared,
)
where n_rows <> n_rows_compared
{% endtest %}
