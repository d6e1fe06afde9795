{#- Named universe 'atm_monthly' (dbt var universe_atm_monthly; its comment in dbt_project.yml says what it selects). -#}
{{ config(materialized='view') }}
{{ option_universe('atm_monthly', var('universe_atm_monthly')) }}
