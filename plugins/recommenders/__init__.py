"""Built-in recommender plugins."""
