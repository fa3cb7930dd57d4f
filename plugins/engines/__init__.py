"""Built-in engines: where the filter chain and the splits run (DuckDB embedded, Apache Spark)."""
