-- TEMPORARY STUB (replaced by the Python BSM model): vendor values under the computed names.
select
    contract_symbol,
    quote_date,
    date_diff('day', quote_date, expiration) / 365.0 as tte_years,
    0.02::double as risk_free_rate,
    underlying_price as forward_price,
    0.0::double as dividend_yield,
    implied_volatility,
    case when implied_volatility is null then 'no_solution' else 'ok' end as iv_solve_status,
    delta,
    gamma,
    theta,
    vega,
    rho,
from {{ ref('int_option_quotes_unioned') }}
