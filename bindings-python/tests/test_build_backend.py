"""The pip build backend (build_backend/potok_build_backend.py) shows cargo's output on the terminal pip runs in,
and leaves stderr alone without one."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

BACKEND_DIR = Path(__file__).resolve().parents[1] / "build_backend"

# Run in a child process: writes to file descriptor 2 inside terminal_stderr(), as cargo does under maturin.
CHILD = f"""
import os, sys
sys.path.insert(0, {str(BACKEND_DIR)!r})
from potok_build_backend import terminal_stderr
with terminal_stderr():
    os.write(2, b"Compiling potok-core\\n")
os.write(2, b"after\\n")
"""


def test_build_output_goes_to_the_terminal():
    # A child with a pseudo-terminal as its controlling terminal and its stderr a pipe, as under pip.
    pid, master = pty.fork()
    if pid == 0:
        read, write = os.pipe()
        os.dup2(write, 2)
        os.execv(sys.executable, [sys.executable, "-c", CHILD])
    seen = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    assert b"Compiling potok-core" in seen
    assert b"after" not in seen


def test_without_a_terminal_stderr_is_unchanged():
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, start_new_session=True, timeout=60, check=True
    )
    assert result.stderr == b"Compiling potok-core\nafter\n"
