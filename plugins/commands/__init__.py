"""Built-in command plugins: the commands of the data, evaluation and model pipeline."""

#: The splitter that ``train``, ``run`` and ``evaluate`` use unless told otherwise.
DEFAULT_SPLITTER = "user-holdout"
