{#- Exercise settlement prices per underlying and NYSE session: what an expiring AM-settled
    (SOQ) or PM-settled (close) option pays against. AM, by precedence:
      soq                 Cboe's published exercise settlement value (the SOQ) for the day;
      index_open          the underlying's own opening print, where it is one (an index open
                          equal to the previous close is the vendor's copy of that close);
      proxy_etf_open_gap  previous close x the proxy ETF's opening gap (var settlement_proxy_etfs);
      unavailable         none of these: NULL, never the close.
    PM: the official (raw) close. -#}
{%- set soq_symbols = var('settlement_soq_symbols') -%}
{%- set proxy_etfs = var('settlement_proxy_etfs') -%}
with

fct_underlying_daily as (

    select * from {{ ref('fct_underlying_daily') }}

),

stg_cboe__settlement_values as (

    select * from {{ ref('stg_cboe__settlement_values') }}

),

int_calendar_days_generated as (

    select * from {{ ref('int_calendar_days_generated') }}

),

soq_symbols as (

    select
        soq_symbols.settlement_symbol,
        soq_symbols.underlying_symbol,
    from (
        values
        {%- for settlement_symbol in soq_symbols %}
            (
                '{{ settlement_symbol }}',
                '{{ soq_symbols[settlement_symbol] }}'
            ){{ "," if not loop.last }}
        {%- endfor %}
    ) as soq_symbols (settlement_symbol, underlying_symbol)

),

proxy_etfs as (

    select
        proxy_etfs.underlying_symbol,
        proxy_etfs.proxy_etf_symbol,
    from (
        values
        {%- for underlying_symbol in proxy_etfs %}
            (
                '{{ underlying_symbol }}',
                '{{ proxy_etfs[underlying_symbol] }}'
            ){{ "," if not loop.last }}
        {%- endfor %}
    ) as proxy_etfs (underlying_symbol, proxy_etf_symbol)

),

-- The indices, whose AM settlement is declared above: their open is checked against the
-- previous close (the vendor's copy of it is no opening print). An ETF's or a stock's open is a
-- trade and stands as it is.
index_symbols as (

    select proxy_etfs.underlying_symbol from proxy_etfs
    union
    select soq_symbols.underlying_symbol from soq_symbols

),

-- Each NYSE session and the one before it: the close an overnight gap starts from.
sessions_with_previous as (

    select
        int_calendar_days_generated.calendar_date as trade_date,
        lag(int_calendar_days_generated.calendar_date) over (
            order by int_calendar_days_generated.calendar_date
        ) as previous_trade_date,
    from int_calendar_days_generated
    where int_calendar_days_generated.is_trading_day

),

-- The file gives the month: an SOQ settles that month's standard expiration (the last session on
-- or before the third Friday: 2019-04-18 for Good Friday 2019). Cboe listed two NASDAQ 100 lines,
-- (NEW) and (OLD), in early 1999: the (OLD) one gives way.
soq_dated as (

    select
        soq_symbols.underlying_symbol,
        int_calendar_days_generated.calendar_date as trade_date,
        stg_cboe__settlement_values.settlement_value as soq,
    from stg_cboe__settlement_values
    inner join soq_symbols
        on stg_cboe__settlement_values.settlement_symbol = soq_symbols.settlement_symbol
    inner join int_calendar_days_generated
        on stg_cboe__settlement_values.settlement_month
            = date_trunc('month', int_calendar_days_generated.calendar_date)
        and int_calendar_days_generated.is_monthly_expiration
    qualify row_number() over (
        partition by soq_symbols.underlying_symbol, int_calendar_days_generated.calendar_date
        order by
            stg_cboe__settlement_values.index_label ilike '(old)%',
            stg_cboe__settlement_values.index_label
    ) = 1

),

-- Where a price exists: a bar of the underlying, or an SOQ; NYSE sessions only.
underlying_sessions as (

    select
        underlying_days.underlying_symbol,
        underlying_days.trade_date,
        sessions_with_previous.previous_trade_date,
    from (
        select
            fct_underlying_daily.underlying_symbol,
            fct_underlying_daily.trade_date,
        from fct_underlying_daily
        union
        select
            soq_dated.underlying_symbol,
            soq_dated.trade_date,
        from soq_dated
    ) as underlying_days
    inner join sessions_with_previous
        on underlying_days.trade_date = sessions_with_previous.trade_date

),

sessions_with_bars as (

    select
        underlying_sessions.underlying_symbol,
        underlying_sessions.trade_date,
        todays_bars.open,
        todays_bars.close,
        todays_bars.adj_close,
        todays_bars.source,
        previous_bars.close as previous_close,
        previous_bars.adj_close as previous_adj_close,
        previous_bars.source as previous_source,
    from underlying_sessions
    left join fct_underlying_daily as todays_bars
        on underlying_sessions.underlying_symbol = todays_bars.underlying_symbol
        and underlying_sessions.trade_date = todays_bars.trade_date
    left join fct_underlying_daily as previous_bars
        on underlying_sessions.underlying_symbol = previous_bars.underlying_symbol
        and underlying_sessions.previous_trade_date = previous_bars.trade_date

),

-- The ETF's opening gap in total-return terms: open / previous close, each day's raw price put on
-- one scale by its split/dividend factor (adj_close / close, QuantConnect factor files). On an
-- ex-dividend day the raw open drops by the dividend and the index does not: SPY goes ex on the
-- quarterly third Friday, the very expirations that matter (2019-06-21: raw gap -0.58 %,
-- corrected -0.10 %). Across a change of price source the factors are not on one scale: raw.
etf_open_gaps as (

    select
        sessions_with_bars.underlying_symbol as proxy_etf_symbol,
        sessions_with_bars.trade_date,
        case
            when sessions_with_bars.source = sessions_with_bars.previous_source
                then sessions_with_bars.open
                    * (sessions_with_bars.adj_close / sessions_with_bars.close)
                    / sessions_with_bars.previous_adj_close
            else sessions_with_bars.open / sessions_with_bars.previous_close
        end as open_gap_ratio,
    from sessions_with_bars
    where
        sessions_with_bars.underlying_symbol in (select proxy_etfs.proxy_etf_symbol from proxy_etfs)
        and sessions_with_bars.open is not null
        and sessions_with_bars.previous_close is not null

),

settlement_inputs as (

    select
        sessions_with_bars.underlying_symbol,
        sessions_with_bars.trade_date,
        soq_dated.soq,
        sessions_with_bars.open,
        sessions_with_bars.close,
        sessions_with_bars.previous_close,
        proxy_etfs.proxy_etf_symbol,
        sessions_with_bars.previous_close * etf_open_gaps.open_gap_ratio as am_proxy_price,
        sessions_with_bars.open is not null
        and (
            index_symbols.underlying_symbol is null
            or abs(sessions_with_bars.open - sessions_with_bars.previous_close)
            >= {{ var('settlement_stale_open_tolerance_points') }}
        ) as is_open_a_print,
    from sessions_with_bars
    left join soq_dated
        on sessions_with_bars.underlying_symbol = soq_dated.underlying_symbol
        and sessions_with_bars.trade_date = soq_dated.trade_date
    left join proxy_etfs
        on sessions_with_bars.underlying_symbol = proxy_etfs.underlying_symbol
    left join index_symbols
        on sessions_with_bars.underlying_symbol = index_symbols.underlying_symbol
    left join etf_open_gaps
        on proxy_etfs.proxy_etf_symbol = etf_open_gaps.proxy_etf_symbol
        and sessions_with_bars.trade_date = etf_open_gaps.trade_date

),

settlement_prices_chosen as (

    select
        settlement_inputs.underlying_symbol,
        settlement_inputs.trade_date,
        case
            when settlement_inputs.soq is not null then settlement_inputs.soq
            when settlement_inputs.is_open_a_print then settlement_inputs.open
            else settlement_inputs.am_proxy_price
        end as am_settlement_price,
        case
            when settlement_inputs.soq is not null then 'soq'
            when settlement_inputs.is_open_a_print then 'index_open'
            when settlement_inputs.am_proxy_price is not null then 'proxy_etf_open_gap'
            else 'unavailable'
        end as am_settlement_method,
        settlement_inputs.close as pm_settlement_price,
        case
            when settlement_inputs.close is not null then 'official_close'
            else 'unavailable'
        end as pm_settlement_method,
        settlement_inputs.previous_close,
        settlement_inputs.proxy_etf_symbol,
        settlement_inputs.am_proxy_price,
    from settlement_inputs

)

select * from settlement_prices_chosen
