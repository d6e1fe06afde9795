{#- The standard monthly expiration of the month of `day`: its third Friday (OCC/Cboe listing
    rule; the day before when that Friday is an exchange holiday is handled by `expiry_type`). -#}
{% macro third_friday(day) -%}
    (date_trunc('month', {{ day }})::date
        + ((5 - isodow(date_trunc('month', {{ day }})::date) + 7) % 7 + 14)::integer)
{%- endmacro %}

{#- 'monthly' for a standard monthly expiration (the third Friday of the month, or the Thursday
    before it when that Friday is not a trading day: Good Friday 2019-04-19 moved April 2019's
    SPX monthly to 2019-04-18), else 'weekly' (weeklies, end-of-month and quarterly listings). -#}
{% macro expiry_type(expiration) -%}
    case
        when {{ expiration }} = {{ third_friday(expiration) }} then 'monthly'
        when {{ expiration }} = {{ third_friday(expiration) }} - 1
            and {{ third_friday(expiration) }} not in (select session_date from {{ ref('nyse_sessions') }})
            then 'monthly'
        else 'weekly'
    end
{%- endmacro %}
