{#- Forward mid returns of each contract; targets only: never joined into features of the same row
    without a gap of the horizon. -#}
{%- set horizons = [1, 5, 10] -%}
{%- set tolerance = var('option_target_tolerance_sessions') -%}

with

fct_option_features as (

    select * from {{ ref('fct_option_features') }}

),

-- The chain's own calendar: the quote dates on which the underlying's chain was quoted.
chain_sessions as (

    select
        sessions.underlying_symbol,
        sessions.quote_date,
        row_number() over (
            partition by sessions.underlying_symbol order by sessions.quote_date
        ) as session_number,
    from (
        select distinct fct_option_features.underlying_symbol, fct_option_features.quote_date
        from fct_option_features
    ) as sessions

),

quotes_with_session as (

    select
        fct_option_features.contract_symbol,
        fct_option_features.underlying_symbol,
        fct_option_features.quote_date,
        fct_option_features.expiration,
        fct_option_features.mid,
        chain_sessions.session_number,
    from fct_option_features
    inner join chain_sessions
        on fct_option_features.underlying_symbol = chain_sessions.underlying_symbol
        and fct_option_features.quote_date = chain_sessions.quote_date

),

{%- for h in horizons %}

-- Horizon {{ h }}: the scheduled session h ahead, and the contract's first quote on or after it
-- (the nearest available day; at most {{ tolerance }} sessions late).
horizon_{{ h }}d as (

    select
        quotes_with_session.contract_symbol,
        quotes_with_session.quote_date,
        target_session.quote_date as target_date,
        late_limit.quote_date as latest_exit_date,
        exit_quote.quote_date as exit_quote_date,
        exit_quote.mid as exit_mid,
    from quotes_with_session
    left join chain_sessions as target_session
        on quotes_with_session.underlying_symbol = target_session.underlying_symbol
        and target_session.session_number = quotes_with_session.session_number + {{ h }}
    left join chain_sessions as late_limit
        on quotes_with_session.underlying_symbol = late_limit.underlying_symbol
        and late_limit.session_number = quotes_with_session.session_number + {{ h + tolerance }}
    asof left join quotes_with_session as exit_quote
        on quotes_with_session.contract_symbol = exit_quote.contract_symbol
        and exit_quote.quote_date >= target_session.quote_date

),
{%- endfor %}

final as (

    select
        quotes_with_session.contract_symbol,
        quotes_with_session.quote_date,
        quotes_with_session.underlying_symbol,
        quotes_with_session.expiration,
        quotes_with_session.mid,
        {%- for h in horizons %}
        horizon_{{ h }}d.target_date as target_date_{{ h }}d,
        case
            when horizon_{{ h }}d.target_date is null then 'beyond_data'
            when quotes_with_session.expiration < horizon_{{ h }}d.target_date then 'expired'
            when not quotes_with_session.mid > 0 or quotes_with_session.mid is null then 'no_entry_mid'
            when horizon_{{ h }}d.exit_quote_date is null
                or horizon_{{ h }}d.exit_quote_date > coalesce(horizon_{{ h }}d.latest_exit_date, horizon_{{ h }}d.target_date)
                or horizon_{{ h }}d.exit_quote_date > quotes_with_session.expiration
                then 'no_exit_quote'
            when horizon_{{ h }}d.exit_mid is null then 'no_exit_mid'
            when horizon_{{ h }}d.exit_quote_date > horizon_{{ h }}d.target_date then 'nearest_day'
            else 'exact'
        end as forward_status_{{ h }}d,
        {%- endfor %}
    from quotes_with_session
    {%- for h in horizons %}
    inner join horizon_{{ h }}d
        on quotes_with_session.contract_symbol = horizon_{{ h }}d.contract_symbol
        and quotes_with_session.quote_date = horizon_{{ h }}d.quote_date
    {%- endfor %}

),

final_with_returns as (

    select
        final.contract_symbol,
        final.quote_date,
        final.underlying_symbol,
        final.expiration,
        final.mid,
        {%- for h in horizons %}
        final.target_date_{{ h }}d,
        case
            when final.forward_status_{{ h }}d in ('exact', 'nearest_day')
                then horizon_{{ h }}d.exit_quote_date
        end as exit_quote_date_{{ h }}d,
        final.forward_status_{{ h }}d,
        case
            when final.forward_status_{{ h }}d in ('exact', 'nearest_day')
                then horizon_{{ h }}d.exit_mid / final.mid - 1
        end as forward_mid_return_{{ h }}d,
        {%- endfor %}
    from final
    {%- for h in horizons %}
    inner join horizon_{{ h }}d
        on final.contract_symbol = horizon_{{ h }}d.contract_symbol
        and final.quote_date = horizon_{{ h }}d.quote_date
    {%- endfor %}

)

select * from final_with_returns
