with

stg_fred__rates as (

    select * from {{ ref('stg_fred__rates') }}

),

rates_pivoted as (

    select
        stg_fred__rates.observation_date,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS1MO') as rate_1m,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS3MO') as rate_3m,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS6MO') as rate_6m,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS1') as rate_1y,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS2') as rate_2y,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS5') as rate_5y,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS10') as rate_10y,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DGS30') as rate_30y,
        max(stg_fred__rates.rate) filter (where stg_fred__rates.series_id = 'DFF') as fed_funds_rate,
    from stg_fred__rates
    group by stg_fred__rates.observation_date

),

-- FRED leaves holidays blank: carry the last published value forward, which is what a trader
-- knew on that day (never a later value).
rates_forward_filled as (

    select
        rates_pivoted.observation_date,
        {%- for column in [
            'rate_1m', 'rate_3m', 'rate_6m', 'rate_1y', 'rate_2y', 'rate_5y', 'rate_10y',
            'rate_30y', 'fed_funds_rate',
        ] %}
        last_value(rates_pivoted.{{ column }} ignore nulls) over (
            order by rates_pivoted.observation_date
        ) as {{ column }},
        {%- endfor %}
    from rates_pivoted

)

select * from rates_forward_filled
