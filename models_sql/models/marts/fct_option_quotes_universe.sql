{#- The default universe: the candidate entries of the engine (dbt var universe_default). -#}
{{ config(materialized='view') }}
{{ option_universe('default', var('universe_default')) }}
