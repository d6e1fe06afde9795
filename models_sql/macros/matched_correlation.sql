{#- Correlation of two P&L columns over the rows where `condition` holds, ordered by `order_by`
    (float aggregates in a fixed order: two builds are bit-identical), and the smaller of the two
    columns' population standard deviations over the same rows, aliased `<correlation_alias>`
    and `<stddev_alias>`: a correlation is only meaningful when neither side is constant. -#}
{% macro matched_correlation(x, y, order_by, condition, correlation_alias, stddev_alias) -%}
        corr({{ x }}, {{ y }} order by {{ order_by }})
            filter (where {{ condition }}) as {{ correlation_alias }},
        least(
            stddev_pop({{ y }} order by {{ y }}) filter (where {{ condition }}),
            stddev_pop({{ x }} order by {{ x }}) filter (where {{ condition }})
        ) as {{ stddev_alias }},
{%- endmacro %}
