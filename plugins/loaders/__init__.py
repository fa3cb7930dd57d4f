"""Built-in loader plugins."""
