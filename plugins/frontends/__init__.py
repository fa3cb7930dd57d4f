"""Built-in frontend plugins."""
