{#- 'monthly' for a standard monthly expiration (the last trading day on or before the month's
    third Friday: 2019-04-18 for Good Friday 2019; OCC/Cboe rule, see int_calendar_days_generated),
    else 'weekly' (weeklies, end-of-month and quarterly listings). -#}
{% macro expiry_type(expiration) -%}
    case
        when {{ expiration }} in (
            select calendar_date
            from {{ ref('int_calendar_days_generated') }}
            where is_monthly_expiration
        ) then 'monthly'
        else 'weekly'
    end
{%- endmacro %}
