{#- Named universe 'short_dated' (dbt var universe_short_dated; its comment in dbt_project.yml says what it selects). -#}
{{ config(materialized='view') }}
{{ option_universe('short_dated', var('universe_short_dated')) }}
