{#- Named universe 'benchmark' (dbt var universe_benchmark; its comment in dbt_project.yml says what it selects). -#}
{{ config(materialized='view') }}
{{ option_universe('benchmark', var('universe_benchmark')) }}
