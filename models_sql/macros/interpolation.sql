{#- Linear interpolation of y at x = x0 between two points a and b given as structs {x, y}
    (DuckDB STRUCTs from struct_pack). NULL unless both points exist and a.x < b.x; a point that
    sits exactly on x0 is returned as it is. -#}
{% macro interpolate_linear(point_a, point_b, x0) -%}
    case
        when {{ point_a }}.x = {{ x0 }} then {{ point_a }}.y
        when {{ point_b }}.x = {{ x0 }} then {{ point_b }}.y
        when {{ point_a }}.x < {{ point_b }}.x
            then {{ point_a }}.y + ({{ point_b }}.y - {{ point_a }}.y)
                * ({{ x0 }} - {{ point_a }}.x) / ({{ point_b }}.x - {{ point_a }}.x)
    end
{%- endmacro %}

{#- The nearest point at or below x0 and the nearest point above it, as two aggregates over a
    group: `<name>_below` and `<name>_above`, each a struct {x, y} (NULL when the side is
    empty). Ties on x fall to `tiebreak`, so the choice never depends on row order. -#}
{% macro bracketing_points(name, x, y, x0, tiebreak, where='true') -%}
    arg_max(
        struct_pack(x := {{ x }}, y := {{ y }}),
        struct_pack(x := {{ x }}, t := {{ tiebreak }})
    ) filter (where {{ x }} <= {{ x0 }} and {{ y }} is not null and ({{ where }})) as {{ name }}_below,
    arg_min(
        struct_pack(x := {{ x }}, y := {{ y }}),
        struct_pack(x := {{ x }}, t := {{ tiebreak }})
    ) filter (where {{ x }} > {{ x0 }} and {{ y }} is not null and ({{ where }})) as {{ name }}_above
{%- endmacro %}
