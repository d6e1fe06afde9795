{#- Incremental by quote_date, rebuilt wherever the landed inputs changed (issue 15).

    Every incremental model over the option chains (int_option_quotes_priced,
    int_option_pricing_inputs, int_option_quotes_greeks, int_option_expiry_surface,
    fct_option_features, fct_option_targets) carries `batch_fingerprint` on each row: the
    fingerprint of the batches landed for the row's quote_date, and of the FRED curve it is
    priced with, when the model built that date, copied from the rows it read
    (int_option_quote_dates_fingerprinted at the root, int_option_quotes_priced's rows after
    it). An incremental run deletes and rebuilds (delete+insert, unique_key quote_date) every
    quote date that
      * is landed but not built: a new day, or a day landed late;
      * was built from other batches than the ones landed now: a corrected vendor file
        superseded its batch, or another source's batch for that day landed since (or its FRED
        curve changed: a corrected or late observation). int_option_quotes_priced compares
        its fingerprints with int_option_quote_dates_fingerprinted; the models after it compare
        theirs with int_option_quotes_priced's (a table: cheaper to read than the view over the
        landed parquet, and what they read), which a failed or partial run leaves consistent:
        a model not rebuilt keeps its old fingerprints and is rebuilt by the next run;
      * depends on such a date through the model's look-back, each rule named in `look_back`:
          'dividend_yield_carry' (int_option_pricing_inputs and what reads its forwards): a
            day whose rows carry an earlier day's parity dividend yield
            (dividend_yield_date < quote_date), or have no forward at all, when a changed date
            lies between that earlier day and theirs: the fallback may now come from another
            day, or from the changed one;
          'previous_quote' (fct_option_features: open_interest_change, is_stale_quote): a day
            with a contract whose previous quote was on a changed date, in the old build or in
            the new quotes;
          'iv_rank_window' (fct_option_features: the IV rank of int_option_surface_daily): the
            days up to iv_rank_window_calendar_days − 1 after a changed date, or after a day the
            carry rule rebuilds.
    A day that is appended after the last built one changes nothing before it, so the daily run
    still reads and writes that day only. A built date that no landed batch carries any more
    cannot be rebuilt by an incremental run: the run fails, naming the dates.

    Usage in a model: `where {{ quote_dates_to_build(look_back=[...]) }}` on the import CTE, or
    `{% set kept = quote_dates_kept([...]) %}` once and then quote_dates_outside(kept) /
    quote_dates_among(kept) where a model also re-reads its own kept rows. -#}

