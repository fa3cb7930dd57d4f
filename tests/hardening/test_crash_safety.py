"""Killed builds lose nothing: the tag reads as the old or the new build, never missing or mixed;
what a killed process left behind is cleaned up by the next command and never listed as a tag."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from deepcart.pipeline.tags import MANIFEST, existing_tag_path, publish_folder, recover

ROWS = {"a": 12 * 40, "b": 13 * 40}


def csv_text(users: int) -> str:
    return "user_id,parent_asin,rating,timestamp\n" + "".join(
        f"U{u},B{i},{1 + (u * i) % 5},{1600000000000 + u * 1000 + i}\n" for u in range(users) for i in range(40))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def read_tag(data_dir: Path) -> int:
    """The tag as deepcart reads it (recovering first); checks it is one whole build; its row count."""
    folder = existing_tag_path("t", data_dir)
    manifest = json.loads((folder / MANIFEST).read_text())
    rows = pq.read_metadata(folder / "interactions.parquet").num_rows
    assert manifest["counts"]["ratings"] == rows, "manifest and data of different builds"
    return rows


@pytest.mark.slow
def test_builds_killed_at_random_moments_leave_the_old_or_the_new_tag(tmp_path):
    inputs = {}
    for name, users in (("a", 12), ("b", 13)):
        inputs[name] = tmp_path / f"{name}.csv"
        inputs[name].write_text(csv_text(users))
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "deepcart.cli", "build", "--data-dir", str(data_dir), "--tag", "t", "-q"]
    env = {**os.environ, "DEEPCART_LOAD_PLUGINS": ""}
    assert subprocess.run([*command, "--reviews-file", str(inputs["a"])], env=env).returncode == 0
    rng = random.Random(20261207)
    seen = set()
    for attempt in range(20):
        source = "b" if attempt % 2 == 0 else "a"
        proc = subprocess.Popen([*command, "--force", "--reviews-file", str(inputs[source])], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = read_tag(data_dir)
        assert rows in ROWS.values(), rows
        seen.add(rows)
    # the next build cleans every work folder the killed ones left, and no such folder is a "tag"
    assert subprocess.run([*command, "--force", "--reviews-file", str(inputs["a"])], env=env).returncode == 0
    assert read_tag(data_dir) == ROWS["a"]
    leftovers = [p.name for p in data_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers
    assert len(seen) >= 1


def test_a_replace_killed_between_its_two_renames_is_undone_at_the_next_command(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    (target / MANIFEST).write_text('{"tag": "t", "schema_version": 1, "counts": {"ratings": 1}}')
    (target / "interactions.parquet").write_text("old")
    # what publish_folder leaves when killed right after moving the old folder aside
    old = tmp_path / f".old-t-pid{dead_pid()}"
    os.replace(target, old)
    recover(target)
    assert (target / "interactions.parquet").read_text() == "old" and not old.exists()
    # a finished replace whose old copy was not yet removed: the copy goes
    stale = tmp_path / f".old-t-pid{dead_pid()}"
    stale.mkdir()
    recover(target)
    assert not stale.exists() and (target / "interactions.parquet").read_text() == "old"
    # a live process's folders are never touched
    live = tmp_path / f".old-t-pid{os.getpid()}"
    live.mkdir()
    recover(target)
    assert live.exists()


def test_work_folders_of_dead_processes_are_swept_and_never_listed(tmp_path):
    work = tmp_path / f".build-t-pid{dead_pid()}-abc"
    work.mkdir()
    (work / MANIFEST).write_text("{}")  # a killed build had written its manifest already
    mine = tmp_path / f".build-t-pid{os.getpid()}-xyz"
    mine.mkdir()
    from deepcart.errors import DeepcartError

    with pytest.raises(DeepcartError) as caught:
        existing_tag_path("nope", tmp_path)
    assert ".build" not in caught.value.message  # "Known tags" lists tags only
    recover(tmp_path / "t", prefix=".build-t-")
    assert not work.exists() and mine.exists()


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    """A build stopped with SIGTERM removes its work folder at once (no tag, no leftovers)."""
    reviews = tmp_path / "big.csv"
    reviews.write_text(csv_text(3000))
    data_dir = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "deepcart.cli", "build", "--data-dir", str(data_dir), "--tag",
                             "t", "--reviews-file", str(reviews), "-q", "--k-core", "2"],
                            env={**os.environ, "DEEPCART_LOAD_PLUGINS": ""}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(data_dir.glob(".build-t-pid*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the build finished before SIGTERM arrived")
    assert not any(p.name.startswith(".") for p in data_dir.iterdir()) if data_dir.exists() else True
    assert not (data_dir / "t").exists()
    assert "Traceback" not in err


def test_a_second_build_of_the_same_tag_fails_at_once_naming_the_first(tmp_path):
    reviews = tmp_path / "big.csv"
    reviews.write_text(csv_text(3000))
    data_dir = tmp_path / "data"
    env = {**os.environ, "DEEPCART_LOAD_PLUGINS": ""}
    command = [sys.executable, "-m", "deepcart.cli", "build", "--data-dir", str(data_dir), "--tag", "t",
               "--reviews-file", str(reviews), "-q", "--k-core", "2"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(data_dir.glob(".build-t-pid*")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.02)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.wait(120) == 0, first.stderr.read()
    if not second.returncode:
        pytest.skip("the first build finished before the second started")
    assert f"dataset tag 't' is being built by another deepcart (pid {first.pid})" in second.stderr
    assert read_tag(data_dir) == 3000 * 40  # the first build's tag, whole


def test_a_sigterm_that_surfaces_as_another_error_still_ends_as_an_interrupt(tmp_path):
    """Inside a DuckDB query the SIGTERM's KeyboardInterrupt comes out as ``RuntimeError: Query
    interrupted``; it must still end the command like Ctrl-C (no traceback), not as a crash."""
    from deepcart.pipeline.tags import atomic_folder

    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with atomic_folder(tmp_path / "t", prefix=".build-t-"):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt:
                raise RuntimeError("Query interrupted") from None
    assert list(tmp_path.iterdir()) == []
