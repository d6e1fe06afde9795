with

fct_underlying_daily as (

    select * from {{ ref('fct_underlying_daily') }}

),

-- Targets look forward, so they live apart from the features: a model that joins them to
-- fct_underlying_daily on (underlying_symbol, trade_date) must keep a gap of horizon_days
-- between its training and test rows.
forward_returns as (

    select
        fct_underlying_daily.underlying_symbol,
        fct_underlying_daily.trade_date,
        5 as horizon_days,
        lead(fct_underlying_daily.trade_date, 5) over by_day as target_date_5d,
        -- the total-return index: a split or an ex-dividend day is not a move
        lead(fct_underlying_daily.total_return_index, 5) over by_day
            / fct_underlying_daily.total_return_index - 1
            as forward_return_5d,
    from fct_underlying_daily
    window by_day as (
        partition by fct_underlying_daily.underlying_symbol
        order by fct_underlying_daily.trade_date
    )

),

final as (

    select
        forward_returns.*,
        forward_returns.forward_return_5d > 0 as is_up_5d,
    from forward_returns

)

select * from final