{#- The built quote dates that stay as they are on this run ('YYYY-MM-DD' strings, oldest
    first), or none on a full build. Raises, naming the dates, when a built date is no longer
    landed; logs the built dates it rebuilds. -#}
{% macro quote_dates_kept(look_back=[]) %}
    {%- set known_rules = ['dividend_yield_carry', 'previous_quote', 'iv_rank_window'] -%}
    {%- for rule in look_back if rule not in known_rules -%}
        {{ exceptions.raise_compiler_error(
            "quote_dates_kept: unknown look_back rule " ~ rule ~ "; known: " ~ known_rules | join(', ')
        ) }}
    {%- endfor -%}
    {#- The refs are taken at parse time too (execute is false then), when dbt finds a model's
        parents by rendering it; a full build or a unit test (is_incremental overridden) needs
        none of them, so a unit test needs no fixture for them. -#}
    {%- if execute and (not is_incremental() or invocation_args_dict.get('empty')) -%}
        {#- `--empty` reads every ref as zero rows: nothing to compare, nothing to build -#}
        {{ return(none) }}
    {%- endif -%}
    {%- if model.name == 'int_option_quotes_priced' -%}
        {%- set landed = ref('int_option_quote_dates_fingerprinted') -%}
    {%- else -%}
        {%- set landed = ref('int_option_quotes_priced') -%}
    {%- endif -%}
    {%- if 'dividend_yield_carry' in look_back -%}
        {%- set pricing_inputs = this if model.name == 'int_option_pricing_inputs' else ref('int_option_pricing_inputs') -%}
    {%- endif -%}
    {%- if 'previous_quote' in look_back -%}
        {%- set priced = ref('int_option_quotes_priced') -%}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if 'batch_fingerprint' not in columns -%}
        {{ exceptions.raise_compiler_error(
            this ~ " has no batch_fingerprint column: it was built before the incremental models"
            ~ " recorded the landed batches of each quote date (issue 15). Rebuild it once:"
            ~ " dbt build --full-refresh"
        ) }}
    {%- endif -%}
    {%- set query -%}
        with

        landed as (

            select distinct quote_date, batch_fingerprint from {{ landed }}

        ),

        built as (

            select distinct quote_date, batch_fingerprint from {{ this }}

        ),

        -- landed but not built, or built from other batches than the ones landed now
        changed as (

            select landed.quote_date
            from landed
            anti join built
                on landed.quote_date = built.quote_date
                and landed.batch_fingerprint = built.batch_fingerprint
            union
            select built.quote_date
            from built
            left join landed
                on built.quote_date = landed.quote_date
            where built.batch_fingerprint is distinct from landed.batch_fingerprint

        ),

        {%- if 'dividend_yield_carry' in look_back %}

        carried as (

            select distinct inputs.quote_date
            from {{ pricing_inputs }} as inputs
            where inputs.quote_date > (select min(changed.quote_date) from changed)
                and (inputs.dividend_yield_date is null or inputs.dividend_yield_date < inputs.quote_date)
                and exists (
                    select 1
                    from changed
                    where changed.quote_date < inputs.quote_date
                        and changed.quote_date >= coalesce(inputs.dividend_yield_date, changed.quote_date)
                )

        ),
        {%- endif %}

        {%- if 'previous_quote' in look_back %}

        after_previous_quote as (

            -- the old build: rows whose contract's previous quote was on a changed date
            select distinct built_rows.quote_date
            from {{ this }} as built_rows
            where built_rows.quote_date > (select min(changed.quote_date) from changed)
                and built_rows.previous_quote_date in (select changed.quote_date from changed)
            union
            -- the new quotes: each contract's next quote after a changed date
            select distinct next_quotes.quote_date
            from (
                select priced.contract_symbol, priced.quote_date
                from {{ priced }} as priced
                where priced.quote_date in (select changed.quote_date from changed)
            ) as changed_quotes
            asof inner join (
                select priced.contract_symbol, priced.quote_date
                from {{ priced }} as priced
                where priced.quote_date > (select min(changed.quote_date) from changed)
            ) as next_quotes
                on changed_quotes.contract_symbol = next_quotes.contract_symbol
                and changed_quotes.quote_date < next_quotes.quote_date

        ),
        {%- endif %}

        {%- if 'iv_rank_window' in look_back %}

        in_iv_rank_window as (

            select distinct built.quote_date
            from built
            inner join (
                select changed.quote_date from changed
                {%- if 'dividend_yield_carry' in look_back %}
                union
                select carried.quote_date from carried
                {%- endif %}
            ) as moved
                on built.quote_date > moved.quote_date
                and built.quote_date <= moved.quote_date + {{ var('iv_rank_window_calendar_days') - 1 }}

        ),
        {%- endif %}

        rebuilt as (

            select changed.quote_date from changed
            {%- if 'dividend_yield_carry' in look_back %}
            union
            select carried.quote_date from carried
            {%- endif %}
            {%- if 'previous_quote' in look_back %}
            union
            select after_previous_quote.quote_date from after_previous_quote
            {%- endif %}
            {%- if 'iv_rank_window' in look_back %}
            union
            select in_iv_rank_window.quote_date from in_iv_rank_window
            {%- endif %}

        ),

        built_dates as (

            select distinct built.quote_date from built

        )

        select
            built_dates.quote_date,
            case
                when not exists (select 1 from landed where landed.quote_date = built_dates.quote_date)
                    then 'vanished'
                when exists (select 1 from rebuilt where rebuilt.quote_date = built_dates.quote_date)
                    then 'rebuilt'
                else 'kept'
            end as status,
        from built_dates
        order by built_dates.quote_date
    {%- endset -%}
    {%- set kept, rebuilt, vanished = [], [], [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do {'kept': kept, 'rebuilt': rebuilt, 'vanished': vanished}[row[1]].append(row[0] | string) -%}
    {%- endfor -%}
    {%- if vanished -%}
        {{ exceptions.raise_compiler_error(
            this ~ ": " ~ vanished | length ~ " quote date(s) "
            ~ vanished[:20] | join(', ') ~ (' …' if vanished | length > 20 else '')
            ~ " are built but no longer in "
            ~ landed ~ ": no landed batch carries them now (a corrected file dropped them?)."
            ~ " An incremental run cannot remove them: dbt build --full-refresh"
        ) }}
    {%- endif -%}
    {%- if rebuilt -%}
        {%- do log(
            this ~ ": rebuilding " ~ rebuilt | length ~ " built quote date(s) whose landed batches"
            ~ " changed, or that depend on one: " ~ rebuilt | join(', '),
            info=true
        ) -%}
    {%- endif -%}
    {{ return(kept) }}
{% endmacro %}

{#- `column not in (date '…', …)`: the rows of every date but the kept ones; `true` when none
    are kept (a full build). The dates are literals, not a subquery, so DuckDB pushes the filter
    below the window functions and joins of the upstream views (20x faster on the embedded
    chain than `not in (select …)`). -#}
{% macro quote_dates_outside(kept, column='quote_date') -%}
    {%- if kept -%}
        {{ column }} not in (
            {%- for quote_date in kept -%}
                date '{{ quote_date }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- `column in (date '…', …)`: the rows of the kept dates only; `false` when none are kept. -#}
{% macro quote_dates_among(kept, column='quote_date') -%}
    {%- if kept -%}
        {{ column }} in (
            {%- for quote_date in kept -%}
                date '{{ quote_date }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        )
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- On an incremental run, a predicate keeping the rows of the quote dates to (re)build (see the
    top of this file); `true` on a full build. -#}
{% macro quote_dates_to_build(column='quote_date', look_back=[]) -%}
    {{ quote_dates_outside(quote_dates_kept(look_back), column) }}
{%- endmacro %}

{#- Safety net behind the incremental rebuilds: one row per quote date of `model` built from
    other batches than the ones landed for it now (int_option_quote_dates_fingerprinted), or
    from several, or no longer landed at all; with `every_landed_date`, also one per landed
    date the model lacks. Each row names the date, the fingerprints it was built from, the one
    landed now and the landed files. -#}
{% test quote_dates_built_from_landed_batches(model, every_landed_date=true) %}
with

built as (

    select
        quote_date,
        count(distinct coalesce(batch_fingerprint, '(none)')) as n_fingerprints,
        min(coalesce(batch_fingerprint, '(none)')) as built_fingerprint,
    from {{ model }}
    group by quote_date

),

landed as (

    select * from {{ ref('int_option_quote_dates_fingerprinted') }}

),

stale_dates as (

    select
        built.quote_date,
        case
            when landed.quote_date is null then 'built, but no landed batch carries it now'
            when built.n_fingerprints > 1 then 'built from several batch sets'
            else 'built from other batches than the ones landed now'
        end as problem,
        built.built_fingerprint,
        landed.batch_fingerprint as landed_fingerprint,
        landed.source_files as landed_files,
    from built
    left join landed
        on built.quote_date = landed.quote_date
    where landed.quote_date is null
        or built.n_fingerprints > 1
        or built.built_fingerprint <> landed.batch_fingerprint
    {%- if every_landed_date %}
    union all
    select
        landed.quote_date,
        'landed, but not built' as problem,
        null as built_fingerprint,
        landed.batch_fingerprint as landed_fingerprint,
        landed.source_files as landed_files,
    from landed
    anti join built
        on landed.quote_date = built.quote_date
    {%- endif %}

)

select * from stale_dates
{% endtest %}
