{#-
    dbt-duckdb's incremental Python models (int_option_quotes_greeks) leave their staging table
    `main.<model>__dbt_tmp<timestamp>` behind after each incremental run; one more per run would
    otherwise be published. on-run-end drops every such table of the target database.
-#}

{% macro drop_dbt_tmp_tables() %}
    {% if execute %}
        {% set leftovers = run_query(
            "select schema_name, table_name from duckdb_tables() "
            ~ "where database_name = current_database() and table_name like '%\\_\\_dbt\\_tmp%' escape '\\'"
        ) %}
        {% for row in leftovers.rows %}
            {% do run_query('drop table if exists "' ~ row[0] ~ '"."' ~ row[1] ~ '"') %}
        {% endfor %}
    {% endif %}
{% endmacro %}
