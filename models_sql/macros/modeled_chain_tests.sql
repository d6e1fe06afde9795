{#- Data tests of the modeled option chains (warehouse/modeled_chain; fct_option_quotes_modeled). -#}

{#- Calendar arbitrage of the modeled surface: at every forward log-moneyness k, total implied
    variance w = implied_volatility^2 * tte_years must not decrease from one expiry to the next
    longer one (Gatheral, J. & Jacquier, A. (2014), "Arbitrage-free SVI volatility surfaces",
    Quantitative Finance 14(1), Lemma 2.1 and Theorem 4.1: no calendar-spread arbitrage iff
    w(k, T) is non-decreasing in T at fixed k = ln(K/F_T), with proportional dividends).

    What is exactly testable. The comparison holds at equal log-moneyness, not at equal strike:
    the forward moves between expiries, so one strike sits at a different k on each (at a fixed
    strike a decrease is not an arbitrage in general). Two expiries rarely share a k, so the
    longer expiry's w is read at each shorter-expiry row's k by linear interpolation between its
    two strikes that bracket it (an ASOF join on k). An SSVI slice is convex in k
    (w'' = theta phi^2 (1 - rho^2) / (2 r^3) > 0), so that chord is an UPPER bound of the longer
    expiry's w at k: a row fails only when even the upper bound lies below the shorter expiry's
    w, which is then a certain calendar arbitrage of the surface (no false alarm); a violation
    smaller than the chord's overshoot, at most dk^2 / 8 * max w'' for a strike spacing dk in
    log-moneyness, can go unseen. A shorter-expiry row whose k lies outside the longer expiry's
    strikes is not judged. Expiries are ordered by tte_years (an AM and a PM series of the same
    date are two slices); series with equal tte_years share a smile and are one slice.

    `relative_tolerance`: w may fall short by this fraction of the shorter expiry's w, for
    floating-point rounding only (w read back as iv^2 T with iv = sqrt(w / T), and the
    interpolation: ~1e-15 relative). One failing row per judged quote: its key, its w, the
    bracketing longer-expiry strikes' k and the chord, and `excess` (w - chord, years x
    variance). -#}
{% test calendar_total_variance_non_decreasing(model, relative_tolerance=1e-9, partition_columns=['underlying_symbol', 'quote_date', 'option_type']) %}
{%- set partition = partition_columns | join(', ') %}
with

quotes as (

    select
        {{ partition }},
        contract_symbol,
        expiration,
        strike,
        tte_years,
        log_moneyness,
        implied_volatility * implied_volatility * tte_years as total_variance,
    from {{ model }}
    where implied_volatility > 0
        and tte_years > 0
        and log_moneyness is not null

),

slices_with_next_tte as (

    select
        {{ partition }},
        tte_years,
        lead(tte_years) over (partition by {{ partition }} order by tte_years) as next_tte_years,
    from (select distinct {{ partition }}, tte_years from quotes)

),

slice_chords as (

    select
        {{ partition }},
        tte_years,
        log_moneyness as k_left,
        total_variance as total_variance_left,
        lead(log_moneyness) over slice_by_moneyness as k_right,
        lead(total_variance) over slice_by_moneyness as total_variance_right,
    from quotes
    window slice_by_moneyness as (
        partition by {{ partition }}, tte_years
        order by log_moneyness, strike, contract_symbol
    )

),

quotes_with_next_tte as (

    select
        quotes.*,
        slices_with_next_tte.next_tte_years,
    from quotes
    inner join slices_with_next_tte
        using ({{ partition }}, tte_years)
    where slices_with_next_tte.next_tte_years is not null

),

quotes_with_next_slice_chord as (

    select
        quotes_with_next_tte.*,
        slice_chords.k_left as next_k_left,
        slice_chords.k_right as next_k_right,
        case
            when quotes_with_next_tte.log_moneyness = slice_chords.k_left
                then slice_chords.total_variance_left
            else slice_chords.total_variance_left
                + (slice_chords.total_variance_right - slice_chords.total_variance_left)
                * (quotes_with_next_tte.log_moneyness - slice_chords.k_left)
                / (slice_chords.k_right - slice_chords.k_left)
        end as next_total_variance_chord,
    from quotes_with_next_tte
    asof inner join slice_chords
        on
        {%- for column in partition_columns %}
        slice_chords.{{ column }} = quotes_with_next_tte.{{ column }} and
        {%- endfor %}
        slice_chords.tte_years = quotes_with_next_tte.next_tte_years
        and slice_chords.k_left <= quotes_with_next_tte.log_moneyness
    where quotes_with_next_tte.log_moneyness = slice_chords.k_left
        or quotes_with_next_tte.log_moneyness <= slice_chords.k_right

)

select
    quotes_with_next_slice_chord.*,
    quotes_with_next_slice_chord.total_variance
        - quotes_with_next_slice_chord.next_total_variance_chord as excess,
from quotes_with_next_slice_chord
where quotes_with_next_slice_chord.next_total_variance_chord
    < quotes_with_next_slice_chord.total_variance * (1 - {{ relative_tolerance }})
{% endtest %}
