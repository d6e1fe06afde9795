{#-
    Options data-quality catalogue: generic data tests, one rule each (doc block dq_catalogue in
    models_sql/models/dq/dq_docs.md; each attachment says its source). Conventions:
      * a test returns one row per violation with the row's key, the values the rule looked at
        and, where the rule is a bound, `excess` (how far past the bound, in the rule's unit);
        dbt stores these rows (`store_failures`) and the on-run-end hook copies up to five of
        them into dq.test_results;
      * column names are parameters with the house names as defaults, so the same test attaches
        to the vendor's greeks (int_option_quotes_unioned) and to computed ones
        (int_option_quotes_greeks);
      * no-arbitrage rules compare *executable* prices (buy at the ask, sell at the bid): a
        violation is money left on the table, not a noisy mid;
      * tolerances are dbt vars (dbt_project.yml), never a filter tuned to the data.
-#}

{#- ---------------------------------------------------------------- market quality -------- -#}

{#- Crossed market: bid above ask (a quote nobody can honour; Cboe rejects crossing quotes). -#}
{% test dq_crossed_market(model, bid_column='bid', ask_column='ask', key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ bid_column }} as bid,
    {{ ask_column }} as ask,
    {{ bid_column }} - {{ ask_column }} as excess,
from {{ model }}
where {{ bid_column }} > {{ ask_column }}
{% endtest %}

{#- Locked market: bid = ask > 0 (zero-width spread; legal but rare on an options exchange). -#}
{% test dq_locked_market(model, bid_column='bid', ask_column='ask', key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ bid_column }} as bid,
    {{ ask_column }} as ask,
from {{ model }}
where {{ bid_column }} = {{ ask_column }}
    and {{ bid_column }} > 0
{% endtest %}

{#- Zero bid with an offer: a one-sided market (deep out-of-the-money series; no seller exit). -#}
{% test dq_zero_bid(model, bid_column='bid', ask_column='ask', key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ bid_column }} as bid,
    {{ ask_column }} as ask,
from {{ model }}
where {{ bid_column }} = 0
    and {{ ask_column }} > 0
{% endtest %}

{#- No market: no ask (NULL or 0), so no mid and no executable price to buy. -#}
{% test dq_no_market(model, bid_column='bid', ask_column='ask', key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ bid_column }} as bid,
    {{ ask_column }} as ask,
from {{ model }}
where coalesce({{ ask_column }}, 0) = 0
{% endtest %}

{#- Negative price in any of `price_columns` (option premiums are >= 0). -#}
{% test dq_negative_price(model, price_columns=['bid', 'ask', 'last'], key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {%- for column in price_columns %}
    {{ column }},
    {%- endfor %}
from {{ model }}
where false
    {%- for column in price_columns %}
    or {{ column }} < 0
    {%- endfor %}
{% endtest %}

{#- Quotes on the minimum price variation grid. `tick_rules`: list of {roots, below, tick_below,
    tick_at_or_above}; a root not listed uses `default_tick`. A price p is on a grid of tick t
    when p / t is an integer (to 1e-6, float noise). -#}
{% test dq_price_on_tick_grid(model, tick_rules, default_tick=0.01, price_columns=['bid', 'ask'], root_column='option_root', key_columns=['contract_symbol', 'quote_date']) %}
with

quotes_with_tick as (

    select
        {{ key_columns | join(', ') }},
        {{ root_column }} as option_root,
        {%- for column in price_columns %}
        {{ column }},
        case
            {%- for rule in tick_rules %}
            when {{ root_column }} in ('{{ rule.roots | join("', '") }}')
                then case when {{ column }} < {{ rule.below }} then {{ rule.tick_below }} else {{ rule.tick_at_or_above }} end
            {%- endfor %}
            else {{ default_tick }}
        end as tick_{{ column }},
        {%- endfor %}
    from {{ model }}

)

select *
from quotes_with_tick
where false
    {%- for column in price_columns %}
    or abs({{ column }} / tick_{{ column }} - round({{ column }} / tick_{{ column }})) > 1e-6
    {%- endfor %}
{% endtest %}

{#- ---------------------------------------------------------------- contract terms -------- -#}

{#- The OCC symbol (root, YYMMDD, C/P, strike x 1000 in 8 digits; OCC Options Symbology
    Initiative, 2010) is the one the row's own terms spell, on the normalised expiration (the
    expiry's last trading session), and the vendor's symbol (padding removed) is the same
    symbol, or differs only by the expiration convention: a vendor date after the expiration
    with no NYSE session in between (a pre-2015 Saturday expiry, a holiday Friday; seed
    nyse_sessions). Built by string concatenation, not regexes (800k rows in ~0.1 s). -#}
{% test dq_occ_symbol_consistent(model, symbol_column='contract_symbol', vendor_symbol_column='vendor_symbol', key_columns=['contract_symbol', 'quote_date']) %}
with

symbols_spelled as (

    select
        {{ key_columns | join(', ') }},
        {%- if vendor_symbol_column %}
        {{ vendor_symbol_column }} as vendor_symbol,
        replace({{ vendor_symbol_column }}, ' ', '') as vendor_symbol_unpadded,
        {%- endif %}
        option_root,
        expiration,
        option_type,
        strike,
        {{ symbol_column }} as checked_symbol,
        case option_type when 'call' then 'C' when 'put' then 'P' end
            || lpad(round(strike * 1000)::bigint::varchar, 8, '0') as type_and_strike,
    from {{ model }}

),

{%- if vendor_symbol_column %}

vendor_dates as (

    select
        symbols_spelled.*,
        try_strptime(
            substr(symbols_spelled.vendor_symbol_unpadded, length(symbols_spelled.option_root) + 1, 6),
            '%y%m%d'
        )::date as vendor_symbol_date,
    from symbols_spelled

),
{%- endif %}

symbols_mismatched as (

    select
        {%- if vendor_symbol_column %}
        vendor_dates.* exclude (vendor_symbol_unpadded, vendor_symbol_date),
        {%- else %}
        vendor_dates.*,
        {%- endif %}
        vendor_dates.option_root || strftime(vendor_dates.expiration, '%y%m%d')
            || vendor_dates.type_and_strike as expected_symbol,
    from {% if vendor_symbol_column %}vendor_dates{% else %}symbols_spelled as vendor_dates{% endif %}
    where
        vendor_dates.checked_symbol is distinct from vendor_dates.option_root
            || strftime(vendor_dates.expiration, '%y%m%d') || vendor_dates.type_and_strike
    {%- if vendor_symbol_column %}
        or (
            -- a layout without a vendor symbol (OptionsDX, DataShop) has nothing to compare
            vendor_dates.vendor_symbol_unpadded is not null
            and vendor_dates.vendor_symbol_unpadded is distinct from vendor_dates.checked_symbol
            and not coalesce(
                vendor_dates.vendor_symbol_unpadded = vendor_dates.option_root
                    || strftime(vendor_dates.vendor_symbol_date, '%y%m%d')
                    || substr(vendor_dates.checked_symbol, length(vendor_dates.option_root) + 7)
                and vendor_dates.vendor_symbol_date > vendor_dates.expiration
                and vendor_dates.vendor_symbol_date <= vendor_dates.expiration + 4
                and not exists (
                    select 1
                    from {{ ref('nyse_sessions') }} as sessions
                    where sessions.session_date > vendor_dates.expiration
                        and sessions.session_date <= vendor_dates.vendor_symbol_date
                ),
                false
            )
        )
    {%- endif %}

)

select * exclude (checked_symbol, type_and_strike)
from symbols_mismatched
{% endtest %}

{#- Contract terms by root: `terms` maps a root to {exercise_style, settlement_style,
    settlement_type} (Cboe product specifications; the same facts as
    loaders/contract_specs.yaml, restated so the warehouse is checked independently). Roots not
    listed are not checked. -#}
{% test dq_contract_terms_by_root(model, terms, root_column='option_root', key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ root_column }} as option_root,
    exercise_style,
    settlement_style,
    settlement_type,
from {{ model }}
where false
    {%- for root, spec in terms.items() %}
    or (
        {{ root_column }} = '{{ root }}'
        and (
            exercise_style is distinct from '{{ spec.exercise_style }}'
            or settlement_style is distinct from '{{ spec.settlement_style }}'
            or settlement_type is distinct from '{{ spec.settlement_type }}'
        )
    )
    {%- endfor %}
{% endtest %}

{#- ---------------------------------------------------------------- calendar -------------- -#}
{#- `sessions` is a relation with one row per trading day in `session_column` (the seed
    nyse_sessions), or a calendar of all days filtered by `session_condition` (e.g.
    ref('int_calendar_days_generated'), calendar_date, 'is_trading_day'). -#}

{#- Every date in `column_name` is a session of the exchange calendar in `sessions`. -#}
{% test dq_date_is_session(model, column_name, sessions, session_column='session_date', session_condition=none) %}
with

dates as (

    select distinct {{ column_name }} as checked_date
    from {{ model }}
    where {{ column_name }} is not null

)

select
    dates.checked_date,
    dayname(dates.checked_date) as weekday,
from dates
anti join (
    select * from {{ sessions }} {% if session_condition %}where {{ session_condition }}{% endif %}
) as sessions
    on dates.checked_date = sessions.{{ session_column }}
{% endtest %}

{#- Expirations fall on a valid expiration day: a session of `sessions`, or a Saturday before
    `saturday_expiry_before` (pre-2015 standard monthlies expired on the Saturday after the
    third Friday, OCC). Expirations after the calendar's last day cannot be judged and are not
    reported (extend models_sql/seeds/nyse_sessions.csv). -#}
{% test dq_expiration_is_valid_day(model, column_name, sessions, session_column='session_date', session_condition=none, saturday_expiry_before='2015-02-21') %}
with

expirations as (

    select distinct {{ column_name }} as expiration
    from {{ model }}
    where {{ column_name }} is not null

),

calendar_range as (

    select max(sessions.{{ session_column }}) as last_session
    from {{ sessions }} as sessions

)

select
    expirations.expiration,
    dayname(expirations.expiration) as weekday,
from expirations
cross join calendar_range
anti join (
    select * from {{ sessions }} {% if session_condition %}where {{ session_condition }}{% endif %}
) as sessions
    on expirations.expiration = sessions.{{ session_column }}
where expirations.expiration <= calendar_range.last_session
    and not (
        dayofweek(expirations.expiration) = 6
        and expirations.expiration < date '{{ saturday_expiry_before }}'
    )
{% endtest %}

{#- No missing session inside a series: per `series_columns`, every session of `sessions` between
    the series' first and last `date_column` is present. -#}
{% test dq_no_missing_sessions(model, date_column, sessions, series_columns=['source', 'underlying_symbol'], session_column='session_date', session_condition=none) %}
with

series_dates as (

    select distinct
        {{ series_columns | join(', ') }},
        {{ date_column }} as present_date,
    from {{ model }}

),

series_ranges as (

    select
        {{ series_columns | join(', ') }},
        min(series_dates.present_date) as first_date,
        max(series_dates.present_date) as last_date,
    from series_dates
    group by all

),

expected_sessions as (

    select
        series_ranges.*,
        sessions.{{ session_column }} as missing_date,
    from series_ranges
    inner join (
        select * from {{ sessions }} {% if session_condition %}where {{ session_condition }}{% endif %}
    ) as sessions
        on sessions.{{ session_column }} between series_ranges.first_date and series_ranges.last_date

)

select
    expected_sessions.*,
    dayname(expected_sessions.missing_date) as weekday,
from expected_sessions
anti join series_dates
    on expected_sessions.missing_date = series_dates.present_date
    {%- for column in series_columns %}
    and expected_sessions.{{ column }} is not distinct from series_dates.{{ column }}
    {%- endfor %}
{% endtest %}

{#- Freshness: the newest `column_name` is at most `max_age_days` calendar days older than
    `as_of_date` (dbt vars dq_freshness_as_of_date / dq_freshness_max_age_days; a live pipeline
    passes the run date). One row when stale. -#}
{% test dq_freshness(model, column_name, as_of_date=var('dq_freshness_as_of_date'), max_age_days=var('dq_freshness_max_age_days')) %}
select
    max({{ column_name }}) as newest_date,
    date '{{ as_of_date }}' as as_of_date,
    date_diff('day', max({{ column_name }}), date '{{ as_of_date }}') as age_days,
    {{ max_age_days }} as max_age_days,
from {{ model }}
having coalesce(date_diff('day', max({{ column_name }}), date '{{ as_of_date }}') > {{ max_age_days }}, true)
{% endtest %}

{#- ---------------------------------------------------------------- underlying ------------ -#}

{#- The chain's underlying price agrees with the index/ETF close of that day in `closes`
    (relative difference <= max_relative_diff), and a close exists. One row per series-day. -#}
{% test dq_underlying_matches_close(model, closes, max_relative_diff=var('dq_underlying_max_relative_diff'), series_columns=['source', 'underlying_symbol'], close_column='close', close_date_column='trade_date') %}
with

chain_days as (

    select distinct
        {{ series_columns | join(', ') }},
        quote_date,
        underlying_price,
    from {{ model }}

),

chain_days_with_close as (

    select
        chain_days.*,
        closes.{{ close_column }} as close,
        chain_days.underlying_price / closes.{{ close_column }} - 1 as relative_diff,
    from chain_days
    left join {{ closes }} as closes
        on chain_days.underlying_symbol = closes.underlying_symbol
        and chain_days.quote_date = closes.{{ close_date_column }}

)

select
    chain_days_with_close.*,
    abs(chain_days_with_close.relative_diff) - {{ max_relative_diff }} as excess,
from chain_days_with_close
where chain_days_with_close.close is null
    or abs(chain_days_with_close.relative_diff) > {{ max_relative_diff }}
{% endtest %}

{#- One underlying price per underlying per day per source: every option of the day was valued
    against the same spot (max/min - 1 <= max_relative_spread). -#}
{% test dq_underlying_consistent_within_day(model, group_columns=['source', 'underlying_symbol', 'quote_date'], max_relative_spread=0) %}
select
    {{ group_columns | join(', ') }},
    count(distinct underlying_price) as n_underlying_prices,
    min(underlying_price) as min_underlying_price,
    max(underlying_price) as max_underlying_price,
    max(underlying_price) / min(underlying_price) - 1 as relative_spread,
from {{ model }}
group by all
having max(underlying_price) / min(underlying_price) - 1 > {{ max_relative_spread }}
{% endtest %}

{#- ---------------------------------------------------------------- static bounds --------- -#}

{#- Upper bounds (Merton 1973; Hull, ch. 11): a call is worth at most the underlying, a put at
    most its strike. Executable form: a bid above the bound could be sold against the
    underlying (call) or cash (put) for a riskless profit. -#}
{% test dq_price_upper_bound(model, tolerance=var('dq_arbitrage_tolerance_usd'), key_columns=['contract_symbol', 'quote_date']) %}
with

quotes_with_bound as (

    select
        {{ key_columns | join(', ') }},
        option_type,
        strike,
        underlying_price,
        bid,
        case option_type when 'call' then underlying_price when 'put' then strike end as upper_bound,
    from {{ model }}

)

select
    quotes_with_bound.*,
    quotes_with_bound.bid - quotes_with_bound.upper_bound as excess,
from quotes_with_bound
where quotes_with_bound.bid > quotes_with_bound.upper_bound + {{ tolerance }}
{% endtest %}

{#- Lower bound (Hull, ch. 11): American options are worth at least their exercise value
    (call S - K, put K - S). European ones at least S e^{-qT} - K e^{-rT} (call) and
    K e^{-rT} - S e^{-qT} (put); with 0 <= r <= r_max and 0 <= q <= q_max (vars) that is at least
    S e^{-q_max T} - K (call) and K e^{-r_max T} - S (put), a model-free bound. Executable
    form: an ask below the bound buys the option for less than it is surely worth. T =
    dte / 365. Rows that are not European (dq_is_european) get the American bound, the stricter
    one. -#}
{% test dq_intrinsic_lower_bound(model, european_roots=none, tolerance=var('dq_arbitrage_tolerance_usd'), rate_max=var('dq_rate_max'), dividend_yield_max=var('dq_dividend_yield_max'), key_columns=['contract_symbol', 'quote_date']) %}
with

quotes_with_bound as (

    select
        {{ key_columns | join(', ') }},
        {{ dq_is_european(european_roots) }} as is_european,
        option_type,
        dte,
        strike,
        underlying_price,
        ask,
        case
            when {{ dq_is_european(european_roots) }} and option_type = 'call'
                then underlying_price * exp(-{{ dividend_yield_max }} * dte / 365.0) - strike
            when {{ dq_is_european(european_roots) }} and option_type = 'put'
                then strike * exp(-{{ rate_max }} * dte / 365.0) - underlying_price
            when option_type = 'call'
                then underlying_price - strike
            when option_type = 'put'
                then strike - underlying_price
        end as lower_bound,
    from {{ model }}

)

select
    quotes_with_bound.*,
    quotes_with_bound.lower_bound - quotes_with_bound.ask as excess,
from quotes_with_bound
where quotes_with_bound.ask > 0
    and quotes_with_bound.ask < quotes_with_bound.lower_bound - {{ tolerance }}
{% endtest %}

{#- ---------------------------------------------------------------- across strikes -------- -#}

{#- Price monotone in strike (Merton 1973): calls non-increasing, puts non-decreasing.
    Executable form, over every pair of strikes of one chain (not only neighbours): a call's ask
    must not be below the best bid of any higher-strike call (buy K1, sell K2 for a credit with
    a payoff >= 0), a put's ask not below the best bid of any lower-strike put. One window for
    both types: strikes ordered by s x K (s = +1 call, -1 put), so "following" rows are the
    further out-of-the-money strikes. Quotes without an ask (no offer) cannot be bought and
    are not judged. -#}
{% test dq_strike_monotonicity(model, chain_columns=['quote_date', 'underlying_symbol', 'option_root', 'expiration'], tolerance=var('dq_arbitrage_tolerance_usd')) %}
with

quotes as (

    select
        {{ chain_columns | join(', ') }},
        option_type,
        strike,
        bid,
        ask,
        case option_type when 'call' then strike when 'put' then -strike end as strike_outward,
    from {{ model }}

),

quotes_with_best_dominated_bid as (

    select
        quotes.*,
        max(quotes.bid) over further_out_of_the_money as best_bid_dominated,
    from quotes
    window further_out_of_the_money as (
        partition by {{ chain_columns | join(', ') }}, quotes.option_type
        order by quotes.strike_outward
        rows between 1 following and unbounded following
    )

)

select
    quotes_with_best_dominated_bid.* exclude (strike_outward),
    quotes_with_best_dominated_bid.best_bid_dominated - quotes_with_best_dominated_bid.ask as excess,
from quotes_with_best_dominated_bid
where quotes_with_best_dominated_bid.ask > 0
    and quotes_with_best_dominated_bid.best_bid_dominated
        > quotes_with_best_dominated_bid.ask + {{ tolerance }}
{% endtest %}

{#- Vertical spread bound (Merton 1973): for K1 < K2, C(K1) - C(K2) <= K2 - K1 and
    P(K2) - P(K1) <= K2 - K1 (the discounted width is smaller still for r >= 0). Executable
    form over every pair: bid(K1) + K1 <= ask(K2) + K2 for calls, bid(K2) - K2 <= ask(K1) - K1
    for puts; with s = +1 (call) / -1 (put): bid + sK <= min(ask + sK) over the further
    out-of-the-money strikes (one window). Only quotes with an ask are bought. -#}
{% test dq_vertical_spread_bound(model, chain_columns=['quote_date', 'underlying_symbol', 'option_root', 'expiration'], tolerance=var('dq_arbitrage_tolerance_usd')) %}
with

quotes as (

    select
        {{ chain_columns | join(', ') }},
        option_type,
        strike,
        bid,
        ask,
        case option_type when 'call' then strike when 'put' then -strike end as strike_outward,
    from {{ model }}

),

quotes_with_cheapest_spread_leg as (

    select
        quotes.*,
        quotes.bid + quotes.strike_outward
            - min(case when quotes.ask > 0 then quotes.ask + quotes.strike_outward end)
                over further_out_of_the_money as excess,
    from quotes
    window further_out_of_the_money as (
        partition by {{ chain_columns | join(', ') }}, quotes.option_type
        order by quotes.strike_outward
        rows between 1 following and unbounded following
    )

)

select * exclude (strike_outward)
from quotes_with_cheapest_spread_leg
where excess > {{ tolerance }}
{% endtest %}

{#- Butterfly convexity (Merton 1973; Carr & Madan 2005): for neighbouring offered strikes
    K1 < K2 < K3 with w = (K3 - K2) / (K3 - K1), price(K2) <= w price(K1) + (1 - w) price(K3).
    Executable form: the body's bid must not exceed the wings' asks so weighted (sell the body,
    buy the wings for a credit with a payoff >= 0). Only strikes with an ask > 0 form wings. -#}
{% test dq_butterfly_convexity(model, option_type, chain_columns=['quote_date', 'underlying_symbol', 'option_root', 'expiration'], tolerance=var('dq_arbitrage_tolerance_usd')) %}
with

offered_quotes as (

    select
        {{ chain_columns | join(', ') }},
        option_type,
        strike,
        bid,
        ask,
    from {{ model }}
    where option_type = '{{ option_type }}'
        and ask > 0

),

butterflies as (

    select
        offered_quotes.*,
        lag(offered_quotes.strike) over by_strike as strike_lower,
        lag(offered_quotes.ask) over by_strike as ask_lower,
        lead(offered_quotes.strike) over by_strike as strike_upper,
        lead(offered_quotes.ask) over by_strike as ask_upper,
    from offered_quotes
    window by_strike as (
        partition by {{ chain_columns | join(', ') }}
        order by offered_quotes.strike
    )

),

butterflies_priced as (

    select
        butterflies.*,
        (
            (butterflies.strike_upper - butterflies.strike) * butterflies.ask_lower
            + (butterflies.strike - butterflies.strike_lower) * butterflies.ask_upper
        ) / (butterflies.strike_upper - butterflies.strike_lower) as wings_cost,
    from butterflies
    where butterflies.strike_lower is not null
        and butterflies.strike_upper is not null

)

select
    butterflies_priced.*,
    butterflies_priced.bid - butterflies_priced.wings_cost as excess,
from butterflies_priced
where butterflies_priced.bid > butterflies_priced.wings_cost + {{ tolerance }}
{% endtest %}

{#- ---------------------------------------------------------------- across expirations ---- -#}

{#- Calendar ordering: same underlying, type and strike, a later expiration is worth at least as
    much (time value; Hull, ch. 11). Strict for American options. For European options on a
    dividend payer it can fail legitimately deep in the money (carry: a long-dated ITM call
    loses the dividends, a long-dated ITM put the interest), so with otm_only the rule judges
    out-of-the-money series (by spot) only, where it is an arbitrage. Executable form: the
    longer series' ask must not be below the best bid of any shorter series; on the same date
    AM settlement comes before PM. -#}
{% test dq_calendar_ordering(model, otm_only=true, tolerance=var('dq_arbitrage_tolerance_usd')) %}
with

quotes as (

    select
        quote_date,
        underlying_symbol,
        option_type,
        strike,
        expiration,
        settlement_type,
        option_root,
        underlying_price,
        bid,
        ask,
    from {{ model }}

),

quotes_with_best_shorter_bid as (

    select
        quotes.*,
        max(quotes.bid) over shorter_expirations as best_bid_shorter,
    from quotes
    window shorter_expirations as (
        partition by quotes.quote_date, quotes.underlying_symbol, quotes.option_type, quotes.strike
        order by quotes.expiration, quotes.settlement_type
        rows between unbounded preceding and 1 preceding
    )

)

select
    quotes_with_best_shorter_bid.*,
    quotes_with_best_shorter_bid.best_bid_shorter - quotes_with_best_shorter_bid.ask as excess,
from quotes_with_best_shorter_bid
where quotes_with_best_shorter_bid.ask > 0
    and quotes_with_best_shorter_bid.best_bid_shorter > quotes_with_best_shorter_bid.ask + {{ tolerance }}
    {%- if otm_only %}
    and (
        (quotes_with_best_shorter_bid.option_type = 'call' and quotes_with_best_shorter_bid.strike >= quotes_with_best_shorter_bid.underlying_price)
        or (quotes_with_best_shorter_bid.option_type = 'put' and quotes_with_best_shorter_bid.strike <= quotes_with_best_shorter_bid.underlying_price)
    )
    {%- endif %}
{% endtest %}

{#- ---------------------------------------------------------------- put-call parity ------- -#}

{#- SQL predicate "this row is a European option": `exercise_style = 'european'`, or, on a model
    without exercise_style (the mart), membership of option_root in `european_roots` (Cboe
    product specifications; dq_contract_terms_by_root guards the same facts upstream). -#}
{% macro dq_is_european(european_roots) -%}
    {%- if european_roots is none -%}
        exercise_style = 'european'
    {%- else -%}
        option_root in ('{{ european_roots | join("', '") }}')
    {%- endif -%}
{%- endmacro %}

{#- Call and put of one strike side by side (European series only), for the parity rules. -#}
{% macro dq_put_call_pairs(model, chain_columns, european_roots) %}
    select
        {{ chain_columns | join(', ') }},
        strike,
        any_value(underlying_price) as underlying_price,
        any_value(dte) as dte,
        max(bid) filter (where option_type = 'call') as call_bid,
        max(ask) filter (where option_type = 'call') as call_ask,
        max(bid) filter (where option_type = 'put') as put_bid,
        max(ask) filter (where option_type = 'put') as put_ask,
    from {{ model }}
    where {{ dq_is_european(european_roots) }}
    group by all
    having count(*) filter (where option_type = 'call') = 1
        and count(*) filter (where option_type = 'put') = 1
{% endmacro %}

{#- Put-call parity bounds against spot (European; Hull, ch. 11): C - P = S e^{-qT} - K e^{-rT};
    with 0 <= r <= r_max and 0 <= q <= q_max, S e^{-q_max T} - K <= C - P <= S - K e^{-r_max T}
    (the looser C - P <= S and >= -K follow from the single-option bounds). Executable form:
    sell call / buy put (call_bid - put_ask) above the upper bound, or buy call / sell put
    (call_ask - put_bid) below the lower one. Uses the vendor's underlying snapshot, so a
    snapshot taken at another time than the option quotes shows up here. -#}
{% test dq_put_call_parity_bounds(model, chain_columns=['quote_date', 'underlying_symbol', 'option_root', 'expiration'], european_roots=none, rate_max=var('dq_rate_max'), dividend_yield_max=var('dq_dividend_yield_max'), tolerance=var('dq_arbitrage_tolerance_usd')) %}
with

put_call_pairs as (
    {{ dq_put_call_pairs(model, chain_columns, european_roots) }}
),

pairs_with_bounds as (

    select
        put_call_pairs.*,
        put_call_pairs.underlying_price * exp(-{{ dividend_yield_max }} * put_call_pairs.dte / 365.0)
            - put_call_pairs.strike as parity_lower_bound,
        put_call_pairs.underlying_price
            - put_call_pairs.strike * exp(-{{ rate_max }} * put_call_pairs.dte / 365.0) as parity_upper_bound,
    from put_call_pairs

),

pairs_with_excess as (

    select
        pairs_with_bounds.*,
        greatest(
            case
                when pairs_with_bounds.put_ask > 0
                    then pairs_with_bounds.call_bid - pairs_with_bounds.put_ask - pairs_with_bounds.parity_upper_bound
            end,
            case
                when pairs_with_bounds.call_ask > 0
                    then pairs_with_bounds.parity_lower_bound - (pairs_with_bounds.call_ask - pairs_with_bounds.put_bid)
            end
        ) as excess,
    from pairs_with_bounds

)

select *
from pairs_with_excess
where excess > {{ tolerance }}
{% endtest %}

{#- Box-spread bounds, the forward-consistent (tighter) parity check (European): two put-call
    pairs K1 < K2 of one expiry form a box worth (K2 - K1) e^{-rT}; for 0 <= r <= r_max it lies
    in [(K2 - K1) e^{-r_max T}, K2 - K1]. Equivalently C - P + K is non-decreasing and
    C - P + K e^{-r_max T} non-increasing in K. Executable form over every pair of strikes
    (window functions): selling a box (call_bid - put_ask at K1 against call_ask - put_bid at
    K2) for more than K2 - K1, or buying one for less than (K2 - K1) e^{-r_max T}. Needs no
    spot, rate or dividend data. -#}
{% test dq_box_spread_bounds(model, chain_columns=['quote_date', 'underlying_symbol', 'option_root', 'expiration'], european_roots=none, rate_max=var('dq_rate_max'), tolerance=var('dq_arbitrage_tolerance_usd')) %}
with

put_call_pairs as (
    {{ dq_put_call_pairs(model, chain_columns, european_roots) }}
),

pairs_with_synthetics as (

    select
        put_call_pairs.*,
        exp(-{{ rate_max }} * put_call_pairs.dte / 365.0) as discount_min,
        -- synthetic forward sold (call bid - put ask) and bought (call ask - put bid), plus K
        case when put_call_pairs.put_ask > 0 then put_call_pairs.call_bid - put_call_pairs.put_ask end as synthetic_bid,
        case when put_call_pairs.call_ask > 0 then put_call_pairs.call_ask - put_call_pairs.put_bid end as synthetic_ask,
    from put_call_pairs

),

pairs_with_best_lower_strike as (

    select
        pairs_with_synthetics.*,
        max(pairs_with_synthetics.synthetic_bid + pairs_with_synthetics.strike) over lower_strikes
            - (pairs_with_synthetics.synthetic_ask + pairs_with_synthetics.strike) as excess_box_sold_above_width,
        (pairs_with_synthetics.synthetic_bid + pairs_with_synthetics.strike * pairs_with_synthetics.discount_min)
            - min(pairs_with_synthetics.synthetic_ask + pairs_with_synthetics.strike * pairs_with_synthetics.discount_min) over lower_strikes
            as excess_box_bought_below_min,
    from pairs_with_synthetics
    window lower_strikes as (
        partition by {{ chain_columns | join(', ') }}
        order by pairs_with_synthetics.strike
        rows between unbounded preceding and 1 preceding
    )

)

select
    pairs_with_best_lower_strike.*,
    greatest(
        pairs_with_best_lower_strike.excess_box_sold_above_width,
        pairs_with_best_lower_strike.excess_box_bought_below_min
    ) as excess,
from pairs_with_best_lower_strike
where greatest(
    pairs_with_best_lower_strike.excess_box_sold_above_width,
    pairs_with_best_lower_strike.excess_box_bought_below_min
) > {{ tolerance }}
{% endtest %}

{#- ---------------------------------------------------------------- greeks ---------------- -#}

{#- The option type of each row: `option_type_column`, or when none is given (a greeks model
    keyed by contract only) the C/P letter of the OCC symbol. -#}
{% macro dq_option_type_expression(option_type_column, symbol_column) %}
    {%- if option_type_column -%}
        {{ option_type_column }}
    {%- else -%}
        case regexp_extract({{ symbol_column }}, '([CP])\d{8}$', 1) when 'C' then 'call' when 'P' then 'put' end
    {%- endif -%}
{% endmacro %}

{#- Implied volatility in (min_value, max_value] (decimal; NULL means "not delivered / no
    solution" and is not judged). Vendor sentinels (-1, 0) and runaway solutions of deep ITM
    series (> 500 %) fail. -#}
{% test dq_implied_volatility_range(model, column_name, min_value=0, max_value=var('dq_implied_volatility_max'), key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ column_name }} as implied_volatility,
from {{ model }}
where {{ column_name }} <= {{ min_value }}
    or {{ column_name }} > {{ max_value }}
{% endtest %}

{#- Rows whose greek in `column_name` (shown as `alias`) lies outside [call_min, call_max] for a
    call or [put_min, put_max] for a put (a bound of none is open), or whose type is unknown. -#}
{% macro dq_greek_outside_range_by_option_type(model, column_name, alias, call_min, call_max, put_min, put_max, option_type_column, symbol_column, key_columns) %}
with

greeks as (

    select
        {{ key_columns | join(', ') }},
        {{ dq_option_type_expression(option_type_column, symbol_column) }} as option_type,
        {{ column_name }} as {{ alias }},
    from {{ model }}
    where {{ column_name }} is not null

)

select *
from greeks
where (greeks.option_type = 'call' and not (
        {%- if call_min is not none %} greeks.{{ alias }} >= {{ call_min }}{% else %} true{% endif %}
        and {% if call_max is not none %}greeks.{{ alias }} <= {{ call_max }}{% else %}true{% endif %}))
    or (greeks.option_type = 'put' and not (
        {%- if put_min is not none %} greeks.{{ alias }} >= {{ put_min }}{% else %} true{% endif %}
        and {% if put_max is not none %}greeks.{{ alias }} <= {{ put_max }}{% else %}true{% endif %}))
    or greeks.option_type is null
{% endmacro %}

{#- Delta sign and range by option type (Black-Scholes-Merton, Hull ch. 19; holds for American
    options too): call delta in [0, 1], put delta in [-1, 0]. -#}
{% test dq_delta_by_option_type(model, column_name, option_type_column='option_type', symbol_column='contract_symbol', key_columns=['contract_symbol', 'quote_date']) %}
{{ dq_greek_outside_range_by_option_type(model, column_name, 'delta', 0, 1, -1, 0, option_type_column, symbol_column, key_columns) }}
{% endtest %}

{#- A greek that is never negative for a long option (gamma, vega: BSM, Hull ch. 19). -#}
{% test dq_greek_non_negative(model, column_name, key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    {{ column_name }} as greek_value,
from {{ model }}
where {{ column_name }} < 0
{% endtest %}

{#- Rho sign by option type (BSM, Hull ch. 19): a call gains, a put loses, when rates rise. -#}
{% test dq_rho_by_option_type(model, column_name, option_type_column='option_type', symbol_column='contract_symbol', key_columns=['contract_symbol', 'quote_date']) %}
{{ dq_greek_outside_range_by_option_type(model, column_name, 'rho', 0, none, none, 0, option_type_column, symbol_column, key_columns) }}
{% endtest %}

{#- The vendor gave no implied volatility for a contract that has a bid > 0: a coverage gap for
    vol surfaces built from vendor IVs. Attach it to models whose sources all deliver IVs (on
    int_option_quotes_unioned the DataShop rows, which carry none, always lose precedence). -#}
{% test dq_implied_volatility_missing(model, column_name, key_columns=['contract_symbol', 'quote_date']) %}
select
    {{ key_columns | join(', ') }},
    bid,
    ask,
    {{ column_name }} as implied_volatility,
from {{ model }}
where {{ column_name }} is null
    and bid > 0
{% endtest %}

{#- ---------------------------------------------------------------- cross-source --------- -#}

{#- The Cboe DataShop 15:45 quote agrees with the end-of-day quote of the same contract once
    moved by the spot change: DataShop bid/ask + delta x (S_eod - S_1545), delta the EOD vendor's,
    must overlap the EOD bid/ask widened by `tolerance` (USD). Contracts without an EOD offer
    are not compared. -#}
{% test dq_cross_source_quote_agreement(model, compare_model, tolerance=var('dq_cross_source_tolerance_usd')) %}
with

intraday_quotes as (

    select * from {{ model }}

),

eod_quotes as (

    select * from {{ compare_model }}
    where quote_date in (select distinct intraday_quotes.quote_date from intraday_quotes)

),

quotes_compared as (

    select
        intraday_quotes.contract_symbol,
        intraday_quotes.quote_date,
        intraday_quotes.bid as intraday_bid,
        intraday_quotes.ask as intraday_ask,
        intraday_quotes.underlying_price as intraday_underlying_price,
        eod_quotes.bid as eod_bid,
        eod_quotes.ask as eod_ask,
        eod_quotes.underlying_price as eod_underlying_price,
        eod_quotes.delta as eod_delta,
        eod_quotes.delta * (eod_quotes.underlying_price - intraday_quotes.underlying_price) as delta_adjustment,
    from intraday_quotes
    inner join eod_quotes
        on intraday_quotes.contract_symbol = eod_quotes.contract_symbol
        and intraday_quotes.quote_date = eod_quotes.quote_date
    where eod_quotes.ask > 0
        and intraday_quotes.ask > 0

)

select
    quotes_compared.*,
    greatest(
        quotes_compared.intraday_bid + quotes_compared.delta_adjustment - quotes_compared.eod_ask,
        quotes_compared.eod_bid - (quotes_compared.intraday_ask + quotes_compared.delta_adjustment)
    ) - {{ tolerance }} as excess,
from quotes_compared
where quotes_compared.intraday_bid + quotes_compared.delta_adjustment > quotes_compared.eod_ask + {{ tolerance }}
    or quotes_compared.intraday_ask + quotes_compared.delta_adjustment < quotes_compared.eod_bid - {{ tolerance }}
{% endtest %}

{#- Same contract, same day, two sources: a column that must be equal (open interest is the
    previous night's OCC figure, the same all day). Rows only one source has are not judged. -#}
{% test dq_cross_source_equal(model, column_name, compare_model) %}
select
    model_quotes.contract_symbol,
    model_quotes.quote_date,
    model_quotes.{{ column_name }} as value_in_model,
    compare_quotes.{{ column_name }} as value_in_compare_model,
from {{ model }} as model_quotes
inner join {{ compare_model }} as compare_quotes
    on model_quotes.contract_symbol = compare_quotes.contract_symbol
    and model_quotes.quote_date = compare_quotes.quote_date
where model_quotes.{{ column_name }} is distinct from compare_quotes.{{ column_name }}
{% endtest %}

{#- Volume is cumulative over the session: the intraday snapshot's volume must not exceed the
    same contract's end-of-day volume. -#}
{% test dq_cross_source_volume_not_above_eod(model, compare_model, column_name='volume') %}
select
    intraday_quotes.contract_symbol,
    intraday_quotes.quote_date,
    intraday_quotes.{{ column_name }} as intraday_volume,
    eod_quotes.{{ column_name }} as eod_volume,
    intraday_quotes.{{ column_name }} - eod_quotes.{{ column_name }} as excess,
from {{ model }} as intraday_quotes
inner join {{ compare_model }} as eod_quotes
    on intraday_quotes.contract_symbol = eod_quotes.contract_symbol
    and intraday_quotes.quote_date = eod_quotes.quote_date
where intraday_quotes.{{ column_name }} > eod_quotes.{{ column_name }}
{% endtest %}

{#- ---------------------------------------------------------------- landing --------------- -#}

{#- Every row of the model is a finding (e.g. the landing rejects: rows a vendor sent that did
    not land). -#}
{% test dq_is_empty(model) %}
select *
from {{ model }}
{% endtest %}
