"""Benchmark support: run a callable in a child process and report its peak memory.

Benchmarks compare deepcart with a baseline in the same run and report ratios, never absolute
times: the machines are shared and noisy. ``pytest benchmarks --benchmark-only`` measures;
``pytest benchmarks --benchmark-disable`` (CI) runs each once as a smoke test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["deepcart.toolkit.testing"]


def peak_rss_mb(code: str, args: list[str] | None = None) -> tuple[float, str]:
    """Run ``code`` (with ``sys.argv[1:] = args``) in a fresh Python process.

    Returns the child's own peak RSS in MiB (``VmHWM``) and its stdout.
    """
    wrapper = textwrap.dedent(
        """
        import resource, sys, json
        code = sys.stdin.read()
        exec(compile(code, "<benchmark>", "exec"), {"__name__": "__main__"})
        # VmHWM is this process's own peak; ru_maxrss can carry the parent's peak across fork/exec.
        with open("/proc/self/status") as fh:
            hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
        print("__RSS__" + json.dumps(hwm / 1024))
        """
    )
    result = subprocess.run([sys.executable, "-c", wrapper, *(args or [])], input=code,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-3000:]}")
    out, _, rss = result.stdout.rpartition("__RSS__")
    return float(json.loads(rss)), out


@pytest.fixture
def child_peak_rss():
    """The :func:`peak_rss_mb` helper as a fixture."""
    return peak_rss_mb
