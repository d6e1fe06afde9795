{#- Named universe 'wide' (dbt var universe_wide; its comment in dbt_project.yml says what it selects). -#}
{{ config(materialized='view') }}
{{ option_universe('wide', var('universe_wide')) }}
