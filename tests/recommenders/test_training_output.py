"""What a person sees while a neural model trains: a clean bar on a terminal, a line per epoch elsewhere."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

TRAIN = """
import sys
from deepcart.plugin_manager import load_plugins
from deepcart.toolkit.testing import make_toy_ratings

registry = load_plugins(strict=False, only=None).registry
model = registry.create("recommender", sys.argv[1], {"epochs": "3", "batch_size": "4", "progress": sys.argv[2]})
model.fit(make_toy_ratings(), seed=0)
print("DONE", file=sys.stderr)
"""


def run_on_a_terminal(*args: str) -> str:
    """Run the training script with stdout and stderr on a pseudo-terminal; everything it printed."""
    leader, follower = pty.openpty()
    # a terminal of 120 x 40 (a fresh pseudo-terminal has 0 columns, where tqdm draws nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", TRAIN, *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env={**os.environ, "PYTHONWARNINGS": "default"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal is gone: the child exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(120) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("recommender", ["autoencoder", "vae"])
def test_the_progress_bar_on_a_terminal_carries_no_warning(recommender):
    output = run_on_a_terminal(recommender, "true")
    assert "DONE" in output and f"{recommender}:" in output and "batch" in output  # the bar was drawn
    assert "Warning" not in output and "requires_grad" not in output, output


def test_without_a_terminal_each_epoch_is_one_line():
    result = subprocess.run([sys.executable, "-c", TRAIN, "autoencoder", "true"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("autoencoder: epoch ")]
    assert len(lines) == 3 and lines[0].startswith("autoencoder: epoch 1/3, train loss ")
    assert "validation RMSE" not in lines[0]  # no validation part given to fit here
    assert "\r" not in result.stderr  # no bar redraws in a log file


def test_quiet_commands_train_silently(synthetic_tag, tmp_path):
    from click.testing import CliRunner

    from deepcart.cli import cli

    data_dir, tag = synthetic_tag
    result = CliRunner().invoke(cli, ["train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender",
                                      "autoencoder", "--epochs", "2", "--out", str(tmp_path / "m"), "-q"],
                                env={"DEEPCART_LOAD_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    assert "epoch" not in result.output
    loud = CliRunner().invoke(cli, ["train", "--data-dir", str(data_dir), "--data-tag", tag, "--recommender",
                                    "autoencoder", "--epochs", "2", "--out", str(tmp_path / "m2")],
                              env={"DEEPCART_LOAD_PLUGINS": ""})
    assert loud.exit_code == 0, loud.output
    assert "autoencoder: epoch 2/2, train loss" in loud.output and "validation RMSE" in loud.output
