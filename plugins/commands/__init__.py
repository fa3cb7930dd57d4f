"""Built-in command plugins: the commands of the data, evaluation and model pipeline."""

from pathlib import Path

import click

#: The splitter that ``train``, ``run`` and ``evaluate`` use unless told otherwise.
DEFAULT_SPLITTER = "user-holdout"

DATA_DIR_OPTION = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding dataset tags (default: $DEEPCART_DATA or ~/.local/share/deepcart).")
