"""Built-in filter plugins: steps of the filter chain, in DuckDB SQL."""
