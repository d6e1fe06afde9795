{#- The strategy selector's parameters (model fct_strategy_signals), validated at compile time so a
    bad override fails before any SQL runs, with the var's name and the bad key or value.

    selector_strategy_matrix   dict regime -> dict column -> strategy: regimes LOW, NORMAL, HIGH
                               (all three, nothing else); columns UP, DOWN (a confident direction
                               call) and LOW_CONFIDENCE (direction_confidence below
                               selector_confidence_half), all three; strategies from
                               strategy_selector_strategies().
    selector_confidence_full   direction_confidence at or above which a directional trade is FULL size
    selector_confidence_half   ... HALF size; below it the direction is LOW_CONFIDENCE.
                               Both decimals with 0.5 <= half <= full <= 1 (confidence is
                               greatest(p_up, 1 − p_up), never below 0.5).
    selector_regime_confidence_full / _half
                               regime_probability thresholds sizing a LOW_CONFIDENCE cell's trade
                               (FULL / HALF; below half: no trade), 0 <= half <= full <= 1. -#}

{#- Every strategy a matrix cell may name; `no_trade` is the only one sized NONE. Keep the
    accepted_values test of fct_strategy_signals.strategy in step with this list. -#}
{% macro strategy_selector_strategies() -%}
    {{ return([
        'long_call', 'long_put',
        'bull_call_spread', 'bear_put_spread', 'bull_put_spread', 'bear_call_spread',
        'iron_condor', 'iron_butterfly', 'long_straddle', 'long_strangle', 'short_strangle',
        'no_trade',
    ]) }}
{%- endmacro %}

{% macro strategy_selector_regimes() -%}
    {{ return(['LOW', 'NORMAL', 'HIGH']) }}
{%- endmacro %}

{% macro strategy_selector_matrix_columns() -%}
    {{ return(['UP', 'DOWN', 'LOW_CONFIDENCE']) }}
{%- endmacro %}

{#- Raise a compiler error naming the first bad var, key or value; return nothing. -#}
{% macro strategy_selector_validate() -%}
    {%- set matrix = var('selector_strategy_matrix') -%}
    {%- if matrix is not mapping -%}
        {{ exceptions.raise_compiler_error("var selector_strategy_matrix must be a dict regime -> {UP, DOWN, LOW_CONFIDENCE -> strategy}, got " ~ matrix) }}
    {%- endif -%}
    {%- for regime in matrix -%}
        {%- if regime not in strategy_selector_regimes() -%}
            {{ exceptions.raise_compiler_error("var selector_strategy_matrix: unknown regime " ~ regime ~ " (expected " ~ strategy_selector_regimes() | join(', ') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for regime in strategy_selector_regimes() -%}
        {%- set cells = matrix.get(regime) -%}
        {%- if cells is not mapping -%}
            {{ exceptions.raise_compiler_error("var selector_strategy_matrix: regime " ~ regime ~ " is missing or not a dict of UP, DOWN, LOW_CONFIDENCE, got " ~ cells) }}
        {%- endif -%}
        {%- for column in cells -%}
            {%- if column not in strategy_selector_matrix_columns() -%}
                {{ exceptions.raise_compiler_error("var selector_strategy_matrix: regime " ~ regime ~ " has unknown column " ~ column ~ " (expected " ~ strategy_selector_matrix_columns() | join(', ') ~ ")") }}
            {%- endif -%}
        {%- endfor -%}
        {%- for column in strategy_selector_matrix_columns() -%}
            {%- if cells.get(column) is none -%}
                {{ exceptions.raise_compiler_error("var selector_strategy_matrix: cell " ~ regime ~ "/" ~ column ~ " is missing (an override replaces the whole matrix: give all 9 cells)") }}
            {%- endif -%}
            {%- if cells.get(column) not in strategy_selector_strategies() -%}
                {{ exceptions.raise_compiler_error("var selector_strategy_matrix: cell " ~ regime ~ "/" ~ column ~ " must be one of " ~ strategy_selector_strategies() | join(', ') ~ ", got " ~ cells.get(column)) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set full = var('selector_confidence_full') | float -%}
    {%- set half = var('selector_confidence_half') | float -%}
    {%- if not (0.5 <= half <= full <= 1) -%}
        {{ exceptions.raise_compiler_error("vars selector_confidence_half / _full must satisfy 0.5 <= half <= full <= 1 (direction_confidence is at least 0.5), got " ~ var('selector_confidence_half') ~ " / " ~ var('selector_confidence_full')) }}
    {%- endif -%}
    {%- set regime_full = var('selector_regime_confidence_full') | float -%}
    {%- set regime_half = var('selector_regime_confidence_half') | float -%}
    {%- if not (0 <= regime_half <= regime_full <= 1) -%}
        {{ exceptions.raise_compiler_error("vars selector_regime_confidence_half / _full must satisfy 0 <= half <= full <= 1, got " ~ var('selector_regime_confidence_half') ~ " / " ~ var('selector_regime_confidence_full')) }}
    {%- endif -%}
    {%- for name in ['selector_direction_model', 'selector_regime_model'] -%}
        {%- if var(name) is not string or not modules.re.match('^[a-z0-9_]+$', var(name)) -%}
            {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a model_name of lowercase letters, digits and underscores, got " ~ var(name)) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- The matrix as SQL VALUES rows (regime, matrix_column, strategy), one per cell. -#}
{% macro strategy_selector_matrix_rows() -%}
    {%- set matrix = var('selector_strategy_matrix') -%}
    {%- for regime in strategy_selector_regimes() -%}
        {%- for column in strategy_selector_matrix_columns() %}
        ('{{ regime }}', '{{ column }}', '{{ matrix[regime][column] }}'){{ "," if not loop.last or regime != 'HIGH' }}
        {%- endfor -%}
    {%- endfor -%}
{%- endmacro %}
