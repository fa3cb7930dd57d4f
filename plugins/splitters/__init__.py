"""Built-in splitter plugins."""
