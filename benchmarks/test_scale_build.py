"""The scale script (``scale_build.py``) on a small input, so that it keeps working between its
long runs: 50,000 reviews as 2 shards, both builds equal, the figures written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_scale_script_small(tmp_path):
    out = tmp_path / "result.json"
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("scale_build.py")), "--work",
                          str(tmp_path / "w"), "--reviews", "50000", "--shards", "2", "--memory-limit", "1GB",
                          "--json", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["equal"] and result["one file"]["fingerprint"]["rows"] > 0
    assert result["2 shards"]["peak_disk_bytes"] > 0 and result["one file"]["peak_rss_mib"] > 0
