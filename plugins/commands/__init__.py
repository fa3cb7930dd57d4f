"""Built-in command plugins: the commands of the data, evaluation and model pipeline."""
