"""Run ``deepcart serve`` on the system's ``malloc``, so that its memory goes back down after a rush.

Python's own small-object allocator (pymalloc) returns an arena of 1 MiB to the system only once
every object in it is gone. A dashboard session leaves a few long-lived objects (caches, interned
strings) scattered across the arenas its page used, so after 20 sessions had closed the server kept
285 MiB against 236 MiB idle, although ``tracemalloc`` found under 0.3 MiB of Python objects left.
With ``PYTHONMALLOC=malloc`` every object comes from glibc's heap, whose free pages
``malloc_trim`` hands back wherever they lie: 253 MiB against 243 MiB idle, at the same speed
(``benchmarks/test_bench_dashboard_sessions.py``). The allocator is chosen when Python starts, so
the command restarts itself once, before it loads anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Set in the restarted process so that it never restarts again.
RESTARTED = "DEEPCART_SERVE_RESTARTED"


def started_as_deepcart() -> bool:
    """Whether this process is the ``deepcart`` command itself (console script or ``-m deepcart.cli``),
    not a program that calls the command in-process (a test runner), which must never be replaced."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None:
        return False
    if program.name == "deepcart":
        return True
    from deepcart import cli

    return program.resolve() == Path(cli.__file__).resolve()


def restart_with_system_malloc() -> None:
    """Replace this process (same pid, same arguments) by one on the system allocator, unless it already
    is, the person chose an allocator (``PYTHONMALLOC`` set), or this is not the ``deepcart`` command."""
    if (os.name != "posix" or "PYTHONMALLOC" in os.environ or os.environ.get(RESTARTED)
            or not started_as_deepcart()):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, "PYTHONMALLOC": "malloc", RESTARTED: "1"}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
