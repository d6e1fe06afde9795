{#- Named universe 'delta_wings' (dbt var universe_delta_wings; its comment in dbt_project.yml says what it selects). -#}
{{ config(materialized='view') }}
{{ option_universe('delta_wings', var('universe_delta_wings')) }}
